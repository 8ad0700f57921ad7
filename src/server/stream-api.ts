// A stream as a library user holds it (StreamingServer.addStream, .stream(name)): what it offers, apart
// from how a listener serves it (ServedStream, stream.ts); what it reads from that listener, and how it is
// driven from elsewhere (src/cluster/).
import type { EncoderKind } from "../encode/backend.ts";
import type { FrameMeta } from "../encode/protocol.ts";
import type { Frame } from "../frame.ts";
import type { IngestCounters } from "../ingest/counters.ts";
import type { InputEvent } from "../protocol/input-schema.ts";
import type { StreamConfig } from "../protocol/viewer-messages.ts";
import type { SessionControl, ViewerKey } from "./control.ts";
import type { SourceHealth } from "./health.ts";
import type { EncodedFrame, EncodedH264Frame } from "./pipeline.ts";
import type { statsSnapshot } from "./telemetry.ts";

/** What a stream reads from the listener that serves it. */
export interface StreamHost {
  readonly encoder: string | null;
  readonly encoderWorkers: number;
  /** The codecs viewers may ask for (known once the listener started). */
  readonly codecs: readonly EncoderKind[];
  readonly uptimeSeconds: number;
}

/** How a stream is driven from elsewhere (src/cluster/: an edge's stream relays its origin's session). */
export interface StreamLinks {
  /** Who decides viewers' roles (default: the server's control policy, decided here). */
  control?: SessionControl;
  /** Where accepted input goes instead of this stream's queue (an edge forwards it to its origin). */
  forwardInput?: (key: ViewerKey, event: InputEvent) => void;
  /**
   * Who may use this stream besides holders of the listener's token: "control", "view" or null for the
   * token a request carries (an edge checks each session's own tokens).
   */
  authorize?: (token: string | null) => "control" | "view" | null;
  /** Settings decided elsewhere (an edge shows its origin's), shown in /api/config, hello and config messages. */
  settingsFrom?: () => RemoteSettings | null;
  /** A relay's H.264 viewers need an IDR: ask where the frames are encoded (an edge asks its origin). */
  requestKeyframe?: () => void;
}

/** The /api/config fields an origin decides for the edges that relay it; the size too until a frame came. */
export type RemoteSettings = Pick<
  StreamConfig,
  "fps" | "quality" | "interactiveQuality" | "stillQuality" | "encoder" | "control" | "codecs"
> &
  Partial<Pick<StreamConfig, "width" | "height">>;

/** A stream as a library user holds it (StreamingServer.addStream, .stream(name)). */
export interface Stream {
  readonly name: string;
  readonly fps: number;
  /** The frame size: the size at creation, then that of the newest encoded frame. */
  readonly width: number;
  readonly height: number;
  /** Report the frame source's state here: `health.failed("waiting for the engine")`, `rendered(ms)`, ... */
  readonly health: SourceHealth;
  /** An external producer's counters (the ingest socket counts here); in /api/stats and /metrics. */
  readonly ingest: IngestCounters;
  /** Offers a frame; never blocks; the newest frame wins when encoding is behind. */
  pushFrame(frame: Frame | Uint8Array): void;
  /**
   * Validated input from this stream's viewers with control since the last call, oldest first. The frames pushed
   * after the call count as rendered with it applied: their metadata tells the viewers so (README, Input to display).
   */
  drainInput(): InputEvent[];
  /** Whether anyone wants this stream's frames now (skip rendering when not). */
  hasClients(): boolean;
  /** Tells v2 viewers the config again, e.g. after `health` changed. */
  announceConfig(): void;
  readonly viewerCount: number;
  /** Viewers of this stream served elsewhere (an origin's edges): they count in hasClients and viewers. */
  remoteViewers: number;
  /** Of those, the ones that take H.264: the stream encodes H.264 while there are any here or elsewhere. */
  remoteH264Viewers: number;
  /** This stream's own WebSocket viewers that take H.264. */
  readonly h264Viewers: number;
  /** Calls `listener` whenever the viewers wanting frames here may have changed (join, leave, snapshot). */
  onDemandChange(listener: () => void): void;
  /** Who decides viewers' roles; input from elsewhere (submitInput) is judged by it too. */
  readonly control: SessionControl;
  /** Validated input from the viewer `key` of this session: taken if its role is control, else denied (counted). */
  submitInput(key: ViewerKey, event: InputEvent): boolean;
  /** Sends text the engine put on its clipboard to the viewers that control (at most MAX_PASTE_BYTES characters). */
  setClipboard(text: string): void;
  /** Calls `listener` with each text given to setClipboard (an origin passes it on to its edges' controllers). */
  onClipboard(listener: (text: string) => void): void;
  /** Delivers a frame encoded elsewhere (a relay): as if encoded here, if newer than the last. */
  pushEncoded(jpeg: Uint8Array, meta: FrameMeta): void;
  /** Resolves with the first encoded frame newer than `afterSeq`, or null once the stream closes. */
  nextEncodedFrame(afterSeq: number): Promise<EncodedFrame | null>;
  /** The newest encoded frame, if any. */
  readonly latestEncoded: EncodedFrame | null;
  /** Calls `listener` with each H.264 access unit encoded here, in order (an origin publishes them). */
  onH264Frame(listener: (frame: EncodedH264Frame, meta: FrameMeta) => void): void;
  /** Someone elsewhere needs an IDR: the next H.264 frame is one (coalesced, at most one a second). */
  requestKeyframe(): void;
  /** Delivers an H.264 access unit encoded elsewhere (a relay, in order); its viewers that wait for an IDR get one. */
  pushEncodedH264(frame: EncodedH264Frame, meta: FrameMeta): void;
  /** A relay lost an H.264 frame: every H.264 viewer waits for the next IDR (and one is asked for). */
  resyncH264(): void;
  /** This stream's GET /api/config and GET /api/stats. */
  config(): StreamConfig;
  statsSnapshot(): ReturnType<typeof statsSnapshot>;
}
