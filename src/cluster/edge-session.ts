// One session as an edge serves it at /s/NAME/: frames from the origin (edge-frames.ts) go to the
// stream's viewers with the usual flow control; joins, leaves, demand, keyframe requests and input go to
// the origin, which decides the roles. No word from the origin for a while: the viewers are told
// "source offline" and keep their sockets.
import type { Logger } from "../log.ts";
import type { StreamingServer } from "../server.ts";
import type { RemoteSettings, Stream } from "../server/stream.ts";
import type { Broker } from "./connect.ts";
import { FrameReceiver } from "./edge-frames.ts";
import { encodeMessage, type Heartbeat, parseClipboard, parseRoles, type UpMessage } from "./messages.ts";
import { HEARTBEAT_MS } from "./origin.ts";
import { RemoteControl } from "./remote-control.ts";
import { sessionAccess } from "./session-tokens.ts";
import { sessionSubjects } from "./subjects.ts";

/** No heartbeat for this long: the origin is offline (about two missed). */
export const OFFLINE_AFTER_MS = 2.5 * HEARTBEAT_MS;
/** Keyframe requests go to the origin at most this often (it makes at most one IDR a second anyway). */
const KEYFRAME_REQUEST_MS = 250;
/** The size of a session whose origin has not announced itself yet. */
const UNKNOWN_SIZE = { width: 1280, height: 720 };

/** What every session of an edge shares. */
export interface EdgeContext {
  broker: Broker;
  /** The edge's name: its viewers are "NAME:ID" at the origin. */
  edge: string;
  server: StreamingServer;
  log: Logger;
  /** The edge's listener has a token of its own: a session without tokens still needs it. */
  ownToken: boolean;
}

type Subscription = { unsubscribe(): void };

export class EdgeSession {
  readonly stream: Stream;
  /** The origin's latest heartbeat. */
  announced: Heartbeat | null = null;
  /** When the origin was last heard (performance.now), and since when it is offline (null: online). */
  private heardAt = performance.now();
  offlineSince: number | null = performance.now();
  private readonly control: RemoteControl;
  private readonly frames: FrameReceiver;
  private readonly subjects: ReturnType<typeof sessionSubjects>;
  private readonly subscriptions: Subscription[] = [];
  /** The H.264 subject, subscribed while this edge has H.264 viewers. */
  private h264Subscription: Subscription | null = null;
  private keyframeAskedAt = -Infinity;
  private demandSent = "";
  private demandDue = false;

  /** `size`: the frame size its origin announced, if it did already. */
  constructor(
    private readonly ctx: EdgeContext,
    readonly session: string,
    size = UNKNOWN_SIZE,
  ) {
    this.subjects = sessionSubjects(session);
    this.control = new RemoteControl(ctx.edge, (message) => this.send(message));
    this.stream = ctx.server.addStream(session, size, {
      control: this.control,
      forwardInput: (key, event) => this.send({ type: "input", edge: ctx.edge, id: Number(key), event }),
      authorize: (token) => this.authorize(token),
      settingsFrom: () => this.remoteSettings(),
      requestKeyframe: () => this.requestKeyframe(),
    });
    this.frames = new FrameReceiver({
      jpeg: (jpeg, meta) => this.stream.pushEncoded(jpeg, meta),
      h264: (frame, meta) => this.stream.pushEncodedH264(frame, meta),
      h264Lost: () => this.stream.resyncH264(),
    });
    this.stream.health.failed(`source offline: waiting for the origin of session '${session}'`);
    this.stream.onDemandChange(() => this.demandChanged());
    const nc = ctx.broker.nc;
    this.subscriptions.push(
      nc.subscribe(this.subjects.frames, { callback: (_err, msg) => this.frames.take(msg.data) }),
      nc.subscribe(this.subjects.edge(ctx.edge), { callback: (_err, msg) => this.onRoles(msg.data) }),
      nc.subscribe(this.subjects.clipboard, { callback: (_err, msg) => this.onClipboard(msg.data) }),
    );
  }

  get online(): boolean {
    return this.offlineSince === null;
  }

  get counters(): FrameReceiver["counters"] {
    return this.frames.counters;
  }

  /** The origin announced the session. A new origin run gets this edge's viewers and asks for the newest frame. */
  onHeartbeat(heartbeat: Heartbeat): void {
    const newOrigin = this.announced?.instance !== heartbeat.instance;
    this.announced = heartbeat;
    this.heardAt = performance.now();
    const health = this.stream.health;
    const error = heartbeat.config.sourceError;
    const changed = health.error !== error || health.device !== heartbeat.config.device;
    if (error === null) health.recovered(heartbeat.config.device);
    else health.failed(error);
    if (this.offlineSince !== null) this.ctx.log.info("origin online", { session: this.session, instance: heartbeat.instance });
    this.offlineSince = null;
    if (changed) this.stream.announceConfig();
    if (newOrigin) {
      this.control.undecide();
      this.sendState();
      this.send({ type: "resend", edge: this.ctx.edge });
    }
  }

