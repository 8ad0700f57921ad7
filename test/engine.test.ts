// The main job's engine loop on a real Vulkan device: input reaches the scene, and a lost device is
// re-created while the server keeps serving.
import { expect, test } from "bun:test";
import { runEngine } from "../src/engine.ts";
import { createLogger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";

const VK_ERROR_DEVICE_LOST = -4;
const open = () => VulkanSource.create({ width: 320, height: 180 });

test("a lost Vulkan device: /healthz says so, the source is re-created, frames resume", async () => {
  const errors: string[] = [];
  const logger = { ...createLogger("silent"), error: (m: string) => errors.push(m) };
  const first = await open();
  const server = new StreamingServer({ port: 0, fps: 30, device: first.device });
  await server.start(320, 180);
  const engine = runEngine(server, first, logger, open);
  const viewer = await Viewer.connect(wsUrl(server.url, "ws?v=2"), false);
  await viewer.until(() => viewer.frames.length > 3, 5000, "frames");
  const sourceErrors = () => viewer.texts.filter((t) => t.type === "config").map((t) => t.sourceError);

  first.injectFailure(VK_ERROR_DEVICE_LOST);
  await viewer.until(() => server.health.error !== null, 3000, "the error to be reported");
  expect(server.health.error).toContain("device lost");
  const health = await fetch(`${server.url}healthz`);
  expect(health.status).toBe(503);
  expect((await health.json()).error).toContain("device lost");
  // v2 viewers are told (the page shows it), and told again once it renders.
  await viewer.until(() => sourceErrors().some((e) => String(e).includes("device lost")), 3000, "a config naming the error");

  const before = viewer.frames.length;
  await viewer.until(() => viewer.frames.length > before + 3, 8000, "frames from the re-created source");
  expect(engine.source).not.toBe(first);
  expect(first.lost).toBe(true);
  expect(server.health.error).toBeNull();
  expect((await fetch(`${server.url}healthz`)).status).toBe(200);
  await viewer.until(() => sourceErrors().at(-1) === null, 3000, "a config saying the source works again");
  expect(errors.some((e) => e.includes("re-creating"))).toBe(true);
  viewer.close();
  await engine.stop();
  await server.stop();
  engine.source.close();
}, 30000);

test("a viewer's drag reaches the Vulkan scene through the server's input queue and turns the camera", async () => {
  const source = await open();
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(320, 180);
  const engine = runEngine(server, source, createLogger("silent"));
  const viewer = await Viewer.connect(wsUrl(server.url), false);
  await viewer.until(() => viewer.frames.length > 2, 5000, "frames");
  const yaw = source.cameraState.yaw;
  const ev = (type: string, x: number, buttons: number[]) => ({ type, x, y: 90, button: type === "pointer_move" ? 0 : 1, buttons, modifiers: [] });
  viewer.send(ev("pointer_down", 100, [1]));
  for (let x = 110; x <= 200; x += 10) viewer.send(ev("pointer_move", x, [1]));
  viewer.send(ev("pointer_up", 200, []));
  await viewer.until(() => source.cameraState.yaw !== yaw, 3000, "the camera to turn");
  viewer.close();
  await engine.stop();
  await server.stop();
  source.close();
}, 20000);
