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
          this.resize = {
            width: Math.min(MAX_FRAME_SIDE.width, Math.round(e.width * e.ratio)),
            height: Math.min(MAX_FRAME_SIDE.height, Math.round(e.height * e.ratio)),
          };
          break;
        case "focus_in":
          this.focused = true;
          break;
        case "focus_out":
          // A viewer that loses focus never sends the key_up of keys it held.
          this.focused = false;
          this.keys.clear();
          this.buttons.clear();
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
