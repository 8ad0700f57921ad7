// --encoder-workers auto: enough Workers to encode every watched stream at its fps at the encode times seen
// lately (p90), within the CPUs this process may use. A pool grows at once and shrinks after 10 quiet seconds
// (encode times are noisy).
import { usableCpus, workersFor } from "../encode/cpus.ts";
import type { EncoderPool } from "../encode/pool.ts";
import type { Logger } from "../log.ts";
import type { ServedStream } from "./stream.ts";

export class AutoWorkers {
  /** The most Workers this process's CPUs allow (one CPU left for the main thread). */
  readonly cap = Math.max(1, Math.min(16, usableCpus().cpus - 1));
  /** Seconds in a row a smaller pool would have done. */
  private quietSeconds = 0;

  constructor(private readonly log: Logger) {}

  /** Called once a second. */
  size(pool: EncoderPool, streams: Iterable<ServedStream>): void {
    let workMsPerSecond = 0;
    for (const stream of streams) {
      // p90, not the median: encode times spread (4K: p50 20 ms, p90 28 ms on an H100 host), and a pool
      // sized for the median falls a few fps short of the target.
      const encodeMs = stream.telemetry.encodeMs.quantile(0.9);
      if (stream.hasClients() && encodeMs !== null) workMsPerSecond += stream.fps * encodeMs;
    }
    if (workMsPerSecond === 0) return;
    const want = workersFor(1, workMsPerSecond, this.cap + 1);
    this.quietSeconds = want < pool.size ? this.quietSeconds + 1 : 0;
    if (want > pool.size || this.quietSeconds >= 10) {
      const change = { from: pool.size, to: want, encodeMsPerSecond: Math.round(workMsPerSecond) };
      if (want !== pool.size) this.log.info("encoder workers", change);
      pool.resize(want);
      this.quietSeconds = 0;
    }
  }
}
