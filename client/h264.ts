// H.264 in the page: each binary message is one access unit (Annex B) whose SEI carries the frame's
// metadata. WebCodecs' VideoDecoder decodes it with optimizeForLatency (no frame held back for
// reordering; the stream has none). It is used only where isConfigSupported says yes (it needs a secure
// context: https or localhost); any decoder error is reported once, and the page goes back to JPEG.
// A decoded frame is handed over as RGBA pixels: VideoFrame.copyTo converts a 720p frame in about 1 ms,
// where drawImage(frame) on a canvas without a GPU took 15-30 ms of the main thread (bench/codec-latency.ts).

import { isDisposable, isIdrAccessUnit, NAL_SPS, nalUnits } from "../src/encode/h264-annexb.ts";
import { readSeiPayload } from "../src/encode/h264-sei.ts";
import { type FrameMeta, parseFrameMeta } from "./protocol.ts";

/** Constrained baseline, level 3.1: what the server's encoder writes (the decoder takes the level from the SPS). */
const PROBE_CODEC = "avc1.42E01F";

/** Whether this browser can decode the server's H.264. Never throws. */
export async function h264Supported(): Promise<boolean> {
  if (typeof VideoDecoder === "undefined" || !isSecureContext) return false;
  try {
    return (await VideoDecoder.isConfigSupported({ codec: PROBE_CODEC, optimizeForLatency: true })).supported === true;
  } catch {
    return false;
  }
}

/** What the page learns of a decoded frame. */
export interface DecodedInfo {
  meta: FrameMeta | null;
  receivedAt: number;
  /** decode() to output, ms. */
  decodeMs: number;
}

export interface H264Events {
  /**
   * A decoded frame: its RGBA pixels (valid until the next onFrame), or, where this browser cannot copy a
   * frame as RGBA, the frame itself: paint it and close it at once (a decoder has few frames to lend).
   */
  onFrame(picture: ImageData | VideoFrame, info: DecodedInfo): void;
  /** The decoder failed: this decoder is closed and decodes nothing more. */
  onError(error: string): void;
  /** A frame nothing refers to was skipped: the decoder was still busy with earlier ones. */
  onDrop(): void;
}

/** The `avc1.PPCCLL` codec string of an SPS NAL unit (profile, constraint flags, level). */
function codecOf(sps: Uint8Array): string {
  const hex = (b: number) => b.toString(16).padStart(2, "0").toUpperCase();
  return `avc1.${hex(sps[1]!)}${hex(sps[2]!)}${hex(sps[3]!)}`;
}

/** The SPS of an access unit, header byte first, or null. */
function spsOf(accessUnit: Uint8Array): Uint8Array | null {
  for (const nal of nalUnits(accessUnit)) if (nal.type === NAL_SPS) return accessUnit.subarray(nal.payload, nal.end);
  return null;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export class H264Decoder {
  private readonly decoder: VideoDecoder;
  /** The SPS the decoder is configured for (a new one, after a resize, reconfigures it). */
  private sps: Uint8Array | null = null;
  private failed = false;
  private nextTimestamp = 0;
  /** What each chunk in the decoder carries, by its timestamp. */
  private readonly inside = new Map<number, DecodedInfo & { sentAt: number }>();
  /** A decoded frame waiting for the one being copied (a newer one replaces it), and whether one is. */
  private waiting: { frame: VideoFrame; info: DecodedInfo & { sentAt: number } } | null = null;
  private copying = false;
  private pixels: ImageData | null = null;
  /** Cleared once copyTo refused RGBA: frames are then handed over as they are. */
  private copiesRgba = true;

  constructor(private readonly ev: H264Events) {
    this.decoder = new VideoDecoder({
      output: (frame) => {
        const info = this.inside.get(frame.timestamp);
        this.inside.delete(frame.timestamp);
        if (!info || this.failed) return frame.close();
        if (this.waiting) {
          this.waiting.frame.close();
          this.ev.onDrop();
        }
        this.waiting = { frame, info };
        if (!this.copying) void this.handOver();
      },
      error: (err) => this.fail(`${err.name}: ${err.message}`),
    });
  }

  /** Hands the decoded frames over in order, one copy at a time; decodeMs runs from decode() to the pixels. */
  private async handOver(): Promise<void> {
    this.copying = true;
    while (this.waiting && !this.failed) {
      const { frame, info } = this.waiting;
      this.waiting = null;
      const pixels = await this.rgba(frame);
      if (this.failed) {
        frame.close();
        break;
      }
      const done = { meta: info.meta, receivedAt: info.receivedAt, decodeMs: performance.now() - info.sentAt };
      this.ev.onFrame(pixels ?? frame, done);
      if (pixels) frame.close();
    }
    this.copying = false;
  }

  /** The frame's visible pixels as RGBA (sRGB), in a buffer reused while the size stays; null where unsupported. */
  private async rgba(frame: VideoFrame): Promise<ImageData | null> {
    if (!this.copiesRgba) return null;
    const { width, height } = frame.visibleRect!;
    if (this.pixels?.width !== width || this.pixels.height !== height) this.pixels = new ImageData(width, height);
    try {
      await frame.copyTo(this.pixels.data, { format: "RGBA", colorSpace: "srgb" });
      return this.pixels;
    } catch {
      this.copiesRgba = false;
      return null;
    }
  }

  /** The metadata of an access unit's SEI (its seq, capture time, size, quality). */
  static meta(accessUnit: Uint8Array): FrameMeta | null {
    const payload = readSeiPayload(accessUnit);
    return payload ? parseFrameMeta(payload) : null;
  }

  /** Decodes one access unit; until the first IDR (and its SPS) there is nothing to decode from. */
  decode(accessUnit: Uint8Array, meta: FrameMeta | null, receivedAt: number): void {
    if (this.failed) return;
    const key = isIdrAccessUnit(accessUnit);
    try {
      if (key) {
        const sps = spsOf(accessUnit);
        if (!sps) throw new Error("an IDR without its SPS");
        if (!this.sps || !sameBytes(sps, this.sps)) {
          this.decoder.configure({ codec: codecOf(sps), optimizeForLatency: true });
          this.sps = sps.slice();
        }
      } else if (!this.sps) {
        return;
      } else if (this.inside.size >= 2 && isDisposable(accessUnit)) {
        // A slow tab skips, never lags: a frame nothing refers to waits for no one.
        this.ev.onDrop();
        return;
      }
      const timestamp = this.nextTimestamp++;
      this.inside.set(timestamp, { meta, receivedAt, decodeMs: 0, sentAt: performance.now() });
      this.decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp, data: accessUnit }));
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  close(): void {
    this.failed = true;
    this.inside.clear();
    this.waiting?.frame.close();
    this.waiting = null;
    if (this.decoder.state !== "closed") this.decoder.close();
  }

  private fail(error: string): void {
    if (this.failed) return;
    this.close();
    this.ev.onError(error);
  }
}
