// A viewer slower than the stream, under two ways of skipping H.264 frames for it. The encoder is real
// (OpenH264 on real frames, IDRs made when the viewer asks for them, at most one a second); the viewer's
// link is simulated: a pipe that drains `linkBytesPerSecond`, a frame shown once its last byte is through.
// The skipping rule is the server's own (src/server/h264-skip.ts); the two policies differ only in the
// stream they get:
// - "idr": one temporal layer. Every frame is a reference: a viewer over its budget skips one, loses its
//   place, and waits for the next IDR.
// - "layers": two temporal layers (the server's choice). Every other frame is one nothing refers to: a
//   viewer over half its budget skips those and stays in step at half the frame rate; only past its whole
//   budget does it lose its place, as above.
// The IDRs are made for the slow viewer, but the encode is shared: every other viewer receives them too.
import type { RawImage } from "../src/encode/backend.ts";
import { H264Encoder } from "../src/encode/openh264.ts";
import { IDR_MIN_INTERVAL_MS } from "../src/server/h264-channel.ts";
import { budgetFor, decide, idrWaitAfter, readyForIdr } from "../src/server/h264-skip.ts";

export type SkipPolicy = "idr" | "layers";

export interface SlowViewerResult {
  policy: SkipPolicy;
  linkBytesPerSecond: number;
  /** Frames the slow viewer decoded, per second. */
  shownFps: number;
  /** IDRs made because of it, per second. */
  idrPerSecond: number;
  /** Bytes per second every viewer that keeps up receives (the whole stream, IDRs included). */
  streamBytesPerSecond: number;
  /** Capture to shown, ms (queueing behind earlier frames included). */
  latencyP50: number;
  latencyP95: number;
  /** The longest time without a new picture, ms. */
  longestFreezeMs: number;
}

export function simulateSlowViewer(
  frames: RawImage[],
  fps: number,
  qp: number,
  policy: SkipPolicy,
  linkBytesPerSecond: number,
): SlowViewerResult {
  const encoder = new H264Encoder({ fps, qp, temporalLayers: policy === "layers" ? 2 : 1 });
  const inFlight: { bytes: number; sentAt: number; doneAt: number }[] = [];
  const latencies: number[] = [];
  const shownAt: number[] = [];
  let linkFreeAt = 0;
  let gated = false;
  let [syncedAt, lostAt, idrWait] = [0, -Infinity, 0];
  let idrWanted = false;
  let lastIdrAt = -Infinity;
  let lastIdrBytes = 0;
  let forcedIdrs = 0;
  let streamBytes = 0;
  for (let k = 0; k < frames.length; k++) {
    const now = k / fps;
    while (inFlight.length && inFlight[0]!.doneAt <= now) inFlight.shift();
    // The viewer acks a frame once it is through: what it has not taken is what is still in the pipe.
    const backlog = () => ({ bytes: inFlight.reduce((sum, f) => sum + f.bytes, 0), ageMs: inFlight.length ? (now - inFlight[0]!.sentAt) * 1000 : 0 });
    if (gated && (now - lostAt) * 1000 >= idrWait && readyForIdr(backlog(), budgetFor(lastIdrBytes))) idrWanted = true;
    const idr = idrWanted && (now - lastIdrAt) * 1000 >= IDR_MIN_INTERVAL_MS;
    const au = encoder.encode(frames[k]!, { idr });
    if (au.idr) {
      if (idr) forcedIdrs++;
      idrWanted = false;
      lastIdrAt = now;
      lastIdrBytes = au.data.length;
    }
    streamBytes += au.data.length;
    const decision = decide(gated, au, backlog(), budgetFor(lastIdrBytes));
    if (decision === "lose-sync") {
      gated = true;
      idrWait = idrWaitAfter(idrWait, (now - syncedAt) * 1000);
      lostAt = now;
    }
    if (decision !== "send") continue;
    if (au.idr) syncedAt = now;
    gated = false;
    linkFreeAt = Math.max(linkFreeAt, now) + au.data.length / linkBytesPerSecond;
    inFlight.push({ bytes: au.data.length, sentAt: now, doneAt: linkFreeAt });
    latencies.push((linkFreeAt - now) * 1000);
    shownAt.push(linkFreeAt);
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
