// The browser client in a real Chromium against the real StreamingServer over real sockets.
// A small test scene stands in for the renderer: it drains the server's input queue every frame and
// paints what it got (a marker at the pointer, another at the wheel, a colour per key press), so a
// test can see the input reach the server and the picture change because of it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import type { Browser, BrowserContext, Page, WebSocketRoute } from "playwright-core";
import { overlayRows } from "../client/overlay.ts";
import { Session } from "../client/session.ts";
import { RATE_MIN_MS, Stats } from "../client/stats.ts";
import { type InputEvent, parseMessage } from "../src/protocol/input-schema.ts";
import { StreamingServer } from "../src/server.ts";
import { Firefox, launchChromium } from "./helpers/browser.ts";

const W = 640;
const H = 360;
const SHOTS = process.env.VKCAST_SHOTS ?? "/tmp/vkcast-shots";

// --- the test scene -----------------------------------------------------------------------------

const BACKGROUNDS: [number, number, number][] = [
  [20, 40, 110], // blue
  [20, 110, 50], // green
  [120, 30, 30], // red
];
const WHITE: [number, number, number] = [255, 255, 255];
const YELLOW: [number, number, number] = [255, 220, 0];

class TestScene {
  private w = W;
  private h = H;
  private pixels = new Uint8Array(W * H * 4);
  private u32 = new Uint32Array(this.pixels.buffer);
  /** Every event the server handed over, oldest first. */
  readonly received: InputEvent[] = [];
  private tick = 0;
  private keyPresses = 0;
  private pointer: { x: number; y: number } | null = null;
  private wheel: { x: number; y: number } | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private server: StreamingServer) {}

  start(): void {
    this.timer = setInterval(() => this.frame(), 33);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Frames from now on have this size (as a renderer does after a resize). */
  setSize(w: number, h: number): void {
    this.w = w;
    this.h = h;
    this.pixels = new Uint8Array(w * h * 4);
    this.u32 = new Uint32Array(this.pixels.buffer);
  }

  private frame(): void {
    for (const e of this.server.drainInput()) {
      this.received.push(e);
      if (e.type === "pointer_down" || (e.type === "pointer_move" && e.buttons.length > 0)) this.pointer = { x: e.x, y: e.y };
      else if (e.type === "wheel") this.wheel = { x: e.x, y: e.y };
      else if (e.type === "key_down") this.keyPresses++;
    }
    this.paint();
    if (this.server.running) this.server.pushFrame({ pixels: this.pixels, width: this.w, height: this.h, format: "rgba" });
  }

  private paint(): void {
    this.u32.fill(rgba(BACKGROUNDS[this.keyPresses % BACKGROUNDS.length]!));
    // A stripe that moves every frame, in the bottom band only, so the picture always changes.
    const x0 = (this.tick++ * 8) % this.w;
    this.rect(x0, this.h - 40, 24, 40, WHITE);
    if (this.pointer) this.rect(Math.round(this.pointer.x) - 10, Math.round(this.pointer.y) - 10, 20, 20, WHITE);
    if (this.wheel) this.rect(Math.round(this.wheel.x) - 10, Math.round(this.wheel.y) - 10, 20, 20, YELLOW);
  }

  private rect(x: number, y: number, w: number, h: number, c: [number, number, number]): void {
    const v = rgba(c);
    for (let j = Math.max(0, y); j < Math.min(this.h, y + h); j++) {
      const row = j * this.w;
      this.u32.fill(v, row + Math.max(0, x), row + Math.max(0, Math.min(this.w, x + w)));
    }
  }

  /** Resolves with the first event, received since `from`, that `pred` accepts. */
  async waitFor<T extends InputEvent>(pred: (e: InputEvent) => e is T, from = 0, ms = 5000): Promise<T> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const hit = this.received.slice(from).find(pred);
      if (hit) return hit;
      await Bun.sleep(20);
    }
    throw new Error(`no matching event within ${ms} ms; got ${JSON.stringify(this.received.slice(from))}`);
  }
}

/** Little-endian RGBA as one Uint32. */
function rgba([r, g, b]: [number, number, number]): number {
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

// --- page helpers -------------------------------------------------------------------------------

/** Where frame pixel (fx, fy) is on the page for a letterboxed canvas in a vw × vh view. */
function pageXY(vw: number, vh: number, fx: number, fy: number, fw = W, fh = H): { x: number; y: number } {
  const s = Math.min(vw / fw, vh / fh);
  return { x: (vw - fw * s) / 2 + fx * s, y: (vh - fh * s) / 2 + fy * s };
}

async function state(page: Page): Promise<string> {
  return page.evaluate(() => document.getElementById("app")!.dataset.state ?? "");
}

async function painted(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.getElementById("view")!.dataset.painted ?? 0));
}

async function waitForPaints(page: Page, more: number, ms = 8000): Promise<void> {
  const base = await painted(page);
  await page.waitForFunction((n) => Number(document.getElementById("view")!.dataset.painted ?? 0) >= n, base + more, {
    timeout: ms,
    polling: 50,
  });
}

/** The canvas's pixel at frame coordinates (the canvas's backing store is the frame's size). */
async function pixel(page: Page, fx: number, fy: number): Promise<[number, number, number]> {
  return page.evaluate(
    ([x, y]) => {
      const c = document.getElementById("view") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(x!, y!, 1, 1).data;
      return [d[0]!, d[1]!, d[2]!] as [number, number, number];
    },
    [fx, fy],
  );
}

function near(a: [number, number, number], b: [number, number, number], tol = 40): boolean {
  return a.every((v, i) => Math.abs(v - b[i]!) <= tol);
}

async function waitForPixel(page: Page, fx: number, fy: number, want: [number, number, number], ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  let got = await pixel(page, fx, fy);
  while (!near(got, want) && Date.now() < end) {
    await Bun.sleep(50);
    got = await pixel(page, fx, fy);
  }
  expect(got, `pixel (${fx}, ${fy})`).toSatisfy((g) => near(g, want));
}

