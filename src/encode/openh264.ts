// OpenH264 (Debian's libopenh264-7) through bun:ffi: constrained baseline, no B-frames, one slice, a long
// GOP with IDRs only on demand. The C API is a vtable (ISVCEncoder); its entries are called as CFunctions.
// Struct offsets are those of OpenH264 2.3 on x86-64/arm64 Linux (codec_app_def.h), checked by test/h264.test.ts.
import { CFunction, dlopen, FFIType, type Pointer, ptr, read, toArrayBuffer } from "bun:ffi";
import type { RawImage } from "./backend.ts";
import { I420Picture } from "./h264-i420.ts";

const LIBRARY_NAMES = ["libopenh264.so.7", "libopenh264.so"];

// SEncParamExt (920 bytes) and its first SSpatialLayerConfig (at 32, 200 bytes).
export const PARAM = {
  size: 920,
  usageType: 0,
  picWidth: 4,
  picHeight: 8,
  targetBitrate: 12,
  rcMode: 16,
  maxFrameRate: 20,
  temporalLayerNum: 24,
  spatialLayerNum: 28,
  layer: 32,
  complexityMode: 832,
  intraPeriod: 836,
  numRefFrame: 840,
  spsPpsIdStrategy: 844,
  enableFrameSkip: 860,
  maxBitrate: 864,
  multipleThreadIdc: 892,
  enableDenoise: 908,
  enableBackgroundDetection: 909,
  enableAdaptiveQuant: 910,
  enableSceneChangeDetect: 912,
} as const;
export const LAYER = {
  videoWidth: 0,
  videoHeight: 4,
  frameRate: 8,
  spatialBitrate: 12,
  maxSpatialBitrate: 16,
  profileIdc: 20,
  levelIdc: 24,
  qp: 28,
  sliceMode: 32,
  videoSignalTypePresent: 184,
  videoFormat: 185,
  fullRange: 186,
  colorDescriptionPresent: 187,
  colorPrimaries: 188,
  transferCharacteristics: 189,
  colorMatrix: 190,
} as const;
// SFrameBSInfo (5144 bytes): iLayerNum, then SLayerBSInfo[128] of 40 bytes each, then eFrameType.
export const BS_INFO = { size: 5144, layerNum: 0, layers: 8, layerSize: 40, frameType: 5128 } as const;
export const LAYER_BS = { temporalId: 0, nalCount: 16, nalLengths: 24, buffer: 32 } as const;
// SSourcePicture (72 bytes).
export const SOURCE = { size: 72, colorFormat: 0, stride: 4, data: 24, width: 56, height: 60, timestamp: 64 } as const;

const CAMERA_VIDEO_REAL_TIME = 0;
const RC_OFF_MODE = -1; // constant QP: quality follows the picture, like a JPEG quality
const PRO_BASELINE = 66;
const CONSTANT_ID = 0;
const VIDEO_FORMAT_I420 = 23;
const FRAME_TYPE_IDR = 1;
const FRAME_TYPE_SKIP = 4;
const OPTION_SVC_ENCODE_PARAM_EXT = 3;
const OPTION_TRACE_LEVEL = 25;
const WELS_LOG_ERROR = 1;
const MAX_FRAME_RATE = 60; // OpenH264 clamps here; with constant QP the rate only labels the stream
// VUI colour: what libyuv's conversion produces (BT.601 matrix, limited range), sRGB primaries.
const COLOR_PRIMARIES_BT709 = 1;
const TRANSFER_IEC61966_2_1 = 13;
const MATRIX_SMPTE170M = 6;
const VIDEO_FORMAT_UNSPECIFIED = 5;

const symbols = {
  WelsCreateSVCEncoder: { args: [FFIType.ptr], returns: FFIType.i32 },
  WelsDestroySVCEncoder: { args: [FFIType.ptr], returns: FFIType.void },
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
  throw new Error(`OpenH264 is not available (apt-get install libopenh264-7): ${errors[0]}`);
}

type Library = ReturnType<typeof openLibrary>;

/** The ISVCEncoder vtable entries we use, in codec_api.h's order (index = slot). */
function bindVtable(vtable: number) {
  const slot = (index: number, args: FFIType[]) =>
    CFunction({ ptr: read.ptr(vtable as Pointer, index * 8), args: [FFIType.ptr, ...args], returns: FFIType.i32 });
  return {
    initializeExt: slot(1, [FFIType.ptr]),
    getDefaultParams: slot(2, [FFIType.ptr]),
    uninitialize: slot(3, []),
    encodeFrame: slot(4, [FFIType.ptr, FFIType.ptr]),
    forceIntraFrame: slot(6, [FFIType.bool]),
    setOption: slot(7, [FFIType.i32, FFIType.ptr]),
  };
}

type Vtable = ReturnType<typeof bindVtable>;

// The vtable is static in the library, the same for every encoder: bound once per thread.
let shared: { lib: Library; vtableAddress: number; vtable: Vtable } | null = null;

