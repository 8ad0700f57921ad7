// @napi-rs/image (image-rs's baseline encoder, 4:4:4): slower, but always installable from npm.
import { Transformer } from "@napi-rs/image";
import { yuv420Layout } from "../frame.ts";
import type { JpegBackend, RawImage } from "./backend.ts";

/** 4:2:0 planes back to RGBA (the JFIF equations), for an encoder that takes RGBA only. */
function yuv420ToRgba(image: RawImage, out: Uint8Array): void {
  const l = yuv420Layout(image.width, image.height);
  const p = image.pixels;
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const luma = p[l.yOffset + y * l.yPitch + x]!;
      const c = (y >> 1) * l.cPitch + (x >> 1);
      const cb = p[l.uOffset + c]! - 128;
      const cr = p[l.vOffset + c]! - 128;
      const o = (y * image.width + x) * 4;
      out[o] = clamp(luma + 1.402 * cr);
      out[o + 1] = clamp(luma - 0.344136 * cb - 0.714136 * cr);
      out[o + 2] = clamp(luma + 1.772 * cb);
      out[o + 3] = 255;
    }
  }
}

export function createNapiBackend(): JpegBackend {
  let packed = new Uint8Array(0);
  return {
    kind: "jpeg",
    name: "napi",
    encode(image: RawImage, quality: number): Uint8Array {
      const rowBytes = image.width * 4;
      let rgba = image.pixels.subarray(0, rowBytes * image.height);
      if (image.format === "yuv420") {
        if (packed.length !== rowBytes * image.height) packed = new Uint8Array(rowBytes * image.height);
        yuv420ToRgba(image, packed);
        rgba = packed;
      } else if (image.format !== "rgba" || image.stride !== rowBytes) {
        // It takes tightly packed RGBA only; repack other layouts into a scratch buffer.
        if (packed.length !== rowBytes * image.height) packed = new Uint8Array(rowBytes * image.height);
        for (let y = 0; y < image.height; y++) repackRow(image, y, packed.subarray(y * rowBytes, (y + 1) * rowBytes));
        rgba = packed;
      }
      return Transformer.fromRgbaPixels(rgba, image.width, image.height).jpegSync(quality);
    },
  };
}

/** Row `y` of `image` as RGBA into `out` (alpha is ignored by JPEG, so rgb rows get 255). */
function repackRow(image: RawImage, y: number, out: Uint8Array): void {
  const src = image.pixels.subarray(y * image.stride);
  if (image.format === "rgba") return out.set(src.subarray(0, out.length));
  if (image.format === "bgra") {
    for (let i = 0; i < out.length; i += 4) {
      out[i] = src[i + 2]!;
      out[i + 1] = src[i + 1]!;
      out[i + 2] = src[i]!;
      out[i + 3] = 255;
    }
    return;
  }
  for (let i = 0, j = 0; i < out.length; i += 4, j += 3) {
    out[i] = src[j]!;
    out[i + 1] = src[j + 1]!;
    out[i + 2] = src[j + 2]!;
    out[i + 3] = 255;
  }
}
