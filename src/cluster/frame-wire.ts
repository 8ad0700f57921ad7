// An encoded frame on the broker (a JPEG, or an H.264 access unit): one message, or several chunks when
// it is larger than the broker's max_payload (4K stills, keyframes). Each message is a small envelope,
// then a piece of the frame:
//   0x76 0x01 | header length (u16, big-endian) | header (JSON) | bytes
// The header carries the frame's metadata (as in its JPEG COM segment or H.264 SEI), its codec, the
// origin's instance and which chunk this is. An edge puts the chunks back together (FrameAssembler).
import { NAL_IDR, NAL_SEI, NAL_SLICE, nalUnits } from "../encode/h264-annexb.ts";
import { buildSeiNal, insertSei, readSeiPayload } from "../encode/h264-sei.ts";
import type { FrameMeta } from "../encode/protocol.ts";
import { copyWithComment } from "../encode/jpeg-comment.ts";

const MAGIC = 0x76;
const VERSION = 1;
/** Room kept in each message for the envelope: chunks are at most max_payload minus this. */
export const ENVELOPE_ROOM = 512;

/**
 * A frame's codec; for H.264 what the viewers' skipping rule needs (h264-skip.ts), and `n`, the origin's
 * count of its H.264 frames, so that an edge sees one go missing.
 */
export type CodecInfo = { codec: "jpeg" } | { codec: "h264"; idr: boolean; temporalId: number; n: number };

export type FrameHeader = FrameMeta &
  CodecInfo & {
    /** The origin run that encoded it. */
    instance: string;
    /** Bytes of the whole frame. */
    bytes: number;
    /** This chunk's index and the number of chunks. */
    part: number;
    parts: number;
  };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The messages that carry `frame`: one when it fits in `maxPayload`, else chunks in order. */
export function frameMessages(meta: FrameMeta, codec: CodecInfo, instance: string, frame: Uint8Array, maxPayload: number): Uint8Array[] {
  const chunk = Math.max(1024, maxPayload - ENVELOPE_ROOM);
  const parts = Math.max(1, Math.ceil(frame.byteLength / chunk));
  const messages: Uint8Array[] = [];
  for (let part = 0; part < parts; part++) {
    const header: FrameHeader = { ...meta, ...codec, instance, bytes: frame.byteLength, part, parts };
    const head = encoder.encode(JSON.stringify(header));
    const body = frame.subarray(part * chunk, Math.min(frame.byteLength, (part + 1) * chunk));
    const message = new Uint8Array(4 + head.byteLength + body.byteLength);
    message[0] = MAGIC;
    message[1] = VERSION;
    message[2] = head.byteLength >> 8;
    message[3] = head.byteLength & 0xff;
    message.set(head, 4);
    message.set(body, 4 + head.byteLength);
    messages.push(message);
  }
  return messages;
}

const isNumber = (v: unknown) => typeof v === "number" && Number.isFinite(v);

/** Splits a message into its header and bytes, or says why it is not a frame message. */
export function readFrameMessage(message: Uint8Array): { header: FrameHeader; body: Uint8Array } | string {
  if (message.byteLength < 4 || message[0] !== MAGIC) return "not a frame message";
  if (message[1] !== VERSION) return `frame message version ${message[1]} (this edge reads ${VERSION})`;
  const headLength = (message[2]! << 8) | message[3]!;
  if (4 + headLength > message.byteLength || headLength > ENVELOPE_ROOM) return "frame header length out of range";
  let header: FrameHeader;
  try {
    header = JSON.parse(decoder.decode(message.subarray(4, 4 + headLength)));
  } catch {
    return "frame header is not JSON";
  }
  const h = header as unknown as Record<string, unknown>;
  const integers = ["seq", "w", "h", "q", "bytes", "part", "parts"].every((k) => Number.isSafeInteger(h[k]) && (h[k] as number) >= 0);
  if (!integers || !isNumber(h.t) || typeof h.instance !== "string") return "frame header fields";
  const h264 = h.codec === "h264" && typeof h.idr === "boolean" && (h.temporalId === 0 || h.temporalId === 1) && Number.isSafeInteger(h.n);
  if (h.codec !== "jpeg" && !h264) return "frame header: codec must be jpeg, or h264 with idr, temporalId and n";
  if (header.part >= header.parts || header.bytes > 64 * 1024 * 1024) return "frame header: part or size out of range";
  return { header, body: message.subarray(4 + headLength) };
}

