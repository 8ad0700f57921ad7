// @napi-rs/image (image-rs's baseline encoder, 4:4:4): slower, but always installable from npm.
import { Transformer } from "@napi-rs/image";
import type { JpegBackend, RawImage } from "./backend.ts";

export function createNapiBackend(): JpegBackend {
  let packed = new Uint8Array(0);
  return {
    kind: "jpeg",
    name: "napi",
    encode(image: RawImage, quality: number): Uint8Array {
      const rowBytes = image.width * 4;
      let rgba = image.pixels.subarray(0, rowBytes * image.height);
      if (image.format !== "rgba" || image.stride !== rowBytes) {
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
