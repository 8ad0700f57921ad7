// The built-in orbit scene: its meshes (made once), its camera (driven by InputState) and the
// uniform block the shaders read (src/vulkan/shaders/scene.glsl, std140). Pure TypeScript and
// deterministic: the same camera and the same t give the same bytes.
import type { InputState } from "../input.ts";

export type Mat4 = Float32Array; // column-major, as GLSL reads it

export function perspective(fovY: number, aspect: number, near: number, far: number): Mat4 {
  const f = 1 / Math.tan(fovY / 2);
  const m = new Float32Array(16);
  m[0] = f / aspect;
  m[5] = -f; // Vulkan's framebuffer y points down
  m[10] = far / (near - far); // depth 0..1
  m[11] = -1;
  m[14] = (near * far) / (near - far);
  return m;
}

export function lookAt(eye: readonly number[], target: readonly number[], up: readonly number[]): Mat4 {
  const f = normalize([target[0]! - eye[0]!, target[1]! - eye[1]!, target[2]! - eye[2]!]);
  const s = normalize(cross(f, up));
  const u = cross(s, f);
  const m = new Float32Array(16);
  m[0] = s[0]!;
  m[4] = s[1]!;
  m[8] = s[2]!;
  m[1] = u[0]!;
  m[5] = u[1]!;
  m[9] = u[2]!;
  m[2] = -f[0]!;
  m[6] = -f[1]!;
  m[10] = -f[2]!;
  m[12] = -dot(s, eye);
  m[13] = -dot(u, eye);
  m[14] = dot(f, eye);
  m[15] = 1;
  return m;
}

export function multiply(a: Mat4, b: Mat4): Mat4 {
  const m = new Float32Array(16);
  for (let c = 0; c < 4; c++)
    for (let r = 0; r < 4; r++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += a[k * 4 + r]! * b[c * 4 + k]!;
      m[c * 4 + r] = v;
    }
  return m;
}

export function invert(a: Mat4): Mat4 {
  const [a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33] = a as unknown as number[];
  const b00 = a00! * a11! - a01! * a10!;
  const b01 = a00! * a12! - a02! * a10!;
  const b02 = a00! * a13! - a03! * a10!;
  const b03 = a01! * a12! - a02! * a11!;
  const b04 = a01! * a13! - a03! * a11!;
  const b05 = a02! * a13! - a03! * a12!;
  const b06 = a20! * a31! - a21! * a30!;
  const b07 = a20! * a32! - a22! * a30!;
  const b08 = a20! * a33! - a23! * a30!;
  const b09 = a21! * a32! - a22! * a31!;
  const b10 = a21! * a33! - a23! * a31!;
  const b11 = a22! * a33! - a23! * a32!;
  const det = b00 * b11 - b01 * b10 + b02 * b09 + b03 * b08 - b04 * b07 + b05 * b06;
  const d = det === 0 ? 0 : 1 / det;
  return new Float32Array([
    (a11! * b11 - a12! * b10 + a13! * b09) * d,
    (a02! * b10 - a01! * b11 - a03! * b09) * d,
    (a31! * b05 - a32! * b04 + a33! * b03) * d,
    (a22! * b04 - a21! * b05 - a23! * b03) * d,
    (a12! * b08 - a10! * b11 - a13! * b07) * d,
    (a00! * b11 - a02! * b08 + a03! * b07) * d,
    (a32! * b02 - a30! * b05 - a33! * b01) * d,
    (a20! * b05 - a22! * b02 + a23! * b01) * d,
    (a10! * b10 - a11! * b08 + a13! * b06) * d,
    (a01! * b08 - a00! * b10 - a03! * b06) * d,
    (a30! * b04 - a31! * b02 + a33! * b00) * d,
    (a21! * b02 - a20! * b04 - a23! * b00) * d,
    (a11! * b07 - a10! * b09 - a12! * b06) * d,
    (a00! * b09 - a01! * b07 + a02! * b06) * d,
    (a31! * b01 - a30! * b03 - a32! * b00) * d,
    (a20! * b03 - a21! * b01 + a22! * b00) * d,
  ]);
}

/** Translation * rotation about a unit axis * uniform scale. */
export function transform(pos: readonly number[], axis: readonly number[], angle: number, scale: number): Mat4 {
  const [x, y, z] = normalize(axis) as [number, number, number];
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const t = 1 - c;
  return new Float32Array([
    (t * x * x + c) * scale,
    (t * x * y + s * z) * scale,
    (t * x * z - s * y) * scale,
    0,
    (t * x * y - s * z) * scale,
    (t * y * y + c) * scale,
    (t * y * z + s * x) * scale,
    0,
    (t * x * z + s * y) * scale,
    (t * y * z - s * x) * scale,
    (t * z * z + c) * scale,
    0,
    pos[0]!,
    pos[1]!,
    pos[2]!,
    1,
  ]);
}

