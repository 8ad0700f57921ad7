// StreamingServer: one Bun.serve for the client page, /api/config and the /ws frames topic.
// Frames are paced to the target fps, encoded once on a Worker and published to every viewer that
// keeps up; a viewer that falls behind skips frames and then gets the newest (see viewers.ts).
import { ptr } from "bun:ffi";
import type { Server } from "bun";
import { isLoopback, originAllowed, randomToken, requestToken, SECURITY_HEADERS, tokenCookie, tokenMatches, unauthorized } from "./access.ts";
import { type Asset, assetResponse, loadClientAssets } from "./client-assets.ts";
import type { EncoderChoice, EncoderName } from "./encode/backend.ts";
import { EncoderPool } from "./encode/pool.ts";
import type { EncodeJob } from "./encode/protocol.ts";
import { type Frame, PIXEL_FORMATS } from "./frame.ts";
import { type InputEvent, InputQueue, MAX_MESSAGE_BYTES, parseMessage } from "./input.ts";
import { checkInt } from "./limits.ts";
import { type Logger, silentLogger } from "./log.ts";
import { type Metric, prometheusText, Samples } from "./metrics.ts";
import { mjpegResponse } from "./mjpeg.ts";
import {
  CLOSE_TOO_SLOW,
  FRAMES_TOPIC,
  isBehind,
  markBehind,
  markCaughtUp,
  newViewerData,
  noteAck,
  noteSent,
  type Role,
  takeToken,
  type Viewer,
  type ViewerData,
} from "./viewers.ts";

export const PROTOCOL_VERSION = 2;
/** Close code sent to every viewer when the server stops (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** Input quiet for this long ends an interaction: a still frame at the still quality follows. */
export const INTERACTION_QUIET_MS = 300;

/** Who may send input: every viewer (as the original), the oldest viewer still connected, or nobody. */
export type ControlPolicy = "all" | "first" | "none";

export interface StreamingServerOptions {
  host?: string;
  /** 0 picks a free port; `port` holds the real one after start(). */
  port?: number;
  /** JPEG quality of frames while nobody interacts. */
  quality?: number;
  /** JPEG quality while input arrives (smaller frames, quicker response). */
  interactiveQuality?: number;
  /** JPEG quality of the one frame sent when input stops or the picture stops changing. */
  stillQuality?: number;
  fps?: number;
  encoder?: EncoderChoice;
  /** Encoder Workers; two keep up with the slower backend at 720p on two cores. */
  encoderWorkers?: number;
  inputCapacity?: number;
  control?: ControlPolicy;
  /** A viewer that skips frames for this many seconds without catching up is closed (CLOSE_TOO_SLOW). */
  stallTimeout?: number;
  /** Name of the rendering device, reported in /api/config. */
  device?: string;
  logger?: Logger;
  /**
   * Every request must carry this token (cookie, `?token=` or `Authorization: Bearer`); null turns
   * auth off. Default: off on a loopback host, a random token on any other.
   */
  token?: string | null;
  /** A second token that lets a viewer watch but never drive (role "view"); needs `token`. */
  viewToken?: string | null;
  /** Origins besides the server's own that may open /ws (e.g. "https://dashboard.example"). */
  allowOrigins?: string[];
  /** Serve HTTPS and WSS with this certificate and key (PEM file paths). */
  tls?: { cert: string; key: string } | null;
  /** Text messages a viewer may send per second; the excess is dropped and counted. */
  inputRateLimit?: number;
}

export interface ServerStats {
  framesPushed: number;
  /** Pushed frames replaced by a newer one before they were encoded. */
  framesDropped: number;
  /** Pushed frames identical to the last one sent at the still quality: neither encoded nor sent. */
  framesUnchanged: number;
  framesEncoded: number;
  framesPublished: number;
  /** Frames a viewer did not get because it was behind, summed over viewers. */
  framesSkipped: number;
  encodeErrors: number;
  bytesSent: number;
  viewersJoined: number;
  viewersClosedTooSlow: number;
  inputAccepted: number;
  inputRejected: number;
  /** Valid input from viewers without control. */
  inputDenied: number;
  /** Valid input pushed out of the full queue before the engine drained it. */
  inputDropped: number;
  /** Messages over a viewer's rate limit. */
  inputRateLimited: number;
  /** WebSocket upgrades refused (foreign origin or no token). */
  upgradesRefused: number;
}

