// Adaptive quality: while input arrives frames use the interactive quality; when input or motion stops,
// one still frame at the still quality follows; the same picture again after it is not sent at all.

/** Input quiet for this long ends an interaction: a still frame at the still quality follows. */
export const INTERACTION_QUIET_MS = 300;

export type FrameKind = "interactive" | "still" | "normal";

/** What the policy remembers of the frames it let through. */
export interface QualityMemory {
  /** Hash of the pixels of the last frame let through (null: none, or it was never sent). */
  lastHash: bigint | null;
  lastWasStill: boolean;
  /** The last frame let through was interactive. */
  interacting: boolean;
}

/**
 * The kind of the next frame, or null when it is the picture already sent as a still (skip it).
 * Pure: `msSinceInput` is how long ago the last input arrived.
 */
export function frameKind(memory: QualityMemory, hash: bigint, msSinceInput: number): FrameKind | null {
  if (msSinceInput <= INTERACTION_QUIET_MS) return "interactive";
  const unchanged = hash === memory.lastHash;
  if (unchanged && memory.lastWasStill) return null;
  // The interaction just ended, or the picture stopped changing: one still frame.
  return memory.interacting || unchanged ? "still" : "normal";
}

export interface Qualities {
  quality: number;
  interactiveQuality: number;
  stillQuality: number;
}

/** The policy with its memory: one per stream. */
export class QualityPolicy {
  private readonly memory: QualityMemory = { lastHash: null, lastWasStill: false, interacting: false };
  private lastInputAt = -Infinity;
  /** The kind of the last frame let through. */
  lastKind: FrameKind = "normal";

  constructor(private readonly qualities: Qualities) {}

  /** Input from a viewer arrived (performance.now() time). */
  noteInput(now: number): void {
    this.lastInputAt = now;
  }

  /** Decides the JPEG quality of a frame with these pixels, or null to skip it as unchanged. */
  qualityFor(hash: bigint, now: number): number | null {
    const kind = frameKind(this.memory, hash, now - this.lastInputAt);
    if (kind === null) return null;
    this.lastKind = kind;
    this.memory.interacting = kind === "interactive";
    this.memory.lastHash = hash;
    this.memory.lastWasStill = kind === "still";
    const q = this.qualities;
    return { interactive: q.interactiveQuality, still: q.stillQuality, normal: q.quality }[kind];
  }

  /** The last frame let through was never sent: the next one must not be skipped as unchanged against it. */
  forgetLastFrame(): void {
    this.memory.lastHash = null;
  }
}
