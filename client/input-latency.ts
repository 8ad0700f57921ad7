// Input to display: each input message this page sends carries a `seq`, counting from 1 on each connection,
// and each frame's metadata says the highest seq of this viewer's input the engine applied before rendering
// it (`in`, by session id). Painting a frame that follows seq S measures, for the newest key or pointer
// message with a seq <= S not measured yet, the time from the user's action (input.ts: the message's send, or
// for a coalesced pointer move or wheel its newest DOM event) to this paint.

import type { AppliedInput } from "../src/protocol/viewer-messages.ts";

/** The messages whose delay is measured: what a user does with keys and the pointer. */
const MEASURED = new Set(["key_down", "key_up", "text", "pointer_down", "pointer_up", "pointer_move", "double_click", "wheel"]);
/** Send times kept, newest only: four seconds of pointer moves at 60 a second. */
const MAX_SENT = 256;
/** Frames received, not yet painted, that follow some input of this viewer. */
const MAX_FRAMES = 32;

export class InputLatency {
  private nextSeq = 1;
  /** seq -> performance.now() time of the user's action, oldest first. */
  private readonly actedAt = new Map<number, number>();
  /** Frame seq -> the seq of this viewer's input it follows, oldest first. */
  private readonly frames = new Map<number, number>();
  /** This viewer's session id (presence's `you`): its key in a frame's `in`. */
  viewerId: number | null = null;

  /** A new connection: the seqs start again, the session id is not known yet. */
  reset(): void {
    this.nextSeq = 1;
    this.actedAt.clear();
    this.frames.clear();
    this.viewerId = null;
  }

  /** The message with its seq, to send now; `happenedAt`: when the user did it. */
  stamp<T extends { type: string }>(msg: T, happenedAt: number): T & { seq: number } {
    const seq = this.nextSeq++;
    if (MEASURED.has(msg.type)) {
      this.actedAt.set(seq, happenedAt);
      if (this.actedAt.size > MAX_SENT) this.actedAt.delete(this.actedAt.keys().next().value!);
    }
    return { ...msg, seq };
  }

  /** A frame arrived: what its metadata says of this viewer's input is kept until it is painted or overtaken. */
  frameArrived(frameSeq: number | undefined, applied: AppliedInput | undefined): void {
    if (frameSeq === undefined || applied === undefined || this.viewerId === null) return;
    const seq = applied[String(this.viewerId)];
    if (seq === undefined) return;
    this.frames.set(frameSeq, seq);
    if (this.frames.size > MAX_FRAMES) this.frames.delete(this.frames.keys().next().value!);
  }

  /** A frame was painted at `now`: the input->display delay it shows (ms), or null when it shows no input not measured yet. */
  framePainted(frameSeq: number | undefined, now: number): number | null {
    if (frameSeq === undefined) return null;
    const applied = this.frames.get(frameSeq);
    // Frames up to this one are painted or never will be (the view shows the newest only).
    for (const seq of this.frames.keys()) if (seq <= frameSeq) this.frames.delete(seq);
    if (applied === undefined) return null;
    let newest: { seq: number; at: number } | null = null;
    for (const [seq, at] of this.actedAt) {
      if (seq > applied) continue;
      if (!newest || seq > newest.seq) newest = { seq, at };
      this.actedAt.delete(seq);
    }
    return newest ? now - newest.at : null;
  }
}
