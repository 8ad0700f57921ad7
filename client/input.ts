// Browser input → the event schema of src/protocol/input-schema.ts (jupyter_rfb field names).
// Pointer moves are coalesced to one per animation frame and wheel deltas are summed per animation
// frame; everything else is sent at once, after any pending move, so the order is kept. Keys
// (keyboard.ts) go to the stream only while it has the focus (its hidden text area has it); touch
// becomes drags and the wheel (touch.ts).

import { type ControlMessage, type InputEvent, MAX_COORD, type Modifier } from "../src/protocol/input-schema.ts";
import { KeyboardInput, modifiersOf } from "./keyboard.ts";
import { TouchGestures } from "./touch.ts";

/** What the client sends: the server's own schema, so the two cannot drift apart. */
export type OutgoingMessage = InputEvent | ControlMessage;

const RESIZE_DEBOUNCE_MS = 150;
const LINE_PX = 16; // a wheel "line" in CSS px (deltaMode 1, e.g. Firefox with a mouse)

// DOM `button`: 0 left, 1 middle, 2 right, 3 back, 4 forward → schema: 1 left, 2 right, 3 middle, 4 back, 5 forward.
const BUTTON_FROM_DOM = [1, 3, 2, 4, 5];

/** DOM `buttons` bit i (left, right, middle, back, forward) is schema button i + 1. */
function heldButtons(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 5; i++) if (mask & (1 << i)) out.push(i + 1);
  return out;
}

/** When a DOM event happened, on performance.now()'s clock (every current browser; else now). */
const eventTime = (e: Event) => (e.timeStamp > 0 ? e.timeStamp : performance.now());
const clampCoord = (v: number) => (Number.isFinite(v) ? Math.max(-MAX_COORD, Math.min(MAX_COORD, v)) : 0);
/** Frame coordinates go out with 2 decimals: sub-pixel precision without 17-digit JSON. */
const round2 = (v: number) => Math.round(clampCoord(v) * 100) / 100;

export interface InputOptions {
  /** The element that shows the stream; it receives pointer and wheel events. */
  target: HTMLElement;
  /** The hidden text area that holds the focus while keys go to the stream. */
  keys: HTMLTextAreaElement;
  /** The element whose size is the view area reported in `resize`. */
  viewArea: HTMLElement;
  /** Maps client (CSS px) coordinates to frame pixels; null before the frame size is known. */
  toFrame: (clientX: number, clientY: number) => { x: number; y: number } | null;
  /** Frame pixels per CSS px (for pointer-lock movement). */
  frameScale: () => number;
  /** `happenedAt`: when the user did it (performance.now() time), for a coalesced move or wheel sent later. */
  send: (event: InputEvent, happenedAt?: number) => void;
  /** Called for client keys (e.g. F2) wherever focus is. */
  onClientKey: (key: string) => void;
  /** The text of a paste into the stream. */
  onPaste: (text: string) => void;
  /** The stream got or lost the focus (keys reach it only while it has it). */
  onFocus: (focused: boolean) => void;
}

export class InputForwarder {
  /** The newest pointer move and wheel not sent yet, with the time of their newest DOM event. */
  private pendingMove: { event: InputEvent; at: number } | null = null;
  private wheel: { dx: number; dy: number; x: number; y: number; modifiers: Modifier[]; at: number } | null = null;
  private rafId = 0;
  private focused = false;
  /** Pointer position while pointer lock is on, in frame pixels. */
  private locked: { x: number; y: number } | null = null;
  private lastPos = { x: 0, y: 0 };
  private resizeTimer: ReturnType<typeof setTimeout> | null = null;
  private lastResize = "";
  private readonly keyboard: KeyboardInput;
  private readonly touch: TouchGestures;

