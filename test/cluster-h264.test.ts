// H.264 through an edge, over a real nats-server with a small max_payload (IDRs go in chunks): the edge
// relays the origin's access units byte for byte, a joiner's keyframe request reaches the origin, JPEG
// viewers of the same edge go on beside, and a restarted origin's stream decodes on across the restart.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { NAL_IDR, NAL_PPS, NAL_SEI, NAL_SPS, nalUnits } from "../src/encode/h264-annexb.ts";
import { NatsBroker, VkcastProcess } from "./helpers/cluster.ts";
import { probe, scratch } from "./helpers/ffmpeg.ts";
import { H264Viewer } from "./helpers/h264-viewer.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitForAsync } from "./helpers/wait.ts";

const ORIGIN = ["--source", "synthetic", "--width", "640", "--height", "360", "--session", "hd"];
const types = (au: Uint8Array) => [...nalUnits(au)].map((n) => n.type);
let broker: NatsBroker;
let origin: VkcastProcess;
let edge: VkcastProcess;

beforeAll(async () => {
  broker = await NatsBroker.start("max_payload: 8KB");
  origin = await VkcastProcess.start([...ORIGIN, "--nats", broker.url()]);
  edge = await VkcastProcess.start(["--edge", "--nats", broker.url(), "--session", "hd"]);
  await waitForAsync(async () => (await fetch(edge.at("s/hd/healthz"))).status === 200, 10000, "the session up at the edge");
}, 60000);

afterAll(async () => {
  await Promise.all([origin.stop("SIGKILL"), edge.stop("SIGKILL")]);
  await broker.stop();
});

test("an edge relays H.264 byte for byte; a joiner's keyframe request reaches the origin; JPEG goes on beside", async () => {
  const config = await edge.json<{ codecs: string[] }>("s/hd/api/config");
  expect(config.codecs).toEqual(["jpeg", "h264"]);
  const atOrigin = await H264Viewer.connect(origin.url);
  const first = await H264Viewer.connect(edge.at("s/hd/"));
  const jpeg = await Viewer.connect(wsUrl(edge.url, "s/hd/ws?v=2"));
  await first.until(() => first.units.length >= 30, 20000, "30 access units at the edge");
  expect(first.hello).toMatchObject({ codec: "h264", width: 640, height: 360 });
  expect(types(first.units[0]!.data)).toEqual([NAL_SPS, NAL_PPS, NAL_SEI, NAL_IDR]);
  // The same access units as the origin's own H.264 viewer gets, IDRs (past max_payload: 8 KB) included.
  const bySeq = new Map(atOrigin.units.map((u) => [u.meta.seq, u.data]));
  const shared = first.units.filter((u) => bySeq.has(u.meta.seq));
  expect(shared.length).toBeGreaterThan(10);
  for (const u of shared) expect(u.data).toEqual(bySeq.get(u.meta.seq)!);
  expect(first.units.some((u) => u.idr && u.data.byteLength > 8 * 1024)).toBe(true);

  // A long GOP: a viewer joining now starts at an IDR made for it, at the origin, on the edge's request.
  const lastIdr = Math.max(...first.units.filter((u) => u.idr).map((u) => u.meta.seq));
  const late = await H264Viewer.connect(edge.at("s/hd/"));
  await late.until(() => late.units.length >= 10, 20000, "frames at the late joiner");
  expect(late.units[0]!.idr).toBe(true);
  expect(late.units[0]!.meta.seq).toBeGreaterThan(lastIdr);
  await jpeg.until(() => jpeg.frames.length >= 10, 10000, "JPEG frames beside");

  const dir = scratch();
  try {
    const units = late.units.length;
    await Bun.write(dir.file("edge.h264"), late.stream(0, units));
    expect(await probe(dir.file("edge.h264"))).toMatchObject({ frames: units, errors: "" });
  } finally {
    dir.remove();
  }
  for (const v of [atOrigin, first, late, jpeg]) v.close();
}, 60000);

test("a restarted origin: the edge's H.264 viewer gets the new origin's IDR and its stream decodes across", async () => {
  const viewer = await H264Viewer.connect(edge.at("s/hd/"));
  await viewer.until(() => viewer.units.length >= 10, 20000, "frames before the restart");
  await origin.stop("SIGKILL");
  const before = viewer.units.length;
  origin = await VkcastProcess.start([...ORIGIN, "--nats", broker.url()]);
  await viewer.until(() => viewer.units.length >= before + 10, 20000, "frames from the new origin");
  const after = viewer.units.slice(before);
  expect(after[0]!.idr).toBe(true);
  // Numbers keep growing across the restart (the edge renumbers the new origin's SEI).
  const seqs = viewer.units.map((u) => u.meta.seq);
  expect(seqs.filter((s, i) => i > 0 && s <= seqs[i - 1]!)).toEqual([]);
  const dir = scratch();
  try {
    const units = viewer.units.length;
    await Bun.write(dir.file("across.h264"), viewer.stream(0, units));
    expect(await probe(dir.file("across.h264"))).toMatchObject({ frames: units, errors: "" });
  } finally {
    dir.remove();
  }
  viewer.close();
}, 60000);
