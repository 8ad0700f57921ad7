// Measurements for the stats overlay. Delays are averaged over the last second. Rates (paints per
// second, bytes per second) are counted over the last RATE_WINDOW_MS: at 30 fps one frame more or
// less in a 1 s window is ±3% (a 30 fps stream read "31"); in 4 s it is under 1%, so a whole number
// is honest. Until RATE_MIN_MS of the stream has been seen a rate reads null ("measuring"). Input->display
// comes only when the user acts, so it is kept by count, not time: quantiles over the newest samples.

const DELAY_WINDOW_MS = 1000;
export const RATE_WINDOW_MS = 4000;
export const RATE_MIN_MS = 2000;
const OFFSET_SAMPLES = 8;
/** Input->display: the overlay's quantiles are over the newest INPUT_QUANTILE_SAMPLES; vkcastStats() gives INPUT_SAMPLES_KEPT. */
export const INPUT_QUANTILE_SAMPLES = 64;
export const INPUT_SAMPLES_KEPT = 512;

interface Sample {
  at: number; // performance.now()
  value: number;
}

/** Samples of the last `length` ms. */
class Window {
  private samples: Sample[] = [];
  constructor(private readonly length: number) {}
  add(at: number, value: number): void {
    this.samples.push({ at, value });
    this.trim(at);
  }
  private trim(now: number): void {
    let drop = 0;
    while (drop < this.samples.length && now - this.samples[drop]!.at >= this.length) drop++;
    if (drop) this.samples.splice(0, drop);
  }
  count(now: number): number {
    this.trim(now);
    return this.samples.length;
  }
  /** Newest value − oldest value of the samples in the window; 0 with fewer than two. */
  span(now: number): number {
    this.trim(now);
    return this.samples.length < 2 ? 0 : this.samples.at(-1)!.value - this.samples[0]!.value;
  }
  sum(now: number): number {
    this.trim(now);
    let s = 0;
    for (const x of this.samples) s += x.value;
    return s;
  }
  mean(now: number): number | null {
    const n = this.count(now);
    return n ? this.sum(now) / n : null;
  }
  clear(): void {
    this.samples = [];
  }
}

/**
 * Events per second over the last RATE_WINDOW_MS. While less than a window has passed since the
 * first event, the window starts at that event, which is then not counted (n events span n − 1
 * intervals): so neither a fresh start nor a window edge reads more than the true rate.
 */
class Rate {
  private readonly events = new Window(RATE_WINDOW_MS);
  private first: Sample | null = null;
  add(at: number, value = 1): void {
    this.first ??= { at, value };
    this.events.add(at, value);
  }
  /**
   * Per second; null before RATE_MIN_MS has been observed. `minSpanMs`: the events in the window
   * took at least this long to make (a burst after a stall made them over more time than they
   * took to arrive), so they are spread over no less.
   */
  perSecond(now: number, minSpanMs = 0): number | null {
    if (this.first === null) return null;
    const observed = Math.min(RATE_WINDOW_MS, now - this.first.at);
    if (observed < RATE_MIN_MS) return null;
    const sum = this.events.sum(now) - (observed < RATE_WINDOW_MS ? this.first.value : 0);
    return (sum * 1000) / Math.max(observed, minSpanMs);
  }
  count(now: number): number {
    return this.events.count(now);
  }
  sum(now: number): number {
    return this.events.sum(now);
  }
  restart(): void {
    this.events.clear();
    this.first = null;
  }
}

/** The `p` quantile (0..1) of `values` by nearest rank; null for none. */
export function quantile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Input->display over the newest samples: from sending a key or pointer message to painting a frame that follows it. */
export interface InputToDisplay {
  p50: number;
  p90: number;
  /** Samples since the page loaded. */
  count: number;
}

export interface StatsSnapshot {
  /** Frames painted per second; null while measuring. */
  fps: number | null;
  /** Capture→shown, ms; null without frame capture times or a clock offset. */
  latency: number | null;
  /** Received→shown, ms (decode + wait for paint); null before any frame. */
  localDelay: number | null;
  /** Decode alone, ms (createImageBitmap, or VideoDecoder's decode to output); null before any frame. */
  decode: number | null;
  /** Round trip of ping/pong, ms. */
  rtt: number | null;
  kbPerFrame: number | null;
  /** Received, megabits per second; null while measuring. */
  mbps: number | null;
  received: number;
  dropped: number;
  /** null before the first input was seen on a painted frame. */
  inputToDisplay: InputToDisplay | null;
}

