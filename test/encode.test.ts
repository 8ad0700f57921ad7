// Both JPEG backends, directly and through the encoder Workers.
import { describe, expect, test } from "bun:test";
import { Transformer } from "@napi-rs/image";
import type { EncoderName } from "../src/encode/backend.ts";
import { copyWithComment } from "../src/encode/jpeg-comment.ts";
import { loadJpegBackend } from "../src/encode/load.ts";
import { EncoderPool } from "../src/encode/pool.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { readFrameMeta } from "../client/protocol.ts";
import { ptr } from "bun:ffi";

const W = 321; // odd sizes exercise chroma subsampling edges
const H = 183;
const [frame] = makeRing(W, H, 1);
const image = { pixels: frame!, width: W, height: H, stride: W * 4, format: "rgba" as const };

async function decode(jpeg: Uint8Array) {
  const t = new Transformer(jpeg);
  const meta = await t.metadata();
  const raw = await new Transformer(jpeg).rawPixels();
  const channels = raw.length / (meta.width * meta.height);
  if (channels === 4) return { width: meta.width, height: meta.height, rgba: new Uint8Array(raw) };
  expect(channels).toBe(3);
  const rgba = new Uint8Array(meta.width * meta.height * 4).fill(255);
  for (let i = 0, j = 0; i < raw.length; i += 3, j += 4) rgba.set(raw.subarray(i, i + 3), j);
  return { width: meta.width, height: meta.height, rgba };
}

/** Mean absolute difference per channel between two RGBA buffers. */
function meanDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) sum += Math.abs(a[i + c]! - b[i + c]!);
    n += 3;
  }
  return sum / n;
}

for (const name of ["turbo", "napi"] as EncoderName[]) {
  describe(name, () => {
    test("gives a decodable JPEG of the right size that looks like the frame", async () => {
      const backend = await loadJpegBackend(name);
      expect(backend.name).toBe(name);
      const jpeg = backend.encode(image, 85);
      const decoded = await decode(jpeg);
      expect([decoded.width, decoded.height]).toEqual([W, H]);
      expect(meanDiff(decoded.rgba, frame!)).toBeLessThan(8);
    });

    test("a higher quality gives a larger file", async () => {
      const backend = await loadJpegBackend(name);
      const sizes = [30, 60, 90].map((q) => backend.encode(image, q).length);
      expect(sizes[0]!).toBeLessThan(sizes[1]!);
      expect(sizes[1]!).toBeLessThan(sizes[2]!);
    });

    test("BGRA and padded rows give the same picture as RGBA", async () => {
      const backend = await loadJpegBackend(name);
      const stride = W * 4 + 64;
      const padded = new Uint8Array(stride * H);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const s = (y * W + x) * 4;
          const d = y * stride + x * 4;
          padded[d] = frame![s + 2]!;
          padded[d + 1] = frame![s + 1]!;
          padded[d + 2] = frame![s]!;
          padded[d + 3] = 255;
        }
      }
      const a = await decode(backend.encode(image, 90));
      const b = await decode(backend.encode({ pixels: padded, width: W, height: H, stride, format: "bgra" }, 90));
      expect(meanDiff(a.rgba, b.rgba)).toBeLessThan(0.5);
    });

    test("RGB (3 bytes a pixel, padded rows) gives the same picture as RGBA", async () => {
      const backend = await loadJpegBackend(name);
      const stride = W * 3 + 7;
      const rgb = new Uint8Array(stride * H);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) rgb.set(frame!.subarray((y * W + x) * 4, (y * W + x) * 4 + 3), y * stride + x * 3);
      }
      const a = await decode(backend.encode(image, 90));
      const b = await decode(backend.encode({ pixels: rgb, width: W, height: H, stride, format: "rgb" }, 90));
      expect(meanDiff(a.rgba, b.rgba)).toBeLessThan(0.5);
    });
  });

  test(`${name} in a Worker: reads the frame in place and adds the COM metadata`, async () => {
    const pool = await EncoderPool.create(name, 1, (m) => {
      throw new Error(m);
    });
    expect(pool.encoder).toBe(name);
    const meta = { seq: 7, t: 1700000000000.5, w: W, h: H, q: 80 };
    const encoded = await pool.encode({
      type: "encode",
      address: ptr(frame!),
      byteLength: frame!.byteLength,
      width: W,
      height: H,
      stride: W * 4,
      format: "rgba",
      meta,
    });
    pool.close();
    expect(encoded.seq).toBe(7);
    expect(readFrameMeta(encoded.data)).toEqual(meta);
    const decoded = await decode(encoded.data);
    expect([decoded.width, decoded.height]).toEqual([W, H]);
    expect(meanDiff(decoded.rgba, frame!)).toBeLessThan(8);
  });
}

test("an unknown backend is an error; auto loads one", async () => {
  await expect(EncoderPool.create("jpegxl" as never, 1, () => {})).rejects.toThrow(/unknown JPEG encoder/);
  const auto = await loadJpegBackend("auto");
  expect(["turbo", "napi"]).toContain(auto.name);
});

describe("the COM segment the Worker writes", () => {
  const comment = new TextEncoder().encode(JSON.stringify({ seq: 3, t: 1.5, w: 2, h: 1, q: 50 }));

  test("sits right after SOI with a length that counts itself, the JPEG unchanged after it", async () => {
    const jpeg = (await loadJpegBackend("auto")).encode(image, 80).slice();
    const framed = copyWithComment(jpeg, comment);
    expect([...framed.subarray(0, 6)]).toEqual([0xff, 0xd8, 0xff, 0xfe, 0, comment.length + 2]);
    expect(framed.subarray(6, 6 + comment.length)).toEqual(comment);
    expect(framed.subarray(6 + comment.length)).toEqual(jpeg.subarray(2));
    expect(readFrameMeta(framed)).toEqual({ seq: 3, t: 1.5, w: 2, h: 1, q: 50 });
  });

  test("refuses bytes that are not a JPEG and a comment too long for one segment", () => {
    expect(() => copyWithComment(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), comment)).toThrow(/SOI/);
    expect(() => copyWithComment(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), new Uint8Array(0x10000))).toThrow(/over 65533/);
  });
});
