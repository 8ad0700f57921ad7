// Both JPEG backends, directly and through the encoder Workers.
import { describe, expect, test } from "bun:test";
import { Transformer } from "@napi-rs/image";
import { type EncoderName, loadBackend } from "../src/encode/backend.ts";
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
      const backend = await loadBackend(name);
      expect(backend.name).toBe(name);
      const jpeg = backend.encode(image, 85, 0);
      const decoded = await decode(jpeg);
      expect([decoded.width, decoded.height]).toEqual([W, H]);
      expect(meanDiff(decoded.rgba, frame!)).toBeLessThan(8);
    });

    test("a higher quality gives a larger file", async () => {
      const backend = await loadBackend(name);
      const sizes = [30, 60, 90].map((q) => backend.encode(image, q, 0).length);
      expect(sizes[0]!).toBeLessThan(sizes[1]!);
      expect(sizes[1]!).toBeLessThan(sizes[2]!);
    });

    test("BGRA and padded rows give the same picture as RGBA", async () => {
      const backend = await loadBackend(name);
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
      const a = await decode(backend.encode(image, 90, 0));
      const b = await decode(backend.encode({ pixels: padded, width: W, height: H, stride, format: "bgra" }, 90, 0));
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
    expect(readFrameMeta(encoded.jpeg)).toEqual(meta);
    const decoded = await decode(encoded.jpeg);
    expect([decoded.width, decoded.height]).toEqual([W, H]);
    expect(meanDiff(decoded.rgba, frame!)).toBeLessThan(8);
  });
}

test("an unknown backend is an error; auto loads one", async () => {
  await expect(EncoderPool.create("jpegxl" as never, 1, () => {})).rejects.toThrow(/unknown JPEG encoder/);
  const auto = await loadBackend("auto");
  expect(["turbo", "napi"]).toContain(auto.name);
});
