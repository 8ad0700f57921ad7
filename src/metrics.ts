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

/** Renders metrics in the Prometheus text exposition format (version 0.0.4). */
export function prometheusText(metrics: Metric[]): string {
  const lines: string[] = [];
  for (const m of metrics) {
    lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    if (typeof m.value === "number") {
      lines.push(`${m.name}${labelText(m.labels)} ${m.value}`);
      continue;
    }
    for (const q of [0.5, 0.9, 0.99]) {
      const v = m.value.quantile(q);
      lines.push(`${m.name}${labelText(m.labels, ["quantile", String(q)])} ${v ?? "NaN"}`);
    }
    lines.push(`${m.name}_sum${labelText(m.labels)} ${m.value.sum}`, `${m.name}_count${labelText(m.labels)} ${m.value.count}`);
  }
  return lines.join("\n") + "\n";
}
