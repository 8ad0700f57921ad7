// A stream's input from its viewers to its engine: only controllers' input passes (input-path.ts), it waits
// in a bounded queue for the engine to drain it, and what each viewer's drained input was is remembered, so
// that a frame can say the newest input applied before its render (FrameMeta.in: the viewer's session id ->
// the `seq` of its input message). The seq itself never reaches the engine.
import type { InputEvent } from "../protocol/input-schema.ts";
import type { AppliedInput } from "../protocol/viewer-messages.ts";
import type { SessionControl, ViewerKey } from "./control.ts";
import { type InputCounters, InputPath } from "./input-path.ts";
import { InputQueue } from "./input-queue.ts";

/** A frame names the applied input of at most this many viewers: those whose input the engine took most lately. */
export const APPLIED_INPUT_VIEWERS = 8;

export interface StreamInputParts {
  capacity: number;
  control: SessionControl;
  counters: InputCounters;
  /** A viewer's input was taken (interactive quality follows input). */
  noteInput: () => void;
  /** Where accepted input goes instead (an edge forwards it to its origin, which tracks and paces it). */
  forward?: (key: ViewerKey, event: InputEvent) => void;
}

/** A viewer's key, and its session id: what its frames' metadata names it by. */
interface Sender {
  key: ViewerKey;
  id: number;
}

/** An event waiting for the engine, with the viewer whose seq it carries. */
interface QueuedInput {
  event: InputEvent;
  from: Sender | null;
}

export class StreamInput {
  private readonly queue: InputQueue<QueuedInput>;
  private readonly path: InputPath;
  /** By viewer, least lately applied first: its session id and highest drained seq. */
  private readonly applied = new Map<ViewerKey, { id: number; seq: number }>();
  /** `applied` as frames carry it, made once per change (undefined: nothing applied yet). */
  private appliedView: AppliedInput | undefined;

  constructor(private readonly parts: StreamInputParts) {
    this.queue = new InputQueue(parts.capacity);
    this.path = new InputPath({
      control: parts.control,
      counters: parts.counters,
      noteInput: parts.noteInput,
      deliver: (event, from) => this.queue.push({ event, from: from === null ? null : this.sender(from, event) }),
      ...(parts.forward ? { forward: parts.forward } : {}),
    });
    parts.control.onChange((change) => {
      if (change.type === "left" && this.applied.delete(change.key)) this.appliedView = undefined;
    });
  }

  /** Validated input from viewer `key`: taken if it controls, else denied (counted). */
  submit(key: ViewerKey, event: InputEvent): boolean {
    return this.path.submit(key, event);
  }

  /** Lets go of everything viewer `key` holds (its page was hidden). */
  release(key: ViewerKey): void {
    this.path.release(key);
  }

  /** Forgets a resize waiting for its turn (the stream stops). */
  cancelPending(): void {
    this.path.cancelPending();
  }

  /** The events queued since the last drain, oldest first, without their seq: from now on they count as applied. */
  drain(): InputEvent[] {
    return this.queue.drain().map(({ event, from }) => {
      if (event.seq === undefined) return event;
      if (from !== null) this.noteApplied(from, event.seq);
      const { seq: _, ...bare } = event;
      return bare as InputEvent;
    });
  }

  /** What a frame rendered now follows: each recent viewer's highest drained seq; undefined before any. */
  get appliedInput(): AppliedInput | undefined {
    if (this.appliedView === undefined && this.applied.size > 0) {
      this.appliedView = Object.fromEntries([...this.applied.values()].map(({ id, seq }) => [String(id), seq]));
    }
    return this.appliedView;
  }

  /** The sender of an event that carries a seq (null without one, or for a viewer no longer in the session). */
  private sender(key: ViewerKey, event: InputEvent): Sender | null {
    if (event.seq === undefined) return null;
    const id = this.parts.control.presence(key)?.you;
    return id === undefined ? null : { key, id };
  }

  private noteApplied({ key, id }: Sender, seq: number): void {
    const last = this.applied.get(key);
    // A paced resize may be drained after later input: the seq applied never goes back.
    if (last && last.seq >= seq) return;
    this.applied.delete(key);
    this.applied.set(key, { id, seq });
    if (this.applied.size > APPLIED_INPUT_VIEWERS) this.applied.delete(this.applied.keys().next().value!);
    this.appliedView = undefined;
  }
}
