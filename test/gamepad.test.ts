// Gamepads: the built-in scene's camera flies with one (standard mapping), first as a table of inputs
// and what the camera did, then end to end: a page whose Gamepad API reports a pad drives the real
// Vulkan scene (lavapipe) through the real server. No machine here has a gamepad, so the page's
// navigator.getGamepads reports one from a script: everything after it is the real path.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type EngineLoop, runEngine } from "../src/engine.ts";
import { InputState } from "../src/input-state.ts";
import { createLogger } from "../src/log.ts";
import type { InputEvent } from "../src/protocol/input-schema.ts";
import { StreamingServer } from "../src/server.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { type CameraState, OrbitCamera } from "../src/vulkan/camera.ts";
import { launchChromium } from "./helpers/browser.ts";
import { waitFor } from "./helpers/wait.ts";

const pad = (axes: number[], buttons: number[] = []): InputEvent => ({
  type: "gamepad",
  index: 0,
  axes,
  buttons: [...buttons, ...new Array(17 - buttons.length).fill(0)],
});

/** The camera after a second of frames (0.05 s each) with this pad state held. */
function fly(events: InputEvent[]): { before: CameraState; after: CameraState } {
  const camera = new OrbitCamera();
  const input = new InputState();
  const before = camera.snapshot();
  input.apply(events);
  for (let t = 0; t <= 1.0001; t += 0.05) camera.apply(t, input);
  return { before, after: camera.snapshot() };
}

describe("the scene's camera flies with a gamepad", () => {
  test("left stick forward moves the target along the view; a stick in its dead zone does nothing", () => {
    const { before, after } = fly([pad([0, -1, 0, 0])]);
    expect(Math.hypot(after.target[0] - before.target[0], after.target[2] - before.target[2])).toBeGreaterThan(3);
    expect(after.yaw).toBe(before.yaw);
    const still = fly([pad([0.1, -0.1, 0.12, 0])]);
    expect(still.after).toEqual(still.before);
  });

  test("right stick turns; the triggers zoom (right in, left out)", () => {
    const turned = fly([pad([0, 0, 1, 0])]);
    expect(turned.before.yaw - turned.after.yaw).toBeCloseTo(2, 1);
    const zoomIn = fly([pad([0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1])]);
    expect(zoomIn.after.distance).toBeLessThan(zoomIn.before.distance * 0.5);
    const zoomOut = fly([pad([0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0])]);
    expect(zoomOut.after.distance).toBeGreaterThan(zoomOut.before.distance * 2);
  });

  test("start resets once per press; a pad at rest is forgotten", () => {
    const camera = new OrbitCamera();
    const input = new InputState();
    input.apply([pad([0, 0, 1, 0])]);
    camera.apply(0, input);
    camera.apply(0.1, input);
    input.apply([pad([0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1])]);
    camera.apply(0.2, input);
    expect(camera.snapshot()).toEqual(new OrbitCamera().snapshot());
    input.apply([pad([0, 0, 0, 0])]);
    expect(input.gamepads.size).toBe(0);
  });
});

describe("a gamepad in the page drives the Vulkan scene", () => {
  let source: VulkanSource;
  let server: StreamingServer;
  let engine: EngineLoop;

  beforeAll(async () => {
    source = await VulkanSource.create({ width: 320, height: 180 });
    server = new StreamingServer({ port: 0, fps: 20 });
    await server.start(320, 180);
    engine = runEngine(server, source, createLogger("silent"));
  }, 30_000);

  afterAll(async () => {
    await engine.stop();
    await server.stop();
    source.close();
  });

  test("the right stick held in the page turns the camera; the page sends at most 60 events a second", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 640, height: 360 } });
      // The pad the Gamepad API reports: once the page says so, the right stick pushed right, trembling a
      // little at every read, so that each poll finds a new state (the page must still send at most 60/s).
      await page.addInitScript(() => {
        const buttons = Array.from({ length: 17 }, () => ({ value: 0, pressed: false, touched: false }));
        const gamepad = { index: 0, id: "test pad", connected: true, mapping: "standard", timestamp: 0, buttons, axes: [0, 0, 0, 0] };
        let pushed = false;
        let reads = 0;
        const read = () => {
          if (pushed) gamepad.axes = [0, 0, 0.9 + (reads++ % 10) / 100, 0];
          return [gamepad, null, null, null];
        };
        Object.defineProperty(navigator, "getGamepads", { value: read });
        (window as unknown as { pushStick: () => void }).pushStick = () => {
          pushed = true;
          window.dispatchEvent(Object.assign(new Event("gamepadconnected"), { gamepad }));
        };
      });
      await page.goto(`${server.url}?codec=jpeg`);
      await page.waitForFunction(() => document.getElementById("control-badge")!.textContent === "You are driving · 0 watching", null, {
        timeout: 15_000,
      });
      const yaw = source.cameraState.yaw;
      const accepted = server.stats.inputAccepted;
      const started = performance.now();
      await page.evaluate(() => (window as unknown as { pushStick: () => void }).pushStick());
      await waitFor(() => source.cameraState.yaw < yaw - 0.5, 10_000, "the camera to turn with the stick");
      await waitFor(() => server.stats.inputAccepted - accepted >= 10, 10_000, "ten gamepad events");
      const seconds = (performance.now() - started) / 1000;
      expect(server.stats.inputAccepted - accepted).toBeLessThanOrEqual(2 + Math.ceil(60 * seconds));
      // The page kept to the rate itself: the server had nothing to drop.
      expect(server.stats.inputRateLimited).toBe(0);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
