// H.264 Annex B byte streams: finding NAL units between start codes, and the emulation-prevention bytes
// inside them. Browser-safe (no Bun APIs): the client reads the same streams.

export const NAL_SLICE = 1;
export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;

/** One NAL unit in a byte stream: `start` is its start code, `[payload, end)` its header and body. */
export interface NalUnit {
  type: number;
  start: number;
  payload: number;
  end: number;
}

/** Index of the next 00 00 01 at or after `from`, or -1. */
function nextStartCode(stream: Uint8Array, from: number): number {
  for (let i = from; i + 2 < stream.length; i++) {
    if (stream[i + 2]! > 1) i += 2; // no start code can end at i + 2 nor cover it
    else if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) return i;
  }
  return -1;
}

/**
 * The NAL units of an Annex B byte stream (3- or 4-byte start codes), in order. Lazy: a reader that stops
 * at the first slice never scans the slice data.
 */
export function* nalUnits(stream: Uint8Array): Generator<NalUnit> {
  let code = nextStartCode(stream, 0);
  while (code >= 0) {
    const payload = code + 3;
    const next = nextStartCode(stream, payload);
    // A zero before the next 00 00 01 belongs to its 4-byte start code (trailing zeros are not allowed).
    const end = next < 0 ? stream.length : next > payload && stream[next - 1] === 0 ? next - 1 : next;
    const start = code > 0 && stream[code - 1] === 0 ? code - 1 : code;
    yield { type: (stream[payload] ?? 0) & 0x1f, start, payload, end };
    code = next;
  }
}

/** True when the access unit holds an IDR slice (a decoder may start there). */
export function isIdrAccessUnit(stream: Uint8Array): boolean {
  for (const nal of nalUnits(stream)) if (nal.type === NAL_IDR) return true;
  return false;
}

/** True when the access unit's picture is one nothing refers to (nal_ref_idc 0): a decoder may skip it. */
export function isDisposable(stream: Uint8Array): boolean {
  for (const nal of nalUnits(stream)) {
    if (nal.type === NAL_SLICE || nal.type === NAL_IDR) return (stream[nal.payload]! & 0x60) === 0;
  }
  return false;
}

/** Inserts an emulation-prevention byte (3) after every 00 00 that precedes a byte <= 3. */
export function addEmulationPrevention(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

/** Removes the emulation-prevention bytes of a NAL unit's body (the 3 of every 00 00 03). */
export function removeEmulationPrevention(ebsp: Uint8Array): Uint8Array {
  const out = new Uint8Array(ebsp.length);
  let n = 0;
  let zeros = 0;
  for (const byte of ebsp) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = byte;
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}
