// The H.264 encoder (OpenH264 through bun:ffi) judged by ffmpeg: frames rendered by the real Vulkan scene
// are encoded, the stream is decoded frame for frame, its profile and structure read back, and its
// pictures compared with the rendered ones. The SEI metadata is parsed by our reader and by ffmpeg's.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { NAL_IDR, NAL_PPS, NAL_SEI, NAL_SLICE, NAL_SPS, nalUnits } from "../src/encode/h264-annexb.ts";
import { buildSeiNal, insertSei, readSeiPayload, VKCAST_SEI_UUID } from "../src/encode/h264-sei.ts";
import { BS_INFO, DEFAULT_QP, H264Encoder, LAYER, LAYER_BS, PARAM, qpForQuality, SOURCE, threadsFor } from "../src/encode/openh264.ts";
import { InputState } from "../src/input-state.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { probe, run, scratch, ssim } from "./helpers/ffmpeg.ts";

const W = 640;
const H = 360;
const N = 30;
const rendered: Uint8Array[] = [];
const dir = scratch();
const encoder = new TextEncoder();

beforeAll(async () => {
  const source = await VulkanSource.create({ width: W, height: H });
  const input = new InputState();
  for (let k = 0; k < N; k++) {
    const frame = await source.nextFrame(k / 30, input);
    rendered.push(frame.pixels.slice(0, W * H * 4));
    frame.release?.();
  }
  source.close();
});
afterAll(() => dir.remove());

const image = (pixels: Uint8Array, width = W, height = H) => ({ pixels, width, height, stride: width * 4, format: "rgba" as const });
const types = (au: Uint8Array) => [...nalUnits(au)].map((n) => n.type);
const meta = (seq: number) => encoder.encode(JSON.stringify({ seq, t: 1700000000000 + seq, w: W, h: H, q: 85 }));
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

test("the Vulkan scene's frames decode in ffmpeg frame for frame: SPS+PPS+IDR first, constrained baseline", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP });
  const units = rendered.map((pixels, seq) => {
    const au = h264.encode(image(pixels));
    return { ...au, data: insertSei(au.data, buildSeiNal(meta(seq))) };
  });
  h264.close();
  expect(types(units[0]!.data)).toEqual([NAL_SPS, NAL_PPS, NAL_SEI, NAL_IDR]);
  expect(units[0]!.idr).toBe(true);
  for (const au of units.slice(1)) {
    expect(types(au.data)).toEqual([NAL_SEI, NAL_SLICE]); // a long GOP: no IDR nobody asked for
    expect(au.idr).toBe(false);
  }
  await Bun.write(dir.file("scene.h264"), concat(units.map((u) => u.data)));
  const stream = await probe(dir.file("scene.h264"));
  expect(stream).toMatchObject({ codec: "h264", profile: "Constrained Baseline", width: W, height: H, frames: N, errors: "" });

  // Every frame's metadata comes back, in order, through our reader.
  units.forEach((au, seq) => expect(JSON.parse(new TextDecoder().decode(readSeiPayload(au.data)!))).toMatchObject({ seq, w: W }));

  // Decoded pictures look like the rendered ones (the default quantiser is JPEG q85's twin).
  await Bun.write(dir.file("scene.rgba"), concat(rendered));
  const { all, perFrame } = await ssim(dir.file("scene.rgba"), W, H, dir.file("scene.h264"), "h264");
  expect(perFrame).toHaveLength(N);
  expect(Math.min(...perFrame)).toBeGreaterThanOrEqual(0.95);
  expect(all).toBeGreaterThanOrEqual(0.97);
});

/** The frame doubled in each direction (each pixel 2x2): a 1280x720 picture of the scene. */
function doubled(pixels: Uint8Array): Uint8Array {
  const src = new Uint32Array(pixels.buffer, pixels.byteOffset, W * H);
  const out = new Uint32Array(4 * W * H);
  for (let y = 0; y < 2 * H; y++) for (let x = 0; x < 2 * W; x++) out[y * 2 * W + x] = src[(y >> 1) * W + (x >> 1)]!;
  return new Uint8Array(out.buffer);
}

test("threads: one per 640x360 of picture, up to 4 and the CPUs allowed", () => {
  expect(threadsFor(8, 640, 360)).toBe(1);
  expect(threadsFor(8, 1280, 720)).toBe(4);
  expect(threadsFor(2, 1920, 1080)).toBe(2);
  expect(threadsFor(1, 3840, 2160)).toBe(1);
  expect(threadsFor(8, 16, 16)).toBe(1);
});

