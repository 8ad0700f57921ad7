// What a viewer sends: the input event schema (jupyter_rfb / renderview field names) and its validation.
// Browser-safe (no Bun or Node imports): the client imports its types, the server its parser.

export const MODIFIERS = ["Shift", "Control", "Alt", "Meta"] as const;
export type Modifier = (typeof MODIFIERS)[number];

/** Largest coordinate or delta accepted; far outside any frame, small enough to stay exact. */
export const MAX_COORD = 1 << 16;
export const MAX_FRAME_SIDE = { width: 3840, height: 2160 } as const;

/** Longest text message accepted; a valid event is far shorter. */
export const MAX_MESSAGE_BYTES = 4096;
/** Longest `paste` message: pasted text has a limit of its own, larger than any other event's. */
export const MAX_PASTE_BYTES = 64 * 1024;
/** Longest composed text (IME, dead keys) in one `text` event. */
export const MAX_TEXT_CHARS = 1024;
/** A gamepad's buttons and axes as the Gamepad API gives them (standard mapping: 17 buttons, 4 axes). */
export const MAX_GAMEPAD_BUTTONS = 32;
export const MAX_GAMEPAD_AXES = 16;

interface Stamped {
  /** When the event happened on the viewer's clock (ms); renderview sends `timestamp` (s) instead. */
  time_stamp?: number;
  timestamp?: number;
  /**
   * The viewer's number for this input message, counting up on each connection. The server strips it before
   * the engine sees the event, and frames say the highest one applied before their render (FrameMeta.in).
   */
  seq?: number;
}
/** One touch point of jupyter_rfb's `touches` (by touch id). */
export interface Touch {
  x: number;
  y: number;
  pressure?: number;
}
export interface PointerEvent extends Stamped {
  /** renderview also sends double_click and pointer_enter / pointer_leave (the pointer crossed the view's edge). */
  type: "pointer_down" | "pointer_up" | "pointer_move" | "double_click" | "pointer_enter" | "pointer_leave";
  x: number;
  y: number;
  /** The button that changed: 0 none, 1 left, 2 right, 3 middle, 4 back, 5 forward. */
  button: number;
  /** Buttons held after the event. */
  buttons: number[];
  modifiers: Modifier[];
  /** jupyter_rfb: the number of touch points down, and each by id. */
  ntouches?: number;
  touches?: Record<string, Touch>;
}
export interface WheelEvent extends Stamped {
  type: "wheel";
  dx: number;
  dy: number;
  x: number;
  y: number;
  modifiers: Modifier[];
  buttons?: number[];
}
export interface KeyEvent extends Stamped {
  type: "key_down" | "key_up";
  /** The logical key (KeyboardEvent.key): "a", "A", "é", "Enter". */
  key: string;
  /** The physical key (KeyboardEvent.code): "KeyA" whatever the layout; absent from clients that do not know it. */
  code?: string;
  modifiers: Modifier[];
}
export interface ResizeEvent extends Stamped {
  type: "resize";
  /** The view's size in CSS (logical) pixels; the render's is this times `ratio`. */
  width: number;
  height: number;
  ratio: number;
  /** renderview: the size in device pixels. */
  pwidth?: number;
  pheight?: number;
}
export interface FocusEvent extends Stamped {
  type: "focus_in" | "focus_out";
}
/** Composed text (an IME's result, a dead key's accented letter) that no key event carries. */
export interface TextEvent extends Stamped {
  type: "text";
  text: string;
}
/** Text pasted by the viewer, for the engine's clipboard. */
export interface PasteEvent extends Stamped {
  type: "paste";
  text: string;
}
/** A gamepad's whole state (Gamepad API, standard mapping): buttons 0..1, axes -1..1. */
export interface GamepadEvent extends Stamped {
  type: "gamepad";
  index: number;
  buttons: number[];
  axes: number[];
}
export type InputEvent = PointerEvent | WheelEvent | KeyEvent | ResizeEvent | FocusEvent | TextEvent | PasteEvent | GamepadEvent;

