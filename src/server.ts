// StreamingServer: the library's entry point. One listener (HTTP, WebSocket, one encoder pool) that
// serves a default stream at / and any number of named streams at /s/NAME/. The default stream's
// pushFrame, drainInput and hasClients are here; a named stream (addStream) has the same.
// The parts live in src/server/ (README "How a frame travels" maps them).
import type { Server } from "bun";
import type { BackendName, EncoderKind } from "./encode/backend.ts";
import { EncoderPool } from "./encode/pool.ts";
import type { Frame } from "./frame.ts";
import { checkInt } from "./limits.ts";
import type { InputEvent } from "./protocol/input-schema.ts";
import type { StreamConfig } from "./protocol/viewer-messages.ts";
import { loadClientAssets } from "./server/client-assets.ts";
import type { SourceHealth } from "./server/health.ts";
import { listen } from "./server/http.ts";
import { prometheusText, type Samples } from "./server/metrics.ts";
import { DEFAULTS, resolveOptions, type ServerSettings, type StreamingServerOptions } from "./server/options.ts";
import { machineUrls, originOf, withToken } from "./server/addresses.ts";
import { offeredCodecs } from "./server/codecs.ts";
import { AutoWorkers } from "./server/encoder-sizing.ts";
import { checkTlsFiles, explainBindFailure } from "./server/start-checks.ts";
import { DEFAULT_STREAM, ServedStream, STREAM_NAME, type Stream, type StreamLinks } from "./server/stream.ts";
import { listenerMetrics, type StreamStats } from "./server/telemetry.ts";
import type { ViewerData } from "./server/viewer.ts";

export type { StreamingServerOptions } from "./server/options.ts";
export { StartError } from "./server/start-checks.ts";
export type { Stream, StreamLinks } from "./server/stream.ts";

export class StreamingServer {
  readonly settings: ServerSettings;
  /** The port to listen on; after start(), the one bound (when 0 asked for any free one). */
  port: number;
  private readonly streams = new Map<string, ServedStream>();
  /** Other names of the default stream (see nameDefaultStream). */
  private readonly defaultNames = new Set<string>();
  private readonly defaultStream: ServedStream;
  /** Streams added before start() without a size: they take the size start() gives. */
  private readonly sizedAtStart = new Set<ServedStream>();
  private listener: Server<ViewerData> | null = null;
  private pool: EncoderPool | null = null;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private startedAt = 0;
  private readonly autoWorkers: AutoWorkers;
  /** The codecs viewers may ask for (decided at start()). */
  codecs: readonly EncoderKind[] = ["jpeg"];

  /** Throws a TypeError/RangeError naming the first bad option. */
  constructor(options: StreamingServerOptions = {}) {
    this.settings = resolveOptions(options);
    this.port = this.settings.port;
    this.autoWorkers = new AutoWorkers(this.settings.logger);
    this.defaultStream = this.createStream(DEFAULT_STREAM, { width: DEFAULTS.width, height: DEFAULTS.height }, this.settings.device);
    // A relay serves only the streams added to it: its default one is not served.
    if (this.settings.relay) this.streams.delete(DEFAULT_STREAM);
  }

  get host(): string {
    return this.settings.host;
  }

  /** The token every request needs, or null when auth is off. */
  get token(): string | null {
    return this.settings.access.token;
  }

  get fps(): number {
    return this.settings.stream.fps;
  }

  /** The address to open, with the token when auth is on (as Jupyter prints it). */
  get url(): string {
    return withToken(this.origin, this.settings.access.token);
  }

  /** The address that lets a viewer watch only, when there is a view token. */
  get viewUrl(): string | null {
    const viewToken = this.settings.access.viewToken;
    return viewToken === null ? null : withToken(this.origin, viewToken);
  }

  /** The address without the token (localhost when bound to every address). */
  get origin(): string {
    return originOf(this.host, this.port, this.settings.access.tls !== null);
  }

  /** Every address to open, with the token: one per address of this machine when bound to all of them. */
  get urls(): string[] {
    const origins = machineUrls(this.host, this.port, this.settings.access.tls !== null);
    return origins.map((origin) => withToken(origin, this.settings.access.token));
  }

