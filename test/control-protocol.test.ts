// Shared sessions over real sockets: one controller at a time, presence, request and hand-over, input
// that never sticks, the render following the controller, hidden pages, clipboard and gamepads. Every
// viewer is a real WebSocket client of a real StreamingServer; the "engine" is the server's input queue.
import { afterEach, describe, expect, test } from "bun:test";
import type { InputEvent } from "../src/protocol/input-schema.ts";
import { StreamingServer } from "../src/server.ts";
import { MIN_RESIZE_INTERVAL_MS } from "../src/server/resize-gate.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { pushFrames } from "./helpers/push.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

type Text = Record<string, unknown>;
const move = (x: number): InputEvent => ({ type: "pointer_move", x, y: 1, button: 0, buttons: [], modifiers: [] });
const keyDown = (key: string, code: string): InputEvent => ({ type: "key_down", key, code, modifiers: [] });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(options: ConstructorParameters<typeof StreamingServer>[0] = {}): Promise<StreamingServer> {
  const server = new StreamingServer({ port: 0, ...options });
  await server.start(160, 90);
  cleanups.push(() => server.stop());
  return server;
}

/** The server's ws URL with `query` (server.url may carry a token of its own). */
function socketUrl(server: StreamingServer, query = "?v=2"): string {
  return wsUrl(new URL(server.url).origin + "/", `ws${query}`);
}

async function join(server: StreamingServer, query = "?v=2"): Promise<Viewer> {
  const viewer = await Viewer.connect(socketUrl(server, query));
  cleanups.push(() => viewer.close());
  await viewer.until(() => viewer.texts.some((t) => t.type === "presence"), 3000, "presence after joining");
  return viewer;
}

const last = (v: Viewer, type: string): Text | undefined => v.texts.findLast((t) => t.type === type);
const presence = (v: Viewer) => last(v, "presence") as { you: number; controller: number | null; viewers: Text[]; total: number };

/** Everything the engine got since the last call. */
function engine(server: StreamingServer): InputEvent[] {
  return server.drainInput();
}

/** The next `n` events the engine gets (waiting for them), and nothing more so far. */
async function nextEvents(server: StreamingServer, n: number): Promise<InputEvent[]> {
  const got: InputEvent[] = [];
  await waitFor(() => got.push(...server.drainInput()) >= n, 3000, `${n} events at the engine`);
  return got;
}