/** Messages about the session, never passed to the engine. */
export type ControlMessage =
  | { type: "ack"; seq: number }
  | { type: "ping"; t: number }
  /** Ask for control, give it up (or withdraw a request), or (the controller) hand it to viewer `to`. */
  | { type: "control"; action: "request" | "release" }
  | { type: "control"; action: "grant"; to: number }
  /** The page was hidden or shown again: a hidden page is sent nothing. */
  | { type: "visibility"; visible: boolean };

export type ParsedMessage =
  | { ok: true; kind: "input"; event: InputEvent; ignored: number }
  | { ok: true; kind: "control"; message: ControlMessage; ignored: number }
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
const text =
  (min: number, max: number): Field =>
  (v) =>
    typeof v === "string" && v.length >= min && v.length <= max ? null : `a string of ${min}-${max} characters`;
const oneOf =
  (...values: unknown[]): Field =>
  (v) =>
    values.includes(v) ? null : `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`;
const numbers =
  (maxLength: number, min: number, max: number): Field =>
  (v) =>
    Array.isArray(v) && v.length <= maxLength && v.every((n) => typeof n === "number" && n >= min && n <= max)
      ? null
      : `a list of at most ${maxLength} numbers in [${min}, ${max}]`;
const modifiers: Field = (v) =>
  Array.isArray(v) && v.length <= MODIFIERS.length && v.every((m) => MODIFIERS.includes(m))
    ? null
    : `a list of ${MODIFIERS.join("/")}`;
const buttonList: Field = (v) =>
  Array.isArray(v) && v.length <= 5 && v.every((b) => Number.isInteger(b) && b >= 1 && b <= 5)
    ? null
    : "a list of button numbers 1-5";
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const MAX_TOUCHES = 32;
const coord = finite(-MAX_COORD, MAX_COORD);
const touches: Field = (v) =>
  isPlainObject(v) &&
  Object.keys(v).length <= MAX_TOUCHES &&
  Object.values(v).every(
    (t) => isPlainObject(t) && !coord(t.x) && !coord(t.y) && (t.pressure === undefined || !finite(0, 1)(t.pressure)),
  )
    ? null
    : `an object of at most ${MAX_TOUCHES} touches {x, y, pressure}`;

const timeStamp = finite(0, Number.MAX_SAFE_INTEGER);
const pointerFields = { x: coord, y: coord, button: integer(0, 5), buttons: buttonList, modifiers };
const keyFields = { key: text(1, 32), modifiers };

interface Shape {
  required: Record<string, Field>;
  optional?: Record<string, Field>;
  /** Never reaches the engine. */
  control?: true;
}

