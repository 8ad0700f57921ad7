// Measurements for the stats overlay. Everything is kept over a sliding window of WINDOW_MS, so a
// stalled stream reads 0 fps rather than the last good value.

const WINDOW_MS = 1000;
const OFFSET_SAMPLES = 8;

interface Sample {
  at: number; // performance.now()
  value: number;
}

class Window {
  private samples: Sample[] = [];
  add(at: number, value: number): void {
    this.samples.push({ at, value });
    this.trim(at);
  }
  trim(now: number): void {
    let drop = 0;
    while (drop < this.samples.length && now - this.samples[drop]!.at > WINDOW_MS) drop++;
    if (drop) this.samples.splice(0, drop);
  }
  count(now: number): number {
    this.trim(now);
    return this.samples.length;
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

export interface StatsSnapshot {
  fps: number;
  /** Capture→shown, ms; null without frame capture times or a clock offset. */
  latency: number | null;
  /** Received→shown, ms (decode + wait for paint); null before any frame. */
  localDelay: number | null;
  /** Round trip of ping/pong, ms. */
  rtt: number | null;
  kbPerFrame: number | null;
  /** Received, megabits per second. */
  mbps: number;
  received: number;
  painted: number;
  dropped: number;
}

export class Stats {
  private paints = new Window();
  private bytes = new Window();
  private latencies = new Window();
  private localDelays = new Window();
  private offsets: { rtt: number; offset: number }[] = [];
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

  /** A frame reached the canvas; `captureTime` is the server's epoch ms from the frame metadata. */
  framePainted(now: number, receivedAt: number, captureTime: number | undefined): void {
    this.painted++;
    this.paints.add(now, 1);
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

  /** A pong: `sentAt` is the ping's performance.now(); `serverTime` the server's epoch ms when it answered. */
  pong(now: number, sentAt: number, serverTime: number | null): void {
    const rtt = now - sentAt;
    if (!(rtt >= 0 && rtt < 60_000)) return;
    // The server read its clock about half a round trip before the pong arrived.
    const offset = serverTime === null ? NaN : serverTime - (performance.timeOrigin + sentAt + rtt / 2);
    this.offsets.push({ rtt, offset });
    if (this.offsets.length > OFFSET_SAMPLES) this.offsets.shift();
  }

  /** server clock − client clock, ms, from the pong with the shortest round trip; null if unknown. */
  clockOffset(): number | null {
    let best: { rtt: number; offset: number } | null = null;
    for (const s of this.offsets) if (!Number.isNaN(s.offset) && (!best || s.rtt < best.rtt)) best = s;
    return best ? best.offset : null;
  }

  rtt(): number | null {
    const last = this.offsets[this.offsets.length - 1];
    return last ? last.rtt : null;
  }

  /** Forget per-connection state (the clock offset belongs to the server we were talking to). */
  resetConnection(): void {
    this.offsets = [];
  }

  snapshot(now: number): StatsSnapshot {
    const frames = this.bytes.count(now);
    const bytes = this.bytes.sum(now);
    return {
      fps: this.paints.count(now) * (1000 / WINDOW_MS),
      latency: this.latencies.mean(now),
      localDelay: this.localDelays.mean(now),
      rtt: this.rtt(),
      kbPerFrame: frames ? bytes / frames / 1024 : null,
      mbps: (bytes * 8) / 1e6 / (WINDOW_MS / 1000),
      received: this.received,
      painted: this.painted,
      dropped: this.dropped,
    };
  }

  clearWindows(): void {
    this.paints.clear();
    this.bytes.clear();
    this.latencies.clear();
    this.localDelays.clear();
  }
}
