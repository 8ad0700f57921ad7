// The bounded queue between viewers' input and the engine, drained once per frame.
import type { InputEvent } from "../protocol/input-schema.ts";

/** A bounded FIFO: when full, the oldest item is dropped (the newest input matters most). */
export class InputQueue<T = InputEvent> {
  private items: T[] = [];
  constructor(readonly capacity = 256) {}

  /** Queues an item; returns whether the oldest one was pushed out to make room. */
  push(item: T): boolean {
    const full = this.items.length >= this.capacity;
    if (full) this.items.shift();
    this.items.push(item);
    return full;
  }

  /** Everything queued since the last drain, oldest first. */
  drain(): T[] {
    const out = this.items;
    this.items = [];
    return out;
  }
}
