// OpenH264 (Debian's libopenh264-7) through bun:ffi: constrained baseline, no B-frames, a long GOP with
// IDRs only on demand; large frames are cut into one slice per thread, encoded in parallel. The C API is
// a vtable (ISVCEncoder); its entries are called as CFunctions.
// Struct offsets are those of OpenH264 2.3 on x86-64/arm64 Linux (codec_app_def.h), checked by test/h264.test.ts.
import { CFunction, FFIType, type Library, type Pointer, ptr, read, toArrayBuffer } from "bun:ffi";
import type { RawImage } from "./backend.ts";
import { I420Picture } from "./h264-i420.ts";
import { openLibrary } from "./open-library.ts";

const LIBRARY_NAMES = ["libopenh264.so.7", "libopenh264.so"];

// Offsets of the fields we use, named as in codec_app_def.h (test/h264.test.ts compiles them with gcc).
// SEncParamExt, with its first SSpatialLayerConfig at sSpatialLayers.
export const PARAM = {
  size: 920,
  iUsageType: 0,
  iPicWidth: 4,
  iPicHeight: 8,
  iTargetBitrate: 12,
  iRCMode: 16,
  fMaxFrameRate: 20,
  iTemporalLayerNum: 24,
  iSpatialLayerNum: 28,
  sSpatialLayers: 32,
  uiIntraPeriod: 836,
  iNumRefFrame: 840,
  eSpsPpsIdStrategy: 844,
  bEnableFrameSkip: 860,
  iMultipleThreadIdc: 892,
  bUseLoadBalancing: 894,
  bEnableDenoise: 908,
  bEnableBackgroundDetection: 909,
  bEnableSceneChangeDetect: 912,
} as const;
export const LAYER = {
  iVideoWidth: 0,
  iVideoHeight: 4,
  fFrameRate: 8,
  iSpatialBitrate: 12,
  uiProfileIdc: 20,
  iDLayerQp: 28,
  "sSliceArgument.uiSliceMode": 32,
  "sSliceArgument.uiSliceNum": 36,
  bVideoSignalTypePresent: 184,
  uiVideoFormat: 185,
  bFullRange: 186,
  bColorDescriptionPresent: 187,
  uiColorPrimaries: 188,
  uiTransferCharacteristics: 189,
  uiColorMatrix: 190,
} as const;
// SFrameBSInfo: iLayerNum, then SLayerBSInfo sLayerInfo[128], then eFrameType.
export const BS_INFO = { size: 5144, iLayerNum: 0, sLayerInfo: 8, eFrameType: 5128 } as const;
export const LAYER_BS = { size: 40, uiTemporalId: 0, iNalCount: 16, pNalLengthInByte: 24, pBsBuf: 32 } as const;
export const SOURCE = { size: 72, iColorFormat: 0, iStride: 4, pData: 24, iPicWidth: 56, iPicHeight: 60, uiTimeStamp: 64 } as const;

const CAMERA_VIDEO_REAL_TIME = 0;
const RC_OFF_MODE = -1; // constant QP: quality follows the picture, like a JPEG quality
const PRO_BASELINE = 66;
const CONSTANT_ID = 0;
const SM_SINGLE_SLICE = 0;
const SM_FIXEDSLCNUM_SLICE = 1;
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

type OpenH264 = Library<typeof symbols>;

