// A small pool of encoder Workers. Encoding never runs on the thread that serves sockets. A JPEG pool
// has any number of Workers; an H.264 pool has one (the encoder keeps the stream's state).
import type { BackendName, EncoderChoice } from "./backend.ts";
import type { EncodeJob, FromWorker, WorkerInit } from "./protocol.ts";

export interface Encoded {
  seq: number;
  data: Uint8Array;
  encodeMs: number;
  /** H.264 only: an IDR, and its temporal layer (0 for JPEG). */
  idr: boolean;
  temporalId: number;
}

interface Slot {
  worker: Worker;
  busy: { seq: number; resolve: (e: Encoded) => void; reject: (err: Error) => void; onRead?: () => void } | null;
}

const WORKER_URL = new URL("./worker.ts", import.meta.url).href;

export class EncoderPool {
  private slots: Slot[] = [];
  private closed = false;
  /** Workers asked for (resize); Workers still loading their backend. */
  private wanted = 0;
  private starting = 0;
  /** The backend the Workers loaded (known once `ready` resolves). */
  encoder: BackendName | null = null;
  /** Workers that died and were replaced. */
  restarts = 0;

  private constructor(
    private readonly init: WorkerInit,
    private readonly onError: (message: string) => void,
  ) {}

  /**
   * Starts `size` JPEG Workers and resolves once every one has loaded its backend. `cudaDevice`: with
   * nvJPEG, the UUID of the GPU to encode on (the render device's).
   */
  static create(choice: EncoderChoice, size: number, onError: (message: string) => void, cudaDevice?: string): Promise<EncoderPool> {
    return EncoderPool.start({ type: "init", codec: "jpeg", encoder: choice, cudaDevice }, size, onError);
  }

  /** Starts the one H.264 Worker of a stream (a replacement after a crash begins with an IDR). */
  static createH264(fps: number, onError: (message: string) => void): Promise<EncoderPool> {
    return EncoderPool.start({ type: "init", codec: "h264", fps }, 1, onError);
  }

  private static async start(init: WorkerInit, size: number, onError: (message: string) => void): Promise<EncoderPool> {
    const pool = new EncoderPool(init, onError);
    pool.wanted = size;
    try {
      await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  /** Workers in use: running or starting, at most what was asked for. */
  get size(): number {
    return Math.min(this.wanted, this.slots.length + this.starting);
  }

  /**
   * Grows or shrinks the pool to `size` Workers. New ones start in the background (a failure to
   * start is reported through onError); idle ones beyond `size` stop now, busy ones when they finish.
   */
  resize(size: number): void {
    if (this.closed || size === this.wanted) return;
    this.wanted = size;
    for (let n = this.slots.length + this.starting; n < size; n++) {
      this.spawn().catch((err) => this.onError(`could not start an encoder worker: ${err.message}`));
    }
    for (const slot of [...this.slots]) if (slot.busy === null) this.retireIfSurplus(slot);
  }

  get hasIdleWorker(): boolean {
    return this.slots.some((s) => s.busy === null);
  }

  /** Workers started and not encoding. */
  get idleWorkers(): number {
    return this.slots.filter((s) => s.busy === null).length;
  }

  /**
   * Encodes on an idle Worker; call only when `hasIdleWorker`. `onRead` runs when an H.264 Worker says it
   * has read the frame (before its encode ends).
   */
  encode(job: EncodeJob, onRead?: () => void): Promise<Encoded> {
    const slot = this.slots.find((s) => s.busy === null);
    if (!slot) return Promise.reject(new Error("no idle encoder"));
    return new Promise((resolve, reject) => {
      slot.busy = { seq: job.meta.seq, resolve, reject, onRead };
      slot.worker.postMessage(job);
    });
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      slot.busy?.reject(new Error("encoder pool closed"));
      slot.worker.terminate();
    }
    this.slots = [];
  }

  /** Stops an idle Worker the pool no longer wants. */
  private retireIfSurplus(slot: Slot): void {
    if (this.slots.length <= this.wanted || !this.slots.includes(slot)) return;
    this.slots = this.slots.filter((s) => s !== slot);
    slot.worker.terminate();
  }

  private spawn(): Promise<void> {
    this.starting++;
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL);
      const slot: Slot = { worker, busy: null };
      let ready = false;
      let started = false;
      // Counted once, whether the Worker loads, fails to, or dies first.
      const startEnded = () => {
        if (!started) this.starting--;
        started = true;
      };
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const msg = event.data;
        switch (msg.type) {
          case "ready":
            ready = true;
            startEnded();
            this.encoder = msg.encoder;
            this.slots.push(slot);
            this.retireIfSurplus(slot);
            resolve();
            return;
          case "init-failed":
            startEnded();
            worker.terminate();
            reject(new Error(msg.error));
            return;
          case "read":
            slot.busy?.onRead?.();
            return;
          case "encoded": {
            const job = slot.busy;
            slot.busy = null;
            this.retireIfSurplus(slot);
            const { seq, encodeMs, idr, temporalId } = msg;
            job?.resolve({ seq, data: new Uint8Array(msg.data), encodeMs, idr, temporalId });
            return;
          }
          case "failed": {
            const job = slot.busy;
            slot.busy = null;
            this.retireIfSurplus(slot);
            job?.reject(new Error(msg.error));
            return;
          }
        }
      };
      // A Worker that dies is replaced, and the frame it held is given up, so the stream goes on.
      const died = (reason: string) => {
        if (!ready) {
          startEnded();
          return reject(new Error(`encoder worker failed to start: ${reason}`));
        }
        if (!this.slots.includes(slot)) return;
        this.slots = this.slots.filter((s) => s !== slot);
        slot.busy?.reject(new Error(`encoder worker died: ${reason}`));
        slot.busy = null;
        worker.terminate();
        if (this.closed) return;
        this.restarts++;
        this.onError(`encoder worker died (${reason}); restarting it`);
        this.spawn().catch((err) => this.onError(`could not restart encoder worker: ${err.message}`));
      };
      worker.onerror = (event) => died(event.message || "error");
      worker.addEventListener("close", () => died("exited"));
      worker.postMessage(this.init);
    });
  }
}
