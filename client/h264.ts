// H.264 in the page: each binary message is one access unit (Annex B) whose SEI carries the frame's
// metadata. WebCodecs' VideoDecoder decodes it with optimizeForLatency (no frame held back for
// reordering; the stream has none). It is used only where isConfigSupported says yes (it needs a secure
// context: https or localhost); any decoder error is reported once, and the page goes back to JPEG.

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
  /** A decoded frame: paint it and close it at once (a decoder has few frames to lend). */
  onFrame(frame: VideoFrame, info: DecodedInfo): void;
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

  constructor(private readonly ev: H264Events) {
    this.decoder = new VideoDecoder({
      output: (frame) => {
        const info = this.inside.get(frame.timestamp);
        this.inside.delete(frame.timestamp);
        if (!info) return frame.close();
        this.ev.onFrame(frame, { ...info, decodeMs: performance.now() - info.sentAt });
      },
      error: (err) => this.fail(`${err.name}: ${err.message}`),
    });
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
    if (this.decoder.state !== "closed") this.decoder.close();
  }

  private fail(error: string): void {
    if (this.failed) return;
    this.close();
    this.ev.onError(error);
  }
}
