// Shared sessions in a real Chromium: two desktop pages and a phone on one real server with one
// controller at a time. The engine is a small scene in this process: it renders at the size the
// controller's view asks for (as an engine does after a resize), paints a marker where the pointer
// is held, and keeps every event it got, so a test sees what reached the engine and what did not.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { networkInterfaces } from "node:os";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { pasteProblem } from "../client/clipboard.ts";
import { type ControlFacts, controlView } from "../client/control-panel.ts";
import type { InputEvent } from "../src/protocol/input-schema.ts";
import type { PresenceMessage } from "../src/protocol/viewer-messages.ts";
import { StreamingServer } from "../src/server.ts";
import { launchChromium } from "./helpers/browser.ts";
import { waitFor } from "./helpers/wait.ts";

const SHOTS = process.env.VKCAST_SHOTS ?? "/tmp/vkcast-shots";

/** The engine: renders at the size the last resize asked for; remembers every event. */
class Scene {
  readonly received: InputEvent[] = [];
  width = 640;
  height = 360;
  private pixels = new Uint8Array(this.width * this.height * 4);
  private tick = 0;
  private held: { x: number; y: number } | null = null;
  private readonly timer = setInterval(() => this.frame(), 40);

  constructor(private readonly server: StreamingServer) {}

  stop(): void {
    clearInterval(this.timer);
  }

  since(from: number): InputEvent[] {
    return this.received.slice(from);
  }

  async waitFor<T extends InputEvent>(pred: (e: InputEvent) => e is T, from: number, ms = 8000): Promise<T> {
    let hit: T | undefined;
    await waitFor(() => (hit = this.since(from).find(pred)) !== undefined, ms, `an event; got ${JSON.stringify(this.since(from)).slice(0, 600)}`);
    return hit!;
  }

  private frame(): void {
    for (const e of this.server.drainInput()) {
      this.received.push(e);
      if (e.type === "resize") this.resize(Math.round(e.width * e.ratio), Math.round(e.height * e.ratio));
      if (e.type === "pointer_down" || e.type === "pointer_move") this.held = e.buttons.length ? { x: e.x, y: e.y } : null;
      if (e.type === "pointer_up") this.held = null;
    }
    const px = new Uint32Array(this.pixels.buffer);
    px.fill(0xff6e2814); // a blue background (RGBA little-endian)
    const x0 = (this.tick++ * 8) % this.width;
    for (let y = this.height - 30; y < this.height; y++) px.fill(0xffffffff, y * this.width + x0, y * this.width + Math.min(this.width, x0 + 20));
    if (this.held) {
      const { x, y } = this.held;
      for (let j = Math.max(0, Math.round(y) - 12); j < Math.min(this.height, Math.round(y) + 12); j++) {
        px.fill(0xff00dcff, j * this.width + Math.max(0, Math.round(x) - 12), j * this.width + Math.min(this.width, Math.round(x) + 12));
      }
    }
    if (this.server.running && this.server.hasClients()) this.server.pushFrame({ pixels: this.pixels, width: this.width, height: this.height });
  }

  private resize(w: number, h: number): void {
    this.width = w;
    this.height = h;
    this.pixels = new Uint8Array(w * h * 4);
  }
}

const isType =
  <K extends InputEvent["type"]>(type: K) =>
  (e: InputEvent): e is InputEvent & { type: K } =>
    e.type === type;

let server: StreamingServer;
let scene: Scene;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function openPage(options: Parameters<Browser["newContext"]>[0] = {}): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 960, height: 540 }, deviceScaleFactor: 1, ...options });
  contexts.push(ctx);
  const page = await ctx.newPage();
  await page.goto(`${server.url}?codec=jpeg`);
  await page.waitForFunction(() => document.getElementById("control-badge")!.textContent !== "", null, { timeout: 15_000 });
  return page;
}

const waitForBadge = (p: Page, text: string | RegExp) =>
  p.waitForFunction(
    ([source, flags]) => new RegExp(source!, flags).test(document.getElementById("control-badge")!.textContent ?? ""),
    typeof text === "string" ? [text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), ""] : [text.source, text.flags],
    { timeout: 10_000 },
  );

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = new StreamingServer({ host: "127.0.0.1", port: 0, fps: 25, quality: 80 });
  await server.start(640, 360);
  scene = new Scene(server);
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  scene?.stop();
  await browser?.close();
  await server?.stop();
}, 20_000);

