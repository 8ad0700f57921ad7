// A stream as a library user holds it (StreamingServer.addStream, .stream(name)): what it offers, apart
// from how a listener serves it (ServedStream, stream.ts).
import type { FrameMeta } from "../encode/protocol.ts";
import type { Frame } from "../frame.ts";
import type { IngestCounters } from "../ingest/counters.ts";
import type { InputEvent } from "../protocol/input-schema.ts";
import type { StreamConfig } from "../protocol/viewer-messages.ts";
import type { SessionControl, ViewerKey } from "./control.ts";
import type { SourceHealth } from "./health.ts";
import type { EncodedFrame } from "./pipeline.ts";
import type { statsSnapshot } from "./telemetry.ts";

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
  /** Validated input from this stream's viewers with control since the last call, oldest first. */
  drainInput(): InputEvent[];
  /** Whether anyone wants this stream's frames now (skip rendering when not). */
  hasClients(): boolean;
  /** Tells v2 viewers the config again, e.g. after `health` changed. */
  announceConfig(): void;
  readonly viewerCount: number;
  /** Viewers of this stream served elsewhere (an origin's edges): they count in hasClients and viewers. */
  remoteViewers: number;
  /** Calls `listener` whenever the viewers wanting frames here may have changed (join, leave, snapshot). */
  onDemandChange(listener: () => void): void;
  /** Who decides viewers' roles; input from elsewhere (submitInput) is judged by it too. */
  readonly control: SessionControl;
  /** Validated input from the viewer `key` of this session: taken if its role is control, else denied (counted). */
  submitInput(key: ViewerKey, event: InputEvent): boolean;
  /** Sends text the engine put on its clipboard to the viewers that control (at most MAX_PASTE_BYTES characters). */
  setClipboard(text: string): void;
  /** Delivers a frame encoded elsewhere (a relay): as if encoded here, if newer than the last. */
  pushEncoded(jpeg: Uint8Array, meta: FrameMeta): void;
  /** Resolves with the first encoded frame newer than `afterSeq`, or null once the stream closes. */
  nextEncodedFrame(afterSeq: number): Promise<EncodedFrame | null>;
  /** The newest encoded frame, if any. */
  readonly latestEncoded: EncodedFrame | null;
  /** This stream's GET /api/config and GET /api/stats. */
  config(): StreamConfig;
  statsSnapshot(): ReturnType<typeof statsSnapshot>;
}
