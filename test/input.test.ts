// The input path's pure logic, case by case: parsing and validating viewers' messages, the bounded
// queue, and the input state a scene reads. Each row is one message and what must come of it.
import { describe, expect, test } from "bun:test";
import { InputState } from "../src/input-state.ts";
import {
  type InputEvent,
  MAX_COORD,
  MAX_FRAME_SIDE,
  MAX_MESSAGE_BYTES,
  MAX_PASTE_BYTES,
  MAX_TEXT_CHARS,
  parseMessage,
} from "../src/protocol/input-schema.ts";
import { HeldInput } from "../src/server/held-input.ts";
import { InputQueue } from "../src/server/input-queue.ts";
import { fitRenderSize, fitResize, MIN_RESIZE_INTERVAL_MS, resizeWait } from "../src/server/resize-gate.ts";

const pointer = { x: 10, y: 20, button: 1, buttons: [1], modifiers: ["Shift"] };
const json = (o: object) => JSON.stringify(o);

describe("parseMessage: messages that are accepted", () => {
  const good: [string, object, "input" | "control"][] = [
    ["pointer_down", { type: "pointer_down", ...pointer }, "input"],
    ["pointer_up, no buttons held", { type: "pointer_up", ...pointer, buttons: [] }, "input"],
    ["pointer_move with a time stamp", { type: "pointer_move", ...pointer, time_stamp: 1234.5 }, "input"],
    ["pointer at the coordinate limits", { type: "pointer_move", ...pointer, x: -MAX_COORD, y: MAX_COORD }, "input"],
    ["every modifier and button", { type: "pointer_down", x: 0, y: 0, button: 5, buttons: [1, 2, 3, 4, 5], modifiers: ["Shift", "Control", "Alt", "Meta"] }, "input"],
    ["wheel, fractional deltas", { type: "wheel", dx: -0.5, dy: 120, x: 3, y: 4, modifiers: [] }, "input"],
    ["key_down", { type: "key_down", key: "ArrowLeft", modifiers: ["Control"] }, "input"],
    ["key_up, one character", { type: "key_up", key: "a", modifiers: [] }, "input"],
    ["key of 32 characters", { type: "key_down", key: "k".repeat(32), modifiers: [] }, "input"],
    // Key names are free text: names of Object's own members are keys like any other.
    ["key named __proto__", { type: "key_down", key: "__proto__", modifiers: [] }, "input"],
    ["resize", { type: "resize", width: 800, height: 600, ratio: 2 }, "input"],
    ["focus_in", { type: "focus_in" }, "input"],
    ["focus_out with a time stamp", { type: "focus_out", time_stamp: 0 }, "input"],
    ["pointer_move with its input seq", { type: "pointer_move", ...pointer, seq: 12 }, "input"],
    ["key_down with seq 0 and the largest safe seq", { type: "key_down", key: "a", modifiers: [], seq: Number.MAX_SAFE_INTEGER }, "input"],
    ["key_down with its physical code", { type: "key_down", key: "q", code: "KeyA", modifiers: [] }, "input"],
    ["composed text", { type: "text", text: "é" }, "input"],
    ["composed text at its limit", { type: "text", text: "字".repeat(MAX_TEXT_CHARS) }, "input"],
    ["an empty paste", { type: "paste", text: "" }, "input"],
    ["a paste longer than any event may be", { type: "paste", text: "p".repeat(MAX_PASTE_BYTES) }, "input"],
    ["a gamepad", { type: "gamepad", index: 0, buttons: [0, 1, 0.5], axes: [-1, 0.25, 0, 1] }, "input"],
    ["jupyter_rfb pointer fields", { type: "pointer_down", ...pointer, ntouches: 1, touches: { "3": { x: 1, y: 2, pressure: 0.5 } }, timestamp: 12.5 }, "input"],
    ["renderview's double_click", { type: "double_click", ...pointer }, "input"],
    ["renderview's pointer_leave", { type: "pointer_leave", ...pointer, ntouches: 0, touches: {} }, "input"],
    ["jupyter_rfb wheel buttons", { type: "wheel", dx: 0, dy: 1, x: 3, y: 4, modifiers: [], buttons: [1] }, "input"],
    ["renderview resize: a fractional logical size and the device size", { type: "resize", width: 533.3333, height: 300, ratio: 1.5, pwidth: 800, pheight: 450 }, "input"],
    ["ack", { type: "ack", seq: 17 }, "control"],
    ["ping", { type: "ping", t: -3.25 }, "control"],
    ["control request", { type: "control", action: "request" }, "control"],
    ["control release", { type: "control", action: "release" }, "control"],
    ["control grant", { type: "control", action: "grant", to: 3 }, "control"],
    ["visibility", { type: "visibility", visible: false }, "control"],
  ];
  for (const [name, message, kind] of good) {
    test(name, () => {
      const parsed = parseMessage(json(message));
      const want = kind === "input" ? { ok: true, kind, event: message as InputEvent } : { ok: true, kind, message };
      expect(parsed).toEqual({ ...want, ignored: 0 } as never);
    });
  }

  test("unknown extra fields are left out and counted; the known ones are still checked", () => {
    const renderview = { type: "pointer_move", ...pointer, event_type: "pointer_move", pressure: 1, tiltX: 0 };
    expect(parseMessage(json(renderview))).toEqual({ ok: true, kind: "input", event: { type: "pointer_move", ...pointer }, ignored: 3 } as never);
    expect(parseMessage(json({ ...renderview, ntouches: -1 }))).toEqual({ ok: false, error: "pointer_move.ntouches must be an integer in [0, 32]" });
  });
});