describe("one controller at a time, in the page", () => {
  let a: Page;
  let b: Page;

  test("the first page drives, the second watches: the badge says who, and how many watch", async () => {
    a = await openPage();
    await waitForBadge(a, "You are driving · 0 watching");
    // Until keys reach the stream, the page says how to get them there.
    expect(await a.locator("#hint").isVisible()).toBe(true);
    expect(await a.locator("#hint").textContent()).toBe("Click the picture to control it");
    b = await openPage({ viewport: { width: 800, height: 600 } });
    await waitForBadge(b, "Viewer 1 is driving · 1 watching");
    await waitForBadge(a, "You are driving · 1 watching");
    expect(await b.locator("#btn-request").isVisible()).toBe(true);
    expect(await b.locator("#btn-release").isVisible()).toBe(false);
    expect(await a.locator("#btn-release").isVisible()).toBe(true);
    expect(await b.locator("#btn-reset").isVisible()).toBe(false);
    await a.locator("#view").click({ position: { x: 200, y: 150 } });
    await a.waitForFunction(() => document.getElementById("hint")!.hidden);
  }, 40_000);

  test("a watcher's window size leaves the render alone; the controller's sets it, letterboxed elsewhere", async () => {
    await waitFor(() => scene.width === 960 && scene.height === 540, 8000, "the render at A's 960x540");
    const from = scene.received.length;
    await b.setViewportSize({ width: 500, height: 700 });
    await a.setViewportSize({ width: 1000, height: 500 });
    await waitFor(() => scene.width === 1000 && scene.height === 500, 8000, "the render at A's new 1000x500");
    expect(scene.since(from).filter((e) => e.type === "resize").map((e) => e.type === "resize" && e.width)).toEqual([1000]);
    // B shows the same frame letterboxed in its portrait window: full width, a third of the height.
    // (Wait for the 2:1 frame itself: B first shows the previous 16:9 one, 281 px high, on a busy machine.)
    await b.waitForFunction(() => Math.abs(document.getElementById("view")!.getBoundingClientRect().height - 250) < 1, null, {
      timeout: 8000,
    });
    const box = (await b.locator("#view").boundingBox())!;
    expect(Math.round(box.width)).toBe(500);
    expect(Math.round(box.height)).toBe(250);
    await b.setViewportSize({ width: 800, height: 600 });
    await a.setViewportSize({ width: 960, height: 540 });
    await waitFor(() => scene.width === 960, 8000, "A's size again");
    await a.screenshot({ path: `${SHOTS}/control-a-driving.png` });
    await b.screenshot({ path: `${SHOTS}/control-b-watching.png` });
  }, 40_000);

  test("request -> prompt -> give through the page: the new controller drives, the old one watches", async () => {
    await b.locator("#btn-request").click();
    await b.waitForFunction(() => document.getElementById("btn-request")!.textContent === "Asked to drive · cancel");
    await a.waitForFunction(() => !document.getElementById("control-prompt")!.hidden, null, { timeout: 8000 });
    expect(await a.locator("#control-prompt-text").textContent()).toBe("Viewer 2 asks to drive");
    await a.screenshot({ path: `${SHOTS}/control-a-prompt.png` });
    await a.locator("#btn-give").click();
    await waitForBadge(b, "You are driving · 1 watching");
    await waitForBadge(a, "Viewer 2 is driving · 1 watching");
    expect(await a.locator("#control-prompt").isHidden()).toBe(true);
    // The render follows the new controller's view.
    await waitFor(() => scene.width === 800 && scene.height === 600, 8000, "the render at B's 800x600");

    // B drives: its drag reaches the engine and paints; A's drag does not.
    const from = scene.received.length;
    await a.mouse.move(300, 200);
    await a.mouse.down();
    await a.mouse.move(340, 220, { steps: 3 });
    await a.mouse.up();
    await b.mouse.move(300, 300);
    await b.mouse.down();
    await b.mouse.move(350, 320, { steps: 3 });
    const down = await scene.waitFor(isType("pointer_down"), from);
    expect(scene.since(from).filter((e) => e.type === "pointer_down")).toHaveLength(1);
    expect(down.buttons).toEqual([1]);
    // The engine paints a marker where the pointer is held: the driving page shows it.
    await b.mouse.move(400, 300, { steps: 2 });
    await waitFor(() => scene.since(from).some((e) => e.type === "pointer_move" && e.x > 390), 5000, "the drag at 400");
    await b.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted) > 0);
    await b.screenshot({ path: `${SHOTS}/control-b-driving.png` });
    await b.mouse.up();
    await scene.waitFor(isType("pointer_up"), from);
    await a.screenshot({ path: `${SHOTS}/control-a-watching.png` });
  }, 40_000);

  test("keys carry code and key; composed text is a text event", async () => {
    await b.locator("#view").click({ position: { x: 100, y: 100 } });
    const from = scene.received.length;
    await b.keyboard.press("KeyQ");
    const q = await scene.waitFor(isType("key_down"), from);
    expect(q).toMatchObject({ key: "q", code: "KeyQ" });
    await b.keyboard.press("Shift+KeyQ");
    await waitFor(() => scene.since(from).some((e) => e.type === "key_down" && e.key === "Q" && e.code === "KeyQ"), 5000, "Shift+Q");
    // What an IME commits (Chromium's own composition path) and text typed without key events.
    const cdp = await b.context().newCDPSession(b);
    await cdp.send("Input.imeSetComposition", { text: "にほ", selectionStart: 2, selectionEnd: 2 });
    await cdp.send("Input.insertText", { text: "日本" });
    await b.keyboard.insertText("é");
    await waitFor(() => scene.since(from).filter((e) => e.type === "text").length >= 2, 5000, "two text events");
    expect(scene.since(from).filter((e) => e.type === "text")).toEqual([
      { type: "text", text: "日本" },
      { type: "text", text: "é" },
    ]);
  }, 30_000);

  test("a key held in a tab that closes is released: the engine sees the key_up; control passes back", async () => {
    const from = scene.received.length;
    await b.keyboard.down("KeyW");
    await scene.waitFor((e): e is InputEvent => e.type === "key_down" && e.code === "KeyW", from);
    await b.context().close();
    const up = await scene.waitFor((e): e is InputEvent => e.type === "key_up" && e.code === "KeyW", from);
    expect(up).toEqual({ type: "key_up", key: "w", code: "KeyW", modifiers: [] });
    await waitForBadge(a, "You are driving · 0 watching");
    await waitFor(() => scene.width === 960 && scene.height === 540, 8000, "the render at A's size again");
  }, 30_000);

  test("clipboard both ways: the engine's text reaches the clipboard; Ctrl+V reaches the engine", async () => {
    await a.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    server.setClipboard("from the engine: ✓ 42");
    await a.waitForFunction(() => document.getElementById("clipboard")!.dataset.last === "copied", null, { timeout: 8000 });
    expect(await a.evaluate(() => navigator.clipboard.readText())).toBe("from the engine: ✓ 42");
    expect(await a.locator("#clipboard").isHidden()).toBe(true);

    await a.evaluate(() => navigator.clipboard.writeText("pasted into the stream"));
    await a.locator("#view").click({ position: { x: 50, y: 50 } });
    const from = scene.received.length;
    await a.keyboard.press("Control+KeyV");
    const paste = await scene.waitFor(isType("paste"), from);
    expect(paste.text).toBe("pasted into the stream");
    // The shortcut's V is not sent as a key (the engine would paste twice); Control is.
    expect(scene.since(from).filter((e) => e.type === "key_down").map((e) => e.type === "key_down" && e.code)).toEqual(["ControlLeft"]);
  }, 30_000);
  test("a phone: asks, is given control, one finger orbits, two fingers pan and pinch-zoom, reset", async () => {
    const phone = await openPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
    await waitForBadge(phone, "Viewer 1 is driving · 1 watching");
    await phone.screenshot({ path: `${SHOTS}/control-phone-watching.png`, scale: "css" });
    await phone.locator("#btn-request").tap();
    await a.waitForFunction(() => !document.getElementById("control-prompt")!.hidden, null, { timeout: 8000 });
    await a.locator("#btn-give").click();
    await waitForBadge(phone, "You are driving · 1 watching");
    // The render follows the phone: 390x844 at 3 device pixels per CSS pixel, scaled to fit 2160 high.
    await waitFor(() => scene.width === 998 && scene.height === 2160, 8000, "the render at the phone's portrait size");
    await phone.waitForFunction(() => (document.getElementById("view") as HTMLCanvasElement).height === 2160, null, { timeout: 8000 });
    expect(await phone.locator("#btn-reset").isVisible()).toBe(true);

    const cdp = await phone.context().newCDPSession(phone);
    const touch = (type: "touchStart" | "touchMove" | "touchEnd", points: { x: number; y: number }[]) =>
      cdp.send("Input.dispatchTouchEvent", { type, touchPoints: points.map((p, id) => ({ ...p, id })) });
    // One finger: a drag with the left button (the scene orbits).
    let from = scene.received.length;
    await touch("touchStart", [{ x: 195, y: 300 }]);
    for (let i = 1; i <= 4; i++) await touch("touchMove", [{ x: 195 + i * 10, y: 300 }]);
    await touch("touchEnd", []);
    const orbit = await scene.waitFor(isType("pointer_down"), from);
    expect(orbit).toMatchObject({ button: 1, buttons: [1] });
    await scene.waitFor((e): e is InputEvent => e.type === "pointer_up" && e.button === 1, from);

    // Two fingers: a drag with the middle button from their midpoint (pan), their spread as the wheel (zoom in).
    from = scene.received.length;
    await touch("touchStart", [{ x: 150, y: 420 }, { x: 240, y: 420 }]);
    for (let i = 1; i <= 6; i++) await touch("touchMove", [{ x: 150 - i * 8, y: 420 + i * 2 }, { x: 240 + i * 8, y: 420 + i * 2 }]);
    await touch("touchEnd", []);
    await scene.waitFor((e): e is InputEvent => e.type === "pointer_up" && e.button === 3, from);
    const got = scene.since(from);
    // The first finger down starts an orbit, the second turns it into a pan before anything moved.
    expect(got.filter((e) => e.type === "pointer_down").at(-1)).toMatchObject({ button: 3, buttons: [3] });
    expect(got.some((e) => e.type === "pointer_move" && e.buttons[0] === 3)).toBe(true);
    expect(got.some((e) => e.type === "pointer_move" && e.buttons[0] === 1)).toBe(false);
    const zoom = got.filter((e) => e.type === "wheel").reduce((sum, e) => sum + (e.type === "wheel" ? e.dy : 0), 0);
    expect(zoom).toBeLessThan(-100); // fingers spread 96 CSS px: about 2 wheel units each

    // The reset button sends Home, the key every engine with a home view knows.
    from = scene.received.length;
    await phone.locator("#btn-reset").tap();
    await scene.waitFor((e): e is InputEvent => e.type === "key_down" && e.key === "Home", from);
    await phone.screenshot({ path: `${SHOTS}/control-phone-driving.png`, scale: "css" });
    // The toolbar, the badge and the status fit the narrow screen.
    for (const id of ["#toolbar", "#control", "#status"]) {
      const box = (await phone.locator(id).boundingBox())!;
      expect([id, box.x >= 0 && box.x + box.width <= 390]).toEqual([id, true]);
    }
    await phone.context().close();
    await waitForBadge(a, "You are driving · 0 watching");
  }, 60_000);
});


