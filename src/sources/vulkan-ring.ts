// The ring of render slots behind a VulkanSource: which slot is free, which is in flight on the
// device, which is held by a frame handed out, and waiting (on a timer, never blocking) for one to
// come back. A held slot is not rendered into again until its frame is released.

interface Slot {
  /** A view over the slot's mapped readback memory; null while the slot has no memory. */
  pixels: Uint8Array | null;
  /** Handed out in a frame and not yet released. */
  held: boolean;
  /** Submitted and not yet seen complete. */
  inFlight: boolean;
}

export class FrameRing {
  private readonly slots: Slot[];
  private next = 0;
  private waiters: (() => void)[] = [];
  private onAllReleased: (() => void) | null = null;

  constructor(count: number) {
    this.slots = Array.from({ length: count }, () => ({ pixels: null, held: false, inFlight: false }));
  }

  get size(): number {
    return this.slots.length;
  }

  get anyHeld(): boolean {
    return this.slots.some((s) => s.held);
  }

  /** The slot's pixels; throws when its memory is gone. */
  pixels(index: number): Uint8Array {
    const pixels = this.slots[index]!.pixels;
    if (!pixels) throw new Error(`Vulkan: slot ${index} has no mapped memory`);
    return pixels;
  }

  /** Points each slot at its new memory (after a resize), or at none (`null`: before one, at close). */
  setPixels(views: (Uint8Array | null)[]): void {
    this.slots.forEach((s, i) => (s.pixels = views[i] ?? null));
  }

  /** The first slot in ring order that is neither held nor in flight; -1 when there is none. */
  freeSlot(): number {
    for (let k = 0; k < this.slots.length; k++) {
      const i = (this.next + k) % this.slots.length;
      if (!this.slots[i]!.held && !this.slots[i]!.inFlight) return i;
    }
    return -1;
  }

  /** Marks the slot submitted; the next free slot is looked for after it. */
  submitted(index: number): void {
    this.slots[index]!.inFlight = true;
    this.next = (index + 1) % this.slots.length;
  }

  completed(index: number): void {
    this.slots[index]!.inFlight = false;
  }

  /** Marks the slot held by a frame; returns the frame's release (which may be called more than once). */
  hold(index: number): () => void {
    const slot = this.slots[index]!;
    slot.held = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      slot.held = false;
      if (this.onAllReleased && !this.anyHeld) this.onAllReleased();
      this.wake();
    };
  }

  /**
   * Resolves true once `ready()` holds, re-checked after every release; false when `limitMs` passed
   * first. `checkOpen` runs before each wait and throws to give up (the source closed or was lost).
   */
  async waitFor(ready: () => boolean, limitMs: number, checkOpen: () => void): Promise<boolean> {
    const deadline = performance.now() + limitMs;
    while (!ready()) {
      checkOpen();
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await this.nextRelease(Math.min(left, 250));
    }
    return true;
  }

  /** Calls `done` once: when no slot is held any more (at once if none is), or after `limitMs`. */
  whenAllReleased(limitMs: number, done: () => void): void {
    if (!this.anyHeld) return done();
    const timer = setTimeout(finish, limitMs);
    timer.unref?.();
    const ring = this;
    function finish() {
      clearTimeout(timer);
      ring.onAllReleased = null;
      done();
    }
    this.onAllReleased = finish;
  }

  /** Wakes every waiter, e.g. at close, so that it re-checks at once. */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next release (or wake), or after `ms`. */
  private nextRelease(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