function dot(a: readonly number[], b: readonly number[]): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}
function cross(a: readonly number[], b: readonly number[]): number[] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}
function normalize(a: readonly number[]): number[] {
  const l = Math.hypot(a[0]!, a[1]!, a[2]!) || 1;
  return [a[0]! / l, a[1]! / l, a[2]! / l];
}

// ---------------------------------------------------------------------------------------------------
// Meshes

/** Draw kinds of the C library: which pipeline draws the range. */
export const DRAW_MESH = 0;
export const DRAW_GROUND = 1;

export interface Geometry {
  /** position xyz, normal xyz per vertex */
  vertices: Float32Array;
  indices: Uint32Array;
  /** (kind, first index, index count, object) per draw */
  draws: Uint32Array;
}

class MeshBuilder {
  private v: number[] = [];
  private i: number[] = [];
  readonly ranges = new Map<string, { first: number; count: number }>();

  private vertex(p: readonly number[], n: readonly number[]): number {
    this.v.push(p[0]!, p[1]!, p[2]!, n[0]!, n[1]!, n[2]!);
    return this.v.length / 6 - 1;
  }

  begin(): number {
    return this.i.length;
  }
  end(name: string, first: number): void {
    this.ranges.set(name, { first, count: this.i.length - first });
  }

  plane(half: number): void {
    const first = this.begin();
    const n = [0, 1, 0];
    const a = this.vertex([-half, 0, -half], n);
    const b = this.vertex([-half, 0, half], n);
    const c = this.vertex([half, 0, half], n);
    const d = this.vertex([half, 0, -half], n);
    this.i.push(a, b, c, a, c, d); // counter-clockwise seen from above
    this.end("plane", first);
  }

