// Which H.264 frames a viewer gets: the rule bench/codec.ts measured (README "H.264"). Pure, so that the
// server and the benchmark's simulated slow viewer run the same code.
//
// A viewer's budget is two IDRs' worth of bytes not yet through to it (acknowledged, or out of its
// socket's buffer): an IDR is 10-15 P frames, and a viewer that keeps up must be able to take one.
// - Layer-1 frames (nothing refers to them) are sent while at most half the budget is queued, else
//   skipped: the decoder is unharmed, the viewer gets half the frame rate.
// - A layer-0 frame is sent while at most the whole budget is queued; past that the viewer loses its
//   place in the stream: it is gated, skips everything until an IDR, and asks for one once half its
//   budget is free again (a viewer that stopped reading never asks, so it costs the others nothing).

/** No IDR is assumed smaller than this when budgeting (before the first, and for tiny frames). */
const MIN_IDR_BYTES = 32 * 1024;

export type SkipDecision = "send" | "skip" | "lose-sync";

export interface H264FrameInfo {
  idr: boolean;
  temporalId: number;
}

export function budgetFor(lastIdrBytes: number): number {
  return 2 * Math.max(lastIdrBytes, MIN_IDR_BYTES);
}

/** What to do with one frame for one viewer with `queued` bytes not yet through. */
export function decide(gated: boolean, frame: H264FrameInfo, queued: number, budget: number): SkipDecision {
  if (gated) return frame.idr && queued <= budget / 2 ? "send" : "skip";
  if (frame.temporalId > 0) return queued <= budget / 2 ? "send" : "skip";
  return queued <= budget ? "send" : "lose-sync";
}

/** A gated viewer asks for an IDR only once it could take one. */
export function readyForIdr(queued: number, budget: number): boolean {
  return queued <= budget / 2;
}
