// What a stream counts and measures, and how it is shown: GET /api/stats (JSON) and GET /metrics
// (Prometheus, one `stream` label per stream), both from one list of counters. The /api/stats field
// names are a contract (README).
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
  /** WebSocket upgrades refused (foreign origin or Host, no token, too many viewers). */
  upgradesRefused: number;
  /** Parts (JPEG frames) and bytes sent to MJPEG readers. */
  mjpegFramesSent: number;
  mjpegBytesSent: number;
}

/** Every counter: its /api/stats field, its /metrics name (vkcast_ + name + _total) and help, in the order shown. */
export const COUNTERS = [
  ["framesPushed", "frames_pushed", "Frames offered by the frame source."],
  ["framesDropped", "frames_dropped", "Frames replaced by a newer one before encoding."],
  ["framesUnchanged", "frames_unchanged", "Frames identical to the last still frame: not encoded."],
  ["framesEncoded", "frames_encoded", "Frames encoded to JPEG."],
  ["h264FramesEncoded", "h264_frames_encoded", "Frames encoded to H.264."],
  ["framesPublished", "frames_sent", "Frames published to at least one WebSocket viewer."],
  ["framesSkipped", "frames_skipped", "Frames a viewer that was behind did not get, summed over viewers."],
  ["encodeErrors", "encode_errors", "Encodes that failed."],
  ["bytesSent", "bytes_sent", "JPEG and H.264 bytes sent to WebSocket viewers."],
  ["viewersJoined", "viewers_joined", "WebSocket viewers that connected."],
  ["viewersClosedTooSlow", "viewers_closed_too_slow", "Viewers (WebSocket and MJPEG) closed because they stopped reading."],
  ["inputAccepted", "input_accepted", "Input events queued for the engine."],
  ["inputRejected", "input_rejected", "Messages rejected as malformed."],
  ["inputDenied", "input_denied", "Input events from viewers without control."],
  ["inputDropped", "input_dropped", "Input events pushed out of the full queue."],
  ["inputRateLimited", "input_rate_limited", "Messages over a viewer's rate limit, dropped."],
  ["inputFieldsIgnored", "input_fields_ignored", "Unknown extra fields left out of valid messages."],
  ["upgradesRefused", "upgrades_refused", "WebSocket upgrades refused (foreign origin or Host, no token, too many viewers)."],
  ["mjpegFramesSent", "mjpeg_frames_sent", "JPEG parts sent to MJPEG readers, summed over readers."],
  ["mjpegBytesSent", "mjpeg_bytes_sent", "Bytes sent to MJPEG readers."],
  ["ingestProducersConnected", "ingest_producers_connected", "Producers that completed their handshake (--source ipc)."],
  ["ingestFramesSubmitted", "ingest_frames_submitted", "Frames producers submitted that were handed to the stream."],
  ["ingestFramesDroppedByProducer", "ingest_frames_dropped_by_producer", "Frames producers dropped on their side, as reported."],
  ["ingestRingsMade", "ingest_rings_made", "Shared-memory rings made for producers."],
  ["ingestProtocolViolations", "ingest_protocol_violations", "Producers closed for a protocol violation after their hello."],
  ["ingestInputDropped", "ingest_input_dropped", "Input events not sent to a producer behind on reading its socket."],
] as const satisfies readonly (readonly [keyof StreamStats, string, string])[];

// Every field of StreamStats is in COUNTERS (checked when compiling).
const everyCounterListed: Exclude<keyof StreamStats, (typeof COUNTERS)[number][0]> extends never ? true : never = true;
void everyCounterListed;

function newStreamStats(): StreamStats {
  return Object.fromEntries(COUNTERS.map(([field]) => [field, 0])) as unknown as StreamStats;
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
  const [c, g, histogram] = [metric("counter"), metric("gauge"), metric("histogram")];
  const st = r.telemetry.stats;
  return [
    ...COUNTERS.map(([field, name, help]) => c(`${name}_total`, help, st[field])),
    c("frames_rendered_total", "Frames the frame source rendered (engine loop).", r.health.renderMs.count),
    g("viewers", "Viewers connected now (WebSocket and MJPEG).", r.websocketViewers + r.mjpegViewers),
    g("encoder_workers", "Encoder Workers in use.", r.encoderWorkers),
    g("source_ok", "1 while the frame source renders without error.", r.health.error ? 0 : 1),
    { ...g("info", "Device and encoder in use.", 1), labels: { ...stream, device: r.health.device, encoder: r.encoder ?? "" } },
    histogram("encode_seconds", "JPEG encode time in seconds.", r.telemetry.encodeMs),
    histogram("h264_encode_seconds", "H.264 encode time in seconds.", r.telemetry.h264EncodeMs),
    histogram("render_seconds", "Frame source render time in seconds.", r.health.renderMs),
    histogram("latency_seconds", "Capture to acknowledged latency in seconds (v2 viewers).", r.telemetry.latencyMs),
    ...Object.entries(stages(r)).map(([name, samples]) => ({
      ...histogram("stage_seconds", "Time of each stage of a frame in seconds (render, readback, handoff, ring_wait, ...).", samples),
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
