// The bounded queue between viewers' input and the engine, drained once per frame.
import type { InputEvent } from "../protocol/input-schema.ts";

/** A bounded FIFO: when full, the oldest event is dropped (the newest input matters most). */
export class InputQueue {
  private items: InputEvent[] = [];
  constructor(readonly capacity = 256) {}

  /** Queues an event; returns whether the oldest one was pushed out to make room. */
  push(event: InputEvent): boolean {
    const full = this.items.length >= this.capacity;
    if (full) this.items.shift();
    this.items.push(event);
    return full;
  }

  /** Everything queued since the last drain, oldest first. */
  drain(): InputEvent[] {
    const out = this.items;
    this.items = [];
    return out;
  }
}
