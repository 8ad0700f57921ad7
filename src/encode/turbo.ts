// libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0) through bun:ffi: 4:2:0, reads pixels in place.
import { dlopen, FFIType, ptr } from "bun:ffi";
import type { JpegBackend, RawImage } from "./backend.ts";

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
  tjGetErrorStr2: { args: [FFIType.ptr], returns: FFIType.cstring },
} as const;

function openLibrary() {
  const errors: string[] = [];
  for (const name of LIBRARY_NAMES) {
    try {
      return dlopen(name, symbols);
    } catch (err) {
      errors.push(String(err));
    }
  }
  throw new Error(`libjpeg-turbo is not available (apt-get install libturbojpeg0): ${errors[0]}`);
}

export function createTurboBackend(): JpegBackend {
  const lib = openLibrary();
  const handle = lib.symbols.tjInitCompress();
  if (!handle) throw new Error("tjInitCompress failed");
  // The output buffer is ours and reused: libjpeg-turbo writes into it (NOREALLOC) and encode returns
  // a view of it, which the Worker copies out before the next encode.
  let out = new Uint8Array(0);
  const outPtrCell = new BigUint64Array(1);
  const outSizeCell = new BigUint64Array(1);

  return {
    kind: "jpeg",
    name: "turbo",
    encode(image: RawImage, quality: number): Uint8Array {
      const need = Number(lib.symbols.tjBufSize(image.width, image.height, TJSAMP_420));
      if (out.length < need) out = new Uint8Array(need);
      outPtrCell[0] = BigInt(ptr(out));
      outSizeCell[0] = BigInt(out.length);
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
