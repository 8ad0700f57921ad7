// What one viewer holds down toward the engine (keys, pointer buttons, gamepad sticks and buttons), so
// that the server can let go of it for the viewer when it leaves, loses control, or its page loses focus
// or is hidden: an engine never sees a key that stays down because a tab closed. Pure data, no I/O.
import type { GamepadEvent, InputEvent, KeyEvent } from "../protocol/input-schema.ts";

export class HeldInput {
  /** Keys down by their physical code when the client sends one, else by their logical key. */
  private readonly keys = new Map<string, { key: string; code?: string }>();
  private buttons: number[] = [];
  private x = 0;
  private y = 0;
  /** Gamepads not at rest, by index, with their button and axis counts. */
  private readonly gamepads = new Map<number, { buttons: number; axes: number }>();

  get empty(): boolean {
    return this.keys.size === 0 && this.buttons.length === 0 && this.gamepads.size === 0;
  }

  /** Folds in an event this viewer sent that reaches the engine. */
  note(event: InputEvent): void {
    switch (event.type) {
      case "key_down":
        this.keys.set(keyId(event), event.code === undefined ? { key: event.key } : { key: event.key, code: event.code });
        break;
      case "key_up":
        this.keys.delete(keyId(event));
        break;
      case "pointer_down":
      case "pointer_up":
      case "pointer_move":
        this.x = event.x;
        this.y = event.y;
        this.buttons = [...event.buttons];
        break;
      case "gamepad":
        if (atRest(event)) this.gamepads.delete(event.index);
        else this.gamepads.set(event.index, { buttons: event.buttons.length, axes: event.axes.length });
        break;
    }
  }

  /** The events that let go of everything held (key_up, pointer_up, a gamepad at rest), and forgets it. */
  release(): InputEvent[] {
    const out: InputEvent[] = [];
    for (const { key, code } of this.keys.values()) {
      out.push({ type: "key_up", key, ...(code === undefined ? {} : { code }), modifiers: [] });
    }
    for (const button of [...this.buttons]) {
      this.buttons = this.buttons.filter((b) => b !== button);
      out.push({ type: "pointer_up", x: this.x, y: this.y, button, buttons: [...this.buttons], modifiers: [] });
    }
    for (const [index, size] of this.gamepads) {
      out.push({ type: "gamepad", index, buttons: new Array<number>(size.buttons).fill(0), axes: new Array<number>(size.axes).fill(0) });
    }
    this.keys.clear();
    this.gamepads.clear();
    return out;
  }
}

function keyId(event: KeyEvent): string {
  return event.code === undefined ? `key:${event.key}` : `code:${event.code}`;
}

function atRest(event: GamepadEvent): boolean {
  return event.buttons.every((b) => b === 0) && event.axes.every((a) => a === 0);
}