describe("the bar: one controller, presence, request and hand-over", () => {
  test("first controls; presence; watcher denied; request -> grant; new controller drives; control passes back on leave", async () => {
    const server = await serve();
    const a = await join(server);
    const b = await join(server);
    const idA = presence(a).you;
    const idB = presence(b).you;
    expect(a.texts[0]).toMatchObject({ type: "hello", role: "control" });
    expect(b.texts[0]).toMatchObject({ type: "hello", role: "view" });

    // Presence names the controller and lists both, to both.
    await a.until(() => presence(a).total === 2, 3000, "presence with both");
    for (const v of [a, b]) {
      expect(presence(v)).toMatchObject({ controller: idA, total: 2, viewers: [{ id: idA, role: "control" }, { id: idB, role: "view" }] });
    }

    // A watcher's input is denied and its resize ignored; the controller's goes through.
    b.send(move(2));
    b.send({ type: "resize", width: 390, height: 844, ratio: 3 });
    a.send(move(1));
    await waitFor(() => server.stats.inputAccepted + server.stats.inputDenied === 3, 3000, "three messages");
    expect(server.stats.inputDenied).toBe(2);
    expect(engine(server)).toEqual([move(1)]);

    // The request reaches the controller; the grant hands over.
    b.send({ type: "control", action: "request" });
    await a.until(() => last(a, "control") !== undefined, 3000, "the request at the controller");
    expect(last(a, "control")).toEqual({ type: "control", action: "request", from: idB });
    await b.until(() => presence(b).viewers.some((v) => v.id === idB && v.asking === true), 3000, "presence: b asks");
    a.send({ type: "control", action: "grant", to: idB });
    await b.until(() => last(b, "config")?.role === "control", 3000, "b told it controls");
    await a.until(() => last(a, "config")?.role === "view", 3000, "a told it watches");
    await a.until(() => presence(a).controller === idB, 3000, "presence names b");

    // The new controller's input is accepted, the old one's denied.
    const denied = server.stats.inputDenied;
    a.send(move(10));
    b.send(move(20));
    await waitFor(() => server.stats.inputDenied === denied + 1 && server.stats.inputAccepted === 2, 3000, "a denied, b accepted");
    expect(engine(server)).toEqual([move(20)]);

    // The controller leaves: control passes back to a, the longest connected.
    b.close();
    await a.until(() => last(a, "config")?.role === "control", 3000, "a controls again");
    await a.until(() => presence(a).total === 1 && presence(a).controller === idA, 3000, "presence: a alone, driving");
    a.send(move(30));
    await waitFor(() => server.stats.inputAccepted === 3, 3000, "a's input");
    expect(engine(server)).toEqual([move(30)]);
  });

  test("a refused command is answered with an error naming the field and changes nothing", async () => {
    const server = await serve();
    const a = await join(server);
    const b = await join(server);
    b.send({ type: "control", action: "grant", to: presence(a).you });
    await b.until(() => last(b, "error") !== undefined, 3000, "an error");
    expect(last(b, "error")).toEqual({ type: "error", error: "control.action: only the controller may grant control" });
    a.send({ type: "control", action: "grant", to: 99 });
    await a.until(() => last(a, "error") !== undefined, 3000, "an error");
    expect(String(last(a, "error")!.error)).toBe("control.to: no viewer 99 in this session");
    expect(presence(a).controller).toBe(presence(a).you);
  });

  test("a view-only link never controls and never blocks one who may", async () => {
    const server = await serve({ token: "control-token", viewToken: "watch-token" });
    const watcher = await join(server, "?v=2&token=watch-token");
    const driver = await join(server, "?v=2&token=control-token");
    expect(watcher.texts[0]).toMatchObject({ role: "view" });
    expect(driver.texts[0]).toMatchObject({ role: "control" });
    watcher.send({ type: "control", action: "request" });
    await watcher.until(() => last(watcher, "error") !== undefined, 3000, "an error");
    expect(String(last(watcher, "error")!.error)).toContain("may only watch");
    await driver.until(() => presence(driver).total === 2, 3000, "both in presence");
    expect(presence(driver).viewers[0]).toMatchObject({ role: "view", viewOnly: true });
  });

  test("release: with nobody asking nobody drives, and the next request gets control at once", async () => {
    const server = await serve();
    const a = await join(server);
    const b = await join(server);
    a.send({ type: "control", action: "release" });
    await b.until(() => presence(b).controller === null, 3000, "nobody drives");
    b.send({ type: "control", action: "request" });
    await b.until(() => last(b, "config")?.role === "control", 3000, "b controls");
  });

  test("past 50 viewers presence lists the controller, those asking and the first 50, at most once a second", async () => {
    const server = await serve();
    const first = await join(server);
    const crowd: Viewer[] = [];
    for (let i = 0; i < 60; i++) crowd.push(await Viewer.connect(socketUrl(server)));
    cleanups.push(() => crowd.forEach((v) => v.close()));
    await first.until(() => presence(first).total === 61, 10_000, "presence of 61");
    const asker = crowd.at(-1)!;
    await asker.until(() => presence(asker) !== undefined, 3000, "presence at the last one");
    asker.send({ type: "control", action: "request" });
    await first.until(() => presence(first).viewers.some((v) => v.asking === true), 5000, "the asker listed");
    const p = presence(first);
    expect(p.viewers.length).toBe(51);
    expect(p.viewers.at(-1)).toMatchObject({ id: presence(asker).you, asking: true });
    // Past 50 viewers, at most once a second: twenty changes in a row reach a viewer as one or two presences.
    const watcher = crowd[0]!;
    const before = watcher.texts.filter((t) => t.type === "presence").length;
    const started = performance.now();
    for (const v of crowd.slice(0, 10)) {
      v.send({ type: "control", action: "request" });
      v.send({ type: "control", action: "release" });
    }
    crowd[1]!.send({ type: "control", action: "request" });
    await watcher.until(() => presence(watcher).viewers.filter((v) => v.asking === true).length === 2, 5000, "the last request");
    const seconds = (performance.now() - started) / 1000;
    const sent = watcher.texts.filter((t) => t.type === "presence").length - before;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(1 + Math.ceil(seconds));
  }, 30_000);
});

