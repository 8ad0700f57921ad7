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
/** Gamepad (standard mapping): sticks below this are at rest; full deflection turns and zooms at these rates. */
const STICK_DEAD_ZONE = 0.15;
const STICK_TURN_PER_S = 2; // radians
const TRIGGER_ZOOM_PER_S = 1.5; // e-folds of distance
/** Standard mapping: left stick axes 0-1, right stick axes 2-3, triggers buttons 6-7, start button 9. */
const PAD = { moveX: 0, moveY: 1, turnX: 2, turnY: 3, zoomOut: 6, zoomIn: 7, reset: 9 } as const;

export class OrbitCamera {
  state: CameraState = cloneCamera(DEFAULT_CAMERA);
  private lastT: number | null = null;
  /** Whether a gamepad's reset button was down last frame (it resets once per press). */
  private padResetHeld = false;

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
    const pad = this.flyWithGamepads(input, dt);
    forward += pad.forward;
    right += pad.right;
    if ((forward !== 0 || right !== 0) && dt > 0) {
      const step = MOVE_SPEED * dt * (s.distance / 10);
      // Forward is the camera's view direction projected on the ground.
      const fx = -Math.sin(s.yaw);
      const fz = -Math.cos(s.yaw);
      s.target[0] += (forward * fx - right * fz) * step;
      s.target[2] += (forward * fz + right * fx) * step;
    }
  }

  /**
   * The gamepads' share of this frame (standard mapping): the right stick turns, the triggers zoom and
   * start resets here; the left stick's move is returned to go with the keys'.
   */
  private flyWithGamepads(input: InputState, dt: number): { forward: number; right: number } {
    let forward = 0;
    let right = 0;
    let resetDown = false;
    const s = this.state;
    for (const { buttons, axes } of input.gamepads.values()) {
      const axis = (i: number) => deadZone(axes[i] ?? 0);
      forward -= axis(PAD.moveY);
      right += axis(PAD.moveX);
      s.yaw -= axis(PAD.turnX) * STICK_TURN_PER_S * dt;
      s.pitch = clamp(s.pitch + axis(PAD.turnY) * STICK_TURN_PER_S * dt, PITCH_MIN, PITCH_MAX);
      const zoom = (buttons[PAD.zoomOut] ?? 0) - (buttons[PAD.zoomIn] ?? 0);
      if (zoom !== 0) s.distance = clamp(s.distance * Math.exp(zoom * TRIGGER_ZOOM_PER_S * dt), DISTANCE_MIN, DISTANCE_MAX);
      if ((buttons[PAD.reset] ?? 0) > 0.5) resetDown = true;
    }
    if (resetDown && !this.padResetHeld) this.reset();
    this.padResetHeld = resetDown;
    return { forward, right };
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

function deadZone(v: number): number {
  return Math.abs(v) < STICK_DEAD_ZONE ? 0 : v;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