test("a large frame is cut into one slice per thread: every frame decodes in ffmpeg, the pictures as good as in one slice", async () => {
  const frames = rendered.slice(0, 10).map(doubled);
  const encodeAll = (maxThreads: number) => {
    const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP, temporalLayers: 2, maxThreads });
    const units = frames.map((pixels) => h264.encode(image(pixels, 2 * W, 2 * H)));
    h264.close();
    return units;
  };
  const sliced = encodeAll(4);
  expect(types(sliced[0]!.data)).toEqual([NAL_SPS, NAL_PPS, NAL_IDR, NAL_IDR, NAL_IDR, NAL_IDR]);
  for (const au of sliced.slice(1)) expect(types(au.data)).toEqual([NAL_SLICE, NAL_SLICE, NAL_SLICE, NAL_SLICE]);
  expect(sliced.map((u) => u.temporalId)).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  await Bun.write(dir.file("big.rgba"), concat(frames));
  const quality = async (name: string, units: { data: Uint8Array }[]) => {
    await Bun.write(dir.file(name), concat(units.map((u) => u.data)));
    expect(await probe(dir.file(name))).toMatchObject({ width: 2 * W, height: 2 * H, frames: frames.length, errors: "" });
    return (await ssim(dir.file("big.rgba"), 2 * W, 2 * H, dir.file(name), "h264")).all;
  };
  const [slicedSsim, wholeSsim] = [await quality("sliced.h264", sliced), await quality("whole.h264", encodeAll(1))];
  expect(slicedSsim).toBeGreaterThanOrEqual(wholeSsim - 0.002);
});

test("the SPS says no frame reordering (max_num_reorder_frames 0) and the colours libyuv wrote", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP });
  await Bun.write(dir.file("vui.h264"), h264.encode(image(rendered[0]!)).data);
  h264.close();
  const trace = await run(["ffmpeg", "-v", "trace", "-i", dir.file("vui.h264"), "-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"]);
  expect(trace.stderr).toMatch(/max_num_reorder_frames\s+\d+ = 0/);
  expect(trace.stderr).toMatch(/matrix_coefficients\s+\d+ = 6/); // BT.601 (SMPTE 170M)
  expect(trace.stderr).toMatch(/video_full_range_flag\s+\d+ = 0/);
});

test("ffmpeg's own SEI parser reads our user-data-unregistered message, UUID and size, long payloads too", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP });
  const long = encoder.encode(JSON.stringify({ seq: 1, pad: "x".repeat(600) })); // a size coded in several bytes
  const aus = [meta(0), long].map((json, k) => insertSei(h264.encode(image(rendered[k]!)).data, buildSeiNal(json)));
  h264.close();
  await Bun.write(dir.file("sei.h264"), concat(aus));
  const trace = await run(["ffmpeg", "-v", "trace", "-i", dir.file("sei.h264"), "-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"]);
  const sizes = [...trace.stderr.matchAll(/last_payload_size_byte\s+\d+ = (\d+)/g)].map((m) => Number(m[1]));
  const ffs = [...trace.stderr.matchAll(/ff_byte\s+\d+ = 255/g)].length;
  expect(sizes).toEqual([(16 + meta(0).length) % 255, (16 + long.length) % 255]);
  expect(ffs).toBe(Math.floor((16 + long.length) / 255));
  for (let k = 0; k < 16; k++) expect(trace.stderr).toMatch(new RegExp(`uuid_iso_iec_11578\\[${k}\\]\\s+\\d+ = ${VKCAST_SEI_UUID[k]}\\b`));
  expect(new TextDecoder().decode(readSeiPayload(aus[1]!)!)).toBe(new TextDecoder().decode(long));
});

test("an IDR on demand: SPS+PPS+IDR, and a viewer joining there decodes cleanly", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP });
  const aus = rendered.slice(0, 12).map((pixels, k) => h264.encode(image(pixels), { idr: k === 7 }));
  h264.close();
  expect(aus.map((au) => au.idr)).toEqual(aus.map((_, k) => k === 0 || k === 7));
  expect(types(aus[7]!.data)).toEqual([NAL_SPS, NAL_PPS, NAL_IDR]);
  await Bun.write(dir.file("join.h264"), concat(aus.slice(7).map((au) => au.data)));
  expect(await probe(dir.file("join.h264"))).toMatchObject({ frames: 5, errors: "" });
});

