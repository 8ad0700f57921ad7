// The wire protocol as the browser sees it (see DESIGN.md "Protocol"):
// binary messages are whole JPEGs, optionally with a JSON COM segment right after SOI;
// text messages from a v2 server are JSON objects with a `type`.

/** What a frame's COM segment may carry. Every field is optional: old servers send none. */
export interface FrameMeta {
  /** Sequence number; when present, the client acks the frame once it is painted. */
  seq?: number;
  /** Capture time, ms since the epoch on the server's clock. */
  t?: number;
  w?: number;
  h?: number;
  q?: number;
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
    if (marker === COM) return parseMeta(jpeg.subarray(i + 4, i + 2 + len));
    // Only APPn (0xE0-0xEF) may sit between SOI and the metadata; anything else means there is none.
    if (marker < 0xe0 || marker > 0xef) return null;
    i += 2 + len;
  }
  return null;
}

const decoder = new TextDecoder();

function parseMeta(payload: Uint8Array): FrameMeta | null {
  let data: unknown;
  try {
    data = JSON.parse(decoder.decode(payload));
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const src = data as Record<string, unknown>;
  const meta: FrameMeta = {};
  for (const key of ["seq", "t", "w", "h", "q"] as const) {
    const v = src[key];
    if (typeof v === "number" && Number.isFinite(v)) meta[key] = v;
  }
  if (meta.seq !== undefined && !(Number.isInteger(meta.seq) && meta.seq >= 0)) delete meta.seq;
  return meta;
}

/** A text message from a v2 server, loosely typed: every field may be missing. */
export type ServerMessage =
  | { type: "hello"; protocol?: number; width?: number; height?: number; fps?: number; quality?: number; role?: string }
  | { type: "config"; width?: number; height?: number; fps?: number; quality?: number; role?: string }
  | { type: "pong"; t?: number; [key: string]: unknown }
  | { type: "stats"; [key: string]: unknown }
  /** The server rejected something this client sent (a bug worth seeing in the console). */
  | { type: "error"; error?: string };

export function parseServerMessage(text: string): ServerMessage | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const type = (data as { type?: unknown }).type;
  if (type === "hello" || type === "config" || type === "pong" || type === "stats" || type === "error")
    return data as ServerMessage;
  return null;
}

/** The server's clock in a pong, ms since the epoch, under whichever name the server uses. */
export function pongServerTime(pong: Record<string, unknown>): number | null {
  for (const key of ["server_time", "serverTime", "server", "now", "time", "ts"]) {
    const v = pong[key];
    if (typeof v === "number" && Number.isFinite(v) && v > 1e12) return v;
  }
  return null;
}

/** A number field of a loosely typed message, or undefined. */
export function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
