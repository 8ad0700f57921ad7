// The wire protocol as the browser sees it (README.md, "What it serves"): binary messages are whole
// JPEGs, optionally with a JSON COM segment right after SOI; text messages from a v2 server are JSON
// objects with a `type`.

import type { AppliedInput, ViewerMessage } from "../src/protocol/viewer-messages.ts";

/** What a frame's COM segment may carry. Every field is optional: old servers send none. */
export interface FrameMeta {
  /** Sequence number; when present, the client acks the frame once it is painted. */
  seq?: number;
  /** Capture time, ms since the epoch on the server's clock. */
  t?: number;
  w?: number;
  h?: number;
  q?: number;
  /** The scale it was encoded at (a smaller tier): w and h stay the frame's size, the client scales it up. */
  s?: number;
  /** By session id: the highest seq of that viewer's input applied before the frame was rendered. */
  in?: AppliedInput;
}

const SOI = 0xd8;
const COM = 0xfe;
const MAX_SCAN = 8; // markers to look at before giving up (APPn segments may precede COM)

/**
 * Reads the JSON metadata of a JPEG's COM segment, if one sits among the first segments after SOI.
 * Returns null for a JPEG without one, or with a payload that is not a JSON object. Never throws.
 */
export function readFrameMeta(jpeg: Uint8Array): FrameMeta | null {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) return null;
  let i = 2;
  for (let n = 0; n < MAX_SCAN && i + 4 <= jpeg.length; n++) {
    if (jpeg[i] !== 0xff) return null;
    const marker = jpeg[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const len = (jpeg[i + 2]! << 8) | jpeg[i + 3]!; // includes the two length bytes
    if (len < 2 || i + 2 + len > jpeg.length) return null;
    if (marker === COM) return parseFrameMeta(jpeg.subarray(i + 4, i + 2 + len));
    // Only APPn (0xE0-0xEF) may sit between SOI and the metadata; anything else means there is none.
    if (marker < 0xe0 || marker > 0xef) return null;
    i += 2 + len;
  }
  return null;
}

const decoder = new TextDecoder();

/** The frame metadata JSON (of a COM segment, or of an H.264 SEI); null when it is not a JSON object. */
export function parseFrameMeta(payload: Uint8Array): FrameMeta | null {
  let data: unknown;
  try {
    data = JSON.parse(decoder.decode(payload));
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const src = data as Record<string, unknown>;
  const meta: FrameMeta = {};
  for (const key of ["seq", "t", "w", "h", "q", "s"] as const) {
    const v = src[key];
    if (typeof v === "number" && Number.isFinite(v)) meta[key] = v;
  }
  if (meta.seq !== undefined && !(Number.isInteger(meta.seq) && meta.seq >= 0)) delete meta.seq;
  const applied = appliedInput(src.in);
  if (applied) meta.in = applied;
  return meta;
}

/** A frame's `in`: an object of seqs (non-negative integers) by session id; null for anything else. */
function appliedInput(v: unknown): AppliedInput | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  // fromEntries defines own properties: a key "__proto__" is data, never the prototype.
  return Object.fromEntries(Object.entries(v).filter(([, seq]) => Number.isSafeInteger(seq) && (seq as number) >= 0));
}

const MESSAGE_TYPES = new Set<unknown>([
  "hello",
  "config",
  "pong",
  "stats",
  "error",
  "presence",
  "control",
  "clipboard",
] satisfies ViewerMessage["type"][]);

/** A text message from the server, or null for one that is not JSON or of a type this client does not know. */
export function parseViewerMessage(text: string): ViewerMessage | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  return MESSAGE_TYPES.has((data as { type?: unknown }).type) ? (data as ViewerMessage) : null;
}