  /** The JPEG backend the encoder Workers use (after start). */
  get encoder(): BackendName | null {
    return this.pool?.encoder ?? null;
  }

  /** Encoder Workers in use (0 before start). */
  get encoderWorkers(): number {
    return this.pool?.size ?? 0;
  }

  get running(): boolean {
    return this.listener !== null;
  }

  /** The default stream's counters. */
  get stats(): StreamStats {
    return this.defaultStream.telemetry.stats;
  }

  /** The default stream's frame source health: its engine reports errors, device and render times here. */
  get health(): SourceHealth {
    return this.defaultStream.health;
  }

  /** Tells the default stream's v2 viewers the config again, e.g. after `health` changed. */
  announceConfig(): void {
    this.defaultStream.announceConfig();
  }

  /** Capture-to-acknowledged latency of the default stream's v2 viewers (ms). */
  get latencyMs(): Samples {
    return this.defaultStream.telemetry.latencyMs;
  }

  /** Time a Worker took to encode a frame of the default stream (ms). */
  get encodeMs(): Samples {
    return this.defaultStream.telemetry.encodeMs;
  }

  get viewerCount(): number {
    return this.defaultStream.viewerCount;
  }

  /**
   * Starts listening with the default stream at width x height; resolves once encoders and socket are
   * ready. Throws a StartError naming the option (host, port, tls.cert, tls.key) when it cannot serve.
   */
  async start(width: number, height: number): Promise<void> {
    if (this.listener) throw new Error("StreamingServer is already started");
    checkInt("width", width);
    checkInt("height", height);
    for (const stream of [this.defaultStream, ...this.sizedAtStart]) Object.assign(stream, { width, height });
    this.sizedAtStart.clear();
    const assets = await loadClientAssets();
    const log = this.settings.logger;
    if (this.settings.access.tls) checkTlsFiles(this.settings.access.tls);
    // A relay serves only JPEG frames encoded elsewhere.
    // A relay passes on whichever codecs its streams' frames come in (each stream's config says which).
    this.codecs = this.settings.relay ? ["jpeg", "h264"] : await offeredCodecs(this.settings.codecs, log);
    const workers = this.settings.encoderWorkers === "auto" ? Math.min(2, this.autoWorkers.cap) : this.settings.encoderWorkers;
    // A relay only serves frames encoded elsewhere (pushEncoded): it starts no encoder.
    const pool = this.settings.relay
      ? null
      : await EncoderPool.create(this.settings.encoder, workers, (msg) => log.error(msg), this.settings.cudaDevice);
    let listener: Server<ViewerData>;
    try {
      listener = listen({
        host: this.host,
        port: this.port,
        access: this.settings.access,
        maxViewers: this.settings.maxViewers,
        assets,
        log,
        stream: (name) => this.served(name),
        metricsText: () => this.metricsText(),
        uptimeSeconds: () => this.uptimeSeconds,
        routes: this.settings.routes,
        viewerCount: () => [...this.streams.values()].reduce((n, stream) => n + stream.localViewerCount, 0),
      });
    } catch (err) {
      pool?.close();
      log.debug("listen failed", { error: err instanceof Error ? err.message : String(err) });
      throw await explainBindFailure(this.host, this.port);
    }
    this.pool = pool;
    this.listener = listener;
    this.port = listener.port ?? this.port;
    this.startedAt = performance.now();
    for (const stream of this.streams.values()) this.attach(stream);
    this.sweepTimer = setInterval(() => {
      for (const stream of this.streams.values()) stream.sweepViewers();
      if (this.settings.encoderWorkers === "auto" && this.pool) this.autoWorkers.size(this.pool, this.streams.values());
    }, 1000);
  }

