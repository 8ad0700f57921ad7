// The orbit camera of the built-in scene, driven by one frame's InputState at a time: it circles a
// target point, which the keys and a pan move over the ground.
import type { InputState } from "../input-state.ts";

export interface CameraState {
  target: [number, number, number];
  yaw: number; // radians, around +y
  pitch: number; // radians above the horizon
  distance: number;
}

const DEFAULT_CAMERA: Readonly<CameraState> = Object.freeze({
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

  /** A copy of the state, safe to keep. */
  snapshot(): CameraState {
    return cloneCamera(this.state);
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
