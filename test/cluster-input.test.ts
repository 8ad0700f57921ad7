// Input through an edge reaches the origin's engine: an origin in this process (a real Vulkan scene on
// lavapipe, a real broker) and an edge as a real process. The origin checks again what edges send, and
// a viewer's join reaches it before that viewer's first input.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Broker } from "../src/cluster/connect.ts";
import { Origin } from "../src/cluster/origin.ts";
import { sessionSubjects } from "../src/cluster/subjects.ts";
import { type EngineLoop, runEngine } from "../src/engine.ts";
import { createLogger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { NatsBroker, VkcastProcess } from "./helpers/cluster.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor, waitForAsync } from "./helpers/wait.ts";

const log = createLogger("silent");
let nats: NatsBroker;
let source: VulkanSource;
let server: StreamingServer;
let engine: EngineLoop;
let broker: Broker;
let origin: Origin;
let edge: VkcastProcess;
let raw: NatsConnection;

beforeAll(async () => {
  nats = await NatsBroker.start();
  source = await VulkanSource.create({ width: 320, height: 180 });
  server = new StreamingServer({ port: 0, fps: 30, device: source.device });
  await server.start(320, 180);
  engine = runEngine(server, source, log);
  broker = await Broker.connect({ url: nats.url(), name: "test origin" }, log);
  origin = new Origin(broker, "scene", server.stream("default")!, { token: null, viewToken: null }, log);
  origin.start();
  edge = await VkcastProcess.start(["--edge", "--nats", nats.url(), "--session", "scene"]);
  await waitForAsync(async () => (await fetch(edge.at("s/scene/healthz"))).status === 200, 10000, "the session up at the edge");
  raw = await connect({ servers: nats.url() });
}, 60000);

afterAll(async () => {
  await raw.close();
  await edge.stop("SIGKILL");
  await origin.stop();
  await broker.close();
  await engine.stop();
  await server.stop();
  source.close();
  await nats.stop();
});

const stats = () => server.statsSnapshot();
const drag = (type: string, x: number, buttons: number[]) => ({ type, x, y: 90, button: type === "pointer_move" ? 0 : 1, buttons, modifiers: [] });

describe("input through an edge", () => {
  test("a drag at an edge turns the origin's camera, counted at the origin", async () => {
    const viewer = await Viewer.connect(wsUrl(edge.url, "s/scene/ws?v=2"));
    await viewer.until(() => viewer.frames.length > 2, 10000, "frames at the edge");
    const yaw = source.cameraState.yaw;
    const accepted = stats().inputAccepted;
    let seq = 0;
    viewer.send({ ...drag("pointer_down", 100, [1]), seq: ++seq });
    for (let x = 110; x <= 200; x += 10) viewer.send({ ...drag("pointer_move", x, [1]), seq: ++seq });
    viewer.send({ ...drag("pointer_up", 200, []), seq: ++seq });
    await waitFor(() => source.cameraState.yaw !== yaw, 5000, "the origin's camera to turn");
    await waitFor(() => stats().inputAccepted - accepted === 12, 5000, "12 events counted at the origin");
    // The origin's frames say the input they follow, by the session id the edge's viewer knows itself by.
    const you = String(viewer.texts.find((t) => t.type === "presence")!.you);
    await viewer.until(() => viewer.frames.some((f) => f.meta?.in?.[you] === 12), 5000, "a frame after all 12 events, at the edge");
    // A resize at the edge changes what the origin renders: the edge's viewers get the new size.
    viewer.send({ type: "resize", width: 480, height: 270, ratio: 1 });
    await viewer.until(() => viewer.frames.at(-1)?.meta?.w === 480, 5000, "480x270 frames through the edge");
    expect(viewer.texts.some((t) => t.type === "config" && t.width === 480 && t.height === 270)).toBe(true);
    viewer.send({ type: "resize", width: 320, height: 180, ratio: 1 });
    await viewer.until(() => viewer.frames.at(-1)?.meta?.w === 320, 5000, "back to 320x180");
    viewer.close();
  }, 30000);

  test("a new viewer's first events are not denied: its join reaches the origin first", async () => {
    const { inputAccepted, inputDenied } = stats();
    const viewer = new Viewer(wsUrl(edge.url, "s/scene/ws?v=2"));
    await viewer.opened;
    // Sent at once, before the origin's answer about this viewer's role can have come back.
    for (let x = 0; x < 20; x++) viewer.send({ type: "pointer_move", x, y: 1, button: 0, buttons: [], modifiers: [] });
    await waitFor(() => stats().inputAccepted - inputAccepted === 20, 5000, "20 events accepted at the origin");
    expect(stats().inputDenied).toBe(inputDenied);
    viewer.close();
  }, 30000);

  test("text the engine puts on its clipboard reaches the controller on an edge", async () => {
    const viewer = await Viewer.connect(wsUrl(edge.url, "s/scene/ws?v=2"));
    const role = () => [...viewer.texts].reverse().find((t) => t.type === "config" || t.type === "hello")?.role;
    await viewer.until(() => role() === "control", 5000, "the edge's viewer in control");
    server.setClipboard("from the engine");
    await viewer.until(() => viewer.texts.some((t) => t.type === "clipboard" && t.text === "from the engine"), 5000, "the clipboard at the edge");
    viewer.close();
  }, 30000);

  test("bad input stops at the edge; what an edge sends is checked again at the origin", async () => {
    const viewer = await Viewer.connect(wsUrl(edge.url, "s/scene/ws?v=2"));
    await viewer.until(() => viewer.texts.some((t) => t.type === "hello"), 5000, "hello");
    viewer.send({ type: "pointer_move", x: "left", y: 1 });
    await viewer.until(() => viewer.texts.some((t) => t.type === "error"), 5000, "the edge's error message");
    const edgeStats = await edge.json<Record<string, number>>("s/scene/api/stats");
    expect(edgeStats.inputRejected).toBe(1);

    // Straight onto the broker, as a broken or hostile edge would: refused and counted, nothing reaches the engine.
    const up = sessionSubjects("scene").up;
    const before = { ...stats() };
    const rejected = origin.counters.edgeMessagesRejected;
    const bad: unknown[] = [
      "not json",
      { type: "input", edge: "eforged", id: 1, event: { type: "pointer_move", x: "left", y: 1 } },
      { type: "input", edge: "eforged", id: 1, event: { type: "rm -rf" } },
      { type: "join", edge: "E.VIL", id: 1, mayControl: true },
      { type: "join", edge: "eforged", id: -1, mayControl: true },
      { type: "state", edge: "eforged", viewers: 1, members: [[1, 2]] },
      { type: "warp", edge: "eforged" },
    ];
    for (const message of bad) raw.publish(up, typeof message === "string" ? message : JSON.stringify(message));
    // Well-formed input from a viewer that never joined: denied, not taken.
    raw.publish(up, JSON.stringify({ type: "input", edge: "eforged", id: 9, event: { type: "key_down", key: "w", modifiers: [] } }));
    await raw.flush();
    await waitFor(() => origin.counters.edgeMessagesRejected - rejected === bad.length, 5000, "every bad message refused");
    await waitFor(() => stats().inputDenied === before.inputDenied + 1, 5000, "the unjoined viewer's input denied");
    expect(stats().inputAccepted).toBe(before.inputAccepted);
    viewer.close();
  }, 30000);
});