  cube(): void {
    const first = this.begin();
    const faces: [number[], number[], number[]][] = [
      // normal, u, v with u x v = normal (counter-clockwise seen from outside)
      [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
      [[-1, 0, 0], [0, 0, 1], [0, 1, 0]],
      [[0, 1, 0], [1, 0, 0], [0, 0, -1]],
      [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
      [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
      [[0, 0, -1], [-1, 0, 0], [0, 1, 0]],
    ];
    for (const [n, u, v] of faces) {
      const corner = (su: number, sv: number) =>
        this.vertex([0, 1, 2].map((k) => 0.5 * (n[k]! + su * u[k]! + sv * v[k]!)), n);
      const a = corner(-1, -1);
      const b = corner(1, -1);
      const c = corner(1, 1);
      const d = corner(-1, 1);
      this.i.push(a, b, c, a, c, d);
    }
    this.end("cube", first);
  }

  torus(major: number, minor: number, segments: number, sides: number): void {
    const first = this.begin();
    const base = this.v.length / 6;
    for (let i = 0; i <= segments; i++) {
      const u = (i / segments) * Math.PI * 2;
      for (let j = 0; j <= sides; j++) {
        const w = (j / sides) * Math.PI * 2;
        const n = [Math.cos(u) * Math.cos(w), Math.sin(w), Math.sin(u) * Math.cos(w)];
        const p = [Math.cos(u) * (major + minor * Math.cos(w)), minor * Math.sin(w), Math.sin(u) * (major + minor * Math.cos(w))];
        this.vertex(p, n);
      }
    }
    const row = sides + 1;
    for (let i = 0; i < segments; i++)
      for (let j = 0; j < sides; j++) {
        const a = base + i * row + j;
        const b = a + row;
        this.i.push(a, a + 1, b, b, a + 1, b + 1);
      }
    this.end("torus", first);
  }

  sphere(segments: number, rings: number): void {
    const first = this.begin();
    const base = this.v.length / 6;
    for (let r = 0; r <= rings; r++) {
      const phi = (r / rings) * Math.PI;
      for (let s = 0; s <= segments; s++) {
        const theta = (s / segments) * Math.PI * 2;
        const n = [Math.sin(phi) * Math.cos(theta), Math.cos(phi), Math.sin(phi) * Math.sin(theta)];
        this.vertex(n, n);
      }
    }
    const row = segments + 1;
    for (let r = 0; r < rings; r++)
      for (let s = 0; s < segments; s++) {
        const a = base + r * row + s;
        const b = a + row;
        this.i.push(a, a + 1, b, b, a + 1, b + 1);
      }
    this.end("sphere", first);
  }

  build(): { vertices: Float32Array; indices: Uint32Array } {
    return { vertices: new Float32Array(this.v), indices: new Uint32Array(this.i) };
  }
}

// ---------------------------------------------------------------------------------------------------
// The scene's objects

export const MAX_OBJECTS = 16;

interface SceneObject {
  mesh: "plane" | "cube" | "torus" | "sphere";
  kind: number;
  color: [number, number, number, number]; // albedo rgb, specular exponent (0: none)
  place(t: number): Mat4;
}

const ORBITERS = 5;

const OBJECTS: SceneObject[] = [
  { mesh: "plane", kind: DRAW_GROUND, color: [0.62, 0.66, 0.58, 0], place: () => transform([0, 0, 0], [0, 1, 0], 0, 1) },
  {
    mesh: "torus",
    kind: DRAW_MESH,
    color: [0.95, 0.42, 0.08, 60],
    place: (t) => transform([0, 1.6 + 0.15 * Math.sin(t * 1.3), 0], [1, 0.3, 0.2], t * 0.8, 1),
  },
  {
    mesh: "sphere",
    kind: DRAW_MESH,
    color: [0.85, 0.88, 0.95, 120],
    place: (t) => transform([0, 1.6 + 0.15 * Math.sin(t * 1.3), 0], [0, 1, 0], t, 0.45),
  },
  ...Array.from({ length: ORBITERS }, (_, k): SceneObject => {
    const hue = k / ORBITERS;
    const color: [number, number, number, number] = [
      0.5 + 0.45 * Math.cos(2 * Math.PI * (hue + 0.0)),
      0.5 + 0.45 * Math.cos(2 * Math.PI * (hue + 0.33)),
      0.5 + 0.45 * Math.cos(2 * Math.PI * (hue + 0.67)),
      24,
    ];
    return {
      mesh: "cube",
      kind: DRAW_MESH,
      color,
      place: (t) => {
        const a = t * 0.35 + (k / ORBITERS) * Math.PI * 2;
        const r = 4;
        const bob = Math.abs(Math.sin(t * 2 + k)) * 0.8;
        return transform([Math.cos(a) * r, 0.5 + bob, Math.sin(a) * r], [0.3, 1, 0.1 * k], t * (0.6 + 0.2 * k), 1);
      },
    };
  }),
  // Four pillars at the corners, still.
  ...[
    [-7, -7],
    [7, -7],
    [-7, 7],
    [7, 7],
  ].map(
    ([x, z]): SceneObject => ({
      mesh: "cube",
      kind: DRAW_MESH,
      color: [0.75, 0.72, 0.68, 8],
      place: () => transform([x!, 1, z!], [0, 1, 0], Math.PI / 4, 2),
    }),
  ),
];

export function buildGeometry(): Geometry {
  const b = new MeshBuilder();
  b.plane(120);
  b.cube();
  b.torus(1.1, 0.32, 48, 20);
  b.sphere(32, 16);
  const { vertices, indices } = b.build();
  const draws = new Uint32Array(OBJECTS.length * 4);
  OBJECTS.forEach((o, i) => {
    const r = b.ranges.get(o.mesh)!;
    draws.set([o.kind, r.first, r.count, i], i * 4);
  });
  return { vertices, indices, draws };
}

// ---------------------------------------------------------------------------------------------------
// Camera

export interface CameraState {
  target: [number, number, number];
  yaw: number; // radians, around +y
  pitch: number; // radians above the horizon
  distance: number;
}

export const DEFAULT_CAMERA: Readonly<CameraState> = Object.freeze({
  target: [0, 1, 0] as [number, number, number],
  yaw: 0.6,
  pitch: 0.38,
  distance: 11,
});

const ROTATE_PER_PIXEL = 0.005; // radians
const ZOOM_PER_WHEEL_UNIT = 0.0015; // wheel dy of 100 (one notch) zooms by ~16%
const MOVE_SPEED = 5; // units per second at distance 10
const PITCH_MIN = 0.03;
const PITCH_MAX = 1.5;
const DISTANCE_MIN = 2.5;
const DISTANCE_MAX = 60;
const FOV_Y = (55 * Math.PI) / 180;

/** Keys that move the target: [forward, right] per key, forward towards where the camera looks. */
const MOVE_KEYS: Record<string, [number, number]> = {
  w: [1, 0],
  W: [1, 0],
  ArrowUp: [1, 0],
  s: [-1, 0],
  S: [-1, 0],
  ArrowDown: [-1, 0],
  a: [0, -1],
  A: [0, -1],
  ArrowLeft: [0, -1],
  d: [0, 1],
  D: [0, 1],
  ArrowRight: [0, 1],
};
const RESET_KEYS = ["r", "R", "Home"];

export class OrbitCamera {
  state: CameraState = cloneCamera(DEFAULT_CAMERA);
  private lastT: number | null = null;

  reset(): void {
    this.state = cloneCamera(DEFAULT_CAMERA);
  }

  /**
   * Folds one frame's input into the camera: left-drag rotates, right/middle-drag pans, the wheel
   * zooms, WASD/arrows move the target (scaled by the time since the last frame), r/Home resets.
   */
  apply(t: number, input: InputState): void {
    const dt = this.lastT === null ? 0 : Math.min(Math.max(t - this.lastT, 0), 0.1);
    this.lastT = t;
    if (RESET_KEYS.some((k) => input.pressed.has(k))) this.reset();
    const s = this.state;
    if (input.dragX !== 0 || input.dragY !== 0) {
      if (input.buttons.has(1) || input.buttons.size === 0) {
        // A drag whose button was released during the frame still counts as a rotation.
        s.yaw -= input.dragX * ROTATE_PER_PIXEL;
        s.pitch = clamp(s.pitch + input.dragY * ROTATE_PER_PIXEL, PITCH_MIN, PITCH_MAX);
      } else {
        // Pan: the ground follows the pointer (scaled by the distance).
        const scale = s.distance * 0.0015;
        const [fx, fz] = [-Math.sin(s.yaw), -Math.cos(s.yaw)];
        s.target[0] += (-input.dragX * -fz + input.dragY * fx) * scale;
        s.target[2] += (-input.dragX * fx + input.dragY * fz) * scale;
      }
    }
    if (input.wheelY !== 0)
      s.distance = clamp(s.distance * Math.exp(input.wheelY * ZOOM_PER_WHEEL_UNIT), DISTANCE_MIN, DISTANCE_MAX);
    let forward = 0;
    let right = 0;
    for (const k of input.keys) {
      const m = MOVE_KEYS[k];
      if (m) {
        forward += m[0];
        right += m[1];
      }
    }
    if ((forward !== 0 || right !== 0) && dt > 0) {
      const step = MOVE_SPEED * dt * (s.distance / 10);
      // Forward is the camera's view direction projected on the ground.
      const fx = -Math.sin(s.yaw);
      const fz = -Math.cos(s.yaw);
      s.target[0] += (forward * fx - right * fz) * step;
      s.target[2] += (forward * fz + right * fx) * step;
    }
  }

  eye(): [number, number, number] {
    const s = this.state;
    const cp = Math.cos(s.pitch);
    return [
      s.target[0] + s.distance * cp * Math.sin(s.yaw),
      s.target[1] + s.distance * Math.sin(s.pitch),
      s.target[2] + s.distance * cp * Math.cos(s.yaw),
    ];
  }
}

function cloneCamera(c: Readonly<CameraState>): CameraState {
  return { target: [...c.target], yaw: c.yaw, pitch: c.pitch, distance: c.distance };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

// ---------------------------------------------------------------------------------------------------
// Uniforms (std140 layout of scene.glsl)

const U_VIEW_PROJ = 0;
const U_INV_VIEW_PROJ = 16;
const U_CAM_POS = 32;
const U_LIGHT_DIR = 36;
const U_SKY_ZENITH = 40;
const U_SKY_HORIZON = 44;
const U_GROUND_TINT = 48;
const U_MODEL = 52;
const U_COLOR = U_MODEL + 16 * MAX_OBJECTS;
export const UNIFORM_FLOATS = U_COLOR + 4 * MAX_OBJECTS;

const SUN = normalize([0.45, 0.75, 0.35]);

/** Writes the uniform block for camera `cam` at time `t` into `out` (UNIFORM_FLOATS floats). */
export function packSceneUniforms(out: Float32Array, cam: OrbitCamera, t: number, width: number, height: number): void {
  const eye = cam.eye();
  const view = lookAt(eye, cam.state.target, [0, 1, 0]);
  const proj = perspective(FOV_Y, width / height, 0.1, 400);
  const vp = multiply(proj, view);
  out.fill(0);
  out.set(vp, U_VIEW_PROJ);
  out.set(invert(vp), U_INV_VIEW_PROJ);
  out.set([eye[0], eye[1], eye[2], t], U_CAM_POS);
  out.set([SUN[0]!, SUN[1]!, SUN[2]!, 0.55], U_LIGHT_DIR);
  out.set([0.16, 0.32, 0.62, 0], U_SKY_ZENITH);
  out.set([0.78, 0.84, 0.9, 0.018], U_SKY_HORIZON);
  out.set([0.36, 0.42, 0.34, 0.5], U_GROUND_TINT);
  OBJECTS.forEach((o, i) => {
    out.set(o.place(t), U_MODEL + i * 16);
    out.set(o.color, U_COLOR + i * 4);
  });
}