function createHandle(): { handle: Pointer; vtable: Vtable; lib: Library } {
  const lib = shared?.lib ?? openLibrary();
  const cell = new BigUint64Array(1);
  if (lib.symbols.WelsCreateSVCEncoder(ptr(cell)) !== 0 || cell[0] === 0n) throw new Error("WelsCreateSVCEncoder failed");
  const handle = Number(cell[0]) as Pointer;
  const vtableAddress = read.ptr(handle, 0);
  if (!shared || shared.vtableAddress !== vtableAddress) shared = { lib, vtableAddress, vtable: bindVtable(vtableAddress) };
  return { handle, vtable: shared.vtable, lib };
}

export interface H264Settings {
  width: number;
  height: number;
  /** Frames per second, only written into the stream (constant QP needs no rate). */
  fps: number;
  /** Quantiser 0-51 (lower: better, bigger); changeable per frame. */
  qp: number;
  /** 1: every frame a reference. 2: odd frames are non-reference (temporal layer 1) and may be dropped. */
  temporalLayers?: 1 | 2;
}

/** One access unit in Annex B byte-stream format. */
export interface AccessUnit {
  data: Uint8Array;
  /** An IDR (it then starts with SPS and PPS). */
  idr: boolean;
  /** 0 for frames others depend on; 1 for frames nothing references (with temporalLayers 2). */
  temporalId: number;
}

/** One OpenH264 encoder for one frame size. Not thread-safe: one per Worker. */
export class H264Encoder {
  readonly width: number;
  readonly height: number;
  readonly temporalLayers: 1 | 2;
  private readonly vtable: Vtable;
  private readonly lib: Library;
  private handle: Pointer | null;
  private readonly params = new Uint8Array(PARAM.size);
  private readonly info = new Uint8Array(BS_INFO.size);
  private readonly source = new Uint8Array(SOURCE.size);
  private readonly picture: I420Picture;
  private qp: number;
  private frames = 0;

