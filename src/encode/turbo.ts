// libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0) through bun:ffi: 4:2:0, reads pixels in place,
// RGBA/BGRA or planes already converted to 4:2:0.
import { FFIType, ptr } from "bun:ffi";
import { yuv420Layout } from "../frame.ts";
import type { JpegBackend, RawImage } from "./backend.ts";
import { openLibrary } from "./open-library.ts";

const LIBRARY_NAMES = ["libturbojpeg.so.0", "libturbojpeg.so"];
const TJPF_RGB = 0;
const TJPF_RGBX = 2; // alpha is ignored: RGBX and RGBA encode the same
const TJPF_BGRX = 3;
const PIXEL_FORMAT = { rgba: TJPF_RGBX, bgra: TJPF_BGRX, rgb: TJPF_RGB } as const;
const TJSAMP_420 = 2;
const TJFLAG_NOREALLOC = 1024;

const symbols = {
  tjInitCompress: { args: [], returns: FFIType.ptr },
  tjBufSize: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.u64 },
  tjCompress2: {
    args: [
      FFIType.ptr, // handle
      FFIType.ptr, // srcBuf
      FFIType.i32, // width
      FFIType.i32, // pitch
      FFIType.i32, // height
      FFIType.i32, // pixelFormat
      FFIType.ptr, // unsigned char **jpegBuf
      FFIType.ptr, // unsigned long *jpegSize
      FFIType.i32, // jpegSubsamp
      FFIType.i32, // jpegQual
      FFIType.i32, // flags
    ],
    returns: FFIType.i32,
  },
  tjCompressFromYUVPlanes: {
    args: [
      FFIType.ptr, // handle
      FFIType.ptr, // const unsigned char **srcPlanes
      FFIType.i32, // width
      FFIType.ptr, // const int *strides
      FFIType.i32, // height
      FFIType.i32, // subsamp
      FFIType.ptr, // unsigned char **jpegBuf
      FFIType.ptr, // unsigned long *jpegSize
      FFIType.i32, // jpegQual
      FFIType.i32, // flags
    ],
    returns: FFIType.i32,
  },
  tjGetErrorStr2: { args: [FFIType.ptr], returns: FFIType.cstring },
} as const;

export function createTurboBackend(): JpegBackend {
  const lib = openLibrary(LIBRARY_NAMES, symbols, "libjpeg-turbo is not available (apt-get install libturbojpeg0)");
  const handle = lib.symbols.tjInitCompress();
  if (!handle) throw new Error("tjInitCompress failed");
  // The output buffer is ours and reused: libjpeg-turbo writes into it (NOREALLOC) and encode returns
  // a view of it, which the Worker copies out before the next encode.
  let out = new Uint8Array(0);
  const outPtrCell = new BigUint64Array(1);
  const outSizeCell = new BigUint64Array(1);
  const planes = new BigUint64Array(3);
  const strides = new Int32Array(3);

  /** 4:2:0 planes (converted on the GPU) go straight to the DCT: no colour conversion here. */
  const compressPlanes = (image: RawImage, quality: number): number => {
    const layout = yuv420Layout(image.width, image.height);
    const base = BigInt(ptr(image.pixels));
    const offsets = [layout.yOffset, layout.uOffset, layout.vOffset];
    offsets.forEach((offset, i) => (planes[i] = base + BigInt(offset)));
    [strides[0], strides[1], strides[2]] = [layout.yPitch, layout.cPitch, layout.cPitch];
    const [w, h, jpegBuf, jpegSize, flags] = [image.width, image.height, ptr(outPtrCell), ptr(outSizeCell), TJFLAG_NOREALLOC];
    return lib.symbols.tjCompressFromYUVPlanes(handle, ptr(planes), w, ptr(strides), h, TJSAMP_420, jpegBuf, jpegSize, quality, flags);
  };

  return {
    kind: "jpeg",
    name: "turbo",
    encode(image: RawImage, quality: number): Uint8Array {
      const need = Number(lib.symbols.tjBufSize(image.width, image.height, TJSAMP_420));
      if (out.length < need) out = new Uint8Array(need);
      outPtrCell[0] = BigInt(ptr(out));
      outSizeCell[0] = BigInt(out.length);
      if (image.format === "yuv420") {
        const rc = compressPlanes(image, quality);
        if (rc !== 0) throw new Error(`tjCompressFromYUVPlanes: ${lib.symbols.tjGetErrorStr2(handle)}`);
        return out.subarray(0, Number(outSizeCell[0]));
      }
      const rc = lib.symbols.tjCompress2(
        handle,
        ptr(image.pixels),
        image.width,
        image.stride,
        image.height,
        PIXEL_FORMAT[image.format],
        ptr(outPtrCell),
        ptr(outSizeCell),
        TJSAMP_420,
        quality,
        TJFLAG_NOREALLOC,
      );
      if (rc !== 0) throw new Error(`tjCompress2: ${lib.symbols.tjGetErrorStr2(handle)}`);
      return out.subarray(0, Number(outSizeCell[0]));
    },
  };
}
