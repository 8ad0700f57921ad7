// When presence goes out after a change: at once while a session is small (after the current task, so
// that changes made together go out as one), and at most once a second past PRESENCE_LIST_LIMIT viewers,
// so that a crowd joining and leaving costs little.
import { PRESENCE_LIST_LIMIT } from "./control-state.ts";

export const PRESENCE_INTERVAL_MS = 1000;

/** How long presence waits after a change at `now` in a session of `viewers`, last sent at `lastSentAt`. */
export function presenceWait(viewers: number, lastSentAt: number, now: number): number {
  return viewers > PRESENCE_LIST_LIMIT ? Math.max(0, lastSentAt + PRESENCE_INTERVAL_MS - now) : 0;
}

export class PresencePacer {
  private scheduled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  /** `send` tells every viewer its presence; `viewers` counts the session's viewers. */
  constructor(
    private readonly send: () => void,
    private readonly viewers: () => number,
  ) {}

  /** Presence changed: it goes out once, soon. */
  changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = presenceWait(this.viewers(), this.lastSentAt, performance.now());
    if (wait === 0) queueMicrotask(() => this.flush());
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.scheduled = false;
  }

  private flush(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    this.timer = null;
    this.lastSentAt = performance.now();
    this.send();
  }
}
