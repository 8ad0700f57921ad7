// H.264 tiers through a shaped link (bench/shaper.ts, a TCP proxy on loopback): a viewer whose link cannot
// carry the full tier moves to the low tier with the low tier's IDR, and back up once the link widens,
// while a loopback viewer beside it stays at full quality and gets no IDR for the other's moves. Each
// viewer's bytes decode cleanly in ffmpeg.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { type LinkProfile, type Shaper, startShaper } from "../bench/shaper.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { probe, scratch } from "./helpers/ffmpeg.ts";
import { H264Viewer } from "./helpers/h264-viewer.ts";
import { pushFrames } from "./helpers/push.ts";

const W = 1280;
const H = 720;
/** The synthetic source at 720p30 in H.264: full (q85, qp 22) is about 4.7 Mbit/s, low (q40) about 2.4. */
const NARROW: LinkProfile = { name: "4mbit-20ms", bps: 4e6, delayMs: 20, loss: 0 };
const WIDE: LinkProfile = { name: "wide", bps: 200e6, delayMs: 10, loss: 0 };
/** The low tier's frames say q40 in their metadata; the full tier's, the stream's quality (85). */
const isLow = (u: { meta: { q: number } }) => u.meta.q <= 40;

const server = new StreamingServer({ port: 0, fps: 30, quality: 85 });
let shaper: Shaper;
let stopPushing = () => {};
const files = scratch();

beforeAll(async () => {
  await server.start(W, H);
  stopPushing = pushFrames(server, new SyntheticSource(W, H), 30);
  shaper = await startShaper({ host: "127.0.0.1", port: server.port }, NARROW);
});
afterAll(async () => {
  stopPushing();
  await shaper.close();
  await server.stop();
  files.remove();
});

async function decodesCleanly(viewer: H264Viewer, name: string): Promise<void> {
  const units = viewer.units.length;
  writeFileSync(files.file(name), viewer.stream(0, units));
  const probed = await probe(files.file(name));
  expect(probed.errors, name).toBe("");
  expect(probed.frames, name).toBe(units);
}

test("a slow H.264 viewer moves to the low tier and back; a loopback viewer beside it stays full with no extra IDRs", async () => {
  const near = await H264Viewer.connect(server.url);
  await near.until(() => near.units.length >= 10, 20_000, "the loopback viewer's first frames");
  const far = await H264Viewer.connect(`http://127.0.0.1:${shaper.port}/`);
  await far.until(() => far.units.length >= 1, 20_000, "the shaped viewer's first frame");
  // It joins in the full tier, with the full tier's IDR (which the loopback viewer gets too).
  expect(far.units[0]!.idr).toBe(true);
  expect(isLow(far.units[0]!)).toBe(false);
  const joinSeq = far.units[0]!.meta.seq;

  await far.until(() => far.units.some(isLow), 30_000, "the shaped viewer's first frame of the low tier");
  const moved = far.units.find(isLow)!;
  // It moved with the low tier's IDR: its decoder starts over cleanly.
  expect(moved.idr).toBe(true);
  await far.until(() => far.texts.some((t) => t.type === "stats" && t.tier === "low"), 10_000, "stats naming the low tier");
  // The loopback viewer got no IDR between the shaped viewer's join and its move, and stays at full quality.
  await near.until(() => near.units.some((u) => u.meta.seq >= moved.meta.seq), 10_000, "the loopback viewer at the same frame");
  const between = near.units.filter((u) => u.meta.seq > joinSeq && u.meta.seq <= moved.meta.seq);
  expect(between.filter((u) => u.idr).length).toBe(0);
  expect(near.units.some(isLow)).toBe(false);

  // Once the link widens, it goes back up to the full tier, with an IDR of the full tier.
  shaper.setProfile(WIDE);
  const lowUntil = far.units.length;
  await far.until(() => far.units.slice(lowUntil).some((u) => !isLow(u)), 60_000, "the full tier again once the link widened");
  expect(far.units.slice(lowUntil).find((u) => !isLow(u))!.idr).toBe(true);

  await decodesCleanly(far, "shaped.h264");
  await decodesCleanly(near, "loopback.h264");
  expect(near.units.some(isLow)).toBe(false);
  far.close();
  near.close();
}, 150_000);
