// Prometheus text exposition checks shared by the test suites.
import { expect } from "bun:test";

/** Checks every line of a Prometheus text exposition; returns the samples by name+labels. */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        expect(["counter", "gauge", "summary", "histogram", "untyped"]).toContain(meta[3]!);
        typed.add(meta[2]!);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (NaN|[-+]?Inf|[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/.exec(line);
    if (!sample) throw new Error(`not Prometheus text: ${line}`);
    const base = sample[1]!.replace(/_(sum|count|bucket)$/, "");
    expect(typed.has(sample[1]!) || typed.has(base)).toBe(true);
    samples.set(sample[1]! + (sample[2] ?? ""), Number(sample[3]));
  }
  return samples;
}