/** An input event narrowed to one type (the schema's pointer types share one interface). */
type EventOf<K extends InputEvent["type"]> = InputEvent & { type: K };

/** A JPEG without its COM segment (what a server without frame metadata sends). */
function stripComment(jpeg: Buffer): Buffer {
  if (jpeg[0] === 0xff && jpeg[1] === 0xd8 && jpeg[2] === 0xff && jpeg[3] === 0xfe) {
    const len = (jpeg[4]! << 8) | jpeg[5]!;
    return Buffer.concat([jpeg.subarray(0, 2), jpeg.subarray(4 + len)]);
  }
  return jpeg;
}

/** Pixels of a PNG screenshot at page coordinates, decoded by the browser. */
async function screenshotPixels(
  page: Page,
  png: Buffer,
  points: { x: number; y: number }[],
): Promise<[number, number, number][]> {
  return page.evaluate(
    async ([b64, pts]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bmp = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = c.getContext("2d")!;
      ctx.drawImage(bmp, 0, 0);
      return pts.map((p) => {
        const d = ctx.getImageData(Math.round(p.x), Math.round(p.y), 1, 1).data;
        return [d[0]!, d[1]!, d[2]!] as [number, number, number];
      });
    },
    [png.toString("base64"), points] as const,
  );
}

/** The value of one overlay row ("fps" → "30 / 30"), or null while the row is not shown. */
async function overlayValue(page: Page, label: string): Promise<string | null> {
  return page.evaluate((l) => {
    const dt = [...document.querySelectorAll("#stats-list dt")].find((d) => d.textContent === l);
    return dt?.nextElementSibling?.textContent ?? null;
  }, label);
}

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await Bun.sleep(20);
  }
}

function isType<K extends InputEvent["type"]>(type: K) {
  return (e: InputEvent): e is EventOf<K> => e.type === type;
}

// --- the suite ----------------------------------------------------------------------------------

let server: StreamingServer;
let scene: TestScene;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Every message the main page sent on its sockets, and the sockets' URLs. */
const sent: string[] = [];
const socketUrls: string[] = [];
const pageErrors: string[] = [];
const VW = 1000;
const VH = 500; // wider than 16:9: the canvas is pillarboxed