describe("input never sticks", () => {
  test("a key held by a viewer that leaves is released toward the engine, not counted as accepted", async () => {
    const server = await serve();
    const a = await join(server);
    a.send(keyDown("w", "KeyW"));
    a.send({ type: "pointer_down", x: 4, y: 5, button: 1, buttons: [1], modifiers: [] });
    await waitFor(() => server.stats.inputAccepted === 2, 3000, "both accepted");
    expect(engine(server).length).toBe(2);
    a.close();
    await waitFor(() => server.viewerCount === 0, 3000, "a gone");
    expect(engine(server)).toEqual([
      { type: "key_up", key: "w", code: "KeyW", modifiers: [] },
      { type: "pointer_up", x: 4, y: 5, button: 1, buttons: [], modifiers: [] },
    ]);
    expect(server.stats.inputAccepted).toBe(2);
  });

  test("losing focus, visibility or control releases what the viewer held", async () => {
    const server = await serve();
    const a = await join(server);
    const b = await join(server);
    const released = (key: string, code: string): InputEvent => ({ type: "key_up", key, code, modifiers: [] });

    a.send(keyDown("a", "KeyA"));
    a.send({ type: "focus_out" });
    expect(await nextEvents(server, 3)).toEqual([keyDown("a", "KeyA"), released("a", "KeyA"), { type: "focus_out" }]);

    a.send(keyDown("s", "KeyS"));
    a.send({ type: "visibility", visible: false });
    expect(await nextEvents(server, 2)).toEqual([keyDown("s", "KeyS"), released("s", "KeyS")]);
    a.send({ type: "visibility", visible: true });

    a.send(keyDown("d", "KeyD"));
    a.send({ type: "control", action: "grant", to: presence(b).you });
    expect(await nextEvents(server, 2)).toEqual([keyDown("d", "KeyD"), released("d", "KeyD")]);
    await b.until(() => last(b, "config")?.role === "control", 3000, "b controls");
    // The releases were the server's, not the viewer's: only what a sent is counted.
    expect(server.stats.inputAccepted).toBe(4);
  });
});

describe("the render follows the controller", () => {
  test(`resizes are fitted (aspect kept) and applied at most once each ${MIN_RESIZE_INTERVAL_MS} ms, the last always`, async () => {
    const server = await serve();
    const a = await join(server);
    const sizes: [number, number][] = [];
    const sent = 40;
    for (let i = 1; i <= sent; i++) a.send({ type: "resize", width: 100 + i, height: 100, ratio: 1 });
    a.send({ type: "resize", width: 390, height: 844, ratio: 3 });
    await waitFor(() => server.stats.inputAccepted === sent + 1, 5000, "every resize accepted");
    const started = performance.now();
    const applied: { at: number; e: InputEvent }[] = [];
    await waitFor(
      () => {
        for (const e of engine(server)) applied.push({ at: performance.now(), e });
        const lastOne = applied.at(-1)?.e;
        return lastOne?.type === "resize" && lastOne.ratio === 3;
      },
      5000,
      "the last resize",
    );
    for (const { e } of applied) if (e.type === "resize") sizes.push([Math.round(e.width * e.ratio), Math.round(e.height * e.ratio)]);
    // The first goes at once, then only the newest waiting one each interval: far fewer than were sent.
    const seconds = (performance.now() - started) / 1000;
    expect(sizes.length).toBeLessThanOrEqual(2 + Math.ceil(seconds * (1000 / MIN_RESIZE_INTERVAL_MS)));
    expect(sizes.length).toBeLessThan(sent);
    expect(sizes.at(-1)).toEqual([998, 2160]); // 1170x2532 scaled to fit 2160 high, aspect kept
    expect(sizes[0]).toEqual([320, 317]); // 101x100 scaled up to at least 320 wide
  });
});

