// A stream's input on its way to the engine: only viewers that control get through (the others' input
// is counted as denied), what each holds is tracked and let go of on its behalf when it leaves, loses
// control or loses focus, and resizes are fitted and paced (resize-gate.ts). The counters count what
// viewers sent: the releases the server makes for them are not counted as accepted.
import type { InputEvent, ResizeEvent } from "../protocol/input-schema.ts";
import type { SessionControl, ViewerKey } from "./control.ts";
import { HeldInput } from "./held-input.ts";
import { fitResize, resizeWait } from "./resize-gate.ts";

export interface InputCounters {
  inputAccepted: number;
  inputDenied: number;
  inputDropped: number;
}

export interface InputPathParts {
  control: SessionControl;
  counters: InputCounters;
  /**
   * Hands an event to the engine's queue; returns whether the queue dropped its oldest to take it. `from`: the
   * viewer that sent it, null for a release the server makes on a viewer's behalf.
   */
  deliver: (event: InputEvent, from: ViewerKey | null) => boolean;
  /** A viewer's input was taken (interactive quality follows input). */
  noteInput: () => void;
  /** Where accepted input goes instead (an edge forwards it to its origin, which tracks and paces it). */
  forward?: (key: ViewerKey, event: InputEvent) => void;
}

export class InputPath {
  private readonly held = new Map<ViewerKey, HeldInput>();
  private lastResizeAt = Number.NEGATIVE_INFINITY;
  private pendingResize: { event: ResizeEvent; from: ViewerKey } | null = null;
  private resizeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly parts: InputPathParts) {
    parts.control.onChange((change) => {
      if (change.type === "left" || (change.type === "role" && change.role === "view")) this.release(change.key);
    });
  }

  /** Validated input from viewer `key`: taken if it controls, else denied (counted). */
  submit(key: ViewerKey, event: InputEvent): boolean {
    const { control, counters, forward } = this.parts;
    if (!control.mayInput(key)) {
      counters.inputDenied++;
      return false;
    }
    counters.inputAccepted++;
    this.parts.noteInput();
    if (forward) forward(key, event);
    else if (event.type === "resize") this.resize(event, key);
    else {
      // A page that lost focus never sends the key_up of what it held.
      if (event.type === "focus_out") this.release(key);
      let held = this.held.get(key);
      if (!held) this.held.set(key, (held = new HeldInput()));
      held.note(event);
      this.deliver(event, key);
    }
    return true;
  }

  /** Lets go of everything viewer `key` holds (its page was hidden, it lost control or left). */
  release(key: ViewerKey): void {
    const held = this.held.get(key);
    if (!held) return;
    this.held.delete(key);
    for (const event of held.release()) this.deliver(event, null);
  }

  /** Forgets a resize waiting for its turn (the stream stops). */
  cancelPending(): void {
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
    this.resizeTimer = null;
    this.pendingResize = null;
  }

  /** Applies a resize now if the last was long enough ago, else keeps it (the newest wins) for when it is. */
  private resize(event: ResizeEvent, from: ViewerKey): void {
    this.pendingResize = { event: fitResize(event), from };
    if (this.resizeTimer) return;
    const wait = resizeWait(this.lastResizeAt, performance.now());
    if (wait === 0) this.applyResize();
    else this.resizeTimer = setTimeout(() => this.applyResize(), wait);
  }

  private applyResize(): void {
    this.resizeTimer = null;
    const pending = this.pendingResize;
    this.pendingResize = null;
    if (!pending) return;
    this.lastResizeAt = performance.now();
    this.deliver(pending.event, pending.from);
  }

  private deliver(event: InputEvent, from: ViewerKey | null): void {
    if (this.parts.deliver(event, from)) this.parts.counters.inputDropped++;
  }
}
