// Samples of a time (render, encode, latency): recent quantiles for /api/stats and a histogram since
// start for /metrics; and the Prometheus text format.

/** Upper edges (ms) of the histogram buckets; /metrics shows them in seconds, Prometheus's base unit. */
export const BUCKET_EDGES_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;

/**
 * A time measured in ms: the last `capacity` values for quantiles over recent behaviour, and counts
 * per bucket since start (which, unlike quantiles, add up across processes).
 */
export class Samples {
  private values: number[] = [];
  count = 0;
  sum = 0;
  /** Values up to each edge of BUCKET_EDGES_MS (not cumulative); the last counts those above every edge. */
  readonly buckets: number[] = new Array<number>(BUCKET_EDGES_MS.length + 1).fill(0);
  constructor(private readonly capacity = 512) {}

  add(value: number): void {
    if (this.values.length >= this.capacity) this.values.shift();
    this.values.push(value);
    this.count++;
    this.sum += value;
    const bucket = BUCKET_EDGES_MS.findIndex((edge) => value <= edge);
    this.buckets[bucket < 0 ? BUCKET_EDGES_MS.length : bucket]!++;
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

export type MetricType = "counter" | "gauge" | "histogram";

export interface Metric {
  name: string;
  help: string;
  type: MetricType;
  /** A number, or for a histogram its samples (in ms, shown in seconds); `labels` are added to every line. */
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
  let cumulative = 0;
  const lines = BUCKET_EDGES_MS.map((edge, i) => {
    cumulative += samples.buckets[i]!;
    return `${m.name}_bucket${labelText(m.labels, ["le", String(edge / 1000)])} ${cumulative}`;
  });
  lines.push(
    `${m.name}_bucket${labelText(m.labels, ["le", "+Inf"])} ${samples.count}`,
    `${m.name}_sum${labelText(m.labels)} ${samples.sum / 1000}`,
    `${m.name}_count${labelText(m.labels)} ${samples.count}`,
  );
  return lines;
}
