// One stream's H.264 encoder: its Worker (started when the first H.264 viewer comes), and its IDRs:
// made on demand (a joiner, a viewer that lost its place), coalesced, at most one a second; otherwise a
// long GOP. It also remembers the last IDR's size, which the viewers' budgets are measured in, and the
// recent size of its other frames, which its tier's choice is made by (h264-tiers.ts).
import { EncoderPool, type Encoded } from "../encode/pool.ts";
import type { EncodeJob } from "../encode/protocol.ts";
import type { Logger } from "../log.ts";

/** IDRs asked for are at most this often (a resize or a restarted Worker makes one regardless). */
export const IDR_MIN_INTERVAL_MS = 1000;
/** After the Worker failed to start, the next attempt waits this long. */
const RESTART_AFTER_MS = 5000;

export class H264Channel {
  private pool: EncoderPool | null = null;
  private starting: Promise<void> | null = null;
  private closed = false;
  private failedAt = -Infinity;
  private idrWanted = false;
  private lastIdrAt = -Infinity;
  /** Bytes of the last IDR (0 before the first). */
  lastIdrBytes = 0;
  /** Recent bytes per P frame (IDRs left out), null before the first. */
  pFrameBytes: number | null = null;
  idrs = 0;

  constructor(
    private readonly fps: number,
    private readonly log: Logger,
    /** The Worker is ready (or was replaced): frames may go on. */
    private readonly onReady: () => void,
  ) {}

  /** Starts the Worker unless it runs or is starting. */
  start(): void {
    if (this.pool || this.starting || this.closed || performance.now() - this.failedAt < RESTART_AFTER_MS) return;
    this.starting = EncoderPool.createH264(this.fps, (msg) => this.log.error(msg)).then(
      (pool) => {
        this.starting = null;
        if (this.closed) return pool.close();
        this.pool = pool;
        this.onReady();
      },
      (err: Error) => {
        this.starting = null;
        this.failedAt = performance.now();
        this.log.error("the H.264 encoder failed to start", { error: err.message, retryMs: RESTART_AFTER_MS });
      },
    );
  }

  /** The Worker is there and idle. */
  get idle(): boolean {
    return this.pool?.hasIdleWorker ?? false;
  }

  /** A viewer needs an IDR; the next frame at least IDR_MIN_INTERVAL_MS after the last IDR is one. */
  requestIdr(): void {
    this.idrWanted = true;
  }

  get idrPending(): boolean {
    return this.idrWanted;
  }

  /** Encodes the frame of `job` (call only when `idle`); `onRead` runs once the Worker has read its pixels. */
  async encode(job: EncodeJob, onRead: () => void): Promise<Encoded> {
    const now = performance.now();
    const idr = this.idrWanted && now - this.lastIdrAt >= IDR_MIN_INTERVAL_MS;
    const encoded = await this.pool!.encode({ ...job, idr }, onRead);
    if (encoded.idr) {
      // Any IDR serves those waiting, whether asked for or made by a resize or a new Worker.
      this.idrWanted = false;
      this.lastIdrAt = now;
      this.lastIdrBytes = encoded.data.length;
      this.idrs++;
    } else {
      const bytes = encoded.data.length;
      this.pFrameBytes = this.pFrameBytes === null ? bytes : 0.9 * this.pFrameBytes + 0.1 * bytes;
    }
    return encoded;
  }

  /** Whether its Worker runs (or is starting). */
  get running(): boolean {
    return this.pool !== null || this.starting !== null;
  }

  /** Stops its Worker while it is idle (nobody used its tier for a while); start() makes a new one, whose first frame is an IDR. */
  stop(): void {
    if (!this.pool?.hasIdleWorker) return;
    this.pool.close();
    this.pool = null;
    this.idrWanted = false;
  }

  close(): void {
    this.closed = true;
    this.pool?.close();
    this.pool = null;
  }
}