/** How long stop() waits for viewers to see their close frame before it ends the connections. */
const CLOSE_GRACE_MS = 500;
/** How long GET /frame.jpg waits for a fresh frame when nobody else is watching. */
const SNAPSHOT_WAIT_MS = 1500;

export class StreamingServer {
  readonly host: string;
  port: number;
  readonly quality: number;
  readonly interactiveQuality: number;
  readonly stillQuality: number;
  readonly fps: number;
  readonly control: ControlPolicy;
  readonly stallTimeoutMs: number;
  /** The token every request needs, or null when auth is off. */
  readonly token: string | null;
  readonly viewToken: string | null;
  readonly allowOrigins: readonly string[];
  readonly tls: { cert: string; key: string } | null;
  readonly inputRateLimit: number;
  device: string;
  width = 0;
  height = 0;
  readonly stats: ServerStats = {
    framesPushed: 0,
    framesDropped: 0,
    framesUnchanged: 0,
    framesEncoded: 0,
    framesPublished: 0,
    framesSkipped: 0,
    encodeErrors: 0,
    bytesSent: 0,
    viewersJoined: 0,
    viewersClosedTooSlow: 0,
    inputAccepted: 0,
    inputRejected: 0,
    inputDenied: 0,
    inputDropped: 0,
    inputRateLimited: 0,
    upgradesRefused: 0,
  };

  private readonly encoderChoice: EncoderChoice;
  private readonly encoderWorkers: number;
  private readonly log: Logger;
  private readonly input: InputQueue;
  private server: Server<ViewerData> | null = null;
  private pool: EncoderPool | null = null;
  /** Connected viewers, oldest first (the order "first" control follows). */
  private readonly viewers = new Set<Viewer>();
  private nextViewerId = 1;
  /** The newest pushed frame not yet handed to an encoder. */
  private pending: Frame | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private housekeeping: ReturnType<typeof setInterval> | null = null;
  /** Earliest time (performance.now) the next frame may leave, so frames leave at `fps`. */
  private nextDue = 0;
  /** When the last frame was pushed, and the smoothed time between pushes (ms). */
  private lastPushAt = 0;
  private pushIntervalMs = 0;
  private seq = 0;
  private newest: { seq: number; jpeg: Uint8Array } | null = null;
  /** Hash and quality of the last frame handed to an encoder, to skip unchanged frames. */
  private lastHash: bigint | null = null;
  private lastWasStill = false;
  private lastInputAt = -Infinity;
  private interacting = false;
  /** Capture times of recent frames by sequence number, to turn acks into latency. */
  private readonly captureTimes = new Map<number, number>();
  /** Capture-to-acknowledged latency (ms) from v2 viewers' acks. */
  readonly latencyMs = new Samples(256);
  /** Time a Worker took to encode a frame (ms). */
  readonly encodeMs = new Samples();
  /** Time the frame source took to render a frame (ms); fed by the engine loop. */
  readonly renderMs = new Samples();
  /** The frame source's last error, if it is failing now (shown in /api/config and /healthz). */
  sourceError: string | null = null;
  private startedAt = 0;
  /** MJPEG readers and snapshot requests waiting for a frame: they count as viewers. */
  private mjpegViewers = 0;
  private snapshotsWaiting = 0;
  private readonly frameWaiters = new Set<() => void>();

