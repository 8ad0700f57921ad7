// What a stream's external producers did, counted per stream since start: shown in /api/stats and
// /metrics beside the stream's other counters (src/server/telemetry.ts).

export interface IngestCounters {
  /** Producers that completed their handshake for the stream. */
  ingestProducersConnected: number;
  /** Frames its producers submitted that were handed to the stream. */
  ingestFramesSubmitted: number;
  /** Frames its producers dropped on their side (no free slot, a ring on its way), as they report them. */
  ingestFramesDroppedByProducer: number;
  /** Rings of shared memory made for its producers (at the handshake and on request). */
  ingestRingsMade: number;
  /** Producers closed for a protocol violation after their hello. */
  ingestProtocolViolations: number;
  /** Viewer input events not sent to a producer that fell behind reading its socket. */
  ingestInputDropped: number;
}
