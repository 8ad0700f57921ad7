// A richer scene than the built-in one, for the codec benchmark: most engines' output has more texture
// and more motion than a few lit shapes on a plane. A detailed background pans (a moving camera) under
// 48 textured objects of many sizes that move along their own paths, some fast. Deterministic (seeded),
// drawn on the CPU in RGBA, once per frame of a precomputed ring.

/** xorshift32: the same sequence on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface Sprite {
  size: number;
  /** RGBA texels, alpha 0 outside the shape (round shapes have soft edges). */
  texels: Uint8ClampedArray;
  /** Path: centre + amplitude * sin(speed * frame + phase), per axis. */
  cx: number;
  cy: number;
  ax: number;
  ay: number;
  sx: number;
  sy: number;
  px: number;
  py: number;
}

const PAN = [3, 1] as const; // background pixels per frame

// Uint8ClampedArray: colours saturate instead of wrapping around.
function makeBackground(width: number, height: number, rnd: () => number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(width * height * 4);
  const waves = Array.from({ length: 6 }, () => [rnd() * 0.05 + 0.005, rnd() * 0.05 + 0.005, rnd() * 6.28, rnd()]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (const [fx, fy, ph, w] of waves) v += w! * Math.sin(x * fx! + y * fy! + ph!);
      const grain = rnd() * 16; // fine detail, the part a codec finds hardest
      const i = (y * width + x) * 4;
      out[i] = 90 + 50 * v + grain;
      out[i + 1] = 110 + 40 * Math.sin(v * 2 + y * 0.01) + grain;
      out[i + 2] = 80 + 60 * Math.cos(v + x * 0.007) + grain * 0.5;
      out[i + 3] = 255;
    }
  }
  return out;
}

function makeSprite(size: number, kind: number, rnd: () => number): Uint8ClampedArray {
  const t = new Uint8ClampedArray(size * size * 4);
  const [r0, g0, b0] = [rnd() * 255, rnd() * 255, rnd() * 255];
  const [r1, g1, b1] = [rnd() * 255, rnd() * 255, rnd() * 255];
  const cell = 4 + Math.floor(rnd() * 12);
  const angle = rnd() * Math.PI;
  const round = kind % 2 === 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = (x + 0.5) / size - 0.5;
      const dy = (y + 0.5) / size - 0.5;
      const d = Math.hypot(dx, dy);
      const alpha = round ? Math.min(1, Math.max(0, (0.5 - d) * size)) : 1;
      let m: number;
      if (kind % 4 === 0) m = ((Math.floor(x / cell) + Math.floor(y / cell)) & 1) * 0.8 + rnd() * 0.2;
      else if (kind % 4 === 1) m = 0.5 + 0.5 * Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) / cell * 2);
      else if (kind % 4 === 2) m = 0.5 + 0.5 * Math.sin(d * size / cell * 3);
      else m = rnd();
      const light = round ? 1.2 - d * 1.4 - dx * 0.6 : 1 - dy * 0.5;
      const i = (y * size + x) * 4;
      t[i] = (r0 + (r1 - r0) * m) * light;
      t[i + 1] = (g0 + (g1 - g0) * m) * light;
      t[i + 2] = (b0 + (b1 - b0) * m) * light;
      t[i + 3] = alpha * 255;
    }
  }
  return t;
}

/** `frames` RGBA frames of the rich scene at width x height (stride width * 4). */
export function makeRichScene(width: number, height: number, frames: number): Uint8Array[] {
  const rnd = random(0x5eed);
  const bgWidth = width + PAN[0] * frames;
  const bgHeight = height + PAN[1] * frames;
  const background = makeBackground(bgWidth, bgHeight, rnd);
  const scale = width / 1280;
  const sprites: Sprite[] = Array.from({ length: 48 }, (_, k) => {
    const size = Math.round((40 + rnd() * 180) * scale);
    return {
      size,
      texels: makeSprite(size, k, rnd),
      cx: rnd() * width,
      cy: rnd() * height,
      ax: rnd() * width * 0.4,
      ay: rnd() * height * 0.4,
      sx: 0.01 + rnd() * 0.08,
      sy: 0.01 + rnd() * 0.08,
      px: rnd() * 6.28,
      py: rnd() * 6.28,
    };
  });
  const ring: Uint8Array[] = [];
  for (let f = 0; f < frames; f++) {
    const out = new Uint8ClampedArray(width * height * 4);
    const [ox, oy] = [PAN[0] * f, PAN[1] * f];
    for (let y = 0; y < height; y++) {
      const from = ((y + oy) * bgWidth + ox) * 4;
      out.set(background.subarray(from, from + width * 4), y * width * 4);
    }
    for (const s of sprites) blit(out, width, height, s, f);
    ring.push(new Uint8Array(out.buffer));
  }
  return ring;
}

function blit(out: Uint8ClampedArray, width: number, height: number, s: Sprite, f: number) {
  const left = Math.round(s.cx + s.ax * Math.sin(s.sx * f + s.px) - s.size / 2);
  const top = Math.round(s.cy + s.ay * Math.sin(s.sy * f + s.py) - s.size / 2);
  for (let y = Math.max(0, -top); y < s.size && top + y < height; y++) {
    for (let x = Math.max(0, -left); x < s.size && left + x < width; x++) {
      const si = (y * s.size + x) * 4;
      const a = s.texels[si + 3]!;
      if (a === 0) continue;
      const di = ((top + y) * width + left + x) * 4;
      for (let c = 0; c < 3; c++) out[di + c] = (s.texels[si + c]! * a + out[di + c]! * (255 - a)) / 255;
    }
  }
}