  constructor(private readonly o: InputOptions) {
    const t = o.target;
    t.addEventListener("pointerdown", (e) => (e.pointerType === "touch" ? this.touchDown(e) : this.pointerDown(e)));
    t.addEventListener("pointermove", (e) => (e.pointerType === "touch" ? this.touch.move(e) : this.pointerMove(e)));
    t.addEventListener("pointerup", (e) => (e.pointerType === "touch" ? this.touchUp(e) : this.pointerUp(e)));
    t.addEventListener("pointercancel", (e) => (e.pointerType === "touch" ? this.touchUp(e) : this.pointerUp(e)));
    t.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    t.addEventListener("contextmenu", (e) => e.preventDefault());
    // The stream's focus is its text area's: focusing the picture (a click, Tab) hands it on.
    t.addEventListener("focus", () => this.focusKeys());
    o.keys.addEventListener("focus", () => this.setFocus(true));
    o.keys.addEventListener("blur", () => this.setFocus(false));
    this.keyboard = new KeyboardInput({ keys: o.keys, send: (e) => this.sendNow(e), onPaste: o.onPaste, onClientKey: o.onClientKey });
    this.touch = new TouchGestures({
      toFrame: o.toFrame,
      send: (e) => this.sendNow(e),
      move: (e) => {
        this.pendingMove = { event: e, at: performance.now() };
        this.schedule();
      },
      wheel: (dy, at) => this.addWheel(0, dy, at, [], performance.now()),
    });
    document.addEventListener("pointerlockchange", () => this.lockChanged());
    new ResizeObserver(() => this.scheduleResize()).observe(o.viewArea);
    this.watchPixelRatio();
  }

  /** Whether keys reach the stream now. */
  get hasFocus(): boolean {
    return this.focused;
  }

  /** Re-sends the state a new connection needs: the view size and the focus. */
  connected(): void {
    this.lastResize = "";
    this.sendResize();
    this.o.send({ type: this.focused ? "focus_in" : "focus_out" });
  }

  /** This viewer was given control: the render follows its view from now on. */
  gotControl(): void {
    this.lastResize = "";
    this.sendResize();
    this.o.send({ type: this.focused ? "focus_in" : "focus_out" });
  }

  /** A hidden page lets go of what it holds (as if it lost the focus); shown again, it has the focus back. */
  visibilityChanged(visible: boolean): void {
    if (!this.focused) return;
    if (!visible) this.keyboard.reset();
    this.sendNow({ type: visible ? "focus_in" : "focus_out" });
  }

  /** Gives the stream the focus, so that keys go to it. */
  focusKeys(): void {
    if (document.activeElement !== this.o.keys) this.o.keys.focus({ preventScroll: true });
    // A window without system focus (e.g. headless) may give the element focus without a focus event.
    if (document.activeElement === this.o.keys) this.setFocus(true);
  }

  // --- pointer -------------------------------------------------------------------------------

  private position(e: PointerEvent): { x: number; y: number } | null {
    if (this.locked) {
      const s = this.o.frameScale();
      this.locked.x = clampCoord(this.locked.x + e.movementX * s);
      this.locked.y = clampCoord(this.locked.y + e.movementY * s);
      return { x: this.locked.x, y: this.locked.y };
    }
    return this.o.toFrame(e.clientX, e.clientY);
  }

  private pointerEvent(
    type: "pointer_down" | "pointer_up" | "pointer_move",
    e: PointerEvent,
    button: number,
  ): InputEvent | null {
    const p = this.position(e);
    if (!p) return null;
    this.lastPos = p;
    return { type, x: round2(p.x), y: round2(p.y), button, buttons: heldButtons(e.buttons), modifiers: modifiersOf(e) };
  }

  private pointerDown(e: PointerEvent): void {
    this.focusKeys();
    if (!this.locked) this.o.target.setPointerCapture(e.pointerId);
    e.preventDefault(); // no text selection, no focus change, no emulated mouse events
    const ev = this.pointerEvent("pointer_down", e, BUTTON_FROM_DOM[e.button] ?? 0);
    if (ev) this.sendNow(ev);
  }

  private pointerUp(e: PointerEvent): void {
    const button = e.type === "pointercancel" ? 0 : (BUTTON_FROM_DOM[e.button] ?? 0);
    const ev = this.pointerEvent("pointer_up", e, button);
    if (e.type === "pointercancel" && ev && ev.type === "pointer_up") ev.buttons = [];
    if (this.o.target.hasPointerCapture(e.pointerId)) this.o.target.releasePointerCapture(e.pointerId);
    if (ev) this.sendNow(ev);
  }

