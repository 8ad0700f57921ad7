// Recent samples with quantiles (render ms, encode ms, latency), and the Prometheus text format.

/** The last `capacity` values of something measured, for quantiles over recent behaviour. */
export class Samples {
  private values: number[] = [];
  count = 0;
  sum = 0;
  constructor(private readonly capacity = 512) {}

  add(value: number): void {
    if (this.values.length >= this.capacity) this.values.shift();
    this.values.push(value);
    this.count++;
    this.sum += value;
  }

  quantile(q: number): number | null {
    if (this.values.length === 0) return null;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  }

  summary() {
    return { p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), count: this.count };
  }
}

export type MetricType = "counter" | "gauge" | "summary";

export interface Metric {
  name: string;
  help: string;
  type: MetricType;
  /** A number, or for a summary its samples; `labels` are added to every line. */
  value: number | Samples;
  labels?: Record<string, string>;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function labelText(labels: Record<string, string> | undefined, extra?: [string, string]): string {
  const all = Object.entries(labels ?? {});
  if (extra) all.push(extra);
  return all.length ? `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
}

/** Renders metrics in the Prometheus text exposition format (version 0.0.4); series of one name go together. */
export function prometheusText(metrics: Metric[]): string {
  const byName = new Map<string, Metric[]>();
  for (const m of metrics) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  const lines: string[] = [];
  for (const [name, series] of byName) {
    lines.push(`# HELP ${name} ${series[0]!.help}`, `# TYPE ${name} ${series[0]!.type}`);
    for (const m of series) lines.push(...seriesLines(m));
  }
  return lines.join("\n") + "\n";
}

function seriesLines(m: Metric): string[] {
  if (typeof m.value === "number") return [`${m.name}${labelText(m.labels)} ${m.value}`];
  const samples = m.value;
  const lines = [0.5, 0.9, 0.99].map((q) => `${m.name}${labelText(m.labels, ["quantile", String(q)])} ${samples.quantile(q) ?? "NaN"}`);
  lines.push(`${m.name}_sum${labelText(m.labels)} ${samples.sum}`, `${m.name}_count${labelText(m.labels)} ${samples.count}`);
  return lines;
}
