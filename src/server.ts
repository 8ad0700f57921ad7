// StreamingServer: one Bun.serve for the client page, /api/config and the /ws frames topic.
// Frames are paced to the target fps, encoded once on a Worker and published to every viewer.
import { ptr } from "bun:ffi";
import type { Server, ServerWebSocket } from "bun";
import clientPage from "../client/index.html";
import type { EncoderChoice, EncoderName } from "./encode/backend.ts";
import { EncoderPool } from "./encode/pool.ts";
import type { EncodeJob } from "./encode/protocol.ts";
import { type Frame, PIXEL_FORMATS } from "./frame.ts";
import { type InputEvent, InputQueue, MAX_MESSAGE_BYTES, parseMessage } from "./input.ts";
import { checkInt } from "./limits.ts";
import { type Logger, silentLogger } from "./log.ts";

export const FRAMES_TOPIC = "frames";
export const PROTOCOL_VERSION = 2;
/** Close code sent to every viewer when the server stops (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;

export interface StreamingServerOptions {
  host?: string;
  /** 0 picks a free port; `port` holds the real one after start(). */
  port?: number;
  quality?: number;
  fps?: number;
  encoder?: EncoderChoice;
  /** Encoder Workers; two keep up with the slower backend at 720p on two cores. */
  encoderWorkers?: number;
  inputCapacity?: number;
  /** Name of the rendering device, reported in /api/config. */
  device?: string;
  logger?: Logger;
}

export interface ServerStats {
  framesPushed: number;
  /** Pushed frames replaced by a newer one before they were encoded. */
  framesDropped: number;
  framesEncoded: number;
  framesPublished: number;
  encodeErrors: number;
  encodeMsTotal: number;
  bytesSent: number;
  viewersJoined: number;
  inputAccepted: number;
  inputRejected: number;
  /** Valid input pushed out of the full queue before the engine drained it. */
  inputDropped: number;
}

interface ViewerData {
  id: number;
  /** Speaks the v2 protocol: gets hello/pong/error text messages. */
  v2: boolean;
  lastAck: number;
}
type Viewer = ServerWebSocket<ViewerData>;

export class StreamingServer {
  readonly host: string;
  port: number;
  readonly quality: number;
  readonly fps: number;
  readonly device: string;
  width = 0;
  height = 0;
  readonly stats: ServerStats = {
    framesPushed: 0,
    framesDropped: 0,
    framesEncoded: 0,
    framesPublished: 0,
    encodeErrors: 0,
    encodeMsTotal: 0,
    bytesSent: 0,
    viewersJoined: 0,
    inputAccepted: 0,
    inputRejected: 0,
    inputDropped: 0,
  };

  private readonly encoderChoice: EncoderChoice;
  private readonly encoderWorkers: number;
  private readonly log: Logger;
  private readonly input: InputQueue;
  private server: Server<ViewerData> | null = null;
  private pool: EncoderPool | null = null;
  private readonly viewers = new Set<Viewer>();
  private nextViewerId = 1;
  /** The newest pushed frame not yet handed to an encoder. */
  private pending: Frame | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Earliest time (performance.now) the next frame may leave, so frames leave at `fps`. */
  private nextDue = 0;
  private seq = 0;
  private lastPublishedSeq = 0;
  private latestJpeg: Uint8Array | null = null;

  constructor(options: StreamingServerOptions = {}) {
    this.host = options.host ?? "127.0.0.1";
    if (typeof this.host !== "string" || this.host === "") throw new RangeError("host must be a non-empty string");
    this.port = checkInt("port", options.port ?? 8080);
    this.quality = checkInt("quality", options.quality ?? 85);
    this.fps = checkInt("fps", options.fps ?? 30);
    this.encoderWorkers = checkInt("encoderWorkers", options.encoderWorkers ?? 2);
    this.encoderChoice = options.encoder ?? "auto";
    if (!["auto", "turbo", "napi"].includes(this.encoderChoice)) throw new RangeError("encoder must be auto, turbo or napi");
    this.device = options.device ?? "";
    this.input = new InputQueue(options.inputCapacity ?? 256);
    this.log = options.logger ?? silentLogger;
  }

