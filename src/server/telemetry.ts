// What a stream counts and measures, and how it is shown: GET /api/stats (JSON) and GET /metrics
// (Prometheus, one `stream` label per stream). The /api/stats field names are a contract (README).
import type { IngestCounters } from "../ingest/counters.ts";
import type { HubCounters } from "./viewer-hub.ts";
import type { SourceHealth } from "./health.ts";
import { type Metric, Samples } from "./metrics.ts";
import type { PipelineCounters } from "./pipeline.ts";

/** A stream's counters, all since start. */
export interface StreamStats extends PipelineCounters, HubCounters, IngestCounters {
  inputAccepted: number;
  /** Messages rejected as malformed. */
  inputRejected: number;
  /** Valid input from viewers without control. */
  inputDenied: number;
  /** Valid input pushed out of the full queue before the engine drained it. */
  inputDropped: number;
  /** Messages over a viewer's rate limit. */
  inputRateLimited: number;
  /** Unknown extra fields left out of otherwise valid messages (jupyter_rfb clients send some). */
  inputFieldsIgnored: number;
  /** WebSocket upgrades refused (foreign origin or no token). */
  upgradesRefused: number;
}

function newStreamStats(): StreamStats {
  return {
    framesPushed: 0,
    framesDropped: 0,
    framesUnchanged: 0,
    framesEncoded: 0,
    h264FramesEncoded: 0,
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
    inputFieldsIgnored: 0,
    upgradesRefused: 0,
    ingestProducersConnected: 0,
    ingestFramesSubmitted: 0,
    ingestFramesDroppedByProducer: 0,
    ingestRingsMade: 0,
    ingestProtocolViolations: 0,
    ingestInputDropped: 0,
  };
}

/** How many recent capture times are kept to turn acks into latency. */
const CAPTURE_TIMES_KEPT = 64;

export class StreamTelemetry {
  readonly stats = newStreamStats();
  /** Time a Worker took to encode a frame (ms). */
  readonly encodeMs = new Samples();
  /** Time a frame waited between its push and an encoder taking it (ms). */
  readonly queueMs = new Samples();
  /** Time the main thread took to fan an encoded frame out to the viewers (ms). */
  readonly publishMs = new Samples();
  /** Time the H.264 Worker took to encode a frame (ms), RGBA to I420 included. */
  readonly h264EncodeMs = new Samples();
  /** Capture-to-acknowledged latency (ms) from v2 viewers' acks. */
  readonly latencyMs = new Samples(256);
  /** Capture times of recent frames by sequence number. */
  private readonly captureTimes = new Map<number, number>();

  /** Frame `seq`, captured at `t` (ms since the epoch), went out. */
  sent(seq: number, t: number): void {
    this.captureTimes.set(seq, t);
    if (this.captureTimes.size > CAPTURE_TIMES_KEPT) this.captureTimes.delete(this.captureTimes.keys().next().value!);
  }

  /** A viewer acknowledged frame `seq` as shown. */
  acknowledged(seq: number): void {
    const captured = this.captureTimes.get(seq);
    if (captured !== undefined) this.latencyMs.add(Date.now() - captured);
  }

  clear(): void {
    this.captureTimes.clear();
  }
}

/** What the stats and metrics of one stream are made of. */
export interface StreamReport {
  name: string;
  telemetry: StreamTelemetry;
  health: SourceHealth;
  websocketViewers: number;
  mjpegViewers: number;
  encoder: string | null;
  /** Encoder Workers in use now (shared by the listener's streams). */
  encoderWorkers: number;
  uptimeSeconds: number;
}

/** Every stage a frame goes through, in order: the source's (render, readback, hand-off, ring wait), then the stream's. */
function stages(r: StreamReport): Record<string, Samples> {
  const s = r.health.stages;
  return {
    renderMs: s.renderMs,
    readbackMs: s.readbackMs,
    handoffMs: s.handoffMs,
    ringWaitMs: s.ringWaitMs,
    queueMs: r.telemetry.queueMs,
    encodeMs: r.telemetry.encodeMs,
    publishMs: r.telemetry.publishMs,
  };
}

/** GET /api/stats: counters, viewers, and recent render, encode and latency quantiles. */
export function statsSnapshot(r: StreamReport) {
  return {
    ...r.telemetry.stats,
    uptimeSeconds: r.uptimeSeconds,
    viewers: r.websocketViewers + r.mjpegViewers,
    websocketViewers: r.websocketViewers,
    mjpegViewers: r.mjpegViewers,
    device: r.health.device,
    encoder: r.encoder,
    encoderWorkers: r.encoderWorkers,
    sourceError: r.health.error,
    encodeMs: r.telemetry.encodeMs.summary(),
    h264EncodeMs: r.telemetry.h264EncodeMs.summary(),
    renderMs: r.health.renderMs.summary(),
    latencyMs: r.telemetry.latencyMs.summary(),
    /** Each stage's recent ms (the source's stages stay empty for sources that do not report them). */
    stages: Object.fromEntries(Object.entries(stages(r)).map(([name, samples]) => [name, samples.summary()])),
  };
}