describe("hidden pages", () => {
  test("a hidden page is sent nothing and not closed as stalled; shown again, it gets the newest frame at once", async () => {
    const server = await serve({ stallTimeout: 1 });
    const stopPushing = pushFrames(server, new SyntheticSource(160, 90), 30);
    cleanups.push(stopPushing);
    const a = await join(server);
    const other = await join(server);
    await a.until(() => a.frames.length > 3, 5000, "frames");
    const statsSeen = () => other.texts.filter((t) => t.type === "stats").length;
    const statsBefore = statsSeen();
    a.send({ type: "visibility", visible: false });
    // Frames already on their way may still arrive: count from a second later, when it is surely hidden.
    await other.until(() => statsSeen() >= statsBefore + 2, 5000, "two stats messages");
    const framesHidden = a.frames.length;
    const textsHidden = a.texts.length;
    const seen = other.frames.length;
    await other.until(() => other.frames.length > seen + 60, 10_000, "two seconds of frames to the other viewer");
    // Two seconds without reading a frame or a stats message, past the 1 s stall timeout: still open.
    expect(a.open).toBe(true);
    expect(a.frames.length).toBe(framesHidden);
    expect(a.texts.length).toBe(textsHidden);
    expect(server.stats.viewersClosedTooSlow).toBe(0);
    a.send({ type: "visibility", visible: true });
    await a.until(() => a.frames.length > framesHidden, 2000, "a frame on return");
    const seq = a.frames[framesHidden]!.meta!.seq!;
    expect(seq).toBeGreaterThanOrEqual(server.stats.framesPublished - 2);
    await a.until(() => a.texts.slice(textsHidden).some((t) => t.type === "presence"), 2000, "presence on return");
  }, 20_000);
});

describe("clipboard and gamepads", () => {
  test("setClipboard reaches the controller only; a paste longer than an event reaches the engine", async () => {
    const server = await serve();
    const a = await join(server);
    const b = await join(server);
    server.setClipboard("from the engine ✓");
    await a.until(() => last(a, "clipboard") !== undefined, 3000, "the clipboard");
    expect(last(a, "clipboard")).toEqual({ type: "clipboard", text: "from the engine ✓" });
    expect(() => server.setClipboard("x".repeat(64 * 1024 + 1))).toThrow("clipboard text");
    const big = "p".repeat(20_000);
    a.send({ type: "paste", text: big });
    b.send({ type: "paste", text: big });
    await waitFor(() => server.stats.inputAccepted === 1 && server.stats.inputDenied === 1, 3000, "a accepted, b denied");
    expect(engine(server)).toEqual([{ type: "paste", text: big }]);
    expect(last(b, "clipboard")).toBeUndefined();
  });

  test("gamepad events: at most 60 a second from a viewer", async () => {
    const server = await serve();
    const a = await join(server);
    const started = performance.now();
    for (let i = 0; i < 300; i++) a.send({ type: "gamepad", index: 0, buttons: [0], axes: [(i % 10) / 10] });
    await waitFor(() => server.stats.inputAccepted + server.stats.inputRateLimited === 300, 5000, "every message");
    const seconds = (performance.now() - started) / 1000;
    expect(server.stats.inputAccepted).toBeGreaterThanOrEqual(60);
    expect(server.stats.inputAccepted).toBeLessThanOrEqual(60 + Math.ceil(60 * seconds));
  });
});