  get url(): string {
    const host = this.host === "0.0.0.0" || this.host === "::" ? "localhost" : this.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${this.port}/`;
  }

  /** The JPEG backend the encoder Workers use (after start). */
  get encoder(): EncoderName | null {
    return this.pool?.encoder ?? null;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Starts listening; resolves once the encoders are loaded and the socket is bound. */
  async start(width: number, height: number): Promise<void> {
    if (this.server) throw new Error("StreamingServer is already started");
    this.width = checkInt("width", width);
    this.height = checkInt("height", height);
    this.pool = await EncoderPool.create(this.encoderChoice, this.encoderWorkers, (msg) => this.log.error(msg));
    try {
      this.server = this.listen();
    } catch (err) {
      this.pool.close();
      this.pool = null;
      throw err;
    }
    this.port = this.server.port ?? this.port;
  }

  /** Closes every viewer and the listener, lets encodes in flight finish, and stops the encoders. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending?.release?.();
    this.pending = null;
    for (const ws of this.viewers) ws.close(CLOSE_GOING_AWAY, "server stopping");
    this.viewers.clear();
    await server.stop(true);
    // The Workers read frame memory in place: let them finish before anyone frees it.
    await Promise.allSettled([...this.inFlight]);
    this.pool?.close();
    this.pool = null;
    this.latestJpeg = null;
  }

  /**
   * Offers a frame; never blocks. If the encoder is behind, the frame waits as the newest one, and
   * the frame it replaces is dropped (counted, and released at once). A bare Uint8Array is RGBA
   * pixels at the size given to start().
   */
  pushFrame(frame: Frame | Uint8Array): void {
    const f: Frame = frame instanceof Uint8Array ? { pixels: frame, width: this.width, height: this.height } : frame;
    checkFrame(f);
    if (!this.server) {
      f.release?.();
      return;
    }
    this.stats.framesPushed++;
    if (this.pending) {
      this.pending.release?.();
      this.stats.framesDropped++;
    }
    this.pending = { ...f, captureTime: f.captureTime ?? Date.now() };
    this.schedule();
  }

  hasClients(): boolean {
    return this.viewers.size > 0;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Validated input events from viewers since the last call, oldest first. */
  drainInput(): InputEvent[] {
    return this.input.drain();
  }

  /** The newest JPEG sent to viewers, if any. */
  get lastFrame(): Uint8Array | null {
    return this.latestJpeg;
  }

  config() {
    return {
      width: this.width,
      height: this.height,
      fps: this.fps,
      quality: this.quality,
      encoder: this.encoder,
      device: this.device,
      viewers: this.viewers.size,
      protocol: PROTOCOL_VERSION,
    };
  }

  private listen(): Server<ViewerData> {
    return Bun.serve<ViewerData>({
      hostname: this.host,
      port: this.port,
      development: false,
      routes: {
        "/": clientPage,
        "/api/config": { GET: () => Response.json(this.config()) },
        "/ws": (req: Request, server: Server<ViewerData>) => {
          const v2 = new URL(req.url).searchParams.get("v") === "2";
          const data: ViewerData = { id: this.nextViewerId++, v2, lastAck: 0 };
          if (server.upgrade(req, { data })) return undefined;
          return new Response("expected a WebSocket upgrade\n", { status: 426 });
        },
      },
      fetch: () => new Response("not found\n", { status: 404 }),
      error: (err) => {
        this.log.error("request failed", { error: err.message });
        return new Response("internal error\n", { status: 500 });
      },
      websocket: {
        maxPayloadLength: MAX_MESSAGE_BYTES,
        perMessageDeflate: false,
        open: (ws) => this.onOpen(ws),
        message: (ws, message) => this.onMessage(ws, message),
        close: (ws) => this.onClose(ws),
      },
    });
  }

  private onOpen(ws: Viewer): void {
    this.viewers.add(ws);
    this.stats.viewersJoined++;
    ws.subscribe(FRAMES_TOPIC);
    if (ws.data.v2) {
      this.sendText(ws, {
        type: "hello",
        protocol: PROTOCOL_VERSION,
        width: this.width,
        height: this.height,
        fps: this.fps,
        quality: this.quality,
        role: "control",
      });
    }
    // A viewer that joins between frames sees the newest one at once.
    if (this.latestJpeg) ws.sendBinary(this.latestJpeg, false);
    this.log.info("viewer joined", { id: ws.data.id, viewers: this.viewers.size });
  }

  private onClose(ws: Viewer): void {
    if (!this.viewers.delete(ws)) return;
    this.log.info("viewer left", { id: ws.data.id, viewers: this.viewers.size });
  }

  private onMessage(ws: Viewer, message: string | Buffer): void {
    if (typeof message !== "string") return this.reject(ws, "binary messages are not accepted");
    const parsed = parseMessage(message);
    if (!parsed.ok) return this.reject(ws, parsed.error);
    if (parsed.kind === "input") {
      this.stats.inputAccepted++;
      const droppedBefore = this.input.dropped;
      this.input.push(parsed.event);
      this.stats.inputDropped += this.input.dropped - droppedBefore;
      return;
    }
    const control = parsed.message;
    if (control.type === "ack") ws.data.lastAck = Math.max(ws.data.lastAck, control.seq);
    else if (ws.data.v2) this.sendText(ws, { type: "pong", t: control.t, server: Date.now() });
  }

  /** Bad input is counted and, for viewers that read text, answered; the socket stays open. */
  private reject(ws: Viewer, error: string): void {
    this.stats.inputRejected++;
    if (ws.data.v2) this.sendText(ws, { type: "error", error });
  }

  private sendText(ws: Viewer, msg: object): void {
    ws.sendText(JSON.stringify(msg), false);
  }

  /** Arms the pacing timer for the pending frame, unless it is armed or waiting on an encoder. */
  private schedule(): void {
    if (this.timer || !this.pending || !this.server) return;
    const delay = Math.max(0, this.nextDue - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dispatch();
    }, delay);
  }

  private dispatch(): void {
    const frame = this.pending;
    const pool = this.pool;
    // With every encoder busy the frame stays pending; the next finished encode reschedules it.
    if (!frame || !pool || !pool.hasIdleWorker) return;
    this.pending = null;
    const now = performance.now();
    const interval = 1000 / this.fps;
    // Keep the cadence when on time; after an idle spell, start a new one from now.
    this.nextDue = now - this.nextDue > interval ? now + interval : this.nextDue + interval;

    const job: EncodeJob = {
      type: "encode",
      address: ptr(frame.pixels),
      byteLength: frame.pixels.byteLength,
      width: frame.width,
      height: frame.height,
      stride: frame.stride ?? frame.width * 4,
      format: frame.format ?? "rgba",
      meta: { seq: ++this.seq, t: frame.captureTime!, w: frame.width, h: frame.height, q: this.quality },
    };
    const done = pool
      .encode(job)
      .then(
        (encoded) => {
          this.stats.framesEncoded++;
          this.stats.encodeMsTotal += encoded.encodeMs;
          this.publish(encoded.seq, encoded.jpeg, frame);
        },
        (err: Error) => {
          this.stats.encodeErrors++;
          this.log.error("encode failed", { seq: job.meta.seq, error: err.message });
        },
      )
      .finally(() => {
        frame.release?.();
        this.inFlight.delete(done);
        this.schedule();
      });
    this.inFlight.add(done);
  }

  private publish(seq: number, jpeg: Uint8Array, frame: Frame): void {
    const server = this.server;
    // Two Workers may finish out of order: an older frame never follows a newer one.
    if (!server || seq <= this.lastPublishedSeq) return;
    this.lastPublishedSeq = seq;
    this.latestJpeg = jpeg;
    if (frame.width !== this.width || frame.height !== this.height) {
      this.width = frame.width;
      this.height = frame.height;
    }
    const viewers = server.subscriberCount(FRAMES_TOPIC);
    if (viewers === 0) return;
    server.publish(FRAMES_TOPIC, jpeg, false);
    this.stats.framesPublished++;
    this.stats.bytesSent += jpeg.byteLength * viewers;
  }
}

/** Throws a TypeError/RangeError naming the field when a pushed frame is malformed. */
function checkFrame(f: Frame): void {
  if (!(f.pixels instanceof Uint8Array)) throw new TypeError("frame.pixels must be a Uint8Array");
  checkInt("width", f.width, "frame.width");
  checkInt("height", f.height, "frame.height");
  const stride = f.stride ?? f.width * 4;
  if (!Number.isInteger(stride) || stride < f.width * 4) throw new RangeError("frame.stride must be an integer >= width * 4");
  if (f.format !== undefined && !PIXEL_FORMATS.includes(f.format)) throw new RangeError("frame.format must be rgba or bgra");
  const need = stride * (f.height - 1) + f.width * 4;
  if (f.pixels.byteLength < need) {
    throw new RangeError(`frame.pixels holds ${f.pixels.byteLength} bytes; ${f.width}x${f.height} needs ${need}`);
  }
}