export class Stats {
  private paints = new Rate();
  /** The server's capture times of the frames painted in the rate window. */
  private paintCaptures = new Window(RATE_WINDOW_MS);
  private bytes = new Rate();
  private latencies = new Window(DELAY_WINDOW_MS);
  private localDelays = new Window(DELAY_WINDOW_MS);
  private decodes = new Window(DELAY_WINDOW_MS);
  private offsets: { rtt: number; offset: number }[] = [];
  /** The newest input->display delays (ms), oldest first; kept across connections. */
  private inputDelays: number[] = [];
  private inputDelayCount = 0;
  received = 0;
  painted = 0;
  dropped = 0;

  frameReceived(now: number, byteLength: number): void {
    this.received++;
    this.bytes.add(now, byteLength);
  }

  frameDropped(): void {
    this.dropped++;
  }

  frameDecoded(now: number, ms: number): void {
    this.decodes.add(now, ms);
  }

  /** A frame reached the canvas; `captureTime` is the server's epoch ms from the frame metadata. */
  framePainted(now: number, receivedAt: number, captureTime: number | undefined): void {
    this.painted++;
    this.paints.add(now);
    if (captureTime !== undefined) this.paintCaptures.add(now, captureTime);
    this.localDelays.add(now, now - receivedAt);
    const offset = this.clockOffset();
    if (captureTime !== undefined && offset !== null) {
      const shownOnServerClock = performance.timeOrigin + now + offset;
      // A frame cannot be shown sooner after its capture than after its arrival here: that bound
      // hides the error of an offset measured over a lopsided round trip in one direction.
      const latency = Math.max(shownOnServerClock - captureTime, now - receivedAt);
      // A clock that moved under us gives nonsense; keep only plausible values.
      if (latency < 60_000) this.latencies.add(now, latency);
    }
  }

  /** A frame painted now showed input sent `ms` ago (input-latency.ts). */
  inputShown(ms: number): void {
    this.inputDelays.push(ms);
    if (this.inputDelays.length > INPUT_SAMPLES_KEPT) this.inputDelays.shift();
    this.inputDelayCount++;
  }

  /** The newest input->display delays (ms, at most INPUT_SAMPLES_KEPT), oldest first, and how many there were in all. */
  inputToDisplaySamples(): { samplesMs: number[]; count: number } {
    return { samplesMs: [...this.inputDelays], count: this.inputDelayCount };
  }

  /** A pong: `sentAt` is the ping's performance.now(); `serverTime` the server's epoch ms when it answered. */
  pong(now: number, sentAt: number, serverTime: number): void {
    const rtt = now - sentAt;
    if (!(rtt >= 0 && rtt < 60_000)) return;
    // The server read its clock about half a round trip before the pong arrived.
    const offset = serverTime - (performance.timeOrigin + sentAt + rtt / 2);
    this.offsets.push({ rtt, offset });
    if (this.offsets.length > OFFSET_SAMPLES) this.offsets.shift();
  }

  /** server clock − client clock, ms, from the pong with the shortest round trip; null if unknown. */
  private clockOffset(): number | null {
    let best: { rtt: number; offset: number } | null = null;
    for (const s of this.offsets) if (Number.isFinite(s.offset) && (!best || s.rtt < best.rtt)) best = s;
    return best ? best.offset : null;
  }

  snapshot(now: number): StatsSnapshot {
    const frames = this.bytes.count(now);
    const bytesPerSecond = this.bytes.perSecond(now);
    return {
      // A burst of frames held up on the way arrives faster than the server made them: counting by
      // arrival alone would read 31 of a 30 fps stream; the capture times bound it.
      fps: this.paints.perSecond(now, this.paintCaptures.span(now)),
      latency: this.latencies.mean(now),
      localDelay: this.localDelays.mean(now),
      decode: this.decodes.mean(now),
      rtt: this.offsets.at(-1)?.rtt ?? null,
      kbPerFrame: frames ? this.bytes.sum(now) / frames / 1024 : null,
      mbps: bytesPerSecond === null ? null : (bytesPerSecond * 8) / 1e6,
      received: this.received,
      dropped: this.dropped,
      inputToDisplay: this.inputToDisplay(),
    };
  }

  private inputToDisplay(): InputToDisplay | null {
    const recent = this.inputDelays.slice(-INPUT_QUANTILE_SAMPLES);
    const p50 = quantile(recent, 0.5);
    const p90 = quantile(recent, 0.9);
    return p50 === null || p90 === null ? null : { p50, p90, count: this.inputDelayCount };
  }

  /** Rates start over: after a still picture, its pause is not a slow frame rate. */
  restartRates(): void {
    this.paints.restart();
    this.bytes.restart();
  }

  /** Forget the connection: its windows, and the clock offset of the server we were talking to. */
  resetConnection(): void {
    this.restartRates();
    this.latencies.clear();
    this.localDelays.clear();
    this.decodes.clear();
    this.offsets = [];
  }
}
