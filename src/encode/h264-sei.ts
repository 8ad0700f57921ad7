// The frame metadata of an H.264 access unit: the twin of the JPEG COM segment. It rides in an SEI NAL unit
// (type 6) holding one user_data_unregistered message (payload type 5): the 16-byte VKCAST_SEI_UUID, then
// the same JSON as the COM segment ({"seq","t","w","h","q",...}) in UTF-8. Decoders skip it. It sits
// before the first slice of the access unit, after SPS and PPS. Browser-safe: the client parses it too.
import {
  addEmulationPrevention,
  NAL_IDR,
  type NalUnit,
  NAL_SEI,
  NAL_SLICE,
  nalUnits,
  removeEmulationPrevention,
} from "./h264-annexb.ts";

/** 7d1c5a3e-9b2f-4e61-a8d4-c3f05e6b9a17: names vkcast's frame metadata among user_data_unregistered SEIs. */
export const VKCAST_SEI_UUID = Uint8Array.from([
  0x7d, 0x1c, 0x5a, 0x3e, 0x9b, 0x2f, 0x4e, 0x61, 0xa8, 0xd4, 0xc3, 0xf0, 0x5e, 0x6b, 0x9a, 0x17,
]);

const USER_DATA_UNREGISTERED = 5;
const START_CODE = [0, 0, 0, 1];
const RBSP_STOP_BIT = 0x80;

/** SEI payloadType/payloadSize coding: a run of 0xFF bytes, then the rest. */
function sizeBytes(value: number): number[] {
  const out: number[] = [];
  for (; value >= 255; value -= 255) out.push(255);
  out.push(value);
  return out;
}

/** A complete SEI NAL unit, start code included, carrying `json` (UTF-8 bytes) after the UUID. */
export function buildSeiNal(json: Uint8Array): Uint8Array {
  const payloadSize = VKCAST_SEI_UUID.length + json.length;
  const header = [...sizeBytes(USER_DATA_UNREGISTERED), ...sizeBytes(payloadSize)];
  const rbsp = new Uint8Array(header.length + payloadSize + 1);
  rbsp.set(header, 0);
  rbsp.set(VKCAST_SEI_UUID, header.length);
  rbsp.set(json, header.length + VKCAST_SEI_UUID.length);
  rbsp[rbsp.length - 1] = RBSP_STOP_BIT;
  const body = addEmulationPrevention(rbsp);
  const nal = new Uint8Array(START_CODE.length + 1 + body.length);
  nal.set(START_CODE, 0);
  nal[START_CODE.length] = NAL_SEI; // nal_ref_idc 0: nothing refers to it
  nal.set(body, START_CODE.length + 1);
  return nal;
}

/** A copy of `accessUnit` with `sei` (a whole NAL unit) placed right before its first slice. */
export function insertSei(accessUnit: Uint8Array, sei: Uint8Array): Uint8Array {
  let slice: NalUnit | undefined;
  for (const nal of nalUnits(accessUnit)) {
    if (nal.type === NAL_SLICE || nal.type === NAL_IDR) {
      slice = nal;
      break;
    }
  }
  if (!slice) throw new Error("access unit has no slice");
  const out = new Uint8Array(accessUnit.length + sei.length);
  out.set(accessUnit.subarray(0, slice.start), 0);
  out.set(sei, slice.start);
  out.set(accessUnit.subarray(slice.start), slice.start + sei.length);
  return out;
}

/**
 * The JSON bytes of the vkcast metadata SEI of an access unit (the part after the UUID), or null when
 * it has none. Looks only at the NAL units before the first slice. Never throws.
 */
export function readSeiPayload(accessUnit: Uint8Array): Uint8Array | null {
  for (const nal of nalUnits(accessUnit)) {
    if (nal.type === NAL_SLICE || nal.type === NAL_IDR) return null;
    if (nal.type !== NAL_SEI) continue;
    const found = findUserData(removeEmulationPrevention(accessUnit.subarray(nal.payload + 1, nal.end)));
    if (found) return found;
  }
  return null;
}

/** Walks the SEI messages of one SEI RBSP; returns the user data after our UUID, if present. */
function findUserData(rbsp: Uint8Array): Uint8Array | null {
  let i = 0;
  // Each message: type and size (0xFF runs), then the payload; the RBSP ends with the stop bit.
  while (i < rbsp.length && rbsp[i] !== RBSP_STOP_BIT) {
    let type = 0;
    while (rbsp[i] === 255) type += rbsp[i++]!;
    type += rbsp[i++] ?? 0;
    let size = 0;
    while (rbsp[i] === 255) size += rbsp[i++]!;
    size += rbsp[i++] ?? 0;
    if (i + size > rbsp.length) return null;
    if (type === USER_DATA_UNREGISTERED && size >= VKCAST_SEI_UUID.length && hasUuid(rbsp, i)) {
      return rbsp.slice(i + VKCAST_SEI_UUID.length, i + size);
    }
    i += size;
  }
  return null;
}

function hasUuid(bytes: Uint8Array, at: number): boolean {
  for (let k = 0; k < VKCAST_SEI_UUID.length; k++) if (bytes[at + k] !== VKCAST_SEI_UUID[k]) return false;
  return true;
}