  constructor(options: StreamingServerOptions = {}) {
    this.host = options.host ?? "127.0.0.1";
    if (typeof this.host !== "string" || this.host === "") throw new RangeError("host must be a non-empty string");
    this.port = checkInt("port", options.port ?? 8080);
    this.quality = checkInt("quality", options.quality ?? 85);
    this.interactiveQuality = checkInt("quality", options.interactiveQuality ?? 60, "interactiveQuality");
    this.stillQuality = checkInt("quality", options.stillQuality ?? 90, "stillQuality");
    this.fps = checkInt("fps", options.fps ?? 30);
    this.encoderWorkers = checkInt("encoderWorkers", options.encoderWorkers ?? 2);
    this.encoderChoice = options.encoder ?? "auto";
    if (!["auto", "turbo", "napi"].includes(this.encoderChoice)) throw new RangeError("encoder must be auto, turbo or napi");
    this.control = options.control ?? "all";
    if (!["all", "first", "none"].includes(this.control)) throw new RangeError("control must be all, first or none");
    this.stallTimeoutMs = checkInt("stallTimeout", options.stallTimeout ?? 30) * 1000;
    // A view token alone turns auth on too: someone must hold the token that drives.
    const authByDefault = !isLoopback(this.host) || Boolean(options.viewToken);
    this.token = options.token === undefined ? (authByDefault ? randomToken() : null) : options.token;
    if (this.token !== null && (typeof this.token !== "string" || this.token.length < 8)) {
      throw new RangeError("token must be a string of at least 8 characters");
    }
    this.viewToken = options.viewToken ?? null;
    if (this.viewToken !== null) {
      if (this.token === null) throw new RangeError("viewToken needs token auth (a token)");
      if (typeof this.viewToken !== "string" || this.viewToken.length < 8 || this.viewToken === this.token) {
        throw new RangeError("viewToken must be a string of at least 8 characters, unlike token");
      }
    }
    this.allowOrigins = options.allowOrigins ?? [];
    this.tls = options.tls ?? null;
    this.inputRateLimit = checkInt("inputRateLimit", options.inputRateLimit ?? 500);
    this.device = options.device ?? "";
    this.input = new InputQueue(options.inputCapacity ?? 256);
    this.log = options.logger ?? silentLogger;
  }

  /** The address to open, with the token when auth is on (as Jupyter prints it). */
  get url(): string {
    const host = this.host === "0.0.0.0" || this.host === "::" ? "localhost" : this.host;
    const base = `${this.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${this.port}/`;
    return this.token === null ? base : `${base}?token=${encodeURIComponent(this.token)}`;
  }

  /** The address that lets a viewer watch only, when there is a view token. */
  get viewUrl(): string | null {
    return this.viewToken === null ? null : `${this.origin}?token=${encodeURIComponent(this.viewToken)}`;
  }

  /** The address without the token. */
  get origin(): string {
    return this.url.replace(/\?token=.*$/, "");
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
    const assets = await loadClientAssets();
    this.pool = await EncoderPool.create(this.encoderChoice, this.encoderWorkers, (msg) => this.log.error(msg));
    try {
      this.server = this.listen(assets);
    } catch (err) {
      this.pool.close();
      this.pool = null;
      throw err;
    }
    this.port = this.server.port ?? this.port;
    this.startedAt = performance.now();
    this.housekeeping = setInterval(() => this.everySecond(), 1000);
  }

  /** Closes every viewer and the listener, lets encodes in flight finish, and stops the encoders. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    if (this.timer) clearTimeout(this.timer);
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.timer = this.housekeeping = null;
    this.pending?.release?.();
    this.pending = null;
    // Close viewers first and give their close frames a moment to go out, so they read 1001
    // ("server stopped") rather than an abrupt end of the connection.
    for (const ws of this.viewers) ws.close(CLOSE_GOING_AWAY, "server stopping");
    const end = performance.now() + CLOSE_GRACE_MS;
    while (this.viewers.size > 0 && performance.now() < end) await Bun.sleep(10);
    this.viewers.clear();
    await server.stop(true);
    // The Workers read frame memory in place: let them finish before anyone frees it.
    await Promise.allSettled([...this.inFlight]);
    this.pool?.close();
    this.pool = null;
    this.newest = null;
    this.lastHash = null;
    this.captureTimes.clear();
    this.wakeFrameWaiters();
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
    const now = performance.now();
    const gap = now - this.lastPushAt;
    this.pushIntervalMs = this.pushIntervalMs === 0 ? gap : 0.9 * this.pushIntervalMs + 0.1 * gap;
    this.lastPushAt = now;
    this.schedule();
  }

  /** Whether anyone wants frames now: WebSocket or MJPEG viewers, or a snapshot request. */
  hasClients(): boolean {
    return this.viewers.size + this.mjpegViewers + this.snapshotsWaiting > 0;
  }