/** The ISVCEncoder vtable entries we use, in codec_api.h's order (index = slot). */
function bindVtable(vtable: number) {
  const slot = (index: number, args: FFIType[]) =>
    CFunction({ ptr: read.ptr(vtable as Pointer, index * 8) as Pointer, args: [FFIType.ptr, ...args], returns: FFIType.i32 });
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
let shared: { lib: OpenH264; vtableAddress: number; vtable: Vtable } | null = null;

function createHandle(): { handle: Pointer; vtable: Vtable; lib: OpenH264 } {
  const lib = shared?.lib ?? openLibrary(LIBRARY_NAMES, symbols, "OpenH264 is not available (apt-get install libopenh264-7)");
  const cell = new BigUint64Array(1);
  if (lib.symbols.WelsCreateSVCEncoder(ptr(cell)) !== 0 || cell[0] === 0n) throw new Error("WelsCreateSVCEncoder failed");
  const handle = Number(cell[0]) as Pointer;
  const vtableAddress = read.ptr(handle, 0);
  if (!shared || shared.vtableAddress !== vtableAddress) shared = { lib, vtableAddress, vtable: bindVtable(vtableAddress) };
  return { handle, vtable: shared.vtable, lib };
}

/** The quantiser whose SSIM matches JPEG q85's on the built-in scene (bench/codec.ts). */
export const DEFAULT_QP = 22;

// JPEG quality -> quantiser with the same SSIM on the built-in scene at 720p (bench/codec.ts): q60 ~ 27,
// q85 ~ 22, q90 ~ 20; linear between these points, extended at both ends.
const QUALITY_TO_QP: readonly [number, number][] = [
  [1, 39],
  [60, 27],
  [85, DEFAULT_QP],
  [90, 20],
  [100, 16],
];

/** The quantiser that gives about the SSIM of JPEG quality `quality` (1-100). */
export function qpForQuality(quality: number): number {
  const q = Math.min(100, Math.max(1, quality));
  const upper = QUALITY_TO_QP.findIndex(([at]) => at >= q);
  const [q1, qp1] = QUALITY_TO_QP[upper]!;
  if (upper === 0) return qp1;
  const [q0, qp0] = QUALITY_TO_QP[upper - 1]!;
  return Math.round(qp0 + ((q - q0) / (q1 - q0)) * (qp1 - qp0));
}

/** At most this many threads (and slices) per encoder: more slices cost bits, and 1080p is done in 4. */
export const MAX_THREADS = 4;
/** Pixels one thread encodes: smaller frames are fast enough on one, in one slice. */
const PIXELS_PER_THREAD = 640 * 360;

/** The threads (one slice each) for a frame of `width` x `height` when up to `maxThreads` CPUs may be used. */
export function threadsFor(maxThreads: number, width: number, height: number): number {
  return Math.max(1, Math.min(maxThreads, MAX_THREADS, Math.ceil((width * height) / PIXELS_PER_THREAD)));
}

export interface H264Settings {
  /** Frames per second, only written into the stream (constant QP needs no rate). */
  fps: number;
  /** Quantiser 0-51 of the frames others refer to (lower: better, bigger); changeable per frame. */
  qp: number;
  /**
   * 1: every frame a reference. 2: odd frames are non-reference (temporal layer 1) and may be dropped;
   * they are coded 3 steps coarser (OpenH264's cascade), as nothing inherits their errors.
   */
  temporalLayers?: 1 | 2;
  /** The most threads one encode may use (threadsFor); 1 by default. */
  maxThreads?: number;
}

/** One access unit in Annex B byte-stream format. */
export interface AccessUnit {
  data: Uint8Array;
  /** An IDR (it then starts with SPS and PPS). */
  idr: boolean;
  /** 0 for frames others depend on; 1 for frames nothing references (with temporalLayers 2). */
  temporalId: number;
  /** The coded size: the frame's, rounded down to even numbers (4:2:0 has no odd sizes). */
  width: number;
  height: number;
}

/**
 * An H.264 stream encoder that follows the frame size: the first frame, and the first of every new size
 * (the native encoder is then re-created), is an IDR. Not thread-safe: one per Worker.
 */
export class H264Encoder {
  readonly fps: number;
  readonly temporalLayers: 1 | 2;
  readonly maxThreads: number;
  private qp: number;
  private session: Session | null = null;

  constructor(settings: H264Settings) {
    this.fps = settings.fps;
    this.qp = checkQp(settings.qp);
    this.temporalLayers = settings.temporalLayers ?? 1;
    this.maxThreads = settings.maxThreads ?? 1;
  }

  /** Sets the quantiser of the next frames (no IDR). */
  setQp(qp: number): void {
    this.qp = checkQp(qp);
  }

  /**
   * Encodes one frame, reading `image` in place; `idr` asks for an IDR (with SPS and PPS). `onRead` runs
   * once the pixels were converted into the encoder's own picture: the caller may reuse them from then on.
   */
  encode(image: RawImage, options: { idr?: boolean; timestampMs?: number; onRead?: () => void } = {}): AccessUnit {
    const width = image.width & ~1;
    const height = image.height & ~1;
    if (width < MIN_SIZE || height < MIN_SIZE) throw new Error(`H.264 frames must be at least ${MIN_SIZE}x${MIN_SIZE}`);
    if (this.session && (this.session.width !== width || this.session.height !== height)) this.close();
    // OpenH264 codes layer 0 at its qp - 3 when there are two layers: ask for qp + 3 so that `qp` is layer 0's.
    const nativeQp = Math.min(51, this.qp + (this.temporalLayers === 2 ? 3 : 0));
    this.session ??= new Session(width, height, this.fps, nativeQp, this.temporalLayers, threadsFor(this.maxThreads, width, height));
    this.session.setQp(nativeQp);
    return this.session.encode({ ...image, width, height }, options.idr ?? false, options.onRead, options.timestampMs);
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }
}

const MIN_SIZE = 16;

/** One native encoder for one frame size. */
class Session {
  readonly width: number;
  readonly height: number;
  private readonly vtable: Vtable;
  private readonly lib: OpenH264;
  private handle: Pointer | null;
  private readonly params = new Uint8Array(PARAM.size);
  private readonly info = new Uint8Array(BS_INFO.size);
  private readonly source = new Uint8Array(SOURCE.size);
  private readonly picture: I420Picture;
  private qp: number;
  private frames = 0;

  constructor(width: number, height: number, fps: number, qp: number, temporalLayers: number, threads: number) {
    this.width = width;
    this.height = height;
    this.qp = qp;
    this.picture = new I420Picture(width, height);
    const { handle, vtable, lib } = createHandle();
    this.handle = handle;
    this.vtable = vtable;
    this.lib = lib;
    try {
      this.configure(fps, temporalLayers, threads);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private configure(fps: number, temporalLayers: number, threads: number) {
    const handle = this.handle!;
    const level = new Int32Array([WELS_LOG_ERROR]);
    this.vtable.setOption(handle, OPTION_TRACE_LEVEL, ptr(level));
    const p = new DataView(this.params.buffer);
    if (this.vtable.getDefaultParams(handle, ptr(this.params)) !== 0) throw new Error("OpenH264 GetDefaultParams failed");
    const rate = Math.min(Math.max(fps, 1), MAX_FRAME_RATE);
    // A nominal bitrate: OpenH264 validates it even when rate control is off.
    const bitrate = Math.min(this.width * this.height * rate * 0.2, 2 ** 31 - 1) | 0;
    p.setInt32(PARAM.iUsageType, CAMERA_VIDEO_REAL_TIME, true);
    p.setInt32(PARAM.iPicWidth, this.width, true);
    p.setInt32(PARAM.iPicHeight, this.height, true);
    p.setInt32(PARAM.iTargetBitrate, bitrate, true);
    p.setInt32(PARAM.iRCMode, RC_OFF_MODE, true);
    p.setFloat32(PARAM.fMaxFrameRate, rate, true);
    p.setInt32(PARAM.iTemporalLayerNum, temporalLayers, true);
    p.setInt32(PARAM.iSpatialLayerNum, 1, true);
    p.setUint32(PARAM.uiIntraPeriod, 0, true); // no periodic IDR: only the first and those asked for
    p.setInt32(PARAM.iNumRefFrame, 1, true);
    p.setInt32(PARAM.eSpsPpsIdStrategy, CONSTANT_ID, true); // every IDR repeats the same SPS/PPS
    p.setUint8(PARAM.bEnableFrameSkip, 0);
    p.setUint16(PARAM.iMultipleThreadIdc, threads, true);
    p.setUint8(PARAM.bUseLoadBalancing, 0); // fixed slices: the same frames make the same stream
    p.setUint8(PARAM.bEnableDenoise, 0);
    p.setUint8(PARAM.bEnableBackgroundDetection, 0); // on, it left specks of moving objects behind them
    p.setUint8(PARAM.bEnableSceneChangeDetect, 0); // no IDRs the server did not ask for
    const l = PARAM.sSpatialLayers;
    p.setInt32(l + LAYER.iVideoWidth, this.width, true);
    p.setInt32(l + LAYER.iVideoHeight, this.height, true);
    p.setFloat32(l + LAYER.fFrameRate, rate, true);
    p.setInt32(l + LAYER.iSpatialBitrate, bitrate, true);
    p.setInt32(l + LAYER.uiProfileIdc, PRO_BASELINE, true);
    p.setInt32(l + LAYER.iDLayerQp, this.qp, true);
    p.setInt32(l + LAYER["sSliceArgument.uiSliceMode"], threads > 1 ? SM_FIXEDSLCNUM_SLICE : SM_SINGLE_SLICE, true);
    p.setUint32(l + LAYER["sSliceArgument.uiSliceNum"], threads, true);
    p.setUint8(l + LAYER.bVideoSignalTypePresent, 1);
    p.setUint8(l + LAYER.uiVideoFormat, VIDEO_FORMAT_UNSPECIFIED);
    p.setUint8(l + LAYER.bFullRange, 0);
    p.setUint8(l + LAYER.bColorDescriptionPresent, 1);
    p.setUint8(l + LAYER.uiColorPrimaries, COLOR_PRIMARIES_BT709);
    p.setUint8(l + LAYER.uiTransferCharacteristics, TRANSFER_IEC61966_2_1);
    p.setUint8(l + LAYER.uiColorMatrix, MATRIX_SMPTE170M);
    const rc = this.vtable.initializeExt(handle, ptr(this.params));
    if (rc !== 0) throw new Error(`OpenH264 InitializeExt failed (${rc}) for ${this.width}x${this.height}`);
    const s = new DataView(this.source.buffer);
    s.setInt32(SOURCE.iColorFormat, VIDEO_FORMAT_I420, true);
    s.setInt32(SOURCE.iStride, this.picture.width, true);
    s.setInt32(SOURCE.iStride + 4, this.picture.chromaWidth, true);
    s.setInt32(SOURCE.iStride + 8, this.picture.chromaWidth, true);
    s.setBigUint64(SOURCE.pData, BigInt(ptr(this.picture.y)), true);
    s.setBigUint64(SOURCE.pData + 8, BigInt(ptr(this.picture.u)), true);
    s.setBigUint64(SOURCE.pData + 16, BigInt(ptr(this.picture.v)), true);
    s.setInt32(SOURCE.iPicWidth, this.width, true);
    s.setInt32(SOURCE.iPicHeight, this.height, true);
  }

  /** Sets the quantiser of the next frames (no IDR, no reset). */
  setQp(qp: number): void {
    if (qp === this.qp) return;
    this.qp = qp;
    new DataView(this.params.buffer).setInt32(PARAM.sSpatialLayers + LAYER.iDLayerQp, qp, true);
    const rc = this.vtable.setOption(this.handleOrThrow(), OPTION_SVC_ENCODE_PARAM_EXT, ptr(this.params));
    if (rc !== 0) throw new Error(`OpenH264 SetOption(qp ${qp}) failed (${rc})`);
  }

  /** Encodes one frame of this session's size: an IDR when it is the first or `idr` is set, else a P frame. */
  encode(image: RawImage, idr: boolean, onRead?: () => void, timestampMs = (this.frames * 1000) / 30): AccessUnit {
    const handle = this.handleOrThrow();
    this.picture.convert(image);
    onRead?.();
    if (idr && this.frames > 0) this.vtable.forceIntraFrame(handle, true);
    const s = new DataView(this.source.buffer);
    s.setBigInt64(SOURCE.uiTimeStamp, BigInt(Math.round(timestampMs)), true);
    const rc = this.vtable.encodeFrame(handle, ptr(this.source), ptr(this.info));
    if (rc !== 0) throw new Error(`OpenH264 EncodeFrame failed (${rc})`);
    this.frames++;
    return this.collect();
  }

  /** Copies the NAL units of every layer of the last encoded frame into one Annex B buffer. */
  private collect(): AccessUnit {
    const info = new DataView(this.info.buffer);
    const frameType = info.getInt32(BS_INFO.eFrameType, true);
    if (frameType === FRAME_TYPE_SKIP) throw new Error("OpenH264 skipped a frame although frame skipping is off");
    const layerCount = info.getInt32(BS_INFO.iLayerNum, true);
    const parts: Uint8Array[] = [];
    let total = 0;
    let temporalId = 0;
    for (let i = 0; i < layerCount; i++) {
      const at = BS_INFO.sLayerInfo + i * LAYER_BS.size;
      const nalCount = info.getInt32(at + LAYER_BS.iNalCount, true);
      const lengths = Number(info.getBigUint64(at + LAYER_BS.pNalLengthInByte, true)) as Pointer;
      let size = 0;
      for (let n = 0; n < nalCount; n++) size += read.i32(lengths, n * 4);
      if (size === 0) continue;
      const buffer = Number(info.getBigUint64(at + LAYER_BS.pBsBuf, true));
      parts.push(new Uint8Array(toArrayBuffer(buffer as Pointer, 0, size)));
      total += size;
      temporalId = Math.max(temporalId, info.getUint8(at + LAYER_BS.uiTemporalId));
    }
    const data = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      data.set(part, offset);
      offset += part.length;
    }
    return { data, idr: frameType === FRAME_TYPE_IDR, temporalId, width: this.width, height: this.height };
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