  constructor(settings: H264Settings) {
    const { width, height } = settings;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16 || width % 2 || height % 2) {
      throw new Error(`H.264 frame size must be even and at least 16x16, got ${width}x${height}`);
    }
    this.width = width;
    this.height = height;
    this.temporalLayers = settings.temporalLayers ?? 1;
    this.qp = checkQp(settings.qp);
    this.picture = new I420Picture(width, height);
    const { handle, vtable, lib } = createHandle();
    this.handle = handle;
    this.vtable = vtable;
    this.lib = lib;
    try {
      this.configure(settings.fps);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private configure(fps: number) {
    const handle = this.handle!;
    const level = new Int32Array([WELS_LOG_ERROR]);
    this.vtable.setOption(handle, OPTION_TRACE_LEVEL, ptr(level));
    const p = new DataView(this.params.buffer);
    if (this.vtable.getDefaultParams(handle, ptr(this.params)) !== 0) throw new Error("OpenH264 GetDefaultParams failed");
    const rate = Math.min(Math.max(fps, 1), MAX_FRAME_RATE);
    // A nominal bitrate: OpenH264 validates it even when rate control is off.
    const bitrate = Math.min(this.width * this.height * rate * 0.2, 2 ** 31 - 1) | 0;
    p.setInt32(PARAM.usageType, CAMERA_VIDEO_REAL_TIME, true);
    p.setInt32(PARAM.picWidth, this.width, true);
    p.setInt32(PARAM.picHeight, this.height, true);
    p.setInt32(PARAM.targetBitrate, bitrate, true);
    p.setInt32(PARAM.rcMode, RC_OFF_MODE, true);
    p.setFloat32(PARAM.maxFrameRate, rate, true);
    p.setInt32(PARAM.temporalLayerNum, this.temporalLayers, true);
    p.setInt32(PARAM.spatialLayerNum, 1, true);
    p.setUint32(PARAM.intraPeriod, 0, true); // no periodic IDR: only the first and those asked for
    p.setInt32(PARAM.numRefFrame, 1, true);
    p.setInt32(PARAM.spsPpsIdStrategy, CONSTANT_ID, true); // every IDR repeats the same SPS/PPS
    p.setUint8(PARAM.enableFrameSkip, 0);
    p.setUint16(PARAM.multipleThreadIdc, 1, true); // one thread: the Workers are the parallelism
    p.setUint8(PARAM.enableDenoise, 0);
    p.setUint8(PARAM.enableSceneChangeDetect, 0); // no IDRs the server did not ask for
    const l = PARAM.layer;
    p.setInt32(l + LAYER.videoWidth, this.width, true);
    p.setInt32(l + LAYER.videoHeight, this.height, true);
    p.setFloat32(l + LAYER.frameRate, rate, true);
    p.setInt32(l + LAYER.spatialBitrate, bitrate, true);
    p.setInt32(l + LAYER.profileIdc, PRO_BASELINE, true);
    p.setInt32(l + LAYER.qp, this.qp, true);
    p.setInt32(l + LAYER.sliceMode, 0, true); // one slice per frame
    p.setUint8(l + LAYER.videoSignalTypePresent, 1);
    p.setUint8(l + LAYER.videoFormat, VIDEO_FORMAT_UNSPECIFIED);
    p.setUint8(l + LAYER.fullRange, 0);
    p.setUint8(l + LAYER.colorDescriptionPresent, 1);
    p.setUint8(l + LAYER.colorPrimaries, COLOR_PRIMARIES_BT709);
    p.setUint8(l + LAYER.transferCharacteristics, TRANSFER_IEC61966_2_1);
    p.setUint8(l + LAYER.colorMatrix, MATRIX_SMPTE170M);
    const rc = this.vtable.initializeExt(handle, ptr(this.params));
    if (rc !== 0) throw new Error(`OpenH264 InitializeExt failed (${rc}) for ${this.width}x${this.height}`);
    const s = new DataView(this.source.buffer);
    s.setInt32(SOURCE.colorFormat, VIDEO_FORMAT_I420, true);
    s.setInt32(SOURCE.stride, this.picture.width, true);
    s.setInt32(SOURCE.stride + 4, this.picture.chromaWidth, true);
    s.setInt32(SOURCE.stride + 8, this.picture.chromaWidth, true);
    s.setBigUint64(SOURCE.data, BigInt(ptr(this.picture.y)), true);
    s.setBigUint64(SOURCE.data + 8, BigInt(ptr(this.picture.u)), true);
    s.setBigUint64(SOURCE.data + 16, BigInt(ptr(this.picture.v)), true);
    s.setInt32(SOURCE.width, this.width, true);
    s.setInt32(SOURCE.height, this.height, true);
  }

  /** Sets the quantiser of the next frames (no IDR, no reset). */
  setQp(qp: number): void {
    if (checkQp(qp) === this.qp) return;
    this.qp = qp;
    new DataView(this.params.buffer).setInt32(PARAM.layer + LAYER.qp, qp, true);
    const rc = this.vtable.setOption(this.handleOrThrow(), OPTION_SVC_ENCODE_PARAM_EXT, ptr(this.params));
    if (rc !== 0) throw new Error(`OpenH264 SetOption(qp ${qp}) failed (${rc})`);
  }

  /**
   * Encodes one frame, reading `image` in place. The first frame, and any with `idr`, is an IDR that
   * starts with SPS and PPS; the others are P frames.
   */
  encode(image: RawImage, options: { idr?: boolean; timestampMs?: number } = {}): AccessUnit {
    const handle = this.handleOrThrow();
    this.picture.convert(image);
    if (options.idr && this.frames > 0) this.vtable.forceIntraFrame(handle, true);
    const s = new DataView(this.source.buffer);
    s.setBigInt64(SOURCE.timestamp, BigInt(Math.round(options.timestampMs ?? (this.frames * 1000) / 30)), true);
    const rc = this.vtable.encodeFrame(handle, ptr(this.source), ptr(this.info));
    if (rc !== 0) throw new Error(`OpenH264 EncodeFrame failed (${rc})`);
    this.frames++;
    return this.collect();
  }

  /** Copies the NAL units of every layer of the last encoded frame into one Annex B buffer. */
  private collect(): AccessUnit {
    const info = new DataView(this.info.buffer);
    const frameType = info.getInt32(BS_INFO.frameType, true);
    if (frameType === FRAME_TYPE_SKIP) throw new Error("OpenH264 skipped a frame although frame skipping is off");
    const layerCount = info.getInt32(BS_INFO.layerNum, true);
    const parts: Uint8Array[] = [];
    let total = 0;
    let temporalId = 0;
    for (let i = 0; i < layerCount; i++) {
      const at = BS_INFO.layers + i * BS_INFO.layerSize;
      const nalCount = info.getInt32(at + LAYER_BS.nalCount, true);
      const lengths = Number(info.getBigUint64(at + LAYER_BS.nalLengths, true)) as Pointer;
      let size = 0;
      for (let n = 0; n < nalCount; n++) size += read.i32(lengths, n * 4);
      if (size === 0) continue;
      const buffer = Number(info.getBigUint64(at + LAYER_BS.buffer, true));
      parts.push(new Uint8Array(toArrayBuffer(buffer as Pointer, 0, size)));
      total += size;
      temporalId = Math.max(temporalId, info.getUint8(at + LAYER_BS.temporalId));
    }
    const data = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      data.set(part, offset);
      offset += part.length;
    }
    return { data, idr: frameType === FRAME_TYPE_IDR, temporalId };
  }

  private handleOrThrow(): Pointer {
    if (!this.handle) throw new Error("H264Encoder is closed");
    return this.handle;
  }

  close(): void {
    if (!this.handle) return;
    this.vtable.uninitialize(this.handle);
    this.lib.symbols.WelsDestroySVCEncoder(this.handle);
    this.handle = null;
  }
}

function checkQp(qp: number): number {
  if (!Number.isInteger(qp) || qp < 0 || qp > 51) throw new Error(`H.264 qp must be an integer 0-51, got ${qp}`);
  return qp;
}