describe("parseMessage: messages that are refused, with the reason naming the field", () => {
  const bad: [string, string, string | RegExp][] = [
    ["not JSON", "not json", "not JSON"],
    ["truncated JSON", "{", "not JSON"],
    ["a JSON array", "[]", "not a JSON object"],
    ["a JSON number", "42", "not a JSON object"],
    ["JSON null", "null", "not a JSON object"],
    ["no type", json({ x: 1 }), "unknown or missing 'type'"],
    ["unknown type", json({ type: "teleport" }), "unknown or missing 'type'"],
    ["type not a string", json({ type: 7 }), "unknown or missing 'type'"],
    // Names every object inherits: a lookup that follows the prototype chain would accept them.
    ["type __proto__", '{"type":"__proto__"}', "unknown or missing 'type'"],
    ["type constructor", json({ type: "constructor" }), "unknown or missing 'type'"],
    ["type toString", json({ type: "toString" }), "unknown or missing 'type'"],
    ["type hasOwnProperty", json({ type: "hasOwnProperty" }), "unknown or missing 'type'"],
    ["x as a string", json({ type: "pointer_move", ...pointer, x: "1" }), "pointer_move.x must be a number"],
    ["x missing", json({ type: "pointer_move", y: 1, button: 0, buttons: [], modifiers: [] }), "pointer_move.x must be a number"],
    ["x beyond the limit", json({ type: "pointer_move", ...pointer, x: MAX_COORD + 1 }), "pointer_move.x"],
    ["y infinite (1e999 parses to Infinity)", '{"type":"pointer_move","x":1,"y":1e999,"button":0,"buttons":[],"modifiers":[]}', "pointer_move.y"],
    ["y NaN (not JSON)", '{"type":"pointer_move","x":1,"y":NaN,"button":0,"buttons":[],"modifiers":[]}', "not JSON"],
    ["button 6", json({ type: "pointer_down", ...pointer, button: 6 }), "pointer_down.button must be an integer in [0, 5]"],
    ["button fractional", json({ type: "pointer_down", ...pointer, button: 1.5 }), "pointer_down.button"],
    ["buttons not a list", json({ type: "pointer_down", ...pointer, buttons: 1 }), "pointer_down.buttons must be a list of button numbers 1-5"],
    ["buttons with 0", json({ type: "pointer_down", ...pointer, buttons: [0] }), "pointer_down.buttons"],
    ["buttons too many", json({ type: "pointer_down", ...pointer, buttons: [1, 1, 1, 1, 1, 1] }), "pointer_down.buttons"],
    ["unknown modifier", json({ type: "pointer_up", ...pointer, modifiers: ["Hyper"] }), "pointer_up.modifiers must be a list of Shift/Control/Alt/Meta"],
    ["modifiers repeated past four", json({ type: "key_down", key: "a", modifiers: ["Alt", "Alt", "Alt", "Alt", "Alt"] }), "key_down.modifiers"],
    ["an own __proto__ field", '{"type":"key_down","key":"a","modifiers":[],"__proto__":{"polluted":1}}', "key_down has a field named '__proto__'"],
    ["a constructor field", json({ type: "focus_in", constructor: { prototype: { polluted: 1 } } }), "focus_in has a field named 'constructor'"],
    ["wheel dx overflowing to Infinity", json({ type: "wheel", dx: 1e308 * 10, dy: 0, x: 0, y: 0, modifiers: [] }), "wheel.dx"],
    ["empty key", json({ type: "key_down", key: "", modifiers: [] }), "key_down.key must be a string of 1-32 characters"],
    ["key of 33 characters", json({ type: "key_up", key: "k".repeat(33), modifiers: [] }), "key_up.key"],
    ["key not a string", json({ type: "key_up", key: 65, modifiers: [] }), "key_up.key"],
    ["resize width 0", json({ type: "resize", width: 0, height: 10, ratio: 1 }), "resize.width must be a number in [1, 65536]"],
    ["resize height a string", json({ type: "resize", width: 10, height: "10", ratio: 1 }), "resize.height"],
    ["resize pwidth fractional", json({ type: "resize", width: 10, height: 10, ratio: 1, pwidth: 10.5 }), "resize.pwidth must be an integer"],
    ["resize ratio 0", json({ type: "resize", width: 10, height: 10, ratio: 0 }), "resize.ratio must be a number in [0.1, 16]"],
    ["resize ratio 17", json({ type: "resize", width: 10, height: 10, ratio: 17 }), "resize.ratio"],
    ["negative time stamp", json({ type: "focus_in", time_stamp: -1 }), "focus_in.time_stamp must be a number in [0, "],
    ["time stamp as a string", json({ type: "focus_out", time_stamp: "now" }), "focus_out.time_stamp"],
    ["ack without seq", json({ type: "ack" }), "ack.seq must be an integer"],
    ["input seq negative", json({ type: "key_down", key: "a", modifiers: [], seq: -1 }), "key_down.seq must be an integer in [0, 9007199254740991]"],
    ["input seq fractional", json({ type: "pointer_move", ...pointer, seq: 2.5 }), "pointer_move.seq must be an integer"],
    ["input seq past the safe integers", json({ type: "wheel", dx: 0, dy: 1, x: 0, y: 0, modifiers: [], seq: 2 ** 53 }), "wheel.seq"],
    ["input seq as a string", json({ type: "focus_in", seq: "3" }), "focus_in.seq"],
    ["ack with a negative seq", json({ type: "ack", seq: -1 }), "ack.seq"],
    ["ping without t", json({ type: "ping" }), "ping.t must be a number"],
    ["longer than the limit", json({ type: "key_down", key: "a", modifiers: [], pad: "x".repeat(MAX_MESSAGE_BYTES) }), `longer than ${MAX_MESSAGE_BYTES}`],
    ["a paste over its own limit", json({ type: "paste", text: "p".repeat(MAX_PASTE_BYTES + 1) }), "paste.text must be a string of 0-65536 characters"],
    ["key code too long", json({ type: "key_up", key: "a", code: "c".repeat(33), modifiers: [] }), "key_up.code must be a string of 1-32"],
    ["empty text", json({ type: "text", text: "" }), "text.text must be a string of 1-1024 characters"],
    ["text too long", json({ type: "text", text: "t".repeat(MAX_TEXT_CHARS + 1) }), "text.text"],
    ["gamepad index 4", json({ type: "gamepad", index: 4, buttons: [], axes: [] }), "gamepad.index must be an integer in [0, 3]"],
    ["gamepad axis beyond 1", json({ type: "gamepad", index: 0, buttons: [], axes: [1.5] }), "gamepad.axes must be a list of at most 16 numbers in [-1, 1]"],
    ["gamepad buttons too many", json({ type: "gamepad", index: 0, buttons: new Array(33).fill(0), axes: [] }), "gamepad.buttons"],
    ["touches not an object", json({ type: "pointer_up", ...pointer, touches: [1] }), "pointer_up.touches must be an object"],
    ["a touch without y", json({ type: "pointer_up", ...pointer, touches: { a: { x: 1 } } }), "pointer_up.touches"],
    ["control: an unknown action", json({ type: "control", action: "steal" }), 'control.action must be one of "request", "release", "grant"'],
    ["control grant without to", json({ type: "control", action: "grant" }), "control.to must be given with action grant, and only then"],
    ["control request with to", json({ type: "control", action: "request", to: 2 }), "control.to must be given"],
    ["control grant to 0", json({ type: "control", action: "grant", to: 0 }), "control.to must be an integer"],
    ["visibility as a string", json({ type: "visibility", visible: "no" }), "visibility.visible must be one of true, false"],
  ];
  for (const [name, text, reason] of bad) {
    test(name, () => {
      const parsed = parseMessage(text);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).toMatch(reason);
    });
  }

  test("a session message's seq field is no input seq: on a ping it is an ignored extra", () => {
    expect(parseMessage(json({ type: "ping", t: 1, seq: -5 }))).toEqual({ ok: true, kind: "control", message: { type: "ping", t: 1 }, ignored: 1 });
  });

  test("extras named like Object's members are ignored, never taken for a field's check", () => {
    expect(parseMessage(json({ type: "focus_in", toString: 1, hasOwnProperty: 2 }))).toEqual({
      ok: true,
      kind: "input",
      event: { type: "focus_in" },
      ignored: 2,
    });
  });

  test("a refused message leaves Object.prototype as it was", () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    for (const text of ['{"__proto__":{"polluted":1},"type":"focus_in"}', '{"type":"focus_in","constructor":{"prototype":{"polluted":1}}}']) {
      expect(parseMessage(text).ok).toBe(false);
    }
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("InputQueue", () => {
  const move = (x: number): InputEvent => ({ type: "pointer_move", x, y: 0, button: 0, buttons: [], modifiers: [] });

  test("drains oldest first, and empties", () => {
    const q = new InputQueue(4);
    for (const x of [1, 2, 3]) expect(q.push(move(x))).toBe(false);
    expect(q.drain().map((e) => (e as { x: number }).x)).toEqual([1, 2, 3]);
    expect(q.drain()).toEqual([]);
  });

  test("when full, the oldest event goes and is counted", () => {
    const q = new InputQueue(3);
    const pushedOut = [1, 2, 3, 4, 5].filter((x) => q.push(move(x)));
    expect(pushedOut).toEqual([4, 5]);
    expect(q.drain().map((e) => (e as { x: number }).x)).toEqual([3, 4, 5]);
  });
});

describe("InputState", () => {
  const down = (x: number, y: number, buttons = [1]): InputEvent => ({ type: "pointer_down", x, y, button: buttons[0] ?? 0, buttons, modifiers: [] });
  const move = (x: number, y: number, buttons: number[] = []): InputEvent => ({ type: "pointer_move", x, y, button: 0, buttons, modifiers: [] });
  const up = (x: number, y: number): InputEvent => ({ type: "pointer_up", x, y, button: 1, buttons: [], modifiers: [] });
  const key = (type: "key_down" | "key_up", k: string): InputEvent => ({ type, key: k, modifiers: [] });
  const wheel = (dx: number, dy: number): InputEvent => ({ type: "wheel", dx, dy, x: 5, y: 6, modifiers: [] });

  type Expect = Partial<Record<"x" | "y" | "dragX" | "dragY" | "wheelX" | "wheelY" | "eventCount" | "focused", number | boolean>> & {
    buttons?: number[];
    keys?: string[];
    pressed?: string[];
    resize?: { width: number; height: number } | null;
  };
  const cases: [string, InputEvent[], Expect][] = [
    ["nothing happened", [], { x: 0, y: 0, dragX: 0, eventCount: 0, focused: true, resize: null }],
    ["a move without a button is not a drag", [move(10, 10), move(30, 50)], { x: 30, y: 50, dragX: 0, dragY: 0, buttons: [] }],
    ["a drag adds up the motion while the button is held", [move(10, 10), down(10, 10), move(15, 12, [1]), move(25, 20, [1])], { dragX: 15, dragY: 10, buttons: [1] }],
    ["releasing ends the drag", [down(0, 0), move(5, 5, [1]), up(5, 5), move(50, 50)], { dragX: 5, dragY: 5, buttons: [], x: 50 }],
    ["wheel deltas add up and move the pointer", [wheel(1, 2), wheel(-3, 10)], { wheelX: -2, wheelY: 12, x: 5, y: 6 }],
    ["keys held and pressed this frame", [key("key_down", "w"), key("key_down", "a"), key("key_up", "a")], { keys: ["w"], pressed: ["w", "a"] }],
    ["resize is in device pixels", [{ type: "resize", width: 400, height: 300, ratio: 2 }], { resize: { width: 800, height: 600 } }],
    ["resize is capped at the largest frame", [{ type: "resize", width: 4000, height: 3000, ratio: 2 }], { resize: { ...MAX_FRAME_SIDE } }],
    ["the last resize of a frame wins", [{ type: "resize", width: 100, height: 100, ratio: 1 }, { type: "resize", width: 200, height: 50, ratio: 1 }], { resize: { width: 200, height: 50 } }],
    [
      "keys named like Object's members are held and let go like any other",
      [key("key_down", "__proto__"), key("key_down", "constructor"), key("key_up", "__proto__")],
      { keys: ["constructor"], pressed: ["__proto__", "constructor"] },
    ],
    // The server sends the key_up and pointer_up of what the viewer that lost focus held (HeldInput).
    ["losing focus alone lets go of nothing", [key("key_down", "w"), down(1, 1), { type: "focus_out" }], { focused: false, keys: ["w"], buttons: [1] }],
    ["focus comes back", [{ type: "focus_out" }, { type: "focus_in" }], { focused: true, eventCount: 2 }],
  ];
  for (const [name, events, want] of cases) {
    test(name, () => {
      const s = new InputState();
      s.apply(events);
      const { buttons, keys, pressed, ...plain } = want;
      for (const [k, v] of Object.entries(plain)) expect([k, s[k as keyof InputState]]).toEqual([k, v as never]);
      if (buttons) expect([...s.buttons]).toEqual(buttons);
      if (keys) expect([...s.keys]).toEqual(keys);
      if (pressed) expect([...s.pressed]).toEqual(pressed);
      if (!("eventCount" in want)) expect(s.eventCount).toBe(events.length);
    });
  }

  test("a fresh state holds no key, not even one named like an Object member", () => {
    const s = new InputState();
    for (const k of ["toString", "constructor", "__proto__", "hasOwnProperty"]) expect([k, s.keys.has(k), s.pressed.has(k)]).toEqual([k, false, false]);
  });

  test("endFrame clears what is per frame and keeps what is held", () => {
    const s = new InputState();
    s.apply([wheel(1, 1), down(0, 0), move(4, 3, [1]), key("key_down", "w"), { type: "resize", width: 10, height: 10, ratio: 1 }]);
    s.endFrame();
    expect([s.dragX, s.dragY, s.wheelX, s.wheelY, s.eventCount, s.resize, s.pressed.size]).toEqual([0, 0, 0, 0, 0, null, 0]);
    expect([s.x, s.y, [...s.buttons], [...s.keys]]).toEqual([4, 3, [1], ["w"]]);
    s.apply([move(6, 3, [1])]);
    expect(s.dragX).toBe(2);
  });
});

describe("HeldInput: what a viewer holds is let go of on its behalf", () => {
  const cases: [string, InputEvent[], InputEvent[]][] = [
    ["nothing held, nothing to let go of", [{ type: "key_down", key: "a", modifiers: [] }, { type: "key_up", key: "a", modifiers: [] }], []],
    ["a key held: its key_up, with its code", [{ type: "key_down", key: "w", code: "KeyW", modifiers: ["Shift"] }],
      [{ type: "key_up", key: "w", code: "KeyW", modifiers: [] }]],
    // With Shift pressed in between the key_up says "W", but it is the same physical key.
    ["a key let go under another name (same code) is not held", [
      { type: "key_down", key: "w", code: "KeyW", modifiers: [] },
      { type: "key_up", key: "W", code: "KeyW", modifiers: ["Shift"] },
    ], []],
    ["buttons held: one pointer_up each, at the last position", [
      { type: "pointer_down", x: 5, y: 6, button: 1, buttons: [1], modifiers: [] },
      { type: "pointer_move", x: 7, y: 8, button: 0, buttons: [1, 2], modifiers: [] },
    ], [
      { type: "pointer_up", x: 7, y: 8, button: 1, buttons: [2], modifiers: [] },
      { type: "pointer_up", x: 7, y: 8, button: 2, buttons: [], modifiers: [] },
    ]],
    ["a gamepad off rest: the same gamepad at rest", [{ type: "gamepad", index: 1, buttons: [0, 1], axes: [0.5, 0, 0] }],
      [{ type: "gamepad", index: 1, buttons: [0, 0], axes: [0, 0, 0] }]],
    ["a gamepad back at rest is not held", [
      { type: "gamepad", index: 0, buttons: [1], axes: [0] },
      { type: "gamepad", index: 0, buttons: [0], axes: [0] },
    ], []],
  ];
  for (const [name, events, released] of cases) {
    test(name, () => {
      const held = new HeldInput();
      for (const e of events) held.note(e);
      expect(held.release()).toEqual(released);
      expect(held.empty).toBe(true);
      expect(held.release()).toEqual([]);
    });
  }
});

describe("resize gate: the render follows the controller's view", () => {
  const rows: [string, [number, number], [number, number]][] = [
    ["a size that fits is kept", [1280, 720], [1280, 720]],
    ["too large: scaled down, aspect kept", [7680, 4320], [3840, 2160]],
    ["a phone portrait (390x844 @3): scaled to 2160 high, aspect kept", [1170, 2532], [998, 2160]],
    ["too small: scaled up to 320x180 at least, aspect kept", [160, 90], [320, 180]],
    ["1x1: scaled up, still square", [1, 1], [320, 320]],
    ["65536x65536: the largest square", [65536, 65536], [2160, 2160]],
    ["an aspect no size can keep: cut at the limits", [65536, 1], [3840, 180]],
  ];
  for (const [name, [w, h], want] of rows) {
    test(name, () => {
      const fitted = fitRenderSize(w, h);
      expect([fitted.width, fitted.height]).toEqual(want);
    });
  }

  test("the event keeps its ratio: its size times the ratio is the fitted render size", () => {
    const e = fitResize({ type: "resize", width: 390, height: 844, ratio: 3, pwidth: 1170, pheight: 2532 });
    expect([Math.round(e.width * e.ratio), Math.round(e.height * e.ratio), e.ratio, e.pwidth, e.pheight]).toEqual([998, 2160, 3, 998, 2160]);
    const same = { type: "resize", width: 640, height: 360, ratio: 2 } as const;
    expect(fitResize(same)).toBe(same);
  });

  test(`at most one resize each ${MIN_RESIZE_INTERVAL_MS} ms is applied`, () => {
    expect(resizeWait(Number.NEGATIVE_INFINITY, 0)).toBe(0);
    expect(resizeWait(1000, 1000)).toBe(MIN_RESIZE_INTERVAL_MS);
    expect(resizeWait(1000, 1100)).toBe(MIN_RESIZE_INTERVAL_MS - 100);
    expect(resizeWait(1000, 1000 + MIN_RESIZE_INTERVAL_MS)).toBe(0);
  });
});