/** One stream's series for GET /metrics, labelled `stream="NAME"`. */
export function streamMetrics(r: StreamReport): Metric[] {
  const stream = { stream: r.name };
  const metric = (type: Metric["type"]) => (name: string, help: string, value: number | Samples): Metric => ({
    name: `vkcast_${name}`,
    help,
    type,
    value,
    labels: stream,
  });
  const [c, g, summary] = [metric("counter"), metric("gauge"), metric("summary")];
  const st = r.telemetry.stats;
  return [
    c("frames_pushed_total", "Frames offered by the frame source.", st.framesPushed),
    c("frames_rendered_total", "Frames the frame source rendered (engine loop).", r.health.renderMs.count),
    c("frames_encoded_total", "Frames encoded to JPEG.", st.framesEncoded),
    c("h264_frames_encoded_total", "Frames encoded to H.264.", st.h264FramesEncoded),
    c("frames_sent_total", "Frames published to at least one viewer.", st.framesPublished),
    c("frames_dropped_total", "Frames replaced by a newer one before encoding.", st.framesDropped),
    c("frames_unchanged_total", "Frames identical to the last still frame: not encoded.", st.framesUnchanged),
    c("frames_skipped_total", "Frames a viewer that was behind did not get, summed over viewers.", st.framesSkipped),
    c("encode_errors_total", "Encodes that failed.", st.encodeErrors),
    c("bytes_sent_total", "JPEG and H.264 bytes sent to WebSocket viewers.", st.bytesSent),
    c("viewers_joined_total", "WebSocket viewers that connected.", st.viewersJoined),
    c("viewers_closed_too_slow_total", "Viewers closed because they stopped reading.", st.viewersClosedTooSlow),
    c("input_accepted_total", "Input events queued for the engine.", st.inputAccepted),
    c("input_rejected_total", "Messages rejected as malformed.", st.inputRejected),
    c("input_denied_total", "Input events from viewers without control.", st.inputDenied),
    c("input_dropped_total", "Input events pushed out of the full queue.", st.inputDropped),
    c("input_fields_ignored_total", "Unknown extra fields left out of valid messages.", st.inputFieldsIgnored),
    c("ingest_producers_connected_total", "Producers that completed their handshake (--source ipc).", st.ingestProducersConnected),
    c("ingest_frames_submitted_total", "Frames producers submitted that were handed to the stream.", st.ingestFramesSubmitted),
    c("ingest_frames_dropped_by_producer_total", "Frames producers dropped on their side, as reported.", st.ingestFramesDroppedByProducer),
    c("ingest_rings_made_total", "Shared-memory rings made for producers.", st.ingestRingsMade),
    c("ingest_protocol_violations_total", "Producers closed for a protocol violation after their hello.", st.ingestProtocolViolations),
    c("ingest_input_dropped_total", "Input events not sent to a producer behind on reading its socket.", st.ingestInputDropped),
    g("viewers", "Viewers connected now (WebSocket and MJPEG).", r.websocketViewers + r.mjpegViewers),
    g("encoder_workers", "Encoder Workers in use.", r.encoderWorkers),
    g("source_ok", "1 while the frame source renders without error.", r.health.error ? 0 : 1),
    { ...g("info", "Device and encoder in use.", 1), labels: { ...stream, device: r.health.device, encoder: r.encoder ?? "" } },
    summary("encode_ms", "JPEG encode time in ms (recent frames).", r.telemetry.encodeMs),
    summary("h264_encode_ms", "H.264 encode time in ms (recent frames).", r.telemetry.h264EncodeMs),
    summary("render_ms", "Frame source render time in ms (recent frames).", r.health.renderMs),
    summary("latency_ms", "Capture to acknowledged latency in ms (v2 viewers).", r.telemetry.latencyMs),
    ...Object.entries(stages(r)).map(([name, samples]) => ({
      ...summary("stage_ms", "Time of each stage of a frame in ms: render, readback, handoff, ring_wait, queue, encode, publish.", samples),
      labels: { ...stream, stage: name.replace(/Ms$/, "").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) },
    })),
  ];
}

/** The listener's own series: shared by every stream, so without a `stream` label. */
export function listenerMetrics(uptimeSeconds: number, encoderRestarts: number): Metric[] {
  return [
    {
      name: "vkcast_encoder_restarts_total",
      help: "Encoder Workers that died and were replaced.",
      type: "counter",
      value: encoderRestarts,
    },
    { name: "vkcast_uptime_seconds", help: "Seconds since the server started.", type: "gauge", value: uptimeSeconds },
  ];
}
