// The input a viewer sends: the event schema (jupyter_rfb / renderview field names) and its validation.
// Browser-safe (no Bun or Node imports): the client imports its types, the server its parser.

export const MODIFIERS = ["Shift", "Control", "Alt", "Meta"] as const;
export type Modifier = (typeof MODIFIERS)[number];

/** Largest coordinate or delta accepted; far outside any frame, small enough to stay exact. */
export const MAX_COORD = 1 << 16;
export const MAX_FRAME_SIDE = { width: 3840, height: 2160 } as const;

export interface PointerEvent {
  type: "pointer_down" | "pointer_up" | "pointer_move";
  x: number;
  y: number;
  /** The button that changed: 0 none, 1 left, 2 right, 3 middle, 4 back, 5 forward. */
  button: number;
  /** Buttons held after the event. */
  buttons: number[];
  modifiers: Modifier[];
  time_stamp?: number;
}
export interface WheelEvent {
  type: "wheel";
  dx: number;
  dy: number;
  x: number;
  y: number;
  modifiers: Modifier[];
  time_stamp?: number;
}
export interface KeyEvent {
  type: "key_down" | "key_up";
  key: string;
  modifiers: Modifier[];
  time_stamp?: number;
}
export interface ResizeEvent {
  type: "resize";
  width: number;
  height: number;
  ratio: number;
  time_stamp?: number;
}
export interface FocusEvent {
  type: "focus_in" | "focus_out";
  time_stamp?: number;
}
export type InputEvent = PointerEvent | WheelEvent | KeyEvent | ResizeEvent | FocusEvent;

/** Control messages are part of the protocol but never reach the engine. */
export type ControlMessage = { type: "ack"; seq: number } | { type: "ping"; t: number };

export type ParsedMessage =
  | { ok: true; kind: "input"; event: InputEvent }
  | { ok: true; kind: "control"; message: ControlMessage }
  | { ok: false; error: string };

type Field = (v: unknown) => string | null; // returns an error, or null when the value is fine

const finite =
  (min: number, max: number): Field =>
  (v) =>
    typeof v === "number" && Number.isFinite(v) && v >= min && v <= max ? null : `a number in [${min}, ${max}]`;
const integer =
  (min: number, max: number): Field =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? null : `an integer in [${min}, ${max}]`;
const modifiers: Field = (v) =>
  Array.isArray(v) && v.length <= MODIFIERS.length && v.every((m) => MODIFIERS.includes(m))
    ? null
    : `a list of ${MODIFIERS.join("/")}`;
const buttonList: Field = (v) =>
  Array.isArray(v) && v.length <= 5 && v.every((b) => Number.isInteger(b) && b >= 1 && b <= 5)
    ? null
    : "a list of button numbers 1-5";
const keyName: Field = (v) => (typeof v === "string" && v.length >= 1 && v.length <= 32 ? null : "a string of 1-32 characters");

const coord = finite(-MAX_COORD, MAX_COORD);
const timeStamp = finite(0, Number.MAX_SAFE_INTEGER);
const pointerFields = { x: coord, y: coord, button: integer(0, 5), buttons: buttonList, modifiers };

/** Required fields per message type; `time_stamp` is optional everywhere. */
const SCHEMA: Record<string, Record<string, Field>> = {
  pointer_down: pointerFields,
  pointer_up: pointerFields,
  pointer_move: pointerFields,
  wheel: { dx: coord, dy: coord, x: coord, y: coord, modifiers },
  key_down: { key: keyName, modifiers },
  key_up: { key: keyName, modifiers },
  resize: {
    width: integer(1, MAX_COORD),
    height: integer(1, MAX_COORD),
    ratio: finite(0.1, 16),
  },
  focus_in: {},
  focus_out: {},
  ack: { seq: integer(0, Number.MAX_SAFE_INTEGER) },
  ping: { t: finite(-Number.MAX_VALUE, Number.MAX_VALUE) },
};
const CONTROL_TYPES = new Set(["ack", "ping"]);

/** Longest text message accepted; a valid event is far shorter. */
export const MAX_MESSAGE_BYTES = 4096;

/** Parses and validates one text message from a viewer. Never throws. */
export function parseMessage(text: string): ParsedMessage {
  if (text.length > MAX_MESSAGE_BYTES) return { ok: false, error: `message longer than ${MAX_MESSAGE_BYTES} bytes` };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, error: "not JSON" };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return { ok: false, error: "not a JSON object" };
  const msg = data as Record<string, unknown>;
  const type = msg.type;
  if (typeof type !== "string" || !Object.hasOwn(SCHEMA, type)) return { ok: false, error: "unknown or missing 'type'" };
  const fields = SCHEMA[type]!;
  for (const [name, check] of Object.entries(fields)) {
    const problem = check(msg[name]);
    if (problem) return { ok: false, error: `${type}.${name} must be ${problem}` };
  }
  for (const name of Object.keys(msg)) {
    if (name === "type") continue;
    if (name === "time_stamp") {
      if (timeStamp(msg[name])) return { ok: false, error: `${type}.time_stamp must be a non-negative number` };
      continue;
    }
    if (!Object.hasOwn(fields, name)) return { ok: false, error: `${type} has unknown field '${name}'` };
  }
  if (CONTROL_TYPES.has(type)) return { ok: true, kind: "control", message: msg as unknown as ControlMessage };
  return { ok: true, kind: "input", event: msg as unknown as InputEvent };
}
