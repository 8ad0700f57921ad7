// One session as an edge serves it at /s/NAME/: frames from the origin (put back together, renumbered
// after an origin restart, the newest of a burst only, never stale ones) go to the stream's viewers with
// the usual flow control; joins, leaves, demand and input go to the origin, which decides the roles.
// No word from the origin for a while: the viewers are told "source offline" and keep their sockets.
import type { Logger } from "../log.ts";
import type { StreamingServer } from "../server.ts";
import type { RemoteSettings, Stream } from "../server/stream.ts";
import type { Broker } from "./connect.ts";
import { type FrameHeader, FrameAssembler, readFrameMessage, withMeta } from "./frame-wire.ts";
import { encodeMessage, type Heartbeat, parseRoles, type UpMessage } from "./messages.ts";
import { HEARTBEAT_MS } from "./origin.ts";
import { RemoteControl } from "./remote-control.ts";
import { sessionAccess } from "./session-tokens.ts";
import { sessionSubjects } from "./subjects.ts";

/** No heartbeat for this long: the origin is offline (about two missed). */
export const OFFLINE_AFTER_MS = 2.5 * HEARTBEAT_MS;
/** A frame this much older than the freshest seen lately is not served (the edge fell behind). */
const STALE_AFTER_MS = 1000;
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

export interface EdgeSessionCounters {
  framesRelayed: number;
  /** Frames older than the freshest by more than STALE_AFTER_MS: not served. */
  framesStale: number;
  /** Frames replaced by a newer one that arrived in the same burst. */
  framesCoalesced: number;
  /** Frames lost in chunks (a chunk missing). */
  framesIncomplete: number;
  messagesRejected: number;
}

export class EdgeSession {
  readonly stream: Stream;
  readonly counters: EdgeSessionCounters = {
    framesRelayed: 0,
    framesStale: 0,
    framesCoalesced: 0,
    framesIncomplete: 0,
    messagesRejected: 0,
  };
  /** The origin's latest heartbeat. */
  announced: Heartbeat | null = null;
  /** When the origin was last heard (performance.now), and since when it is offline (null: online). */
  private heardAt = performance.now();
  offlineSince: number | null = performance.now();
  private readonly control: RemoteControl;
  private readonly subjects: ReturnType<typeof sessionSubjects>;
  private readonly assembler = new FrameAssembler();
  private readonly subscriptions: { unsubscribe(): void }[] = [];
  private pending: { header: FrameHeader; frame: Uint8Array } | null = null;
  /** Frame numbering: the origin run frames came from, and what is added to its numbers so they keep growing. */
  private frameInstance: string | null = null;
  private seqOffset = 0;
  private lastSeq = 0;
  /** The smallest capture-to-arrival time seen lately (ms; clocks may differ): the age of a fresh frame. */
  private lagFloor = Number.POSITIVE_INFINITY;
  private lagFloorAt = 0;
  private demandSent = -1;
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
    });
    this.stream.health.failed(`source offline: waiting for the origin of session '${session}'`);
    this.stream.onDemandChange(() => this.demandChanged());
    const nc = ctx.broker.nc;
    this.subscriptions.push(
      nc.subscribe(this.subjects.frames, { callback: (_err, msg) => this.onFrameMessage(msg.data) }),
      nc.subscribe(this.subjects.edge(ctx.edge), { callback: (_err, msg) => this.onRoles(msg.data) }),
    );
  }

  get online(): boolean {
    return this.offlineSince === null;
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
    this.send({ type: "state", edge: this.ctx.edge, viewers: this.demand(), members: this.control.roster() });
  }

  async close(): Promise<void> {
    for (const sub of this.subscriptions) sub.unsubscribe();
    await this.ctx.server.removeStream(this.session);
  }

  private goOffline(why: string): void {
    if (this.offlineSince !== null) return;
    this.offlineSince = performance.now();
    this.stream.health.failed(why);
    this.stream.announceConfig();
    this.ctx.log.warn("origin offline", { session: this.session, why });
  }

  private onFrameMessage(data: Uint8Array): void {
    const read = readFrameMessage(data);
    if (typeof read === "string") {
      this.counters.messagesRejected++;
      return;
    }
    const dropped = this.assembler.dropped;
    const whole = this.assembler.add(read.header, read.body);
    this.counters.framesIncomplete += this.assembler.dropped - dropped;
    if (!whole) return;
    // Frames that arrive in one burst (this edge was busy): only the newest is served.
    if (this.pending) this.counters.framesCoalesced++;
    else setImmediate(() => this.flush());
    this.pending = whole;
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    const { header } = pending;
    if (this.isStale(header.t)) {
      this.counters.framesStale++;
      return;
    }
    // A restarted origin numbers from 1 again: keep this edge's numbers growing (viewers ack by them).
    if (header.instance !== this.frameInstance) {
      this.frameInstance = header.instance;
      this.seqOffset = Math.max(0, this.lastSeq + 1 - header.seq);
    }
    const meta = { seq: header.seq + this.seqOffset, t: header.t, w: header.w, h: header.h, q: header.q };
    this.lastSeq = meta.seq;
    this.stream.pushEncoded(this.seqOffset === 0 ? pending.frame : withMeta(pending.frame, meta), meta);
    this.counters.framesRelayed++;
  }

  /** Whether a frame captured at `t` is stale: older than the freshest seen lately by STALE_AFTER_MS. */
  private isStale(t: number): boolean {
    const now = performance.now();
    const lag = Date.now() - t;
    // The floor creeps up by 1 ms a second, so that a clock adjustment is forgotten.
    this.lagFloor = Math.min(lag, this.lagFloor + (now - this.lagFloorAt) / 1000);
    this.lagFloorAt = now;
    return lag - this.lagFloor > STALE_AFTER_MS;
  }

  private onRoles(data: Uint8Array): void {
    const roles = parseRoles(data);
    if (typeof roles === "string") {
      this.counters.messagesRejected++;
      return;
    }
    this.control.apply(roles.controllers, roles.upTo);
  }

  /** Viewers here wanting frames (a waiting snapshot counts as one). */
  private demand(): number {
    return this.stream.hasClients() ? Math.max(1, this.stream.viewerCount) : 0;
  }

  /** Demand goes to the origin at once (it starts rendering on it), once per turn. */
  private demandChanged(): void {
    if (this.demandDue) return;
    this.demandDue = true;
    queueMicrotask(() => {
      this.demandDue = false;
      const viewers = this.demand();
      if (viewers === this.demandSent) return;
      this.demandSent = viewers;
      this.send({ type: "demand", edge: this.ctx.edge, viewers });
    });
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
    const { fps, quality, interactiveQuality, stillQuality, encoder, control } = c;
    return { fps, quality, interactiveQuality, stillQuality, encoder, control };
  }
}