  get viewerCount(): number {
    return this.viewers.size + this.mjpegViewers;
  }

  /** Validated input events from viewers with control since the last call, oldest first. */
  drainInput(): InputEvent[] {
    return this.input.drain();
  }

  /** Resolves with the first frame newer than `afterSeq`, or null once the server stops. */
  nextFrame(afterSeq: number): Promise<{ seq: number; jpeg: Uint8Array } | null> {
    if (!this.server) return Promise.resolve(null);
    if (this.newest && this.newest.seq > afterSeq) return Promise.resolve(this.newest);
    return new Promise((resolve) => {
      const wake = () => {
        if (!this.server) return resolve(null);
        if (this.newest && this.newest.seq > afterSeq) return resolve(this.newest);
        this.frameWaiters.add(wake);
      };
      this.frameWaiters.add(wake);
    });
  }

  private wakeFrameWaiters(): void {
    const waiters = [...this.frameWaiters];
    this.frameWaiters.clear();
    for (const wake of waiters) wake();
  }

  config() {
    return {
      width: this.width,
      height: this.height,
      fps: this.fps,
      quality: this.quality,
      interactiveQuality: this.interactiveQuality,
      stillQuality: this.stillQuality,
      encoder: this.encoder,
      device: this.device,
      viewers: this.viewerCount,
      control: this.control,
      protocol: PROTOCOL_VERSION,
      sourceError: this.sourceError,
    };
  }

  /** Everything counted, for GET /api/stats. */
  statsSnapshot() {
    return {
      ...this.stats,
      uptimeSeconds: this.uptimeSeconds(),
      viewers: this.viewerCount,
      websocketViewers: this.viewers.size,
      mjpegViewers: this.mjpegViewers,
      device: this.device,
      encoder: this.encoder,
      sourceError: this.sourceError,
      encodeMs: this.encodeMs.summary(),
      renderMs: this.renderMs.summary(),
      latencyMs: this.latencyMs.summary(),
    };
  }

  private uptimeSeconds(): number {
    return this.server ? (performance.now() - this.startedAt) / 1000 : 0;
  }