test("a resize re-creates the encoder: the new size starts with SPS+PPS+IDR; odd sizes are coded even", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP });
  const small = makeRing(321, 181, 3);
  const aus = [
    ...rendered.slice(0, 3).map((pixels) => h264.encode(image(pixels))),
    ...small.map((pixels) => h264.encode(image(pixels, 321, 181))),
  ];
  h264.close();
  expect(aus.map((au) => au.idr)).toEqual([true, false, false, true, false, false]);
  expect(aus.map((au) => [au.width, au.height])).toEqual([...Array(3).fill([W, H]), ...Array(3).fill([320, 180])]);
  expect(types(aus[3]!.data).slice(0, 3)).toEqual([NAL_SPS, NAL_PPS, NAL_IDR]);
  await Bun.write(dir.file("resize.h264"), concat(aus.slice(3).map((au) => au.data)));
  expect(await probe(dir.file("resize.h264"))).toMatchObject({ width: 320, height: 180, frames: 3, errors: "" });
  await Bun.write(dir.file("both.h264"), concat(aus.map((au) => au.data)));
  expect(await probe(dir.file("both.h264"))).toMatchObject({ frames: 6, errors: "" });
});

test("two temporal layers: dropping every layer-1 frame leaves a stream that decodes cleanly", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP, temporalLayers: 2 });
  const aus = rendered.slice(0, 12).map((pixels) => h264.encode(image(pixels)));
  h264.close();
  expect(aus.map((au) => au.temporalId)).toEqual(aus.map((_, k) => k % 2));
  await Bun.write(dir.file("base.h264"), concat(aus.filter((au) => au.temporalId === 0).map((au) => au.data)));
  expect(await probe(dir.file("base.h264"))).toMatchObject({ frames: 6, errors: "" });
});

test("nothing of a moving object is left behind: the background it uncovers decodes as the background", async () => {
  // Small coloured squares crossing a fine checkerboard, as the scene's objects cross its floor. With
  // OpenH264's background detection on, macroblocks it took for background kept specks of the objects'
  // colour (up to 126 off, thousands of pixels here); now every pixel away from an object is within 40.
  const [w, h, frames] = [640, 368, 45];
  const colours = [[250, 60, 60], [60, 230, 120], [240, 230, 80], [120, 140, 255], [220, 90, 240]];
  const squares = Array.from({ length: 24 }, (_, i) => ({
    x: 40 + ((i * 97) % 540),
    y: 30 + ((i * 53) % 300),
    vx: ((i % 5) - 2) * 2 + 1,
    vy: ((i % 3) - 1) * 2 + 1,
    size: 10 + (i % 4) * 6,
    colour: colours[i % 5]!,
  }));
  /** Each square's box at frame k, grown by `margin`, clipped to the picture. */
  const boxes = (k: number, margin: number) =>
    squares.map((q) => {
      const x = q.x + q.vx * k - margin;
      const y = q.y + q.vy * k - margin;
      const size = q.size + 2 * margin;
      return { x0: Math.max(0, x), y0: Math.max(0, y), x1: Math.min(w, x + size), y1: Math.min(h, y + size), colour: q.colour };
    });
  const picture = (k: number) => {
    const px = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const g = ((x >> 3) + (y >> 3)) & 1 ? 160 : 195;
        px.set([g, g + 5, g + 2, 255], (y * w + x) * 4);
      }
    }
    for (const b of boxes(k, 0)) for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) px.set(b.colour, (y * w + x) * 4);
    return px;
  };
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP, temporalLayers: 2 });
  const sources = Array.from({ length: frames }, (_, k) => picture(k));
  const units = sources.map((pixels, k) => h264.encode({ pixels, width: w, height: h, stride: w * 4, format: "rgba" }, { idr: k === 0 }).data);
  h264.close();
  await Bun.write(dir.file("squares.h264"), Buffer.concat(units));
  const rgba = dir.file("squares.rgba");
  const decoded = await run(["ffmpeg", "-v", "error", "-y", "-f", "h264", "-i", dir.file("squares.h264"), "-pix_fmt", "rgba", "-f", "rawvideo", rgba]);
  expect(decoded.code).toBe(0);
  const out = new Uint8Array(await Bun.file(rgba).arrayBuffer());
  expect(out.length).toBe(frames * w * h * 4);
  let worst = 0;
  let stray = 0;
  for (let k = 10; k < frames; k++) {
    const near = new Uint8Array(w * h);
    for (const b of boxes(k, 6)) for (let y = b.y0; y < b.y1; y++) near.fill(1, y * w + b.x0, y * w + b.x1);
    const src = sources[k]!;
    const dec = out.subarray(k * w * h * 4, (k + 1) * w * h * 4);
    for (let p = 0; p < w * h; p++) {
      if (near[p]) continue;
      let d = 0;
      for (let c = 0; c < 3; c++) d = Math.max(d, Math.abs(src[p * 4 + c]! - dec[p * 4 + c]!));
      worst = Math.max(worst, d);
      if (d > 40) stray++;
    }
  }
  expect(stray).toBe(0);
  expect(worst).toBeLessThanOrEqual(40);
});

