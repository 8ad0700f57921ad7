// The origin of a session: it publishes each encoded frame of its stream once, with its metadata, on
// the session's subject; it announces the session each second (size, device, viewers, token digests);
// and it is the one authority over the session's control. Edges' joins, leaves, demand and input come in
// on one subject, in order; viewers of an edge are keyed "EDGE:ID" in the stream's SessionControl, and
// every edge is told the roles of its viewers. The stream renders while the session has viewers anywhere.
import type { Logger } from "../log.ts";
import { parseMessage } from "../protocol/input-schema.ts";
import type { EncodedFrame } from "../server/pipeline.ts";
import type { Stream } from "../server/stream.ts";
import type { Broker } from "./connect.ts";
import { EdgeControl, keyOf } from "./edge-control.ts";
import type { FrameMeta } from "../encode/protocol.ts";
import { type CodecInfo, frameMessages, readJpegMeta } from "./frame-wire.ts";
import { encodeMessage, type Heartbeat, parseUp, type UpMessage } from "./messages.ts";
import { type TokenDigests, tokenDigest } from "./session-tokens.ts";
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT, newInstanceId, sessionSubjects } from "./subjects.ts";

/** How often the session is announced. Edges call it offline after missing about two. */
export const HEARTBEAT_MS = 1000;
/** An edge not heard from for this long is gone: its viewers leave the session. */
const EDGE_TIMEOUT_MS = 3500;

interface EdgeState {
  /** Its viewers that want frames, and those of them that take H.264. */
  viewers: number;
  h264: number;
  /** When it was last heard from (performance.now). */
  heardAt: number;
}

export interface OriginCounters {
  framesPublished: number;
  h264FramesPublished: number;
  /** Frames larger than the broker's max_payload, sent in several chunks. */
  framesChunked: number;
  /** Frames not published because the broker was unreachable. */
  framesUnsent: number;
  bytesPublished: number;
  /** Messages from edges refused (malformed, or input that fails the schema). */
  edgeMessagesRejected: number;
}

export class Origin {
  readonly instance = newInstanceId();
  readonly counters: OriginCounters = {
    framesPublished: 0,
    h264FramesPublished: 0,
    framesChunked: 0,
    framesUnsent: 0,
    bytesPublished: 0,
    edgeMessagesRejected: 0,
  };
  /** H.264 frames published: edges see one go missing by this count. */
  private h264Count = 0;
  private readonly subjects: ReturnType<typeof sessionSubjects>;
  private readonly edges = new Map<string, EdgeState>();
  /** The session's control across edges. */
  private readonly edgeControl: EdgeControl;
  private readonly tokens: TokenDigests;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly subscriptions: { unsubscribe(): void }[] = [];
  private stopped = false;

  constructor(
    private readonly broker: Broker,
    readonly session: string,
    private readonly stream: Stream,
    tokens: { token: string | null; viewToken: string | null },
    private readonly log: Logger,
  ) {
    this.subjects = sessionSubjects(session);
    this.edgeControl = new EdgeControl(stream.control, this.instance, (edge, message) => {
      this.broker.publish(this.subjects.edge(edge), encodeMessage(message));
    });
    this.tokens = { control: tokenDigest(tokens.token), view: tokenDigest(tokens.viewToken) };
  }

  /** Starts publishing and listening; the first heartbeat goes out at once. */
  start(): void {
    const nc = this.broker.nc;
    this.subscriptions.push(
      nc.subscribe(this.subjects.up, { callback: (_err, msg) => this.onUp(msg.data) }),
      nc.subscribe(DISCOVER_SUBJECT, { callback: () => this.announce() }),
    );
    this.stream.onClipboard((text) => this.broker.publish(this.subjects.clipboard, encodeMessage({ type: "clipboard", text })));
    this.stream.onH264Frame((frame, meta) => {
      const codec = { codec: "h264" as const, idr: frame.idr, temporalId: frame.temporalId, n: ++this.h264Count };
      this.publishFrame(this.subjects.h264, frame.data, meta, codec);
    });
    this.broker.onReconnect(() => this.announce());
    this.timers.push(
      setInterval(() => this.announce(), HEARTBEAT_MS),
      setInterval(() => this.forgetSilentEdges(performance.now()), 500),
    );
    this.announce();
    void this.relayFrames();
    this.log.info("origin publishing", { session: this.session, instance: this.instance, maxPayload: this.broker.maxPayload });
  }

