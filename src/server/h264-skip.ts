// Which H.264 frames a viewer gets: the rule bench/codec.ts measured (README "H.264"). Pure, so that the
// server and the benchmark's simulated slow viewer run the same code.
//
// What a viewer has not taken yet is measured two ways: bytes (not acknowledged, or still in its socket's
// buffer) and the age of the oldest frame it has not acknowledged (viewers that ack). Its byte budget is
// two IDRs' worth: an IDR is 4-15 P frames, and a viewer that keeps up must be able to take one.
// - Layer-1 frames (nothing refers to them) are sent while at most half the budget is queued and the
//   oldest frame is younger than LAYER1_LAG_MS, else skipped: the decoder is unharmed, the viewer gets
//   half the frame rate, and its lag stays short.
// - A layer-0 frame is sent while at most the whole budget is queued and the oldest frame is younger
//   than LAYER0_LAG_MS; past that the viewer loses its place in the stream: it is gated, skips everything
//   until an IDR, and asks for one once it could take it (a viewer that stopped reading never asks, so it
//   costs the others nothing). One that loses its place again soon after an IDR waits longer each time
//   before it asks (1 s, doubling up to 30 s): every IDR costs every viewer, and a socket's buffers can
//   look as if they drain for a while after its reader stopped.

/** No IDR is assumed smaller than this when budgeting (before the first, and for tiny frames). */
const MIN_IDR_BYTES = 32 * 1024;
/** A viewer whose oldest unacknowledged frame is older than this skips layer-1 frames. */
export const LAYER1_LAG_MS = 200;
/** ... and older than this, it loses its place and waits for an IDR. */
export const LAYER0_LAG_MS = 1000;

/** Losing its place again within this long after an IDR doubles the wait before a viewer asks for the next. */
const RESYNC_GRACE_MS = 10_000;
const IDR_WAIT_FIRST_MS = 1000;
const IDR_WAIT_MAX_MS = 30_000;

export type SkipDecision = "send" | "skip" | "lose-sync";

export interface H264FrameInfo {
  idr: boolean;
  temporalId: number;
}

/** What a viewer has not taken yet: bytes, and the age (ms) of the oldest frame it has not acknowledged. */
export interface Backlog {
  bytes: number;
  ageMs: number;
}

export function budgetFor(lastIdrBytes: number): number {
  return 2 * Math.max(lastIdrBytes, MIN_IDR_BYTES);
}

/** What to do with one frame for one viewer with `backlog`. */
export function decide(gated: boolean, frame: H264FrameInfo, backlog: Backlog, budget: number): SkipDecision {
  if (gated) return frame.idr && readyForIdr(backlog, budget) ? "send" : "skip";
  if (frame.temporalId > 0) return readyForIdr(backlog, budget) ? "send" : "skip";
  return backlog.bytes <= budget && backlog.ageMs <= LAYER0_LAG_MS ? "send" : "lose-sync";
}

/** Whether a viewer could take an IDR (or a layer-1 frame) now; a gated one asks for an IDR only then. */
export function readyForIdr(backlog: Backlog, budget: number): boolean {
  return backlog.bytes <= budget / 2 && backlog.ageMs <= LAYER1_LAG_MS;
}

/** How long a viewer that lost its place waits before it asks for an IDR, given its last wait and how long it kept up. */
export function idrWaitAfter(lastWaitMs: number, keptUpMs: number): number {
  if (keptUpMs >= RESYNC_GRACE_MS) return 0;
  return Math.min(IDR_WAIT_MAX_MS, Math.max(IDR_WAIT_FIRST_MS, lastWaitMs * 2));
}