  /** The origin said it stops: offline at once. */
  onGone(instance: string): void {
    if (this.announced?.instance === instance) this.goOffline(`source offline: the origin of session '${this.session}' stopped`);
  }

  /** Each half second: offline when the origin went quiet. */
  tick(now: number): void {
    if (this.offlineSince === null && now - this.heardAt > OFFLINE_AFTER_MS) {
      const seconds = Math.round((now - this.heardAt) / 1000);
      this.goOffline(`source offline: no word from the origin of session '${this.session}' for ${seconds} s`);
    }
  }

  /** Each second, and whenever the broker or the origin is new: every viewer of this edge, for the origin to reconcile. */
  sendState(): void {
    this.send({ type: "state", edge: this.ctx.edge, ...this.demand(), members: this.control.roster() });
  }

  async close(): Promise<void> {
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.h264Subscription?.unsubscribe();
    await this.ctx.server.removeStream(this.session);
  }

  private goOffline(why: string): void {
    if (this.offlineSince !== null) return;
    this.offlineSince = performance.now();
    this.stream.health.failed(why);
    this.stream.announceConfig();
    this.ctx.log.warn("origin offline", { session: this.session, why });
  }

  private onRoles(data: Uint8Array): void {
    const roles = parseRoles(data);
    if (typeof roles === "string") {
      this.counters.messagesRejected++;
      return;
    }
    this.control.apply(roles);
  }

  /** The engine's clipboard, for this edge's viewers that control. */
  private onClipboard(data: Uint8Array): void {
    const clipboard = parseClipboard(data);
    if (typeof clipboard === "string") this.counters.messagesRejected++;
    else this.stream.setClipboard(clipboard.text);
  }

  /** Viewers here wanting frames (a waiting snapshot counts as one), and those of them that take H.264. */
  private demand(): { viewers: number; h264: number } {
    const viewers = this.stream.hasClients() ? Math.max(1, this.stream.viewerCount) : 0;
    return { viewers, h264: this.stream.h264Viewers };
  }

  /** Demand goes to the origin at once (it starts rendering on it), once per turn. */
  private demandChanged(): void {
    if (this.demandDue) return;
    this.demandDue = true;
    queueMicrotask(() => {
      this.demandDue = false;
      const demand = this.demand();
      this.followH264(demand.h264 > 0);
      const key = `${demand.viewers}/${demand.h264}`;
      if (key === this.demandSent) return;
      this.demandSent = key;
      this.send({ type: "demand", edge: this.ctx.edge, ...demand });
    });
  }

  /** H.264 frames cross the broker to this edge only while it has H.264 viewers. */
  private followH264(wanted: boolean): void {
    if (wanted === (this.h264Subscription !== null)) return;
    if (wanted) {
      this.frames.restartH264();
      this.h264Subscription = this.ctx.broker.nc.subscribe(this.subjects.h264, { callback: (_err, msg) => this.frames.take(msg.data) });
    } else {
      this.h264Subscription!.unsubscribe();
      this.h264Subscription = null;
    }
  }

  private requestKeyframe(): void {
    const now = performance.now();
    if (now - this.keyframeAskedAt < KEYFRAME_REQUEST_MS) return;
    this.keyframeAskedAt = now;
    this.send({ type: "keyframe", edge: this.ctx.edge });
  }

  private send(message: UpMessage): void {
    this.ctx.broker.publish(this.subjects.up, encodeMessage(message));
  }

  /** This session's own tokens (as its origin announced them), else the edge's own if it has one. */
  private authorize(token: string | null): "control" | "view" | null {
    const digests = this.announced?.tokens;
    if (!digests) return null;
    if (digests.control === null && digests.view === null) return this.ctx.ownToken ? null : "control";
    return sessionAccess(token, digests);
  }

  private remoteSettings(): RemoteSettings | null {
    const c = this.announced?.config;
    if (!c) return null;
    const { fps, quality, interactiveQuality, stillQuality, encoder, control, codecs } = c;
    // Until the first frame tells the size, the origin's announcement does.
    const size = this.counters.framesRelayed === 0 ? { width: c.width, height: c.height } : {};
    return { fps, quality, interactiveQuality, stillQuality, encoder, control, codecs, ...size };
  }
}