describe("browser client", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // Every page here drives (the tests of one controller at a time are in client-control.test.ts).
    server = new StreamingServer({ host: "127.0.0.1", port: 0, fps: 30, quality: 85, control: "all" });
    await server.start(W, H);
    scene = new TestScene(server);
    scene.start();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: VW, height: VH }, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("websocket", (ws) => {
      socketUrls.push(ws.url());
      ws.on("framesent", ({ payload }) => sent.push(typeof payload === "string" ? payload : `<binary ${payload.length}>`));
    });
    await page.goto(`${server.url}?stats=1`);
  }, 30_000);

  afterAll(async () => {
    scene?.stop();
    await browser?.close();
    await server?.stop();
  }, 15_000);

  test("shows frames that change over time", async () => {
    await page.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 10_000 });
    await waitForPaints(page, 5);
    const canvas = page.locator("#view");
    const a = await canvas.screenshot();
    // Not blank: the background colour plus the white stripe.
    expect(near(await pixel(page, 320, 100), BACKGROUNDS[0]!)).toBe(true);
    const distinct = await page.evaluate(() => {
      const c = document.getElementById("view") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set<number>();
      for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i]! >> 4) | ((d[i + 1]! >> 4) << 4) | ((d[i + 2]! >> 4) << 8));
      return seen.size;
    });
    expect(distinct).toBeGreaterThan(1);
    await waitForPaints(page, 5);
    const b = await canvas.screenshot();
    expect(Buffer.compare(a, b)).not.toBe(0);
    // What is on the screen (not just in the canvas): the frame's background, and the black letterbox.
    const shot = await page.screenshot();
    const [mid, bar] = await screenshotPixels(page, shot, [pageXY(VW, VH, 320, 100), { x: 10, y: VH - 10 }]);
    expect(mid).toSatisfy((c) => near(c, BACKGROUNDS[0]!));
    if (!near(bar, [0, 0, 0], 10)) await Bun.write(`${SHOTS}/letterbox-failed.png`, shot);
    expect(bar).toSatisfy((c) => near(c, [0, 0, 0], 10));
    // The canvas is letterboxed to the frame's aspect inside the view.
    const box = (await canvas.boundingBox())!;
    const s = Math.min(VW / W, VH / H);
    expect(box.width).toBeCloseTo(W * s, 0);
    expect(box.height).toBeCloseTo(H * s, 0);
    expect(box.x).toBeCloseTo((VW - W * s) / 2, 0);
    // The overlay is on (?stats=1) and shows measured numbers, metadata ones included: the latency
    // once a ping/pong gave the clock offset, the server's capture→ack once acks reached it.
    await page.waitForFunction(
      () => /latency\s+\d+ ms/.test(document.getElementById("stats")!.innerText),
      null,
      { timeout: 8000, polling: 100 },
    );
    expect(await overlayValue(page, "KB/frame")).toMatch(/^\d+\.\d$/);
    await page.waitForFunction(
      () => /capture→ack\s+\d+ ms \(p90 \d+\)/.test(document.getElementById("stats")!.innerText),
      null,
      { timeout: 8000, polling: 100 },
    );
    // The frame rate: whole frames per second, never more than the 30 the server sends.
    await page.waitForFunction(() => /fps\s+\d+ \/ 30/.test(document.getElementById("stats")!.innerText), null, {
      timeout: 8000,
      polling: 100,
    });
    for (let i = 0; i < 8; i++) {
      const [fps, target] = (await overlayValue(page, "fps"))!.split(" / ").map(Number);
      expect(target).toBe(30);
      expect(fps).toBeGreaterThan(0);
      expect(fps).toBeLessThanOrEqual(30);
      await Bun.sleep(130);
    }
    await page.screenshot({ path: `${SHOTS}/live-stats.png` });
  }, 40_000);

  test("a drag reaches the server at frame coordinates and moves the marker", async () => {
    const from = scene.received.length;
    const p0 = pageXY(VW, VH, 100, 100);
    const p1 = pageXY(VW, VH, 400, 250);
    await page.mouse.move(p0.x, p0.y);
    await page.mouse.down();
    await page.mouse.move(p1.x, p1.y, { steps: 8 });
    await page.mouse.up();
    const down = await scene.waitFor(isType("pointer_down"), from);
    expect(down.x).toBeCloseTo(100, 0);
    expect(down.y).toBeCloseTo(100, 0);
    expect(Math.abs(down.x - 100)).toBeLessThanOrEqual(1);
    expect(Math.abs(down.y - 100)).toBeLessThanOrEqual(1);
    expect(down.button).toBe(1);
    expect(down.buttons).toEqual([1]);
    const up = await scene.waitFor(isType("pointer_up"), from);
    expect(Math.abs(up.x - 400)).toBeLessThanOrEqual(1);
    expect(Math.abs(up.y - 250)).toBeLessThanOrEqual(1);
    expect(up.buttons).toEqual([]);
    const moves = scene.received
      .slice(from)
      .filter(isType("pointer_move"))
      .filter((e) => e.buttons.length > 0);
    expect(moves.length).toBeGreaterThan(0);
    expect(moves.length).toBeLessThanOrEqual(8); // coalesced per animation frame, never more than sent
    const last = moves[moves.length - 1]!;
    expect(Math.abs(last.x - 400)).toBeLessThanOrEqual(1);
    expect(Math.abs(last.y - 250)).toBeLessThanOrEqual(1);
    // The order on the wire is down, moves, up.
    const seq = scene.received
      .slice(from)
      .map((e) => e.type)
      .filter((t) => t.startsWith("pointer_") && t !== "pointer_move");
    expect(seq).toEqual(["pointer_down", "pointer_up"]);
    // The scene drew its marker where the drag ended.
    await waitForPixel(page, 400, 250, WHITE);
    expect(near(await pixel(page, 100, 100), BACKGROUNDS[0]!)).toBe(true);
  }, 15_000);

  test("the wheel reaches the server at frame coordinates and changes the scene", async () => {
    const from = scene.received.length;
    const p = pageXY(VW, VH, 520, 80);
    await page.mouse.move(p.x, p.y);
    await page.mouse.wheel(0, 120);
    const wheel = await scene.waitFor(isType("wheel"), from);
    expect(Math.abs(wheel.x - 520)).toBeLessThanOrEqual(1);
    expect(Math.abs(wheel.y - 80)).toBeLessThanOrEqual(1);
    expect(wheel.dy).toBe(120);
    expect(wheel.dx).toBe(0);
    await waitForPixel(page, 520, 80, YELLOW);
  }, 15_000);

  test("keys reach the server while the stream has focus, and change the scene", async () => {
    // Focus the stream by clicking on it (its letterbox bars are outside the canvas).
    const from = scene.received.length;
    const p = pageXY(VW, VH, 600, 300);
    await page.mouse.click(p.x, p.y);
    await scene.waitFor(isType("focus_in"), 0);
    const bg = await pixel(page, 300, 30);
    expect(near(bg, BACKGROUNDS[0]!)).toBe(true);
    await page.keyboard.press("k");
    const down = await scene.waitFor(isType("key_down"), from);
    expect(down.key).toBe("k");
    expect(down.modifiers).toEqual([]);
    await scene.waitFor(isType("key_up"), from);
    await waitForPixel(page, 300, 30, BACKGROUNDS[1]!);
    // Modifiers ride along; a browser shortcut (Ctrl+S) goes to the stream, not the browser.
    const from2 = scene.received.length;
    await page.keyboard.press("Control+s");
    const ctrl = await scene.waitFor((e): e is EventOf<"key_down"> => e.type === "key_down" && e.key === "s", from2);
    expect(ctrl.modifiers).toEqual(["Control"]);
    // F2 is the client's own key: it toggles the overlay and is not forwarded.
    const from3 = scene.received.length;
    expect(await page.locator("#stats").isVisible()).toBe(true);
    await page.keyboard.press("F2");
    expect(await page.locator("#stats").isVisible()).toBe(false);
    await page.keyboard.press("F2");
    expect(await page.locator("#stats").isVisible()).toBe(true);
    // The next key forwarded is the one after F2: nothing came before it.
    await page.keyboard.press("m");
    await scene.waitFor((e): e is EventOf<"key_down"> => e.type === "key_down" && e.key === "m", from3);
    expect(scene.received.slice(from3).filter((e) => e.type === "key_down").map((e) => (e as EventOf<"key_down">).key)).toEqual(["m"]);
    // Without focus, keys stay in the page: "j" pressed then is not among the keys the stream gets
    // once it has the focus back.
    const from4 = scene.received.length;
    await page.locator("#btn-stats").focus();
    await scene.waitFor(isType("focus_out"), from4);
    await page.keyboard.press("j");
    await page.locator("#view").focus();
    await page.keyboard.press("n");
    await scene.waitFor((e): e is EventOf<"key_down"> => e.type === "key_down" && e.key === "n", from4);
    expect(scene.received.slice(from4).filter((e) => e.type === "key_down").map((e) => (e as EventOf<"key_down">).key)).toEqual(["n"]);
  }, 15_000);

  test("pointer lock: moves go out as relative motion in frame pixels", async () => {
    const c = pageXY(VW, VH, 320, 180);
    await page.mouse.move(c.x, c.y);
    await page.click("#btn-lock");
    try {
      await page.waitForFunction(
        () =>
          document.pointerLockElement?.id === "view" &&
          document.getElementById("btn-lock")!.getAttribute("aria-pressed") === "true",
        null,
        { timeout: 3000 },
      );
      // The mouse comes back from the button; that jump is not measured, but waited for.
      const back = scene.received.length;
      await page.mouse.move(c.x, c.y);
      const before = await scene.waitFor(isType("pointer_move"), back);
      const from = scene.received.length;
      await page.mouse.move(c.x + 50, c.y + 25);
      const after = await scene.waitFor(isType("pointer_move"), from);
      const s = W / Math.min(VW, (VH * W) / H); // frame px per CSS px
      expect(Math.abs(after.x - before.x - 50 * s)).toBeLessThanOrEqual(1);
      expect(Math.abs(after.y - before.y - 25 * s)).toBeLessThanOrEqual(1);
    } finally {
      await page.evaluate(() => document.exitPointerLock());
      await page.waitForFunction(() => document.getElementById("btn-lock")!.getAttribute("aria-pressed") === "false", null, {
        timeout: 3000,
      });
    }
  }, 10_000);

  test("resizing the window sends the new size and pixel ratio", async () => {
    const from = scene.received.length;
    await page.setViewportSize({ width: 800, height: 600 });
    try {
      const r = await scene.waitFor((e): e is EventOf<"resize"> => e.type === "resize" && e.width === 800, from);
      expect(r).toEqual({ type: "resize", width: 800, height: 600, ratio: 1 });
      // Now letterboxed top and bottom; input still lands on the right frame pixel.
      const from2 = scene.received.length;
      const p = pageXY(800, 600, 50, 300);
      await page.mouse.click(p.x, p.y);
      const down = await scene.waitFor(isType("pointer_down"), from2);
      expect(Math.abs(down.x - 50)).toBeLessThanOrEqual(1);
      expect(Math.abs(down.y - 300)).toBeLessThanOrEqual(1);
    } finally {
      await page.setViewportSize({ width: VW, height: VH });
    }
  }, 15_000);

  test("a new frame size re-letterboxes the canvas and input follows it", async () => {
    scene.setSize(360, 360);
    try {
      await page.waitForFunction(() => (document.getElementById("view") as HTMLCanvasElement).width === 360, null, {
        timeout: 5000,
      });
      const box = (await page.locator("#view").boundingBox())!;
      expect(box.width).toBeCloseTo(VH, 0);
      expect(box.height).toBeCloseTo(VH, 0);
      expect(box.x).toBeCloseTo((VW - VH) / 2, 0);
      const from = scene.received.length;
      const p = pageXY(VW, VH, 300, 40, 360, 360);
      await page.mouse.click(p.x, p.y);
      const down = await scene.waitFor(isType("pointer_down"), from);
      expect(Math.abs(down.x - 300)).toBeLessThanOrEqual(1);
      expect(Math.abs(down.y - 40)).toBeLessThanOrEqual(1);
      await waitForPixel(page, 300, 40, WHITE);
    } finally {
      scene.setSize(W, H);
    }
    await page.waitForFunction(() => (document.getElementById("view") as HTMLCanvasElement).width === 640, null, {
      timeout: 5000,
    });
  }, 15_000);

  test("a phone-sized viewport: touch input at frame coordinates and a resize with its pixel ratio", async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 3,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const from = scene.received.length;
      const p = await phone.newPage();
      await p.goto(`${server.url}?stats=1`);
      await p.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 10_000 });
      // 390x844 CSS px at 3 is 1170x2532 device px: fitted by the server to 2160 high, aspect and ratio kept.
      await scene.waitFor(
        (e): e is EventOf<"resize"> =>
          e.type === "resize" && e.ratio === 3 && Math.round(e.width * 3) === 998 && Math.round(e.height * 3) === 2160,
        from,
      );
      const t = pageXY(390, 844, 480, 90);
      await p.touchscreen.tap(t.x, t.y);
      const down = await scene.waitFor(isType("pointer_down"), from);
      expect(Math.abs(down.x - 480)).toBeLessThanOrEqual(1);
      expect(Math.abs(down.y - 90)).toBeLessThanOrEqual(1);
      expect(down.button).toBe(1);
      await scene.waitFor(isType("pointer_up"), from);
      await waitForPixel(p, 480, 90, WHITE);
      // The toolbar and the status fit the narrow screen.
      const bar = (await p.locator("#toolbar").boundingBox())!;
      expect(bar.x + bar.width).toBeLessThanOrEqual(390);
      await p.screenshot({ path: `${SHOTS}/phone.png`, scale: "css" });
    } finally {
      await phone.close();
    }
  }, 40_000);

  test("every message the client sent passes the server's schema; acks and pings flow", async () => {
    expect(pageErrors).toEqual([]);
    expect(socketUrls.length).toBeGreaterThan(0);
    expect(new URL(socketUrls[0]!).pathname).toBe("/ws");
    expect(new URL(socketUrls[0]!).searchParams.get("v")).toBe("2");
    expect(sent.length).toBeGreaterThan(10);
    const parsed = sent.map((text) => ({ text, result: parseMessage(text) }));
    expect(parsed.filter((p) => !p.result.ok)).toEqual([]);
    const control = parsed.flatMap((p) => (p.result.ok && p.result.kind === "control" ? [p.result.message] : []));
    const acks = control.filter((m) => m.type === "ack");
    const pings = control.filter((m) => m.type === "ping");
    expect(acks.length).toBeGreaterThan(10);
    expect(pings.length).toBeGreaterThan(0);
    // Acks follow painting order: sequence numbers only grow.
    const seqs = acks.map((m) => (m as { seq: number }).seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }, 5_000);

  test("a JPEG-only server (no metadata, no text messages) still works; metadata reads n/a", async () => {
    const ctx = await browser.newContext({ viewport: { width: 640, height: 400 } });
    const toServer: string[] = [];
    let forward = true;
    try {
      const p = await ctx.newPage();
      // Between page and server: frames lose their COM segment, and text to the page is dropped. The page
      // asks for JPEG (codec=jpeg): an old server ignores what the page asks and sends JPEG anyway.
      await p.routeWebSocket(/\/ws/, (ws) => {
        const upstream = ws.connectToServer();
        upstream.onMessage((m) => {
          if (typeof m !== "string" && forward) ws.send(stripComment(m));
        });
        ws.onMessage((m) => {
          if (typeof m === "string") toServer.push(m);
          upstream.send(m);
        });
      });
      await p.goto(`${server.url}?stats=1&codec=jpeg`);
      await p.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 10_000 });
      await waitForPaints(p, 10);
      // The frame rate shows once it has been measured for long enough.
      await p.waitForFunction(() => /fps\s+\d+/.test(document.getElementById("stats")!.innerText), null, { timeout: 8000 });
      const overlay = await p.locator("#stats").innerText();
      expect(overlay).toMatch(/latency\s+n\/a/);
      expect(overlay).toMatch(/rtt\s+n\/a/);
      expect(overlay).toMatch(/fps\s+\d+/);
      // No acks (no sequence numbers) and no pings (the server never said it speaks v2).
      const types = toServer.map((m) => (JSON.parse(m) as { type: string }).type);
      expect(types).not.toContain("ack");
      expect(types).not.toContain("ping");
      expect(types).toContain("resize");
      const from = scene.received.length;
      const t = pageXY(640, 400, 200, 150);
      await p.mouse.click(t.x, t.y);
      const down = await scene.waitFor(isType("pointer_down"), from);
      expect(Math.abs(down.x - 200)).toBeLessThanOrEqual(1);
      expect(Math.abs(down.y - 150)).toBeLessThanOrEqual(1);
      await waitForPixel(p, 200, 150, WHITE);
      // Nothing arrives any more (the socket stays open): the page says so instead of freezing silently.
      forward = false;
      await p.waitForFunction(() => document.getElementById("app")!.dataset.state === "stalled", null, { timeout: 6000 });
      expect(await p.locator("#status-text").innerText()).toContain("stalled");
      forward = true;
      await p.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 5000 });
    } finally {
      await ctx.close();
    }
  }, 40_000);

  test("a burst of frames faster than they can be painted is skipped to the newest, never queued", async () => {
    const ctx = await browser.newContext({ viewport: { width: 640, height: 400 } });
    try {
      const p = await ctx.newPage();
      // The page gets only the frames the test sends (JPEGs: the page asks for them with codec=jpeg); it
      // keeps talking to the server otherwise.
      let route: WebSocketRoute | null = null;
      const seen: Buffer[] = [];
      await p.routeWebSocket(/\/ws/, (ws) => {
        route = ws;
        const upstream = ws.connectToServer();
        upstream.onMessage((m) => {
          if (typeof m !== "string") seen.push(m);
        });
        ws.onMessage((m) => upstream.send(m));
      });
      await p.goto(`${server.url}?stats=1&codec=jpeg`);
      const frameOfWidth = async (w: number) => {
        const end = Date.now() + 5000;
        for (;;) {
          const hit = seen.find((j) => j.includes(`"w":${w},`));
          if (hit) return stripComment(hit);
          if (Date.now() > end) throw new Error(`no ${w}-wide frame`);
          await Bun.sleep(20);
        }
      };
      const wide = await frameOfWidth(W);
      scene.setSize(360, 360);
      let square: Buffer;
      try {
        square = await frameOfWidth(360);
      } finally {
        scene.setSize(W, H);
      }
      route!.send(wide);
      await p.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 1, null, {
        timeout: 5000,
      });
      /** Counts once the overlay shows `received` frames, each of them painted or dropped (none waiting). */
      const settled = async (received: number) => {
        const h = await p.waitForFunction(
          (n) => {
            const m = /dropped\s+(\d+) of (\d+)/.exec(document.getElementById("stats")!.innerText);
            const painted = Number(document.getElementById("view")!.dataset.painted ?? 0);
            return m && Number(m[2]) === n && painted + Number(m[1]) === n ? { painted, dropped: Number(m[1]) } : null;
          },
          received,
          { timeout: 5000, polling: 50 },
        );
        return (await h.jsonValue())!;
      };
      await settled(1);
      // The paint count at the moment the last frame of the burst arrives. From then on a page that
      // skips to the newest paints at most 3 (one decoding, one decoded, the newest); one that queued
      // frames would go on painting the backlog, however fast or slow the burst came in.
      await p.evaluate(() => {
        const c = document.getElementById("view")!;
        const w = window as unknown as { paintedAtLast: number | null };
        w.paintedAtLast = null;
        new MutationObserver(() => {
          if (w.paintedAtLast === null && c.dataset.received === "61") w.paintedAtLast = Number(c.dataset.painted);
        }).observe(c, { attributes: true });
      });
      for (let i = 0; i < 59; i++) route!.send(wide);
      route!.send(square);
      const after = await settled(61);
      const paintedAtLast = await p.evaluate(() => (window as unknown as { paintedAtLast: number | null }).paintedAtLast);
      expect(paintedAtLast).not.toBeNull();
      expect(after.painted - paintedAtLast!).toBeLessThanOrEqual(3);
      expect(await p.evaluate(() => (document.getElementById("view") as HTMLCanvasElement).width)).toBe(360);
      // The newest frame is the one on the screen.
      const box = (await p.locator("#view").boundingBox())!;
      expect(box.width).toBeCloseTo(box.height, 0);
    } finally {
      await ctx.close();
    }
  }, 40_000);

  test("a viewer without control is told so, and its page sends no input", async () => {
    const viewOnly = new StreamingServer({ host: "127.0.0.1", port: 0, fps: 30, quality: 85, control: "none" });
    await viewOnly.start(W, H);
    const px = new Uint8Array(W * H * 4).fill(128);
    const timer = setInterval(() => viewOnly.pushFrame({ pixels: px, width: W, height: H, format: "rgba" }), 50);
    const ctx = await browser.newContext({ viewport: { width: 640, height: 400 } });
    try {
      const p = await ctx.newPage();
      const sentByPage: string[] = [];
      p.on("websocket", (ws) => ws.on("framesent", ({ payload }) => typeof payload === "string" && sentByPage.push(payload)));
      await p.goto(viewOnly.url);
      // A still scene: the server skips unchanged frames, but its stats and pongs show it is there.
      await p.waitForFunction(() => document.getElementById("status-text")!.textContent === "still picture · view only", null, {
        timeout: 10_000,
      });
      expect(viewOnly.stats.framesUnchanged).toBeGreaterThan(0);
      // A view-only pill stays readable (a controlling one shrinks to its dot).
      expect(await p.locator("#status-text").isVisible()).toBe(true);
      await p.mouse.click(320, 200);
      await p.keyboard.press("w");
      // Messages leave in order: once a ping sent after the click is out, so would the click's events be.
      const afterClick = sentByPage.length;
      await waitUntil(() => sentByPage.slice(afterClick).some((m) => m.includes('"ping"')));
      expect(sentByPage.filter((m) => /pointer_|key_/.test(m))).toEqual([]);
      expect(viewOnly.drainInput()).toEqual([]);
      expect(await p.locator("#control-badge").textContent()).toBe("View only · 1 watching");
    } finally {
      clearInterval(timer);
      await ctx.close();
      await viewOnly.stop();
    }
  }, 40_000);

  test("a still picture on a v2 server reads 'still picture', not live at 0 fps; moving again, it is live", async () => {
    const still = new StreamingServer({ host: "127.0.0.1", port: 0, fps: 30, quality: 85 });
    await still.start(W, H);
    const px = new Uint8Array(W * H * 4).fill(90);
    let moving = false;
    let tick = 0;
    const timer = setInterval(() => {
      if (moving) px.fill(60 + (tick++ % 120), 0, W * 4 * 20); // the top rows change every frame
      still.pushFrame({ pixels: px, width: W, height: H, format: "rgba" });
    }, 33);
    const ctx = await browser.newContext({ viewport: { width: 640, height: 400 } });
    try {
      const p = await ctx.newPage();
      await p.goto(`${still.url}?stats=1`);
      // The server sends the picture once and then nothing, while its stats and pongs keep coming.
      await p.waitForFunction(() => document.getElementById("app")!.dataset.state === "still", null, { timeout: 10_000 });
      expect(await p.locator("#status-text").textContent()).toBe("still picture");
      await p.waitForFunction(() => document.getElementById("stats")!.innerText.includes("capture→ack"), null, { timeout: 5000 });
      expect(await overlayValue(p, "fps")).toBe("still picture");
      expect(await p.locator("#notice").isHidden()).toBe(true);
      expect(still.stats.framesUnchanged).toBeGreaterThan(0);
      await p.screenshot({ path: `${SHOTS}/still.png` });
      // The picture moves again: live, and the frame rate is measured afresh (not averaged with the pause).
      moving = true;
      // Read in the page at the moment it turns live (the overlay is redrawn with the state).
      const atLive = await p.waitForFunction(
        () => {
          if (document.getElementById("app")!.dataset.state !== "live") return null;
          const dt = [...document.querySelectorAll("#stats-list dt")].find((d) => d.textContent === "fps");
          return { status: document.getElementById("status-text")!.textContent, fps: dt?.nextElementSibling?.textContent };
        },
        null,
        { timeout: 5000, polling: 20 },
      );
      expect(await atLive.jsonValue()).toEqual({ status: "live", fps: "measuring… / 30" });
      await p.waitForFunction(() => /fps\s+\d+ \/ 30/.test(document.getElementById("stats")!.innerText), null, {
        timeout: 8000,
        polling: 100,
      });
      const [fps] = (await overlayValue(p, "fps"))!.split(" / ").map(Number);
      expect(fps).toBeGreaterThan(0);
      expect(fps).toBeLessThanOrEqual(30);
    } finally {
      clearInterval(timer);
      await ctx.close();
      await still.stop();
    }
  }, 45_000);

  test("a named stream at /s/demo/: the page builds every URL from its own path", async () => {
    // A second stream on the same server, with a picture of its own size and colour.
    const demo = server.addStream("demo", { width: 320, height: 320 });
    const px = new Uint8Array(320 * 320 * 4);
    new Uint32Array(px.buffer).fill(rgba(BACKGROUNDS[1]!));
    let tick = 0;
    const timer = setInterval(() => {
      px[(tick++ % 320) * 4] ^= 0xff; // a changing pixel keeps it live
      demo.pushFrame({ pixels: px, width: 320, height: 320, format: "rgba" });
    }, 33);
    const ctx = await browser.newContext({ viewport: { width: 640, height: 400 } });
    try {
      const p = await ctx.newPage();
      const requests: string[] = [];
      p.on("request", (r) => requests.push(r.url()));
      p.on("websocket", (ws) => requests.push(ws.url()));
      const from = scene.received.length;
      await p.goto(`${server.url}s/demo/?stats=1`);
      await p.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 10_000 });
      await p.waitForFunction(() => (document.getElementById("view") as HTMLCanvasElement).width === 320, null, { timeout: 5000 });
      await waitForPixel(p, 160, 160, BACKGROUNDS[1]!);
      // Input reaches the named stream, not the default one.
      const t = pageXY(640, 400, 100, 200, 320, 320);
      await p.mouse.click(t.x, t.y);
      const got: InputEvent[] = [];
      await waitUntil(() => {
        got.push(...demo.drainInput());
        return got.some((e) => e.type === "pointer_down");
      });
      const down = got.find(isType("pointer_down"))!;
      expect(Math.abs(down.x - 100)).toBeLessThanOrEqual(1);
      expect(Math.abs(down.y - 200)).toBeLessThanOrEqual(1);
      expect(scene.received.slice(from).filter((e) => e.type === "pointer_down")).toEqual([]);
      // The config (the target fps in the overlay) came from /s/demo/api/config too.
      await p.waitForFunction(() => /fps\s+\S+ \/ 30/.test(document.getElementById("stats")!.innerText), null, { timeout: 5000 });
      const paths = requests.filter((u) => /^(http|ws)/.test(u)).map((u) => new URL(u).pathname);
      expect(paths).toContain("/s/demo/ws");
      expect(paths).toContain("/s/demo/api/config");
      expect(paths.filter((path) => !path.startsWith("/s/demo/"))).toEqual([]);
    } finally {
      clearInterval(timer);
      await ctx.close();
      await server.removeStream("demo");
    }
  }, 40_000);

  test("server stopped → the page says so, then reconnects by itself when it is back", async () => {
    await waitForPaints(page, 3);
    const port = server.port;
    // The scene pauses and the page catches up (it reads "still picture" once nothing is left to
    // read): a close frame queued behind frames a loaded page has not read yet could be cut off by
    // stop()'s grace period, which is the server's matter, not the page's.
    scene.stop();
    await page.waitForFunction(() => document.getElementById("app")!.dataset.state === "still", null, { timeout: 10_000 });
    // Forget any earlier close of this page's socket (a reconnect while the machine was loaded).
    await page.evaluate(() => delete document.getElementById("app")!.dataset.closeCode);
    await server.stop();
    try {
      await page.waitForFunction(() => document.getElementById("app")!.dataset.closeCode !== undefined, null, { timeout: 5000 });
      // stop() says "going away" (1001): the page says the server stopped, not that the connection broke.
      expect(await page.evaluate(() => document.getElementById("app")!.dataset.closeCode)).toBe("1001");
      expect(await state(page)).toBe("stopped");
      expect(await page.locator("#status").innerText()).toContain("server stopped");
      expect(await page.locator("#notice").innerText()).toContain("Server stopped");
      // A failed reconnect while it is gone does not turn it into "connection lost".
      await page.waitForFunction(() => document.getElementById("app")!.dataset.closeCode === "1006", null, { timeout: 5000 });
      expect(await state(page)).toBe("stopped");
      await page.screenshot({ path: `${SHOTS}/stopped.png` });
    } finally {
      await server.start(W, H);
      scene.start();
    }
    expect(server.port).toBe(port);
    await page.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 10_000 });
    await waitForPaints(page, 5);
    expect(await page.locator("#notice").isHidden()).toBe(true);
  }, 40_000);

  test(
    "Firefox: frames, a drag, the wheel and a key at frame coordinates",
    async () => {
      const ff = await Firefox.launch(VW, VH);
      try {
        await ff.goto(`${server.url}?stats=1`);
        await ff.waitFor(`document.getElementById("app").dataset.state === "live"`, 10_000);
        await ff.waitFor(`Number(document.getElementById("view").dataset.painted) >= 5`, 5000);
        const px = (fx: number, fy: number) =>
          ff.evaluate<[number, number, number]>(
            `Array.from(document.getElementById("view").getContext("2d").getImageData(${fx}, ${fy}, 1, 1).data.slice(0, 3))`,
          );
        const waitPx = async (fx: number, fy: number, want: (c: [number, number, number]) => boolean) => {
          const end = Date.now() + 5000;
          let c = await px(fx, fy);
          while (!want(c) && Date.now() < end) {
            await Bun.sleep(50);
            c = await px(fx, fy);
          }
          expect(c).toSatisfy(want);
        };
        // Integer page coordinates (BiDi pointer input): up to half a CSS px off, under 0.4 frame px.
        const at = (fx: number, fy: number) => {
          const p = pageXY(VW, VH, fx, fy);
          return { x: Math.round(p.x), y: Math.round(p.y) };
        };
        const from = scene.received.length;
        const a = at(120, 110);
        const b = at(420, 260);
        await ff.actions([
          {
            type: "pointer",
            id: "mouse",
            parameters: { pointerType: "mouse" },
            actions: [
              { type: "pointerMove", x: a.x, y: a.y },
              { type: "pointerDown", button: 0 },
              { type: "pointerMove", x: b.x, y: b.y, duration: 150 },
              { type: "pointerUp", button: 0 },
            ],
          },
        ]);
        const down = await scene.waitFor(isType("pointer_down"), from);
        expect(Math.abs(down.x - 120)).toBeLessThanOrEqual(1);
        expect(Math.abs(down.y - 110)).toBeLessThanOrEqual(1);
        expect(down.buttons).toEqual([1]);
        const up = await scene.waitFor(isType("pointer_up"), from);
        expect(Math.abs(up.x - 420)).toBeLessThanOrEqual(1);
        expect(Math.abs(up.y - 260)).toBeLessThanOrEqual(1);
        await waitPx(420, 260, (c) => near(c, WHITE));

        const w = at(560, 60);
        await ff.actions([{ type: "wheel", id: "wheel", actions: [{ type: "scroll", x: w.x, y: w.y, deltaX: 0, deltaY: 120 }] }]);
        const wheel = await scene.waitFor(isType("wheel"), from);
        expect(Math.abs(wheel.x - 560)).toBeLessThanOrEqual(1);
        expect(Math.abs(wheel.y - 60)).toBeLessThanOrEqual(1);
        expect(wheel.dy).toBeGreaterThan(0);
        await waitPx(560, 60, (c) => near(c, YELLOW));

        const bg = await px(300, 30);
        await ff.actions([
          {
            type: "key",
            id: "kb",
            actions: [
              { type: "keyDown", value: "k" },
              { type: "keyUp", value: "k" },
            ],
          },
        ]);
        const key = await scene.waitFor(isType("key_down"), from);
        expect(key.key).toBe("k");
        await waitPx(300, 30, (c) => !near(c, bg, 20));

        const overlay = await ff.evaluate<string>(`document.getElementById("stats").innerText`);
        expect(overlay).toMatch(/latency\s+\d+ ms/);
        await Bun.write(`${SHOTS}/firefox.png`, await ff.screenshot());
      } finally {
        await ff.close();
      }
    },
    60_000,
  );
});

