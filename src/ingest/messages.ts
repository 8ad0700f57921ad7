// The ingest protocol's messages (docs/ingest-protocol.md): strict validation of what a producer sends,
// each error naming the message and field, and the shapes of what vkcast sends back.
import type { PackedPixelFormat } from "../frame.ts";
import { LIMITS } from "../limits.ts";
import { type InputEvent, MAX_PASTE_BYTES } from "../protocol/input-schema.ts";
import { STREAM_NAME } from "../server/stream.ts";

export const INGEST_VERSION = 1;
/** The version of the optional Vulkan memory extension (`vulkan_ring`), announced in `welcome`. */
export const VULKAN_EXTENSION_VERSION = 1;
export const DEFAULT_STREAM = "main";
export const MIN_SLOTS = 3;
export const MAX_SLOTS = 16;

export type IngestFormat = PackedPixelFormat;

/** A broken rule of the protocol: the connection gets `error` with this message and is closed. */
export class ProtocolError extends Error {}

export interface RingShape {
  width: number;
  height: number;
  format: IngestFormat;
  slots: number;
}
export interface Hello extends RingShape {
  type: "hello";
  version: number;
  stream: string;
}
export interface RingRequest extends RingShape {
  type: "ring";
}
export interface Mapped {
  type: "mapped";
  ring: number;
}
export interface FrameSubmit {
  type: "frame";
  ring: number;
  slot: number;
  width: number;
  height: number;
  stride: number;
  format: IngestFormat;
  /** Capture time, ms since the epoch; absent: the time vkcast read the message. */
  t?: number;
  /** Frames the producer dropped on its side since it connected (a running total), if it says. */
  dropped?: number;
}
/** Text the engine put on its clipboard, for the stream's viewers that control. */
export interface ClipboardText {
  type: "clipboard";
  text: string;
}
/** Memory a Vulkan producer shares (docs/ingest-protocol.md, "Vulkan memory"): vkcast imports it as a ring. */
export interface VulkanRingRequest {
  type: "vulkan_ring";
  /** The producer's pid, which must be the connected process's. */
  pid: number;
  /** The fd number, in the producer's process, that vkGetMemoryFdKHR (OPAQUE_FD) gave. */
  fd: number;
  /** The allocation's size and memory type index, as the producer allocated it. */
  size: number;
  memoryType: number;
  /** Slot i starts at offset + i x slotBytes. */
  offset: number;
  slotBytes: number;
  slots: number;
  /** VkPhysicalDeviceIDProperties.deviceUUID as 32 lowercase hex digits. */
  deviceUUID: string;
}
export type ProducerMessage = Hello | RingRequest | Mapped | FrameSubmit | ClipboardText | VulkanRingRequest;

export interface RingInfo extends Omit<RingShape, "slots"> {
  id: number;
  path: string;
  slots: number;
  slotBytes: number;
  stride: number;
}
export type ServerMessage =
  | { type: "welcome"; version: number; vulkan: number; stream: string; url: string; watching: boolean; ring: RingInfo }
  | { type: "ring"; ring: RingInfo }
  | { type: "vulkan_ring"; ring: { id: number; slots: number; slotBytes: number } }
  | { type: "vulkan_refused"; reason: string }
  | { type: "release"; ring: number; slot: number }
  | { type: "watching"; value: boolean }
  | { type: "input"; event: InputEvent }
  | { type: "error"; reason: string };

type Fields = Record<string, unknown>;

function int(msg: Fields, type: string, field: string, min: number, max: number, fallback?: number): number {
  const v = msg[field] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError(`${type}.${field} must be an integer from ${min} to ${max} (got ${JSON.stringify(v) ?? "nothing"})`);
  }
  return v;
}

function format(msg: Fields, type: string): IngestFormat {
  const v = msg.format;
  if (v !== "rgba" && v !== "bgra" && v !== "rgb") {
    throw new ProtocolError(`${type}.format must be rgba, bgra or rgb (got ${JSON.stringify(v) ?? "nothing"})`);
  }
  return v;
}

function ringShape(msg: Fields, type: string): RingShape {
  return {
    width: int(msg, type, "width", 1, LIMITS.width[1]),
    height: int(msg, type, "height", 1, LIMITS.height[1]),
    format: format(msg, type),
    slots: int(msg, type, "slots", MIN_SLOTS, MAX_SLOTS, MIN_SLOTS),
  };
}