describe("where the browser refuses the clipboard: a box", () => {
  test("on a page that is not a secure context: engine text to copy from, and a box to paste into", async () => {
    // Plain http from a non-loopback address is not a secure context: the browser offers no clipboard API.
    const lanAddress = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    if (!lanAddress) throw new Error("this test needs a non-loopback IPv4 address");
    const lan = new StreamingServer({ host: "0.0.0.0", port: 0, token: null, fps: 25 });
    await lan.start(320, 180);
    const px = new Uint8Array(320 * 180 * 4).fill(60);
    const timer = setInterval(() => lan.pushFrame({ pixels: px, width: 320, height: 180 }), 100);
    try {
      const ctx = await browser.newContext({ viewport: { width: 800, height: 500 } });
      contexts.push(ctx);
      const page = await ctx.newPage();
      await page.goto(`http://${lanAddress}:${lan.port}/?codec=jpeg`);
      await page.waitForFunction(() => document.getElementById("control-badge")!.textContent === "You are driving · 0 watching", null, {
        timeout: 15_000,
      });
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      lan.setClipboard("copy me by hand");
      await page.waitForFunction(() => !document.getElementById("clipboard")!.hidden, null, { timeout: 8000 });
      expect(await page.locator("#clipboard-text").inputValue()).toBe("copy me by hand");
      expect(await page.locator("#clipboard-copy").isVisible()).toBe(true);
      await page.screenshot({ path: `${SHOTS}/control-clipboard-box.png` });
      await page.locator("#clipboard-close").click();

      await page.locator("#btn-paste").click();
      await page.waitForFunction(() => document.getElementById("clipboard")!.dataset.mode === "paste" && !document.getElementById("clipboard")!.hidden);
      await page.locator("#clipboard-text").fill("typed into the box");
      await page.locator("#clipboard-send").click();
      await waitFor(() => lan.stats.inputAccepted > 0, 8000, "the paste at the server");
      const events: InputEvent[] = [];
      await waitFor(() => (events.push(...lan.drainInput()), events.some((e) => e.type === "paste")), 8000, "the paste");
      expect(events.find((e) => e.type === "paste")).toEqual({ type: "paste", text: "typed into the box" });
      expect(await page.locator("#clipboard").isHidden()).toBe(true);
    } finally {
      clearInterval(timer);
      await lan.stop();
    }
  }, 40_000);
});

