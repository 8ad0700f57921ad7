// The built-in orbit scene: which objects it has and how they move, the geometry the C library draws
// them from, and the uniform block the shaders read (src/vulkan/shaders/scene.glsl, std140). Pure
// TypeScript and deterministic: the same camera and the same t give the same bytes.
import { VKC_DRAW } from "./binding.ts";
import type { OrbitCamera } from "./camera.ts";
import { invert, lookAt, type Mat4, multiply, normalize, perspective, transform } from "./mat4.ts";
import { MeshBuilder, type MeshName } from "./meshes.ts";

/** What vkc_set_geometry takes. */
export interface Geometry {
  /** position xyz, normal xyz per vertex */
  vertices: Float32Array;
  indices: Uint32Array;
  /** (kind, first index, index count, object) per draw */
  draws: Uint32Array;
}

// ---------------------------------------------------------------------------------------------------
// The scene's objects

/** How many objects the uniform block has room for (scene.glsl's arrays). */
const MAX_OBJECTS = 16;

interface SceneObject {
  mesh: MeshName;
  /** VKC_DRAW_*: the pipeline that draws it. */
  kind: number;
  color: [number, number, number, number]; // albedo rgb, specular exponent (0: none)
  place(t: number): Mat4;
}

const ORBITERS = 5;

const OBJECTS: SceneObject[] = [
  { mesh: "plane", kind: VKC_DRAW.GROUND, color: [0.62, 0.66, 0.58, 0], place: () => transform([0, 0, 0], [0, 1, 0], 0, 1) },
  {
    mesh: "torus",
    kind: VKC_DRAW.MESH,
    color: [0.95, 0.42, 0.08, 60],
    place: (t) => transform([0, 1.6 + 0.15 * Math.sin(t * 1.3), 0], [1, 0.3, 0.2], t * 0.8, 1),
  },
  {
    mesh: "sphere",
    kind: VKC_DRAW.MESH,
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
      kind: VKC_DRAW.MESH,
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
      kind: VKC_DRAW.MESH,
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
/** The camera's vertical field of view. */
const FOV_Y = (55 * Math.PI) / 180;

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