/** Puts chunked frames back together. Chunks of one publisher arrive in order; a gap drops that frame. */
export class FrameAssembler {
  private current: { header: FrameHeader; bytes: Uint8Array; next: number; filled: number } | null = null;
  /** The last frame given up on: its later chunks are let go without counting it again. */
  private lost: FrameHeader | null = null;
  /** Frames given up on: a chunk was lost (the broker dropped it), or a frame began in the middle. */
  dropped = 0;

  /** Takes one chunk; returns the whole frame once its last chunk arrived. */
  add(header: FrameHeader, body: Uint8Array): { header: FrameHeader; frame: Uint8Array } | null {
    if (header.parts === 1) {
      this.abandon();
      return body.byteLength === header.bytes ? { header, frame: body } : null;
    }
    const c = this.current;
    if (c && sameFrame(c.header, header)) {
      if (header.part !== c.next) return this.abandon();
    } else {
      this.abandon();
      if (header.part !== 0) {
        if (!this.lost || !sameFrame(this.lost, header)) {
          this.lost = header;
          this.dropped++;
        }
        return null;
      }
      this.current = { header, bytes: new Uint8Array(header.bytes), next: 0, filled: 0 };
    }
    const a = this.current!;
    if (a.filled + body.byteLength > a.bytes.byteLength) return this.abandon();
    a.bytes.set(body, a.filled);
    a.filled += body.byteLength;
    a.next++;
    if (a.next < header.parts) return null;
    if (a.filled !== a.bytes.byteLength) return this.abandon();
    this.current = null;
    return { header: a.header, frame: a.bytes };
  }

  /** Gives up the frame being put together, if any. */
  private abandon(): null {
    if (this.current) {
      this.lost = this.current.header;
      this.current = null;
      this.dropped++;
    }
    return null;
  }
}

const sameFrame = (a: FrameHeader, b: FrameHeader) => a.instance === b.instance && a.seq === b.seq;

/** The metadata in a JPEG's COM segment right after SOI (where vkcast's encoders put it), or null. */
export function readJpegMeta(jpeg: Uint8Array): FrameMeta | null {
  if (jpeg.byteLength < 6 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8 || jpeg[2] !== 0xff || jpeg[3] !== 0xfe) return null;
  const length = (jpeg[4]! << 8) | jpeg[5]!;
  try {
    const meta = JSON.parse(decoder.decode(jpeg.subarray(6, 4 + length))) as FrameMeta;
    return [meta.seq, meta.t, meta.w, meta.h, meta.q].every(isNumber) ? meta : null;
  } catch {
    return null;
  }
}

/** A copy of `jpeg` whose metadata says `meta` instead (an edge renumbers a restarted origin's frames). */
export function withMeta(jpeg: Uint8Array, meta: FrameMeta): Uint8Array {
  const hasComment = jpeg[2] === 0xff && jpeg[3] === 0xfe;
  const rest = hasComment ? jpeg.subarray(4 + ((jpeg[4]! << 8) | jpeg[5]!)) : jpeg.subarray(2);
  const bare = new Uint8Array(2 + rest.byteLength);
  bare.set(jpeg.subarray(0, 2));
  bare.set(rest, 2);
  return copyWithComment(bare, encoder.encode(JSON.stringify(meta)));
}

/** A copy of an H.264 access unit whose metadata SEI says `meta` instead (the twin of withMeta). */
export function withH264Meta(accessUnit: Uint8Array, meta: FrameMeta): Uint8Array {
  let bare = accessUnit;
  for (const nal of nalUnits(accessUnit)) {
    if (nal.type === NAL_SLICE || nal.type === NAL_IDR) break;
    if (nal.type !== NAL_SEI || readSeiPayload(accessUnit.subarray(nal.start, nal.end)) === null) continue;
    bare = new Uint8Array(accessUnit.byteLength - (nal.end - nal.start));
    bare.set(accessUnit.subarray(0, nal.start));
    bare.set(accessUnit.subarray(nal.end), nal.start);
    break;
  }
  return insertSei(bare, buildSeiNal(encoder.encode(JSON.stringify(meta))));
}