// --- the client's pure logic, without a browser ---------------------------------------------------

describe("client logic", () => {
  test("a steady 30 fps stream reads 30 fps, never 31, and nothing before it has been measured", () => {
    // Frames arrive every 33.3 ms (with up to 3 ms of network jitter) and are painted at the next
    // 60 Hz vsync, as a browser does; the overlay samples the rate every 7 ms.
    const stats = new Stats();
    const vsync = 1000 / 60;
    let jitter = 12345;
    const paints: number[] = [];
    for (let i = 0; i < 300; i++) {
      jitter = (jitter * 1103515245 + 12345) % 2 ** 31;
      const arrived = 1000 + (i * 1000) / 30 + (jitter % 3000) / 1000;
      paints.push(Math.ceil(arrived / vsync) * vsync);
    }
    const readings: number[] = [];
    let next = 0;
    for (let now = 1000; now < paints.at(-1)!; now += 7) {
      while (next < paints.length && paints[next]! <= now) stats.framePainted(paints[next]!, paints[next++]!, undefined);
      const fps = stats.snapshot(now).fps;
      if (now - paints[0]! < RATE_MIN_MS) expect(fps).toBeNull();
      else readings.push(Math.round(fps!));
    }
    expect(readings.length).toBeGreaterThan(1000);
    expect(Math.max(...readings)).toBe(30);
    expect(Math.min(...readings)).toBe(30);
  });

  test("a burst of frames held up on the way still reads at most 30 fps: their capture times bound it", () => {
    // A 30 fps stream whose frames 60..64 are held for 300 ms (a busy machine, a network hiccup)
    // and then painted at once: by arrival, 4 s windows hold up to 122 paints ("31").
    const stats = new Stats();
    const captureEpoch = 1.7e12;
    const readings: number[] = [];
    for (let i = 0; i < 300; i++) {
      const made = (i * 1000) / 30;
      const painted = i >= 60 && i < 70 ? (70 * 1000) / 30 : made;
      stats.framePainted(1000 + painted, 1000 + painted, captureEpoch + made);
      const fps = stats.snapshot(1000 + painted).fps;
      if (fps !== null) readings.push(Math.round(fps));
    }
    for (let now = 1000 + 10_000; now < 1000 + 10_200; now += 7) readings.push(Math.round(stats.snapshot(now).fps!));
    expect(readings.length).toBeGreaterThan(200);
    expect(Math.max(...readings)).toBe(30);
  });

  test("a stream that stops reads a falling rate, not the last good one", () => {
    const stats = new Stats();
    for (let t = 0; t <= 5000; t += 1000 / 30) stats.framePainted(t, t, undefined);
    expect(Math.round(stats.snapshot(5000).fps!)).toBe(30);
    expect(stats.snapshot(7000).fps!).toBeLessThan(16);
    expect(stats.snapshot(9100).fps).toBe(0);
  });

  test("the session: still when a v2 server talks but sends no frame, stalled when it says nothing", () => {
    const s = new Session();
    s.opened(0);
    expect(s.state).toBe("waiting");
    s.v2 = true;
    s.targetFps = 30;
    s.frameArrived(100);
    expect(s.state).toBe("live");
    s.tick(1000);
    expect(s.state).toBe("live"); // under a second without a frame
    s.textArrived(1050); // the server's stats
    s.tick(1200);
    expect(s.state).toBe("still");
    s.textArrived(2050);
    s.tick(3000);
    expect(s.state).toBe("still");
    s.frameArrived(3100);
    expect(s.state).toBe("live");
    // Nothing at all for longer than STALL_MS: stalled; the server's next message: still again.
    s.tick(6200);
    expect(s.state).toBe("stalled");
    s.textArrived(6300);
    expect(s.state).toBe("still");
    // A slow stream (2 fps) is not still between its frames.
    s.targetFps = 2;
    s.frameArrived(7000);
    s.textArrived(8200);
    s.tick(8300);
    expect(s.state).toBe("live");
  });

  test("the session: a server without the v2 protocol is never 'still', only stalled", () => {
    const s = new Session();
    s.opened(0);
    s.frameArrived(100);
    s.tick(2000);
    expect(s.state).toBe("live");
    s.tick(3200);
    expect(s.state).toBe("stalled");
  });

  test("the overlay shows the server's capture→ack quantiles, and 'still picture' for the rate of a still one", () => {
    const s = new Session();
    s.opened(0);
    s.v2 = true;
    s.targetFps = 30;
    s.frameArrived(10);
    const latencyMs = { p50: 4.4, p90: 9.6, p99: 20, count: 40 };
    s.serverStats = { type: "stats", framesSent: 12, framesSkipped: 1, viewers: 2, latencyMs };
    const rows = () => overlayRows(s, new Stats().snapshot(100), { width: 640, height: 360 });
    const value = (label: string) => rows().find((r): r is [string, string] => Array.isArray(r) && r[0] === label)?.[1];
    expect(value("capture→ack")).toBe("4 ms (p90 10)");
    expect(value("frames sent")).toBe("12");
    expect(value("fps")).toBe("measuring… / 30");
    s.serverStats.latencyMs = { p50: null, p90: null, p99: null, count: 0 };
    expect(value("capture→ack")).toBe("n/a");
    expect(value("bandwidth")).toBe("n/a");
    s.textArrived(1500);
    s.tick(1500);
    expect(value("fps")).toBe("still picture");
    s.closed(1001, "", 500, 1600);
    expect(value("fps")).toBe("n/a"); // not "measuring" while there is no stream
  });
});
