// Halving a frame for a smaller tier: each output pixel is the mean of a 2x2 block (a box filter, which
// is what a halving needs against aliasing). Runs on an encoder Worker, into a buffer it reuses.
import { BYTES_PER_PIXEL, yuv420Layout } from "../frame.ts";
import type { RawImage } from "./backend.ts";

let scratch = new Uint8Array(0);

/** `image` at half its width and height (rounded down, at least 1), in the same pixel format, packed rows. */
export function halve(image: RawImage): RawImage {
  if (image.format === "yuv420") return halveYuv420(image);
  const bpp = BYTES_PER_PIXEL[image.format];
  const width = Math.max(1, image.width >> 1);
  const height = Math.max(1, image.height >> 1);
  const stride = width * bpp;
  if (scratch.byteLength < stride * height) scratch = new Uint8Array(stride * height);
  const src = image.pixels;
  const out = scratch;
  if (bpp === 4 && src.byteOffset % 4 === 0 && image.stride % 4 === 0) {
    const pixels = new Uint32Array(src.buffer, src.byteOffset, src.byteLength >> 2);
    halve32(pixels, image, new Uint32Array(out.buffer, 0, width * height), width, height);
    return { pixels: out.subarray(0, stride * height), width, height, stride, format: image.format };
  }
  // Odd last rows or columns (and 1-pixel images) repeat the edge.
  const nextRow = image.height > 1 ? image.stride : 0;
  const nextCol = image.width > 1 ? bpp : 0;
  for (let y = 0; y < height; y++) {
    let s = 2 * y * image.stride;
    let d = y * stride;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < bpp; c++) {
        const i = s + c;
        out[d + c] = (src[i]! + src[i + nextCol]! + src[i + nextRow]! + src[i + nextRow + nextCol]! + 2) >> 2;
      }
      s += 2 * bpp;
      d += bpp;
    }
  }
  return { pixels: out.subarray(0, stride * height), width, height, stride, format: image.format };
}

const HIGH = 0x3f3f3f3f;
const LOW = 0x03030303;

/** Four bytes a pixel, four channels at once: each byte's top six bits summed apart from its low two (no carry between channels). */
function halve32(src: Uint32Array, image: RawImage, out: Uint32Array, width: number, height: number): void {
  const rowWords = image.stride >> 2;
  const nextRow = image.height > 1 ? rowWords : 0;
  const nextCol = image.width > 1 ? 1 : 0;
  for (let y = 0; y < height; y++) {
    let s = 2 * y * rowWords;
    let d = y * width;
    for (let x = 0; x < width; x++, s += 2, d++) {
      const a = src[s]!;
      const b = src[s + nextCol]!;
      const c = src[s + nextRow]!;
      const e = src[s + nextRow + nextCol]!;
      const high = ((a >>> 2) & HIGH) + ((b >>> 2) & HIGH) + ((c >>> 2) & HIGH) + ((e >>> 2) & HIGH);
      const low = ((((a & LOW) + (b & LOW) + (c & LOW) + (e & LOW) + 0x02020202) >>> 2) & LOW);
      out[d] = high + low;
    }
  }
}

/** 4:2:0 planes halved plane by plane (each sample the mean of 2x2, edges repeated), into yuv420Layout of the half size. */
function halveYuv420(image: RawImage): RawImage {
  const width = Math.max(1, image.width >> 1);
  const height = Math.max(1, image.height >> 1);
  const from = yuv420Layout(image.width, image.height);
  const to = yuv420Layout(width, height);
  if (scratch.byteLength < to.bytes) scratch = new Uint8Array(to.bytes);
  const [cw, ch, dw, dh] = [Math.ceil(image.width / 2), Math.ceil(image.height / 2), Math.ceil(width / 2), Math.ceil(height / 2)];
  // The Y plane has an even number of rows (an odd last one repeated): its padding row is written too.
  const planes: [number, number, number, number, number, number, number, number][] = [
    [from.yOffset, from.yPitch, image.width, image.height, to.yOffset, to.yPitch, width, 2 * dh],
    [from.uOffset, from.cPitch, cw, ch, to.uOffset, to.cPitch, dw, dh],
    [from.vOffset, from.cPitch, cw, ch, to.vOffset, to.cPitch, dw, dh],
  ];
  for (const [srcOffset, srcPitch, srcW, srcH, dstOffset, dstPitch, w, h] of planes) {
    for (let y = 0; y < h; y++) {
      const r0 = srcOffset + Math.min(2 * y, srcH - 1) * srcPitch;
      const r1 = srcOffset + Math.min(2 * y + 1, srcH - 1) * srcPitch;
      for (let x = 0; x < w; x++) {
        const [c0, c1] = [Math.min(2 * x, srcW - 1), Math.min(2 * x + 1, srcW - 1)];
        const p = image.pixels;
        scratch[dstOffset + y * dstPitch + x] = (p[r0 + c0]! + p[r0 + c1]! + p[r1 + c0]! + p[r1 + c1]! + 2) >> 2;
      }
    }
  }
  return { pixels: scratch.subarray(0, to.bytes), width, height, stride: width, format: "yuv420" };
}