describe("what the page shows of who drives (controlView)", () => {
  const presence = (you: number, controller: number | null, asking: number[] = [], viewOnly: number[] = []): PresenceMessage => ({
    type: "presence",
    you,
    controller,
    viewers: [1, 2, 3].map((id) => ({
      id,
      role: id === controller ? "control" : "view",
      ...(asking.includes(id) ? { asking: true as const } : {}),
      ...(viewOnly.includes(id) ? { viewOnly: true as const } : {}),
    })),
    total: 3,
  });
  const facts = (over: Partial<ControlFacts>): ControlFacts => ({
    presence: presence(1, 1),
    role: "control",
    mode: "one",
    askers: [],
    ignored: new Set(),
    focused: true,
    touchOnly: false,
    ...over,
  });
  const rows: [string, Partial<ControlFacts>, ReturnType<typeof controlView>][] = [
    ["driving, keys reach the stream", {}, { badge: "You are driving · 2 watching", request: null, release: true, prompt: null, hint: null }],
    ["driving, the stream without focus: the hint", { focused: false },
      { badge: "You are driving · 2 watching", request: null, release: true, prompt: null, hint: "Click the picture to control it" }],
    ["driving on a touch screen: no keys, no hint", { focused: false, touchOnly: true },
      { badge: "You are driving · 2 watching", request: null, release: true, prompt: null, hint: null }],
    ["driving, viewer 3 asks: the prompt", { askers: [3] }, { badge: "You are driving · 2 watching", request: null, release: true, prompt: 3, hint: null }],
    ["driving, viewer 3 ignored, 2 asks too: 2 is put next", { askers: [3, 2], ignored: new Set([3]) },
      { badge: "You are driving · 2 watching", request: null, release: true, prompt: 2, hint: null }],
    ["watching", { presence: presence(2, 1), role: "view" },
      { badge: "Viewer 1 is driving · 2 watching", request: "ask", release: false, prompt: null, hint: null }],
    ["watching, asked", { presence: presence(2, 1, [2]), role: "view", askers: [2] },
      { badge: "Viewer 1 is driving · 2 watching", request: "asking", release: false, prompt: null, hint: null }],
    ["watching with a view-only link: no request", { presence: presence(2, 1, [], [2]), role: "view" },
      { badge: "Viewer 1 is driving · 2 watching", request: null, release: false, prompt: null, hint: null }],
    ["nobody drives", { presence: presence(2, null), role: "view" },
      { badge: "Nobody is driving · 3 watching", request: "take", release: false, prompt: null, hint: null }],
    ["--control all", { mode: "all", presence: presence(2, null) },
      { badge: "Everyone drives · 3 here", request: null, release: false, prompt: null, hint: null }],
    ["--control none", { mode: "none", role: "view", presence: presence(2, null) },
      { badge: "View only · 3 watching", request: null, release: false, prompt: null, hint: null }],
    ["a server without presence: no panel", { presence: null }, { badge: null, request: null, release: false, prompt: null, hint: null }],
  ];
  for (const [name, over, want] of rows) test(name, () => expect(controlView(facts(over))).toEqual(want));

  test("a paste is measured in bytes on the wire, against its own 64 KiB limit", () => {
    expect(pasteProblem("x".repeat(60_000))).toBeNull();
    expect(pasteProblem("字".repeat(30_000))).toBe("Too long to paste: 88 KiB (at most 64 KiB)");
  });
});
