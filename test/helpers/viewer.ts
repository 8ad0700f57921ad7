// A viewer over a real WebSocket: collects JPEG frames (with their COM metadata) and text messages.
import { type FrameMeta, readFrameMeta } from "../../client/protocol.ts";
import { waitFor } from "./wait.ts";

export interface ReceivedFrame {
  jpeg: Uint8Array;
  meta: FrameMeta | null;
  /** Date.now() when the message arrived. */
  at: number;
}

const EMPTY = new Uint8Array(0);

export class Viewer {
  readonly frames: ReceivedFrame[] = [];
  readonly texts: Record<string, unknown>[] = [];
  closeCode: number | null = null;
  private readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  /** With `keepJpegs` false only the metadata of each frame is kept, so long runs stay small. */
  constructor(
    url: string,
    private readonly keepJpegs = true,
  ) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    });
    this.closed = new Promise((resolve) => {
      this.ws.onclose = (e) => {
        this.closeCode = e.code;
        resolve(e.code);
      };
    });
    this.ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        this.texts.push(JSON.parse(e.data));
        return;
      }
      const jpeg = new Uint8Array(e.data as ArrayBuffer);
      this.frames.push({ jpeg: this.keepJpegs ? jpeg : EMPTY, meta: readFrameMeta(jpeg), at: Date.now() });
    };
  }

  static async connect(url: string, keepJpegs = true): Promise<Viewer> {
    const v = new Viewer(url, keepJpegs);
    await v.opened;
    return v;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | object | Uint8Array): void {
    this.ws.send(typeof data === "object" && !(data instanceof Uint8Array) ? JSON.stringify(data) : data);
  }

  close(): void {
    this.ws.close();
  }

  /** Resolves once `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    return waitFor(predicate, timeoutMs, what);
  }
}

export function wsUrl(httpUrl: string, path = "ws"): string {
  return httpUrl.replace(/^http/, "ws") + path;
}