  /** The same numbers in the Prometheus text format, for GET /metrics. */
  metricsText(): string {
    const c = (name: string, help: string, value: number): Metric => ({ name: `vkcast_${name}`, help, type: "counter", value });
    const g = (name: string, help: string, value: number): Metric => ({ name: `vkcast_${name}`, help, type: "gauge", value });
    const st = this.stats;
    return prometheusText([
      c("frames_pushed_total", "Frames offered by the frame source.", st.framesPushed),
      c("frames_rendered_total", "Frames the frame source rendered (engine loop).", this.renderMs.count),
      c("frames_encoded_total", "Frames encoded to JPEG.", st.framesEncoded),
      c("frames_sent_total", "Frames published to at least one viewer.", st.framesPublished),
      c("frames_dropped_total", "Frames replaced by a newer one before encoding.", st.framesDropped),
      c("frames_unchanged_total", "Frames identical to the last still frame: not encoded.", st.framesUnchanged),
      c("frames_skipped_total", "Frames a viewer that was behind did not get, summed over viewers.", st.framesSkipped),
      c("encode_errors_total", "Encodes that failed.", st.encodeErrors),
      c("encoder_restarts_total", "Encoder Workers that died and were replaced.", this.pool?.restarts ?? 0),
      c("bytes_sent_total", "JPEG bytes sent to WebSocket viewers.", st.bytesSent),
      c("viewers_joined_total", "WebSocket viewers that connected.", st.viewersJoined),
      c("viewers_closed_too_slow_total", "Viewers closed because they stopped reading.", st.viewersClosedTooSlow),
      c("input_accepted_total", "Input events queued for the engine.", st.inputAccepted),
      c("input_rejected_total", "Messages rejected as malformed.", st.inputRejected),
      c("input_denied_total", "Input events from viewers without control.", st.inputDenied),
      c("input_dropped_total", "Input events pushed out of the full queue.", st.inputDropped),
      g("viewers", "Viewers connected now (WebSocket and MJPEG).", this.viewerCount),
      g("uptime_seconds", "Seconds since the server started.", this.uptimeSeconds()),
      g("source_ok", "1 while the frame source renders without error.", this.sourceError ? 0 : 1),
      { name: "vkcast_info", help: "Device and encoder in use.", type: "gauge", value: 1, labels: { device: this.device, encoder: this.encoder ?? "" } },
      { name: "vkcast_encode_ms", help: "JPEG encode time in ms (recent frames).", type: "summary", value: this.encodeMs },
      { name: "vkcast_render_ms", help: "Frame source render time in ms (recent frames).", type: "summary", value: this.renderMs },
      { name: "vkcast_latency_ms", help: "Capture to acknowledged latency in ms (v2 viewers).", type: "summary", value: this.latencyMs },
    ]);
  }

  /** GET /frame.jpg: a fresh frame (waiting briefly for one when nobody watches), else 503. */
  private async snapshot(): Promise<Response> {
    let frame = this.newest;
    if (!frame || this.viewers.size + this.mjpegViewers === 0) {
      this.snapshotsWaiting++;
      const timeout = Bun.sleep(SNAPSHOT_WAIT_MS).then(() => null);
      frame = (await Promise.race([this.nextFrame(frame?.seq ?? 0), timeout])) ?? this.newest;
      this.snapshotsWaiting--;
    }
    if (!frame) return new Response("no frame yet: the frame source has not produced one\n", { status: 503, headers: { "Retry-After": "1" } });
    return new Response(frame.jpeg as Uint8Array<ArrayBuffer>, { headers: { "Content-Type": "image/jpeg", "Cache-Control": "no-store" } });
  }

