// A synthetic frame source: a precomputed ring of animated frames, so that tests and benchmarks
// measure the server and not the generator. The pattern follows the one the original's run_seed.py
// feeds it (sine/cosine gradients, a moving diagonal, noise), plus a moving disc, so side-by-side
// benchmarks encode like pictures; it is written out here and needs nothing outside the repository.
import type { Frame, FrameSource } from "../frame.ts";
import type { InputState } from "../input-state.ts";
import { checkInt } from "../limits.ts";

export const SYNTHETIC_RING = 30;
/** The ring loops once per second of `t`. */
const RING_FPS = 30;

export class SyntheticSource implements FrameSource {
  readonly name = "synthetic";
  readonly device = "synthetic (CPU)";
  width: number;
  height: number;
  private ring: Uint8Array[] = [];

  constructor(width: number, height: number) {
    this.width = checkInt("width", width);
    this.height = checkInt("height", height);
    this.ring = makeRing(width, height, SYNTHETIC_RING);
  }

  /** Frame `k` of the ring (k wraps), for callers that step frames themselves. */
  frame(k: number): Frame {
    const pixels = this.ring[((k % this.ring.length) + this.ring.length) % this.ring.length]!;
    return { pixels, width: this.width, height: this.height, format: "rgba" };
  }

  async nextFrame(t: number, _input: InputState): Promise<Frame> {
    return { ...this.frame(Math.floor(t * RING_FPS)), captureTime: Date.now() };
  }

  resize(width: number, height: number): void {
    if (width === this.width && height === this.height) return;
    // Frames handed out keep their own buffers; the new ring is new memory.
    this.width = checkInt("width", width);
    this.height = checkInt("height", height);
    this.ring = makeRing(width, height, SYNTHETIC_RING);
  }

  close(): void {
    this.ring = [];
  }
}

/** Deterministic noise in [0, 24), like the seeded generator of the original's run_seed.py. */
function noiseField(width: number, height: number): Uint8Array {
  const noise = new Uint8Array(width * height);
  let s = 0x9e3779b9;
  for (let i = 0; i < noise.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    noise[i] = (s >>> 0) % 24;
  }
  return noise;
}

export function makeRing(width: number, height: number, count: number): Uint8Array[] {
  const noise = noiseField(width, height);
  const sinX = new Float32Array(width);
  const cosY = new Float32Array(height);
  const ring: Uint8Array[] = [];
  const radius = Math.max(4, Math.round(Math.min(width, height) / 8));
  for (let k = 0; k < count; k++) {
    const t = k / count;
    for (let x = 0; x < width; x++) sinX[x] = Math.floor((Math.sin(x / 40 + t) * 0.5 + 0.5) * 200);
    for (let y = 0; y < height; y++) cosY[y] = Math.floor((Math.cos(y / 30 - t) * 0.5 + 0.5) * 200);
    const px = new Uint8Array(width * height * 4);
    const cx = width / 2 + Math.cos(2 * Math.PI * t) * width * 0.3;
    const cy = height / 2 + Math.sin(2 * Math.PI * t) * height * 0.3;
    for (let y = 0; y < height; y++) {
      const g = cosY[y]!;
      const dy = y - cy;
      let i = y * width * 4;
      for (let x = 0; x < width; x++, i += 4) {
        const dx = x - cx;
        if (dx * dx + dy * dy < radius * radius) {
          px[i] = 250;
          px[i + 1] = 250;
          px[i + 2] = 240;
        } else {
          px[i] = (sinX[x]! + noise[y * width + x]!) & 255;
          px[i + 1] = g;
          px[i + 2] = (x + y + k * 4) & 255;
        }
        px[i + 3] = 255;
      }
    }
    ring.push(px);
  }
  return ring;
}
