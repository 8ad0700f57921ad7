// A viewer slower than the stream, under two ways of skipping H.264 frames for it. The encoder is real
// (OpenH264 on real frames, IDRs made when the policy asks for them); the viewer's link is simulated: a
// pipe that drains `linkBytesPerSecond`, a frame shown once its last byte is through.
//
// A viewer's budget is twice the stream's last IDR in bytes not yet through its link: an IDR is some 10
// to 15 P frames, and a viewer that keeps up must be able to take one.
// - "idr": one temporal layer. A frame that would overrun the budget is skipped, and the viewer waits for
//   the next IDR, which it asks for (IDR requests coalesced: at most one IDR a second).
// - "layers": two temporal layers. Layer-1 frames (nothing refers to them, the decoder is unharmed) are
//   skipped from half the budget on; a layer-0 frame that would overrun it is skipped as above.
// The IDRs are made for the slow viewer, but the encode is shared: every other viewer receives them too.
import type { RawImage } from "../src/encode/backend.ts";
import { H264Encoder } from "../src/encode/openh264.ts";

export type SkipPolicy = "idr" | "layers";

export interface SlowViewerResult {
  policy: SkipPolicy;
  linkBytesPerSecond: number;
  /** Frames the slow viewer decoded, per second. */
  shownFps: number;
  /** IDRs made because of it, per second, and what they added to every other viewer's stream. */
  idrPerSecond: number;
  /** Bytes per second every viewer that keeps up receives (the whole stream, IDRs included). */
  streamBytesPerSecond: number;
  /** Capture to shown, ms (queueing behind earlier frames included). */
  latencyP50: number;
  latencyP95: number;
  /** The longest time without a new picture, ms. */
  longestFreezeMs: number;
}

const IDR_MIN_INTERVAL_S = 1;

export function simulateSlowViewer(
  frames: RawImage[],
  fps: number,
  qp: number,
  policy: SkipPolicy,
  linkBytesPerSecond: number,
): SlowViewerResult {
  const encoder = new H264Encoder({ fps, qp, temporalLayers: policy === "layers" ? 2 : 1 });
  const inFlight: { bytes: number; doneAt: number }[] = [];
  const latencies: number[] = [];
  const shownAt: number[] = [];
  let linkFreeAt = 0;
  let gated = false;
  let idrWanted = false;
  let lastIdrAt = -Infinity;
  let forcedIdrs = 0;
  let streamBytes = 0;
  let lastIdrBytes = 0;
  for (let k = 0; k < frames.length; k++) {
    const now = k / fps;
    while (inFlight.length && inFlight[0]!.doneAt <= now) inFlight.shift();
    const queued = inFlight.reduce((sum, f) => sum + f.bytes, 0);
    const idr = idrWanted && now - lastIdrAt >= IDR_MIN_INTERVAL_S;
    const au = encoder.encode(frames[k]!, { idr });
    if (au.idr) {
      lastIdrAt = now;
      lastIdrBytes = au.data.length;
      if (idr) forcedIdrs++;
      idrWanted = false;
    }
    streamBytes += au.data.length;
    const budget = 2 * lastIdrBytes;
    const droppable = policy === "layers" && au.temporalId > 0;
    const fits = queued + au.data.length <= (droppable ? budget / 2 : budget);
    const send = fits && (!gated || au.idr);
    if (send) {
      gated = false;
      linkFreeAt = Math.max(linkFreeAt, now) + au.data.length / linkBytesPerSecond;
      inFlight.push({ bytes: au.data.length, doneAt: linkFreeAt });
      latencies.push((linkFreeAt - now) * 1000);
      shownAt.push(linkFreeAt);
    } else if (gated || !droppable) {
      gated = true; // a reference frame is lost: nothing decodes until the next IDR
      idrWanted = true;
    }
  }
  encoder.close();
  const seconds = frames.length / fps;
  latencies.sort((a, b) => a - b);
  const gaps = shownAt.map((t, i) => (i ? t - shownAt[i - 1]! : t));
  return {
    policy,
    linkBytesPerSecond,
    shownFps: shownAt.filter((t) => t <= seconds).length / seconds,
    idrPerSecond: forcedIdrs / seconds,
    streamBytesPerSecond: streamBytes / seconds,
    latencyP50: latencies[Math.floor(latencies.length / 2)] ?? NaN,
    latencyP95: latencies[Math.floor(latencies.length * 0.95)] ?? NaN,
    longestFreezeMs: Math.max(0, ...gaps) * 1000,
  };
}