  /** Says goodbye (edges show "source offline" at once) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.edgeControl.close();
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.broker.publish(HEARTBEAT_SUBJECT, encodeMessage({ type: "gone", session: this.session, instance: this.instance }));
    await this.broker.nc.flush().catch(() => {});
  }

  /** The heartbeat: the session, its config (viewers: the whole session's) and its token digests. */
  private announce(): void {
    if (this.stopped) return;
    const { session, instance, tokens } = this;
    const heartbeat: Heartbeat = { type: "session", session, instance, config: this.stream.config(), tokens };
    this.broker.publish(HEARTBEAT_SUBJECT, encodeMessage(heartbeat));
  }

  /** Publishes each newly encoded frame of the stream (the newest one, when several came at once). */
  private async relayFrames(): Promise<void> {
    let after = this.stream.latestEncoded?.seq ?? 0;
    while (!this.stopped) {
      const frame = await this.stream.nextEncodedFrame(after);
      if (!frame || this.stopped) return;
      after = frame.seq;
      this.publishJpeg(frame);
    }
  }

  private publishJpeg(frame: EncodedFrame): void {
    const meta = readJpegMeta(frame.jpeg);
    if (meta) this.publishFrame(this.subjects.frames, frame.jpeg, meta, { codec: "jpeg" });
  }

  /** Publishes a frame once (in chunks past max_payload); none while the broker is unreachable. */
  private publishFrame(subject: string, data: Uint8Array, meta: FrameMeta, codec: CodecInfo): void {
    const c = this.counters;
    if (!this.broker.online) {
      c.framesUnsent++;
      return;
    }
    const messages = frameMessages(meta, codec, this.instance, data, this.broker.maxPayload);
    for (const message of messages) this.broker.publish(subject, message);
    if (codec.codec === "h264") c.h264FramesPublished++;
    else c.framesPublished++;
    if (messages.length > 1) c.framesChunked++;
    c.bytesPublished += data.byteLength;
  }

  private onUp(data: Uint8Array): void {
    const message = parseUp(data);
    if (typeof message === "string") return this.reject(message);
    const edge = this.edgeState(message.edge);
    edge.heardAt = performance.now();
    this.handle(message, edge);
  }

  private handle(message: UpMessage, edge: EdgeState): void {
    switch (message.type) {
      case "join":
        this.edgeControl.join(message.edge, message.id, message.mayControl);
        return;
      case "leave":
        this.edgeControl.leave(message.edge, message.id);
        return;
      case "control": {
        const error = this.edgeControl.command(message.edge, message.id, message.command);
        if (error !== null) this.reject(error);
        return;
      }
      case "input": {
        // Checked again here: the origin trusts no edge with the engine's input.
        const parsed = parseMessage(JSON.stringify(message.event));
        if (!parsed.ok || parsed.kind !== "input") return this.reject(parsed.ok ? "input.event is not an input event" : parsed.error);
        this.stream.submitInput(keyOf(message.edge, message.id), parsed.event);
        return;
      }
      case "demand":
        this.setViewers(edge, message);
        return;
      case "keyframe":
        this.stream.requestKeyframe();
        return;
      case "state":
        this.setViewers(edge, message);
        this.edgeControl.reconcile(message.edge, message.members);
        return;
      case "resend": {
        this.announce();
        const latest = this.stream.latestEncoded;
        if (latest) this.publishJpeg(latest);
      }
    }
  }

  private setViewers(edge: EdgeState, demand: { viewers: number; h264: number }): void {
    edge.viewers = demand.viewers;
    edge.h264 = Math.min(demand.h264, demand.viewers);
    this.countEdgeViewers();
  }

  /** The stream renders, and encodes H.264, while edges have viewers (of H.264). */
  private countEdgeViewers(): void {
    let viewers = 0;
    let h264 = 0;
    for (const edge of this.edges.values()) {
      viewers += edge.viewers;
      h264 += edge.h264;
    }
    this.stream.remoteViewers = viewers;
    this.stream.remoteH264Viewers = h264;
  }

  private edgeState(name: string): EdgeState {
    let edge = this.edges.get(name);
    if (!edge) {
      edge = { viewers: 0, h264: 0, heardAt: performance.now() };
      this.edges.set(name, edge);
      this.log.info("edge joined the session", { session: this.session, edge: name });
    }
    return edge;
  }

  /** An edge that went quiet (killed, cut off) leaves with all its viewers. */
  private forgetSilentEdges(now: number): void {
    for (const [name, edge] of this.edges) {
      if (now - edge.heardAt <= EDGE_TIMEOUT_MS) continue;
      this.edges.delete(name);
      this.edgeControl.forget(name);
      this.countEdgeViewers();
      this.log.warn("edge went silent; its viewers left the session", { session: this.session, edge: name, viewers: edge.viewers });
    }
  }

  private reject(error: string): void {
    this.counters.edgeMessagesRejected++;
    this.log.debug("edge message refused", { session: this.session, error });
  }
}