test("a lower quantiser makes bigger, better frames without an IDR", async () => {
  const h264 = new H264Encoder({ fps: 30, qp: 40 });
  const coarse = [0, 1, 2].map((k) => h264.encode(image(rendered[k]!)));
  h264.setQp(18);
  const fine = h264.encode(image(rendered[2]!)); // the same picture again: only refinement is left to code
  h264.close();
  expect(fine.idr).toBe(false);
  expect(fine.data.length).toBeGreaterThan(coarse[2]!.data.length * 2);
  await Bun.write(dir.file("refine.h264"), concat([...coarse, fine].map((au) => au.data)));
  await Bun.write(dir.file("refine.rgba"), concat([0, 1, 2, 2].map((k) => rendered[k]!)));
  const { perFrame } = await ssim(dir.file("refine.rgba"), W, H, dir.file("refine.h264"), "h264");
  expect(perFrame[3]!).toBeGreaterThan(perFrame[2]! + 0.005);
});

test("bad settings are refused with the field named", () => {
  expect(() => new H264Encoder({ fps: 30, qp: 52 })).toThrow(/qp/);
  const h264 = new H264Encoder({ fps: 30, qp: DEFAULT_QP });
  expect(() => h264.encode(image(new Uint8Array(8 * 8 * 4), 8, 8))).toThrow(/at least 16x16/);
  h264.close();
  expect(() => h264.encode(image(rendered[0]!))).not.toThrow(); // closed: the next frame starts afresh
  h264.close();
});

test("the offsets we poke match OpenH264's headers (compiled with gcc against libopenh264-dev)", async () => {
  const fields: [string, number][] = [];
  const add = (struct: string, table: Record<string, number>) => {
    for (const [field, value] of Object.entries(table)) {
      fields.push([field === "size" ? `sizeof(${struct})` : `offsetof(${struct}, ${field})`, value]);
    }
  };
  add("SEncParamExt", PARAM);
  add("SSpatialLayerConfig", LAYER);
  add("SFrameBSInfo", BS_INFO);
  add("SLayerBSInfo", LAYER_BS);
  add("SSourcePicture", SOURCE);
  const c = [
    "#include <stdio.h>\n#include <stddef.h>\n#include <wels/codec_api.h>\nint main(void) {",
    ...fields.map(([expr]) => `  printf("%zu\\n", ${expr});`),
    "  return 0;\n}\n",
  ].join("\n");
  await Bun.write(dir.file("offsets.c"), c);
  const cc = await run(["gcc", "-o", dir.file("offsets"), dir.file("offsets.c")]);
  expect(cc.stderr).toBe("");
  const out = await run([dir.file("offsets")]);
  expect(out.stdout.trim().split("\n").map(Number)).toEqual(fields.map(([, v]) => v));
});

test("JPEG qualities map to quantisers: q85 is the default, finer above, coarser below, always 0-51", () => {
  expect(qpForQuality(85)).toBe(DEFAULT_QP);
  expect(qpForQuality(60)).toBe(27);
  expect(qpForQuality(90)).toBe(20);
  let last = Infinity;
  for (let q = 1; q <= 100; q++) {
    const qp = qpForQuality(q);
    expect(qp).toBeLessThanOrEqual(last);
    expect(qp).toBeGreaterThanOrEqual(0);
    expect(qp).toBeLessThanOrEqual(51);
    last = qp;
  }
});
