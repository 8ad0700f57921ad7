// Gamepads (the Gamepad API, standard mapping) → `gamepad` events with each pad's whole state, sent when
// it changes, at most 60 a second, only while this viewer drives. Polled on animation frames, so a hidden
// page polls nothing; a pad that disconnects is sent at rest.

import { type InputEvent, MAX_GAMEPAD_AXES, MAX_GAMEPAD_BUTTONS } from "../src/protocol/input-schema.ts";

const MIN_INTERVAL_MS = 1000 / 60;
const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

export class GamepadInput {
  /** The last state sent per pad index, as JSON. */
  private readonly sent = new Map<number, string>();
  private connected = 0;
  private rafId = 0;
  private lastPoll = 0;

  constructor(
    private readonly send: (event: InputEvent) => void,
    /** Whether this viewer drives now. */
    private readonly active: () => boolean,
  ) {
    addEventListener("gamepadconnected", () => {
      this.connected++;
      this.schedule();
    });
    addEventListener("gamepaddisconnected", (e) => {
      this.connected = Math.max(0, this.connected - 1);
      this.atRest((e as globalThis.GamepadEvent).gamepad.index);
    });
  }

  private schedule(): void {
    if (!this.rafId && this.connected > 0) this.rafId = requestAnimationFrame((t) => this.poll(t));
  }

  private poll(now: number): void {
    this.rafId = 0;
    if (now - this.lastPoll >= MIN_INTERVAL_MS - 1 && this.active()) {
      this.lastPoll = now;
      for (const pad of navigator.getGamepads()) {
        if (!pad || pad.index > 3) continue;
        const buttons = pad.buttons.slice(0, MAX_GAMEPAD_BUTTONS).map((b) => round(Math.min(1, Math.max(0, b.value)), 2));
        const axes = pad.axes.slice(0, MAX_GAMEPAD_AXES).map((a) => round(Math.min(1, Math.max(-1, a)), 3));
        this.emit({ type: "gamepad", index: pad.index, buttons, axes });
      }
    }
    this.schedule();
  }

  private atRest(index: number): void {
    const last = this.sent.get(index);
    if (!last) return;
    const { buttons, axes } = JSON.parse(last) as { buttons: number[]; axes: number[] };
    this.emit({ type: "gamepad", index, buttons: buttons.map(() => 0), axes: axes.map(() => 0) });
    this.sent.delete(index);
  }

  private emit(event: Extract<InputEvent, { type: "gamepad" }>): void {
    const state = JSON.stringify({ buttons: event.buttons, axes: event.axes });
    if (this.sent.get(event.index) === state) return;
    this.sent.set(event.index, state);
    this.send(event);
  }
}
