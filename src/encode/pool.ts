// A small pool of encoder Workers. Encoding never runs on the thread that serves sockets.
import type { EncoderChoice, EncoderName } from "./backend.ts";
import type { EncodeJob, FromWorker } from "./protocol.ts";

export interface Encoded {
  seq: number;
  jpeg: Uint8Array;
  encodeMs: number;
}

interface Slot {
  worker: Worker;
  busy: { seq: number; resolve: (e: Encoded) => void; reject: (err: Error) => void } | null;
}

const WORKER_URL = new URL("./worker.ts", import.meta.url).href;

export class EncoderPool {
  private slots: Slot[] = [];
  private closed = false;
  /** The backend the Workers loaded (known once `ready` resolves). */
  encoder: EncoderName | null = null;
  /** Workers that died and were replaced. */
  restarts = 0;

  private constructor(
    private readonly choice: EncoderChoice,
    private readonly onError: (message: string) => void,
  ) {}

  /** Starts `size` Workers and resolves once every one has loaded its backend. */
  static async create(choice: EncoderChoice, size: number, onError: (message: string) => void): Promise<EncoderPool> {
    const pool = new EncoderPool(choice, onError);
    try {
      await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  get hasIdleWorker(): boolean {
    return this.slots.some((s) => s.busy === null);
  }

  /** Encodes on an idle Worker; call only when `hasIdleWorker`. */
  encode(job: EncodeJob): Promise<Encoded> {
    const slot = this.slots.find((s) => s.busy === null);
    if (!slot) return Promise.reject(new Error("no idle encoder"));
    return new Promise((resolve, reject) => {
      slot.busy = { seq: job.meta.seq, resolve, reject };
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

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL);
      const slot: Slot = { worker, busy: null };
      let ready = false;
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const msg = event.data;
        switch (msg.type) {
          case "ready":
            ready = true;
            this.encoder = msg.encoder;
            this.slots.push(slot);
            resolve();
            return;
          case "init-failed":
            worker.terminate();
            reject(new Error(msg.error));
            return;
          case "encoded": {
            const job = slot.busy;
            slot.busy = null;
            job?.resolve({ seq: msg.seq, jpeg: new Uint8Array(msg.jpeg), encodeMs: msg.encodeMs });
            return;
          }
          case "failed": {
            const job = slot.busy;
            slot.busy = null;
            job?.reject(new Error(msg.error));
            return;
          }
        }
      };
      // A Worker that dies is replaced, and the frame it held is given up, so the stream goes on.
      const died = (reason: string) => {
        if (!ready) return reject(new Error(`encoder worker failed to start: ${reason}`));
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
      worker.postMessage({ type: "init", encoder: this.choice });
    });
  }
}
