// H.264 tiers: each frame at full size, at the stream's quantiser (full) and at a coarser one (low), each
// tier on an encoder of its own (an encoder's frames refer to its earlier ones: one encoder makes one
// stream), each with its own IDRs. Tier 0 runs while anyone watches in H.264 (edges relay it); another
// tier runs while a viewer uses or wants it, and stops LINGER_MS after the last one left it. Viewers are
// moved between tiers by tiers.ts's choice, with each tier's recent P frame size as its bytes per frame;
// a viewer that moves keeps its old tier until the new tier's next IDR (h264-fanout.ts).
import type { Logger } from "../log.ts";
import { H264Channel } from "./h264-channel.ts";

/** One H.264 tier: named as the JPEG tier of about its quality (so `?quality=` pins either codec). */
export interface H264Tier {
  name: string;
  /** The JPEG quality whose quantiser it encodes at (qpForQuality), given the one the policy picked. */
  quality(policyQuality: number): number;
  /** Bytes per frame relative to the first tier, before any was measured. */
  relativeSize: number;
}

export const H264_TIERS: readonly H264Tier[] = [
  { name: "full", quality: (q) => q, relativeSize: 1 },
  // q40 is about qp 31: half of full's P frame bytes on the synthetic source at 720p (test/h264-tiers.test.ts).
  { name: "low", quality: (q) => Math.min(q, 40), relativeSize: 0.5 },
];

/** A tier nobody used for this long stops its encoder. */
export const LINGER_MS = 10_000;

export class H264Tiers {
  readonly channels: H264Channel[];
  private readonly lastUsedAt: number[];

  constructor(fps: number, log: Logger, onReady: () => void) {
    this.channels = H264_TIERS.map(() => new H264Channel(fps, log, onReady));
    this.lastUsedAt = H264_TIERS.map(() => -Infinity);
  }

  /** The tiers to encode the next frame in, given those viewers use or want; stops encoders unused for LINGER_MS. */
  inUse(used: ReadonlySet<number>, now: number): number[] {
    const tiers: number[] = [];
    this.channels.forEach((channel, t) => {
      if (t === 0 || used.has(t)) this.lastUsedAt[t] = now;
      if (now - this.lastUsedAt[t]! < LINGER_MS) tiers.push(t);
      else if (channel.running) channel.stop();
    });
    return tiers;
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }
}