  private pointerMove(e: PointerEvent): void {
    // A button pressed while another is held arrives as pointermove with button != -1 (DOM spec).
    if (e.button >= 0) {
      const held = e.buttons & (1 << [0, 2, 1, 3, 4][e.button]!);
      const ev = this.pointerEvent(held ? "pointer_down" : "pointer_up", e, BUTTON_FROM_DOM[e.button] ?? 0);
      if (ev) this.sendNow(ev);
      return;
    }
    if (this.locked && e.movementX === 0 && e.movementY === 0) return;
    const ev = this.pointerEvent("pointer_move", e, 0);
    if (!ev) return;
    this.pendingMove = { event: ev, at: eventTime(e) };
    this.schedule();
  }

  private touchDown(e: PointerEvent): void {
    e.preventDefault();
    this.focusKeys();
    this.o.target.setPointerCapture(e.pointerId);
    this.touch.down(e);
  }

  private touchUp(e: PointerEvent): void {
    if (this.o.target.hasPointerCapture(e.pointerId)) this.o.target.releasePointerCapture(e.pointerId);
    this.touch.up(e);
  }

  private lockChanged(): void {
    if (document.pointerLockElement === this.o.target) this.locked = { ...this.lastPos };
    else this.locked = null;
  }

  // --- wheel ---------------------------------------------------------------------------------

  private onWheel(e: WheelEvent): void {
    e.preventDefault(); // the page must not scroll or zoom (ctrl+wheel) under the stream
    const p = this.locked ? { ...this.locked } : this.o.toFrame(e.clientX, e.clientY);
    if (!p) return;
    const unit = e.deltaMode === 1 ? LINE_PX : e.deltaMode === 2 ? this.o.viewArea.clientHeight : 1;
    this.addWheel(e.deltaX * unit, e.deltaY * unit, p, modifiersOf(e), eventTime(e));
  }

  private addWheel(dx: number, dy: number, at: { x: number; y: number }, modifiers: Modifier[], happenedAt: number): void {
    const w = this.wheel ?? { dx: 0, dy: 0, x: 0, y: 0, modifiers: [], at: 0 };
    w.at = happenedAt;
    w.dx += dx;
    w.dy += dy;
    w.x = at.x;
    w.y = at.y;
    w.modifiers = modifiers;
    this.wheel = w;
    this.schedule();
  }

  // --- focus ---------------------------------------------------------------------------------

  private setFocus(focused: boolean): void {
    if (focused === this.focused) return;
    this.focused = focused;
    if (!focused) this.keyboard.reset();
    this.o.onFocus(focused);
    this.sendNow({ type: focused ? "focus_in" : "focus_out" });
  }

  // --- resize --------------------------------------------------------------------------------

  private scheduleResize(): void {
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => {
      this.resizeTimer = null;
      this.sendResize();
    }, RESIZE_DEBOUNCE_MS);
  }

  private sendResize(): void {
    const r = this.o.viewArea.getBoundingClientRect();
    const width = Math.max(1, Math.round(r.width));
    const height = Math.max(1, Math.round(r.height));
    const ratio = Math.min(16, Math.max(0.1, Math.round((window.devicePixelRatio || 1) * 1000) / 1000));
    const id = `${width}x${height}@${ratio}`;
    if (id === this.lastResize) return;
    this.lastResize = id;
    this.o.send({ type: "resize", width, height, ratio });
  }

  /** devicePixelRatio changes (browser zoom, moving to another screen) do not always resize the view. */
  private watchPixelRatio(): void {
    const mq = matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
    mq.addEventListener(
      "change",
      () => {
        this.scheduleResize();
        this.watchPixelRatio();
      },
      { once: true },
    );
  }

  // --- sending -------------------------------------------------------------------------------

  private schedule(): void {
    if (!this.rafId) this.rafId = requestAnimationFrame(() => this.flush());
  }

  /** Sends the coalesced move and the summed wheel. */
  private flush(): void {
    this.rafId = 0;
    if (this.pendingMove) {
      const { event, at } = this.pendingMove;
      this.pendingMove = null;
      this.o.send(event, at);
    }
    if (this.wheel) {
      const w = this.wheel;
      this.wheel = null;
      if (w.dx || w.dy) {
        const { dx, dy, x, y } = w;
        this.o.send({ type: "wheel", dx: round2(dx), dy: round2(dy), x: round2(x), y: round2(y), modifiers: w.modifiers }, w.at);
      }
    }
  }

  /** Sends an event that must not be coalesced, after whatever is pending so the order holds. */
  private sendNow(ev: InputEvent): void {
    this.flush();
    this.o.send(ev);
  }
}