  /** Closes every viewer (1001) and the listener, lets encodes in flight finish, and stops the encoders. */
  async stop(): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    this.listener = null;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    // Viewers first, with a moment for their close frames, so they read 1001 rather than an abrupt end.
    // The Workers read frame memory in place: encodes in flight finish before the pool closes.
    await Promise.all([...this.streams.values()].map((stream) => stream.detach("server stopping")));
    await listener.stop(true);
    this.pool?.close();
    this.pool = null;
  }

  /** Offers a frame to the default stream; never blocks (see Stream.pushFrame). */
  pushFrame(frame: Frame | Uint8Array): void {
    this.defaultStream.pushFrame(frame);
  }

  /** The default stream's validated input from viewers with control since the last call, oldest first. */
  drainInput(): InputEvent[] {
    return this.defaultStream.drainInput();
  }

  /** Sends text the engine put on its clipboard to the default stream's viewers that control. */
  setClipboard(text: string): void {
    this.defaultStream.setClipboard(text);
  }

  /** Whether anyone wants the default stream's frames now (skip rendering when not). */
  hasClients(): boolean {
    return this.defaultStream.hasClients();
  }

  /** The default stream's GET /api/config. */
  config(): StreamConfig {
    return this.defaultStream.config();
  }

  /** The default stream's GET /api/stats. */
  statsSnapshot(): ReturnType<Stream["statsSnapshot"]> {
    return this.defaultStream.statsSnapshot();
  }

  /** GET /metrics: every stream's series (labelled `stream`) and the listener's, in the Prometheus text format. */
  metricsText(): string {
    const perStream = [...this.streams.values()].flatMap((stream) => stream.metrics());
    return prometheusText([...perStream, ...listenerMetrics(this.uptimeSeconds, this.pool?.restarts ?? 0)]);
  }

  /**
   * Adds a stream served at /s/NAME/ (NAME: a-z, 0-9, '_' and '-', starting with a letter or digit, at most
   * 63 characters); it has its own viewers, input and pacing. `width` and `height` are the size of bare
   * Uint8Array frames (default: the default stream's, as start() sets it); `device` is reported in its /api/config.
   * `links` drive it from elsewhere (src/cluster/: an edge relaying an origin's session).
   */
  addStream(name: string, options: { width?: number; height?: number; device?: string } = {}, links: StreamLinks = {}): Stream {
    if (this.served(name)) throw new RangeError(`a stream named '${name}' exists already`);
    const width = checkInt("width", options.width ?? this.defaultStream.width);
    const height = checkInt("height", options.height ?? this.defaultStream.height);
    const stream = this.createStream(name, { width, height }, options.device ?? "", links);
    if (this.listener) this.attach(stream);
    else if (options.width === undefined && options.height === undefined) this.sizedAtStart.add(stream);
    return stream;
  }

  /** Removes a named stream: its viewers are closed (1001) and its URLs answer 404. */
  async removeStream(name: string): Promise<void> {
    const stream = this.streams.get(name);
    if (!stream) return;
    if (stream === this.defaultStream) throw new RangeError("the default stream cannot be removed");
    this.streams.delete(name);
    this.sizedAtStart.delete(stream);
    await stream.detach("stream removed");
  }

  /** The stream of this name (the default one is "default", or a name given to it), if there is one. */
  stream(name: string): Stream | undefined {
    return this.served(name);
  }

  /** Serves the default stream also at /s/NAME/ (e.g. under the name its producer gave it). */
  nameDefaultStream(name: string): void {
    if (!STREAM_NAME.test(name)) throw new RangeError(`stream name must match ${STREAM_NAME.source} (got ${JSON.stringify(name)})`);
    if (this.served(name)) throw new RangeError(`a stream named '${name}' exists already`);
    this.defaultNames.add(name);
  }

  private served(name: string): ServedStream | undefined {
    return this.streams.get(this.defaultNames.has(name) ? DEFAULT_STREAM : name);
  }

  /** Seconds since start(), 0 while stopped. */
  get uptimeSeconds(): number {
    return this.listener ? (performance.now() - this.startedAt) / 1000 : 0;
  }

  private createStream(name: string, size: { width: number; height: number }, device: string, links: StreamLinks = {}): ServedStream {
    const stream = new ServedStream(name, this.settings.stream, size, device, this, this.settings.logger, links);
    this.streams.set(name, stream);
    return stream;
  }

  /** Lets a stream take frames and viewers; an encode that finishes lets every stream's waiting frame go on. */
  private attach(stream: ServedStream): void {
    stream.attach(this.listener!, this.pool, () => {
      for (const other of this.streams.values()) if (other !== stream) other.resume();
    });
  }
}