/** Each message type's fields; `time_stamp` and `timestamp` are optional everywhere, `seq` on input events. */
const SCHEMA: Record<string, Shape> = {
  pointer_down: { required: pointerFields, optional: { ntouches: integer(0, MAX_TOUCHES), touches } },
  pointer_up: { required: pointerFields, optional: { ntouches: integer(0, MAX_TOUCHES), touches } },
  pointer_move: { required: pointerFields, optional: { ntouches: integer(0, MAX_TOUCHES), touches } },
  double_click: { required: pointerFields },
  pointer_enter: { required: pointerFields, optional: { ntouches: integer(0, MAX_TOUCHES), touches } },
  pointer_leave: { required: pointerFields, optional: { ntouches: integer(0, MAX_TOUCHES), touches } },
  wheel: { required: { dx: coord, dy: coord, x: coord, y: coord, modifiers }, optional: { buttons: buttonList } },
  key_down: { required: keyFields, optional: { code: text(1, 32) } },
  key_up: { required: keyFields, optional: { code: text(1, 32) } },
  resize: {
    // renderview sends the logical size as a fraction (device pixels / ratio).
    required: { width: finite(1, MAX_COORD), height: finite(1, MAX_COORD), ratio: finite(0.1, 16) },
    optional: { pwidth: integer(1, MAX_COORD), pheight: integer(1, MAX_COORD) },
  },
  focus_in: { required: {} },
  focus_out: { required: {} },
  text: { required: { text: text(1, MAX_TEXT_CHARS) } },
  paste: { required: { text: text(0, MAX_PASTE_BYTES) } },
  gamepad: {
    required: { index: integer(0, 3), buttons: numbers(MAX_GAMEPAD_BUTTONS, 0, 1), axes: numbers(MAX_GAMEPAD_AXES, -1, 1) },
  },
  ack: { required: { seq: integer(0, Number.MAX_SAFE_INTEGER) }, control: true },
  ping: { required: { t: finite(-Number.MAX_VALUE, Number.MAX_VALUE) }, control: true },
  control: {
    required: { action: oneOf("request", "release", "grant") },
    optional: { to: integer(1, Number.MAX_SAFE_INTEGER) },
    control: true,
  },
  visibility: { required: { visible: oneOf(true, false) }, control: true },
};
const STAMPS: Record<string, Field> = { time_stamp: timeStamp, timestamp: timeStamp };
/** Optional on every input event (not on session messages: an ack's seq is the frame's). */
const INPUT_STAMPS: Record<string, Field> = { ...STAMPS, seq: integer(0, Number.MAX_SAFE_INTEGER) };
/** Field names never taken, even as extras: they would reach Object's prototype in careless code. */
const FORBIDDEN_FIELDS = new Set(["__proto__", "constructor", "prototype"]);

/** The check of an optional field, looked up among own names only ("toString" is no field). */
function fieldCheck(fields: Record<string, Field> | undefined, name: string): Field | undefined {
  return fields && Object.hasOwn(fields, name) ? fields[name] : undefined;
}

/**
 * Parses and validates one text message from a viewer. Never throws. Known fields are checked; unknown
 * extra fields are left out of the result and counted in `ignored` (jupyter_rfb clients send a few).
 */
export function parseMessage(raw: string): ParsedMessage {
  if (raw.length > MAX_PASTE_BYTES + MAX_MESSAGE_BYTES) return { ok: false, error: `message longer than ${MAX_PASTE_BYTES} bytes` };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, error: "not JSON" };
  }
  if (!isPlainObject(data)) return { ok: false, error: "not a JSON object" };
  const type = data.type;
  if (typeof type !== "string" || !Object.hasOwn(SCHEMA, type)) return { ok: false, error: "unknown or missing 'type'" };
  const limit = type === "paste" ? MAX_PASTE_BYTES + MAX_MESSAGE_BYTES : MAX_MESSAGE_BYTES;
  if (raw.length > limit) return { ok: false, error: `message longer than ${limit} bytes` };
  const shape = SCHEMA[type]!;
  const out: Record<string, unknown> = { type };
  for (const [name, check] of Object.entries(shape.required)) {
    const problem = check(data[name]);
    if (problem) return { ok: false, error: `${type}.${name} must be ${problem}` };
    out[name] = data[name];
  }
  let ignored = 0;
  for (const name of Object.keys(data)) {
    if (name === "type" || Object.hasOwn(shape.required, name)) continue;
    if (FORBIDDEN_FIELDS.has(name)) return { ok: false, error: `${type} has a field named '${name}'` };
    const check = fieldCheck(shape.optional, name) ?? fieldCheck(shape.control ? STAMPS : INPUT_STAMPS, name);
    if (!check) {
      ignored++;
      continue;
    }
    const problem = check(data[name]);
    if (problem) return { ok: false, error: `${type}.${name} must be ${problem}` };
    out[name] = data[name];
  }
  if (type === "control" && (out.action === "grant") !== (out.to !== undefined)) {
    return { ok: false, error: "control.to must be given with action grant, and only then" };
  }
  if (shape.control) return { ok: true, kind: "control", message: out as unknown as ControlMessage, ignored };
  return { ok: true, kind: "input", event: out as unknown as InputEvent, ignored };
}
