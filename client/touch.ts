// Touch → the mouse-like events every engine understands: one finger drags with the left button (the
// built-in scene orbits), two fingers drag with the middle button from their midpoint (it pans) and
// their pinch is the wheel (it zooms). A gesture ends when its fingers lift; a finger left down after a
// two-finger gesture does nothing until it lifts too.

import type { InputEvent } from "../src/protocol/input-schema.ts";

/** Wheel units per CSS pixel the fingers spread (negative: spreading zooms in, as the wheel rolled forward). */
export const PINCH_WHEEL_PER_PX = -2;

type Point = { x: number; y: number };

export interface TouchOptions {
  /** Client (CSS px) coordinates → frame pixels; null before the frame size is known. */
  toFrame: (clientX: number, clientY: number) => Point | null;
  /** Sends an event that must not be coalesced (after anything pending). */
  send: (event: InputEvent) => void;
  /** A move: coalesced to one per animation frame. */
  move: (event: InputEvent) => void;
  /** A wheel delta at a frame position: summed per animation frame. */
  wheel: (dy: number, at: Point) => void;
}

export class TouchGestures {
  /** Fingers down, by pointer id, in client coordinates. */
  private readonly fingers = new Map<number, Point>();
  private mode: "none" | "orbit" | "pan" | "done" = "none";
  private spread = 0;
  /** Where the gesture's button went down or last moved, in frame pixels. */
  private at: Point = { x: 0, y: 0 };

  constructor(private readonly o: TouchOptions) {}

  down(e: PointerEvent): void {
    this.fingers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (this.fingers.size === 1 && this.mode === "none") {
      this.mode = "orbit";
      this.press(1, { x: e.clientX, y: e.clientY });
    } else if (this.fingers.size === 2 && (this.mode === "orbit" || this.mode === "none")) {
      if (this.mode === "orbit") this.lift(1);
      this.mode = "pan";
      this.spread = this.distance();
      this.press(3, this.midpoint());
    }
  }

  move(e: PointerEvent): void {
    if (!this.fingers.has(e.pointerId)) return;
    this.fingers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (this.mode === "orbit") this.drag(1, { x: e.clientX, y: e.clientY });
    else if (this.mode === "pan" && this.fingers.size === 2) {
      this.drag(3, this.midpoint());
      const spread = this.distance();
      if (spread !== this.spread) this.o.wheel((spread - this.spread) * PINCH_WHEEL_PER_PX, this.at);
      this.spread = spread;
    }
  }

  /** A finger lifted or was cancelled. */
  up(e: PointerEvent): void {
    if (!this.fingers.delete(e.pointerId)) return;
    if (this.mode === "orbit") this.lift(1);
    else if (this.mode === "pan") this.lift(3);
    this.mode = this.fingers.size === 0 ? "none" : "done";
  }

  private press(button: number, client: Point): void {
    const p = this.o.toFrame(client.x, client.y);
    if (!p) return;
    this.at = round(p);
    this.o.send({ type: "pointer_down", ...this.at, button, buttons: [button], modifiers: [] });
  }

  private drag(button: number, client: Point): void {
    const p = this.o.toFrame(client.x, client.y);
    if (!p) return;
    this.at = round(p);
    this.o.move({ type: "pointer_move", ...this.at, button: 0, buttons: [button], modifiers: [] });
  }

  private lift(button: number): void {
    this.o.send({ type: "pointer_up", ...this.at, button, buttons: [], modifiers: [] });
  }

  private midpoint(): Point {
    const [a, b] = [...this.fingers.values()];
    return { x: (a!.x + b!.x) / 2, y: (a!.y + b!.y) / 2 };
  }

  private distance(): number {
    const [a, b] = [...this.fingers.values()];
    return Math.hypot(a!.x - b!.x, a!.y - b!.y);
  }
}

const round = (p: Point): Point => ({ x: Math.round(p.x * 100) / 100, y: Math.round(p.y * 100) / 100 });
