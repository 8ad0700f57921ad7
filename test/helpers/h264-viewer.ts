// An H.264 viewer over a real WebSocket (/ws?v=2&codec=h264): keeps each access unit with the metadata
// of its SEI, and acks it the way the browser client does once a frame is shown (unless told not to).
import { isIdrAccessUnit } from "../../src/encode/h264-annexb.ts";
import { readSeiPayload } from "../../src/encode/h264-sei.ts";
import { waitFor } from "./wait.ts";

export interface AccessUnitReceived {
  data: Uint8Array;
  meta: { seq: number; t: number; w: number; h: number; q: number };
  idr: boolean;
  /** Date.now() when it arrived. */
  at: number;
}

export class H264Viewer {
  readonly units: AccessUnitReceived[] = [];
  readonly texts: Record<string, unknown>[] = [];
  private readonly ws: WebSocket;
  readonly opened: Promise<void>;

  constructor(url: string, private readonly ack = true) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    });
    this.ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        this.texts.push(JSON.parse(e.data));
        return;
      }
      const data = new Uint8Array(e.data as ArrayBuffer);
      const payload = readSeiPayload(data);
      if (!payload) throw new Error("an access unit without the metadata SEI");
      const meta = JSON.parse(new TextDecoder().decode(payload));
      this.units.push({ data, meta, idr: isIdrAccessUnit(data), at: Date.now() });
      if (this.ack) this.send({ type: "ack", seq: meta.seq });
    };
  }

  static async connect(httpUrl: string, options: { ack?: boolean; query?: string } = {}): Promise<H264Viewer> {
    const url = `${httpUrl.replace(/^http/, "ws")}ws?v=2&codec=h264${options.query ?? ""}`;
    const viewer = new H264Viewer(url, options.ack ?? true);
    await viewer.opened;
    return viewer;
  }

  get hello(): Record<string, unknown> | undefined {
    return this.texts.find((t) => t.type === "hello");
  }

  send(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close(): void {
    this.ws.close();
  }

  until(predicate: () => boolean, timeoutMs = 10000, what = "a condition"): Promise<void> {
    return waitFor(predicate, timeoutMs, what);
  }

  /** Units `[from, to)` as one Annex B byte stream. */
  stream(from = 0, to = this.units.length): Uint8Array {
    return new Uint8Array(Buffer.concat(this.units.slice(from, to).map((u) => u.data)));
  }
}
