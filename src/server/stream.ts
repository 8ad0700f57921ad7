// One named stream: its frame pipeline, quality policy, viewers, input queue, source health and
// telemetry, on its own pub/sub topic. A listener (StreamingServer) serves one or more of them.
import type { Server } from "bun";
import type { EncoderKind } from "../encode/backend.ts";
import { bareFrame, checkFrame, type Frame } from "../frame.ts";
import type { IngestCounters } from "../ingest/counters.ts";
import type { Logger } from "../log.ts";
import type { InputEvent } from "../protocol/input-schema.ts";
import { PROTOCOL_VERSION, type StreamConfig } from "../protocol/viewer-messages.ts";
import type { FrameMeta } from "../encode/protocol.ts";
import { PolicyControl, type SessionControl, type ViewerKey } from "./control.ts";
import { H264Fanout } from "./h264-fanout.ts";
import { H264Tiers } from "./h264-tiers.ts";
import { SourceHealth } from "./health.ts";
import { admitMessage } from "./admission.ts";
import type { Metric } from "./metrics.ts";
import type { FrameFeed } from "./mjpeg.ts";
import type { StreamSettings } from "./options.ts";
import { type EncodedFrame, type EncodedH264Frame, type FrameEncoder, FramePipeline } from "./pipeline.ts";
import { QualityPolicy } from "./quality.ts";
import { JPEG_TIERS } from "./tiers.ts";
import { StreamInput } from "./stream-input.ts";
import { type StreamReport, statsSnapshot, StreamTelemetry, streamMetrics } from "./telemetry.ts";
import { newViewerData, noteAck, type Viewer, type ViewerData, type ViewerEvents } from "./viewer.ts";
import { sendText, ViewerHub, viewerKey } from "./viewer-hub.ts";
import type { Stream, StreamHost, StreamLinks } from "./stream-api.ts";

export type { RemoteSettings, Stream, StreamHost, StreamLinks } from "./stream-api.ts";

