// The engine side of input: what a scene reads each frame, folded from the events drained from a stream.
import { type InputEvent, MAX_FRAME_SIDE } from "./protocol/input-schema.ts";

/**
 * What a scene reads each frame: where the pointer is, what is held, and what moved since the
 * last frame. `apply` folds in a frame's events; `endFrame` clears the per-frame deltas.
 */
export class InputState {
  x = 0;
  y = 0;
  readonly buttons = new Set<number>();
  readonly keys = new Set<string>();
  /** Keys pressed during this frame (for one-shot actions such as reset). */
  readonly pressed = new Set<string>();
  /** Pointer motion with a button held, since the last frame, in frame pixels. */
  dragX = 0;
  dragY = 0;
  wheelX = 0;
  wheelY = 0;
  focused = true;
  /** Each gamepad's newest state by index (buttons 0..1, axes -1..1); a gamepad at rest is forgotten. */
  readonly gamepads = new Map<number, { buttons: readonly number[]; axes: readonly number[] }>();
  /** The last size a viewer asked for during this frame, if any. */
  resize: { width: number; height: number } | null = null;
  /** How many events were applied during this frame (0 means nobody touched anything). */
  eventCount = 0;

  apply(events: readonly InputEvent[]): void {
    for (const e of events) {
      this.eventCount++;
      switch (e.type) {
        case "pointer_down":
        case "pointer_up":
        case "pointer_move":
          if (this.buttons.size > 0) {
            this.dragX += e.x - this.x;
            this.dragY += e.y - this.y;
          }
          this.x = e.x;
          this.y = e.y;
          this.buttons.clear();
          for (const b of e.buttons) this.buttons.add(b);
          break;
        case "wheel":
          this.wheelX += e.dx;
          this.wheelY += e.dy;
          this.x = e.x;
          this.y = e.y;
          break;
        case "key_down":
          this.keys.add(e.key);
          this.pressed.add(e.key);
          break;
        case "key_up":
          this.keys.delete(e.key);
          break;
        case "resize":
          // The server has fitted it to what a stream can render (src/server/resize-gate.ts).
          this.resize = {
            width: Math.min(MAX_FRAME_SIDE.width, Math.round(e.width * e.ratio)),
            height: Math.min(MAX_FRAME_SIDE.height, Math.round(e.height * e.ratio)),
          };
          break;
        case "gamepad":
          if (e.buttons.every((b) => b === 0) && e.axes.every((a) => a === 0)) this.gamepads.delete(e.index);
          else this.gamepads.set(e.index, { buttons: [...e.buttons], axes: [...e.axes] });
          break;
        case "focus_in":
          this.focused = true;
          break;
        case "focus_out":
          // Keys and buttons stay as they are: the server sends the key_up and pointer_up of what the
          // viewer that lost focus held (src/server/held-input.ts), and only of what that viewer held.
          this.focused = false;
          break;
      }
    }
  }

  endFrame(): void {
    this.dragX = this.dragY = this.wheelX = this.wheelY = 0;
    this.pressed.clear();
    this.resize = null;
    this.eventCount = 0;
  }
}