/** Parses and validates one line from a producer; throws a ProtocolError naming what is wrong. */
export function parseProducerMessage(line: string): ProducerMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    throw new ProtocolError(`not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) throw new ProtocolError("a message must be a JSON object");
  const m = msg as Fields;
  switch (m.type) {
    case "hello": {
      const version = int(m, "hello", "version", 0, Number.MAX_SAFE_INTEGER);
      if (version !== INGEST_VERSION) throw new ProtocolError(`unsupported version ${version} (this vkcast speaks ${INGEST_VERSION})`);
      const stream = m.stream ?? DEFAULT_STREAM;
      if (typeof stream !== "string" || !STREAM_NAME.test(stream)) {
        throw new ProtocolError(`hello.stream must match ${STREAM_NAME.source} (got ${JSON.stringify(stream).slice(0, 80)})`);
      }
      return { type: "hello", version, stream, ...ringShape(m, "hello") };
    }
    case "ring":
      return { type: "ring", ...ringShape(m, "ring") };
    case "mapped":
      return { type: "mapped", ring: int(m, "mapped", "ring", 1, Number.MAX_SAFE_INTEGER) };
    case "frame": {
      const t = m.t;
      if (t !== undefined && (typeof t !== "number" || !Number.isFinite(t) || t < 0)) {
        throw new ProtocolError(`frame.t must be a time in ms since the epoch (got ${JSON.stringify(t)})`);
      }
      return {
        type: "frame",
        ring: int(m, "frame", "ring", 1, Number.MAX_SAFE_INTEGER),
        slot: int(m, "frame", "slot", 0, MAX_SLOTS - 1),
        width: int(m, "frame", "width", 1, LIMITS.width[1]),
        height: int(m, "frame", "height", 1, LIMITS.height[1]),
        stride: int(m, "frame", "stride", 1, Number.MAX_SAFE_INTEGER),
        format: format(m, "frame"),
        ...(t === undefined ? {} : { t }),
        ...(m.dropped === undefined ? {} : { dropped: int(m, "frame", "dropped", 0, Number.MAX_SAFE_INTEGER) }),
      };
    }
    case "vulkan_ring":
      return parseVulkanRing(m);
    case "clipboard": {
      const text = m.text;
      if (typeof text !== "string" || text.length > MAX_PASTE_BYTES) {
        throw new ProtocolError(`clipboard.text must be a string of at most ${MAX_PASTE_BYTES} characters`);
      }
      return { type: "clipboard", text };
    }
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(m.type) ?? "(none)"}`.slice(0, 120));
  }
}

/** Bounds of shared memory: a slot holds at most 64 MiB (the largest RGBA frame is 32 MiB, rows may be padded). */
const MAX_SLOT_BYTES = 2 ** 26;
const MAX_SHARED_BYTES = 2 ** 40;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function parseVulkanRing(m: Fields): VulkanRingRequest {
  const uuid = m.deviceUUID;
  if (typeof uuid !== "string" || !UUID.test(uuid)) {
    const example = "6d657361-3232-2e33-2e36-000000000000";
    throw new ProtocolError(`vulkan_ring.deviceUUID must be 16 bytes in hex, e.g. ${example} (got ${JSON.stringify(uuid)?.slice(0, 80)})`);
  }
  const req: VulkanRingRequest = {
    type: "vulkan_ring",
    pid: int(m, "vulkan_ring", "pid", 1, 2 ** 31 - 1),
    fd: int(m, "vulkan_ring", "fd", 0, 2 ** 31 - 1),
    size: int(m, "vulkan_ring", "size", 1, MAX_SHARED_BYTES),
    memoryType: int(m, "vulkan_ring", "memoryType", 0, 31),
    offset: int(m, "vulkan_ring", "offset", 0, MAX_SHARED_BYTES),
    slotBytes: int(m, "vulkan_ring", "slotBytes", 1, MAX_SLOT_BYTES),
    slots: int(m, "vulkan_ring", "slots", MIN_SLOTS, MAX_SLOTS),
    deviceUUID: uuid.replaceAll("-", "").toLowerCase(),
  };
  if (req.offset + req.slots * req.slotBytes > req.size) {
    const { slots, slotBytes, offset, size } = req;
    throw new ProtocolError(`vulkan_ring: ${slots} slots of ${slotBytes} bytes from offset ${offset} do not fit in size ${size}`);
  }
  return req;
}