/** The stream that `/` and the plain routes serve. */
export const DEFAULT_STREAM = "default";
/** What a stream may be called (it appears in URLs, /s/NAME/, and in metric labels). */
export const STREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Close code sent to every viewer when the server stops or the stream is removed (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** How long closing waits for viewers to see their close frame before it ends the connections: a viewer
 *  behind on reading must first drain what it has buffered (500 ms lost it on a busy machine); the main job's
 *  shutdown limit is 2 s. */
const CLOSE_GRACE_MS = 1500;

/** A stream with what its listener needs too: viewer events, routes' feeds, attach/detach. */
export class ServedStream implements Stream, ViewerEvents {
  /** The frame source's state: its engine reports errors, device and render times here. */
  readonly health: SourceHealth;
  readonly telemetry = new StreamTelemetry();
  /** The frame size: the size at creation, then that of the newest encoded frame. */
  width: number;
  height: number;
  readonly control: SessionControl;
  remoteViewers = 0;
  remoteH264Viewers = 0;
  readonly authorize: StreamLinks["authorize"];
  private readonly settingsFrom: StreamLinks["settingsFrom"];
  private readonly demandListeners = new Set<() => void>();
  private readonly clipboardListeners = new Set<(text: string) => void>();
  private readonly h264Listeners = new Set<(frame: EncodedH264Frame, meta: FrameMeta) => void>();
  /** A relay's IDRs: their size (the H.264 viewers' budgets) and how to ask for one. */
  private readonly relayedIdr: { lastIdrBytes: number; requestIdr(): void } | null;
  private readonly input: StreamInput;
  private readonly quality: QualityPolicy;
  private readonly pipeline: FramePipeline;
  private readonly hub: ViewerHub;
  /** The H.264 encoders (one per tier), while the listener offers H.264. */
  private h264: H264Tiers | null = null;
  private nextViewerId = 1;
  /** MJPEG readers and snapshot requests waiting for a frame: they count as viewers. */
  private mjpegViewers = 0;
  private snapshotsWaiting = 0;

  constructor(
    readonly name: string,
    readonly settings: StreamSettings,
    size: { width: number; height: number },
    device: string,
    private readonly host: StreamHost,
    private readonly log: Logger,
    links: StreamLinks = {},
  ) {
    if (!STREAM_NAME.test(name)) throw new RangeError(`stream name must match ${STREAM_NAME.source} (got ${JSON.stringify(name)})`);
    this.width = size.width;
    this.height = size.height;
    this.health = new SourceHealth(device);
    this.quality = new QualityPolicy(settings);
    this.control = links.control ?? new PolicyControl(settings.control);
    this.authorize = links.authorize;
    this.settingsFrom = links.settingsFrom;
    const requestKeyframe = links.requestKeyframe;
    this.relayedIdr = requestKeyframe ? { lastIdrBytes: 0, requestIdr: () => requestKeyframe() } : null;
    this.hub = new ViewerHub(name, this.control, this.telemetry.stats, log, () => this.config());
    const stream = this;
    this.input = new StreamInput({
      capacity: settings.inputCapacity,
      control: this.control,
      counters: this.telemetry.stats,
      noteInput: () => this.quality.noteInput(performance.now()),
      ...(links.forwardInput ? { forward: links.forwardInput } : {}),
    });
    this.pipeline = new FramePipeline({
      fps: settings.fps,
      quality: this.quality,
      counters: this.telemetry.stats,
      encodeMs: this.telemetry.encodeMs,
      queueMs: this.telemetry.queueMs,
      h264EncodeMs: this.telemetry.h264EncodeMs,
      log,
      // Edges relay the best tier (tier 0) to their viewers, whatever tiers the viewers here use.
      tiersInUse: () => (this.remoteViewers > this.remoteH264Viewers ? this.hub.tiersInUse().add(0) : this.hub.tiersInUse()),
      deliver: (frame, meta) => {
        this.noteFrame(meta);
        const started = performance.now();
        this.hub.publish(frame);
        this.telemetry.publishMs.add(performance.now() - started);
      },
      get h264() {
        return stream.h264;
      },
      h264TiersInUse: () => this.h264!.inUse(this.hub.h264TiersInUse(), performance.now()),
      wants: (codec) => {
        const h264 = this.h264Viewers + this.remoteH264Viewers;
        return codec === "h264" ? h264 > 0 : this.viewerCount + this.snapshotsWaiting > h264;
      },
      deliverH264: (frame, meta, tier) => {
        if (tier === 0) this.noteFrame(meta);
        this.hub.publishH264(frame, tier);
        // Edges relay tier 0 (they move no viewer between tiers).
        if (tier === 0) for (const listener of this.h264Listeners) listener(frame, meta);
      },
      h264Failed: () => this.hub.resyncH264(),
    });
  }

  /** A frame went out (in either codec; both carry the same seq): its capture time, and a new size. */
  private noteFrame(meta: FrameMeta): void {
    this.telemetry.sent(meta.seq, meta.t);
    if (meta.w !== this.width || meta.h !== this.height) {
      this.width = meta.w;
      this.height = meta.h;
      this.hub.sendConfig(this.config());
    }
  }

  get fps(): number {
    return this.settings.fps;
  }

  /** Encoder Workers in use (the listener's, shared by its streams): its engine keeps as many frames out. */
  get encoderWorkers(): number {
    return this.host.encoderWorkers;
  }

  /**
   * Offers a frame; never blocks. If the encoder is behind, the frame waits as the newest one, and
   * the frame it replaces is dropped (counted, and released at once). While nobody watches, the newest
   * frame waits unencoded until someone does. A bare Uint8Array is RGBA pixels at the stream's current
   * size, exactly. Throws a TypeError/RangeError naming a malformed field.
   */
  pushFrame(frame: Frame | Uint8Array): void {
    const f = frame instanceof Uint8Array ? bareFrame(frame, this.width, this.height) : frame;
    checkFrame(f);
    this.pipeline.push(f, this.input.appliedInput);
  }

  /** Validated input events from viewers with control since the last call, oldest first: the next frame pushed follows them. */
  drainInput(): InputEvent[] {
    return this.input.drain();
  }

  get ingest(): IngestCounters {
    return this.telemetry.stats;
  }

  /** Tells v2 viewers the config again, e.g. after the source's health changed. */
  announceConfig(): void {
    this.hub.sendConfig(this.config());
  }

  /** Whether anyone wants frames now: WebSocket or MJPEG viewers (here or elsewhere), or a snapshot request. */
  hasClients(): boolean {
    return this.viewerCount + this.snapshotsWaiting > 0;
  }

  /** WebSocket and MJPEG viewers connected to this listener now (--max-viewers counts these). */
  get localViewerCount(): number {
    return this.hub.size + this.mjpegViewers;
  }

  /** WebSocket and MJPEG viewers connected now, here and elsewhere. */
  get viewerCount(): number {
    return this.hub.size + this.mjpegViewers + this.remoteViewers;
  }

  onDemandChange(listener: () => void): void {
    this.demandListeners.add(listener);
  }

  submitInput(key: ViewerKey, event: InputEvent): boolean {
    return this.input.submit(key, event);
  }

  setClipboard(text: string): void {
    this.hub.sendClipboard(text);
    for (const listener of this.clipboardListeners) listener(text);
  }

  onClipboard(listener: (text: string) => void): void {
    this.clipboardListeners.add(listener);
  }

  pushEncoded(jpeg: Uint8Array, meta: FrameMeta): void {
    this.pipeline.deliverEncoded(meta, jpeg);
  }

  get latestEncoded(): EncodedFrame | null {
    return this.pipeline.latestEncoded;
  }

  get h264Viewers(): number {
    return this.hub.count("h264");
  }

  onH264Frame(listener: (frame: EncodedH264Frame, meta: FrameMeta) => void): void {
    this.h264Listeners.add(listener);
  }

  requestKeyframe(): void {
    this.h264?.channels[0]!.requestIdr();
  }

  pushEncodedH264(frame: EncodedH264Frame, meta: FrameMeta): void {
    if (!this.relayedIdr) return;
    if (frame.idr) this.relayedIdr.lastIdrBytes = frame.data.byteLength;
    this.noteFrame(meta);
    this.hub.publishH264(frame, 0);
  }

  resyncH264(): void {
    this.hub.resyncH264();
  }

  /** GET /api/config. */
  config(): StreamConfig {
    const s = this.settings;
    const own: StreamConfig = {
      width: this.width,
      height: this.height,
      fps: s.fps,
      quality: s.quality,
      interactiveQuality: s.interactiveQuality,
      stillQuality: s.stillQuality,
      encoder: this.host.encoder,
      encoderWorkers: this.host.encoderWorkers,
      codecs: [...this.host.codecs],
      device: this.health.device,
      viewers: this.viewerCount,
      control: s.control,
      protocol: PROTOCOL_VERSION,
      sourceError: this.health.error,
    };
    const remote = this.settingsFrom?.();
    return remote ? { ...own, ...remote } : own;
  }

  /** GET /api/stats. */
  statsSnapshot(): ReturnType<typeof statsSnapshot> {
    return statsSnapshot(this.report());
  }

  /** This stream's series for GET /metrics. */
  metrics(): Metric[] {
    return streamMetrics(this.report());
  }

  /** Resolves with the first encoded frame newer than `afterSeq`, or null once the stream closes. */
  nextEncodedFrame(afterSeq: number): Promise<EncodedFrame | null> {
    return this.pipeline.nextEncodedFrame(afterSeq);
  }

  /** A fresh frame for a snapshot: the newest if someone watches, else the next one (waiting up to `waitMs`). */
  async freshFrame(waitMs: number): Promise<EncodedFrame | null> {
    const latest = this.pipeline.latestEncoded;
    if (latest && this.viewerCount > 0) return latest;
    // A waiting snapshot counts as a viewer, so that an engine that renders only for viewers renders.
    this.snapshotsWaiting++;
    this.demandChanged();
    try {
      const timeout = Bun.sleep(waitMs).then(() => null);
      return (await Promise.race([this.nextEncodedFrame(latest?.seq ?? 0), timeout])) ?? this.pipeline.latestEncoded;
    } finally {
      this.snapshotsWaiting--;
      this.demandChanged();
    }
  }

  /** The feed of one MJPEG reader (GET /stream.mjpeg). */
  mjpegFeed(): FrameFeed {
    return {
      nextEncodedFrame: (after) => this.nextEncodedFrame(after),
      stallTimeoutMs: this.settings.stallTimeoutMs,
      onOpen: () => {
        this.mjpegViewers++;
        this.demandChanged();
        this.log.info("mjpeg viewer joined", { stream: this.name, viewers: this.viewerCount });
      },
      onPart: (bytes) => {
        this.telemetry.stats.mjpegFramesSent++;
        this.telemetry.stats.mjpegBytesSent += bytes;
      },
      onClose: (reason) => {
        this.mjpegViewers--;
        this.demandChanged();
        if (reason === "too slow") this.telemetry.stats.viewersClosedTooSlow++;
        this.log.info("mjpeg viewer left", { stream: this.name, viewers: this.viewerCount, reason });
      },
    };
  }

  /**
   * The data of a WebSocket viewer about to be upgraded onto this stream. A codec the listener does not
   * offer is answered with JPEG (the hello says which codec the viewer gets); `pinnedTier` comes from `?quality=`.
   */
  newViewer(v2: boolean, viewOnly: boolean, codec: EncoderKind = "jpeg", pinnedTier: number | null = null): ViewerData {
    const offered = this.config().codecs.includes(codec) ? codec : "jpeg";
    return newViewerData(this.nextViewerId++, this, v2, viewOnly, offered, pinnedTier);
  }

  onViewerOpen(ws: Viewer): void {
    this.hub.add(ws, this.pipeline.latestEncoded, (role) => {
      const { fps, quality, width, height } = this.config();
      return { type: "hello", protocol: PROTOCOL_VERSION, width, height, fps, quality, role, id: ws.data.id, codec: ws.data.codec };
    });
    this.demandChanged();
  }

  onViewerClose(ws: Viewer): void {
    this.hub.remove(ws);
    this.demandChanged();
  }

  onViewerDrain(ws: Viewer): void {
    this.hub.catchUp(ws, this.pipeline.latestEncoded);
  }

  /** One text message from a viewer: rate-limited, validated, then input for the engine or a message about the session. */
  onViewerMessage(ws: Viewer, message: string | Buffer): void {
    const key = viewerKey(ws);
    const controls = () => this.control.mayInput(key);
    const stats = this.telemetry.stats;
    const parsed = admitMessage(ws.data, message, this.settings.inputRateLimit, controls, stats, performance.now());
    if (parsed === null) return;
    if (!parsed.ok) return this.reject(ws, parsed.error);
    if (parsed.kind === "input") {
      this.submitInput(key, parsed.event);
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case "ping":
        if (ws.data.v2) sendText(ws, { type: "pong", t: msg.t, server: Date.now() });
        return;
      case "ack":
        if (noteAck(ws.data, msg.seq)) this.telemetry.acknowledged(msg.seq);
        this.hub.acked(ws, msg.seq, this.settings.fps);
        this.hub.catchUp(ws, this.pipeline.latestEncoded);
        return;
      case "control":
        if (!this.hub.command(ws, msg)) stats.inputDenied++;
        return;
      case "visibility":
        // A hidden page lets go of what it held, as when it loses focus.
        if (!msg.visible) this.input.release(key);
        this.hub.setVisible(ws, msg.visible, this.pipeline.latestEncoded, this.config());
        return;
    }
  }

  /** Starts taking frames and viewers on this listener, encoding on `encoder`. */
  attach(server: Server<ViewerData>, encoder: FrameEncoder | null, encoderFreed: () => void): void {
    this.hub.attach(server);
    if (encoder && this.host.codecs.includes("h264")) {
      // Its Worker starts with the first H.264 viewer.
      this.h264 = new H264Tiers(this.settings.fps, this.log, () => {
        this.pipeline.startWaitingH264();
        this.pipeline.schedule();
      });
      this.hub.h264 = new H264Fanout(`h264:${this.name}`, this.telemetry.stats, this.h264.channels);
    } else if (this.relayedIdr) {
      // A relay's H.264 frames come encoded: its viewers' IDRs are asked for where they are encoded.
      this.hub.h264 = new H264Fanout(`h264:${this.name}`, this.telemetry.stats, [this.relayedIdr]);
    }
    this.pipeline.open(encoder, encoderFreed);
  }

  /** Goes on after another stream's encode freed an encoder. */
  resume(): void {
    this.pipeline.schedule();
  }

  /** Each second: closes viewers stuck too long, retries catching up, and sends v2 viewers their stats. */
  sweepViewers(): void {
    const latest = this.pipeline.latestEncoded;
    this.hub.closeStalled(performance.now(), this.settings.stallTimeoutMs, latest);
    this.hub.sendEach((ws) => ({
      type: "stats",
      framesSent: ws.data.framesSent,
      framesSkipped: ws.data.framesSkipped,
      latencyMs: this.telemetry.latencyMs.summary(),
      viewers: this.hub.size,
      tier: JPEG_TIERS[ws.data.subscribedTier]!.name,
      tierReason: ws.data.tier.reason,
    }));
  }

  /** Closes every viewer (1001, saying `why`) and stops taking frames; resolves once encodes in flight are done. */
  async detach(why: string): Promise<void> {
    const encodesDone = this.pipeline.close();
    this.input.cancelPending();
    await this.hub.closeAll(CLOSE_GOING_AWAY, why, CLOSE_GRACE_MS);
    await encodesDone;
    this.h264?.close();
    this.h264 = null;
    this.telemetry.clear();
  }

  private demandChanged(): void {
    // A frame that waited while nobody watched goes out now.
    this.pipeline.schedule();
    for (const listener of this.demandListeners) listener();
  }

  /** Bad input is counted and, for viewers that read text, answered; the socket stays open. */
  private reject(ws: Viewer, error: string): void {
    this.telemetry.stats.inputRejected++;
    if (ws.data.v2) sendText(ws, { type: "error", error });
  }

  private report(): StreamReport {
    return {
      name: this.name,
      telemetry: this.telemetry,
      health: this.health,
      websocketViewers: this.hub.size,
      mjpegViewers: this.mjpegViewers,
      encoder: this.host.encoder,
      encoderWorkers: this.host.encoderWorkers,
      uptimeSeconds: this.host.uptimeSeconds,
    };
  }
}
