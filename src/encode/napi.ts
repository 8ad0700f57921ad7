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
        for (let y = 0; y < image.height; y++) {
          const row = image.pixels.subarray(y * image.stride, y * image.stride + rowBytes);
          packed.set(row, y * rowBytes);
          if (image.format === "bgra") {
            for (let i = y * rowBytes; i < (y + 1) * rowBytes; i += 4) {
              const b = packed[i]!;
              packed[i] = packed[i + 2]!;
              packed[i + 2] = b;
            }
          }
        }
        rgba = packed;
      }
      return Transformer.fromRgbaPixels(rgba, image.width, image.height).jpegSync(quality);
    },
  };
}