  private listen(assets: Map<string, Asset>): Server<ViewerData> {
    type Handler = (req: Request, url: URL) => Response | Promise<Response>;
    const get = (handler: Handler) => ({ GET: this.guard(handler) });
    const routes: Record<string, unknown> = {
      "/api/config": get(() => Response.json(this.config())),
      "/api/stats": get(() => Response.json(this.statsSnapshot())),
      "/metrics": get(() => new Response(this.metricsText(), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } })),
      // Health stays open for load balancers and supervisors; it tells only ok or the source's error.
      "/healthz": {
        GET: () =>
          withHeaders(
            this.sourceError
              ? Response.json({ status: "error", error: this.sourceError }, { status: 503 })
              : Response.json({ status: "ok", uptimeSeconds: this.uptimeSeconds() }),
          ),
      },
      "/frame.jpg": get(() => this.snapshot()),
      "/stream.mjpeg": get(() => this.mjpeg()),
      "/ws": (req: Request, server: Server<ViewerData>) => this.upgrade(req, server),
    };
    for (const [path, asset] of assets) routes[path] = get((req) => assetResponse(asset, req, {}));
    return Bun.serve<ViewerData>({
      hostname: this.host,
      port: this.port,
      development: false,
      ...(this.tls ? { tls: { cert: Bun.file(this.tls.cert), key: Bun.file(this.tls.key) } } : {}),
      routes: routes as never,
      fetch: (req) => {
        const { pathname } = new URL(req.url);
        // Only the exact paths above exist; anything else, traversal attempts included, is not found.
        return withHeaders(new Response(`not found: ${pathname.slice(0, 200)}\n`, { status: 404 }));
      },
      error: (err) => {
        this.log.error("request failed", { error: err.message });
        return withHeaders(new Response("internal error\n", { status: 500 }));
      },
      websocket: {
        maxPayloadLength: MAX_MESSAGE_BYTES,
        perMessageDeflate: false,
        // Flow control keeps each socket's buffer near two frames; this is only the last guard.
        backpressureLimit: 8 * 1024 * 1024,
        open: (ws) => this.onOpen(ws),
        message: (ws, message) => this.onMessage(ws, message),
        drain: (ws) => this.catchUp(ws),
        close: (ws) => this.onClose(ws),
      },
    });
  }

  /** Wraps a handler with the token check (when auth is on) and the security headers. */
  private guard(handler: (req: Request, url: URL) => Response | Promise<Response>) {
    return async (req: Request): Promise<Response> => {
      const url = new URL(req.url);
      if (this.token !== null) {
        const given = requestToken(req, url);
        if (this.access(given.token) === null) return unauthorized();
        // The page's first visit carries the token in its URL: keep it in a cookie, drop it from the URL.
        if (given.fromQuery && url.pathname === "/") {
          return withHeaders(
            new Response(null, { status: 302, headers: { Location: "/", "Set-Cookie": tokenCookie(given.token!, this.tls !== null) } }),
          );
        }
      }
      return withHeaders(await handler(req, url));
    };
  }

  private upgrade(req: Request, server: Server<ViewerData>): Response | undefined {
    const url = new URL(req.url);
    if (!originAllowed(req, url, this.allowOrigins)) {
      this.stats.upgradesRefused++;
      return withHeaders(new Response("403: WebSocket from a foreign origin\n", { status: 403 }));
    }
    const access = this.token === null ? "control" : this.access(requestToken(req, url).token);
    if (access === null) {
      this.stats.upgradesRefused++;
      return unauthorized();
    }
    const v2 = url.searchParams.get("v") === "2";
    if (server.upgrade(req, { data: newViewerData(this.nextViewerId++, v2, access === "view") })) return undefined;
    return withHeaders(new Response("expected a WebSocket upgrade\n", { status: 426 }));
  }

  /** What a token allows: driving ("control"), watching ("view"), or nothing (null). Both compared in constant time. */
  private access(given: string | null): "control" | "view" | null {
    const control = this.token !== null && tokenMatches(given, this.token);
    const view = this.viewToken !== null && tokenMatches(given, this.viewToken);
    return control ? "control" : view ? "view" : null;
  }

  private mjpeg(): Response {
    return mjpegResponse(
      {
        nextFrame: (after) => this.nextFrame(after),
        stallTimeoutMs: this.stallTimeoutMs,
        onOpen: () => {
          this.mjpegViewers++;
          this.log.info("mjpeg viewer joined", { viewers: this.viewerCount });
        },
        onClose: (reason) => {
          this.mjpegViewers--;
          if (reason === "too slow") this.stats.viewersClosedTooSlow++;
          this.log.info("mjpeg viewer left", { viewers: this.viewerCount, reason });
        },
      },
    );
  }

  private onOpen(ws: Viewer): void {
    this.viewers.add(ws);
    this.stats.viewersJoined++;
    ws.data.role = this.roleFor(ws);
    if (ws.data.v2) {
      this.sendText(ws, {
        type: "hello",
        protocol: PROTOCOL_VERSION,
        width: this.width,
        height: this.height,
        fps: this.fps,
        quality: this.quality,
        role: ws.data.role,
        id: ws.data.id,
      });
    }
    // A viewer that joins between frames (or during a still scene) sees the newest one at once.
    markCaughtUp(ws, this.newest);
    this.log.info("viewer joined", { id: ws.data.id, viewers: this.viewers.size, role: ws.data.role });
  }

  private onClose(ws: Viewer): void {
    if (!this.viewers.delete(ws)) return;
    this.log.info("viewer left", { id: ws.data.id, viewers: this.viewers.size });
    if (this.control === "first" && ws.data.role === "control") this.updateRoles();
  }

  private roleFor(ws: Viewer): Role {
    if (ws.data.viewOnly) return "view";
    if (this.control === "all") return "control";
    if (this.control === "none") return "view";
    return this.viewers.values().next().value === ws ? "control" : "view";
  }

  /** With "first" control, the oldest viewer still connected controls; tell those whose role changed. */
  private updateRoles(): void {
    for (const ws of this.viewers) {
      const role = this.roleFor(ws);
      if (role === ws.data.role) continue;
      ws.data.role = role;
      if (ws.data.v2) this.sendText(ws, { type: "config", ...this.config(), role });
    }
  }

  private onMessage(ws: Viewer, message: string | Buffer): void {
    if (!takeToken(ws.data, this.inputRateLimit)) {
      this.stats.inputRateLimited++;
      return;
    }
    if (typeof message !== "string") return this.reject(ws, "binary messages are not accepted");
    const parsed = parseMessage(message);
    if (!parsed.ok) return this.reject(ws, parsed.error);
    if (parsed.kind === "input") {
      if (ws.data.role !== "control") {
        ws.data.inputDenied++;
        this.stats.inputDenied++;
        return;
      }
      this.stats.inputAccepted++;
      this.lastInputAt = performance.now();
      const droppedBefore = this.input.dropped;
      this.input.push(parsed.event);
      this.stats.inputDropped += this.input.dropped - droppedBefore;
      return;
    }
    const control = parsed.message;
    if (control.type === "ping") {
      if (ws.data.v2) this.sendText(ws, { type: "pong", t: control.t, server: Date.now() });
      return;
    }
    const captured = this.captureTimes.get(control.seq);
    if (noteAck(ws, control.seq) && captured !== undefined) this.latencyMs.add(Date.now() - captured);
    if (ws.data.behindSince !== null) this.catchUp(ws);
  }

  /** Bad input is counted and, for viewers that read text, answered; the socket stays open. */
  private reject(ws: Viewer, error: string): void {
    this.stats.inputRejected++;
    if (ws.data.v2) this.sendText(ws, { type: "error", error });
  }

  private sendText(ws: Viewer, msg: object): void {
    ws.sendText(JSON.stringify(msg), false);
  }

  /** A viewer that was skipping frames gets the newest one as soon as it can take it. */
  private catchUp(ws: Viewer): void {
    if (ws.data.behindSince === null || !this.viewers.has(ws)) return;
    if (!isBehind(ws, this.newest?.jpeg.byteLength ?? 0)) markCaughtUp(ws, this.newest);
  }

  /** Closes viewers stuck for too long, retries catching up, and sends v2 viewers their stats. */
  private everySecond(): void {
    const now = performance.now();
    for (const ws of this.viewers) {
      const since = ws.data.behindSince;
      if (since !== null && now - since > this.stallTimeoutMs) {
        this.stats.viewersClosedTooSlow++;
        this.viewers.delete(ws);
        this.log.warn("closing a viewer that stopped reading", { id: ws.data.id, seconds: Math.round((now - since) / 1000) });
        ws.close(CLOSE_TOO_SLOW, "too slow: stopped reading frames");
        // Its buffer is full, so the close frame may never get through: then end it outright.
        setTimeout(() => ws.readyState !== WebSocket.CLOSED && ws.terminate(), 2000);
        continue;
      }
      this.catchUp(ws);
      if (ws.data.v2) {
        this.sendText(ws, {
          type: "stats",
          framesSent: ws.data.framesSent,
          framesSkipped: ws.data.framesSkipped,
          latencyMs: this.latencyMs.summary(),
          viewers: this.viewers.size,
        });
      }
    }
  }

  /** Arms the pacing timer for the pending frame, unless it is armed or waiting on an encoder. */
  private schedule(): void {
    if (this.timer || !this.pending || !this.server) return;
    // A producer that pushes no faster than fps (the engine loop) is not paced again: its frames
    // leave at once. Pacing it with a second clock at the same rate would lock onto whatever phase
    // lag it started with, up to a whole frame of added latency.
    const producerPaced = this.pushIntervalMs >= (1000 / this.fps) * 0.95;
    const delay = producerPaced ? 0 : Math.max(0, this.nextDue - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dispatch();
    }, delay);
  }

  /** What kind of frame comes next, or null when it is the same picture already sent as a still. */
  private kindOfFrame(hash: bigint): "interactive" | "still" | "normal" | null {
    if (performance.now() - this.lastInputAt <= INTERACTION_QUIET_MS) return "interactive";
    const unchanged = hash === this.lastHash;
    if (unchanged && this.lastWasStill) return null;
    // The interaction just ended, or the picture stopped changing: one still frame.
    return this.interacting || unchanged ? "still" : "normal";
  }

  private dispatch(): void {
    const frame = this.pending;
    const pool = this.pool;
    // With every encoder busy the frame stays pending; the next finished encode reschedules it.
    if (!frame || !pool || !pool.hasIdleWorker) return;
    this.pending = null;
    // ~0.05 ms for a 720p frame: cheap enough for this thread.
    const hash = Bun.hash.xxHash3(frame.pixels);
    const kind = this.kindOfFrame(hash);
    if (kind === null) {
      // Unchanged since its still frame: neither encoded nor sent, and no pacing slot used.
      this.stats.framesUnchanged++;
      frame.release?.();
      return;
    }
    const quality = { interactive: this.interactiveQuality, still: this.stillQuality, normal: this.quality }[kind];
    this.interacting = kind === "interactive";
    this.lastHash = hash;
    this.lastWasStill = kind === "still";

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
      meta: { seq: ++this.seq, t: frame.captureTime!, w: frame.width, h: frame.height, q: quality },
    };
    const done = pool
      .encode(job)
      .then(
        (encoded) => {
          this.stats.framesEncoded++;
          this.encodeMs.add(encoded.encodeMs);
          this.publish(job, encoded.jpeg);
        },
        (err: Error) => {
          this.stats.encodeErrors++;
          // The next frame must not be skipped as "unchanged" against one that was never sent.
          this.lastHash = null;
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

  private publish(job: EncodeJob, jpeg: Uint8Array): void {
    const server = this.server;
    const { seq, t, w, h } = job.meta;
    // Two Workers may finish out of order: an older frame never follows a newer one.
    if (!server || (this.newest && seq <= this.newest.seq)) return;
    this.newest = { seq, jpeg };
    this.wakeFrameWaiters();
    this.captureTimes.set(seq, t);
    if (this.captureTimes.size > 64) this.captureTimes.delete(this.captureTimes.keys().next().value!);
    if (w !== this.width || h !== this.height) {
      this.width = w;
      this.height = h;
      for (const ws of this.viewers) if (ws.data.v2) this.sendText(ws, { type: "config", ...this.config(), role: ws.data.role });
    }
    // Viewers that cannot take this frame skip it; the rest get it from one publish.
    const now = performance.now();
    let receivers = 0;
    for (const ws of this.viewers) {
      if (ws.data.behindSince === null && isBehind(ws, jpeg.byteLength)) markBehind(ws, now);
      if (ws.data.behindSince !== null) {
        ws.data.framesSkipped++;
        this.stats.framesSkipped++;
      } else {
        noteSent(ws, seq);
        receivers++;
      }
    }
    if (receivers === 0) return;
    server.publish(FRAMES_TOPIC, jpeg, false);
    this.stats.framesPublished++;
    this.stats.bytesSent += jpeg.byteLength * receivers;
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

/** Adds the security headers to a response of ours. */
function withHeaders(res: Response): Response {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.headers.set(name, value);
  return res;
}
