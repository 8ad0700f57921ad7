// Let no one in who should not be, and survive bad input and faults. Real sockets throughout;
// raw TCP where an HTTP client would tidy the request up (traversal, Origin).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputState } from "../src/input-state.ts";
import { parseMessage } from "../src/protocol/input-schema.ts";
import { createLogger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { pushFrames } from "./helpers/push.ts";
import { rawRequest, upgradeHeaders } from "./helpers/raw-http.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "s3cret-token-for-tests";

describe("token auth", () => {
  const server = new StreamingServer({ port: 0, token: TOKEN });
  beforeAll(() => server.start(64, 64));
  afterAll(() => server.stop());

  test("no token: 401 for the page, its API, snapshots and the WebSocket; /healthz stays open", async () => {
    for (const path of ["", "api/config", "api/stats", "metrics", "frame.jpg", "stream.mjpeg"]) {
      const res = await fetch(`${server.origin}${path}`);
      expect(res.status).toBe(401);
    }
    expect((await fetch(`${server.origin}api/config?token=wrong-token-xyz`)).status).toBe(401);
    expect((await rawRequest(server.port, "GET /ws HTTP/1.1", upgradeHeaders())).status).toBe(401);
    expect((await fetch(`${server.origin}healthz`)).status).toBe(200);
  });

  test("the printed URL lets a browser in: the token moves into a cookie, which then opens everything", async () => {
    expect(server.url).toBe(`${server.origin}?token=${TOKEN}`);
    const first = await fetch(server.url, { redirect: "manual" });
    expect(first.status).toBe(302);
    expect(first.headers.get("location")).toBe("/");
    const cookie = first.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const jar = cookie.split(";")[0]!;
    const page = await fetch(server.origin, { headers: { cookie: jar } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<canvas");
    expect((await fetch(`${server.origin}api/config`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const ws = await rawRequest(server.port, "GET /ws HTTP/1.1", [...upgradeHeaders(), `Cookie: ${jar}`]);
    expect(ws.status).toBe(101);
    const viewer = await Viewer.connect(wsUrl(server.origin, `ws?token=${TOKEN}`));
    expect(viewer.open).toBe(true);
    viewer.close();
  });

  test("binding beyond loopback turns auth on with a random token", async () => {
    const open = new StreamingServer({ host: "0.0.0.0", port: 0 });
    expect(open.token).not.toBeNull();
    expect(open.token!.length).toBeGreaterThanOrEqual(24);
    expect(new StreamingServer({ host: "0.0.0.0", token: null }).token).toBeNull();
    expect(new StreamingServer({ host: "127.0.0.1" }).token).toBeNull();
  });
});

test("a view-only token lets a viewer watch but never drive, whatever the control policy", async () => {
  const server = new StreamingServer({ port: 0, token: TOKEN, viewToken: "watch-only-token" });
  await server.start(64, 64);
  expect(server.viewUrl).toBe(`${server.origin}?token=watch-only-token`);
  expect((await fetch(`${server.origin}api/config?token=watch-only-token`)).status).toBe(200);
  const watcher = await Viewer.connect(wsUrl(server.origin, "ws?v=2&token=watch-only-token"));
  const driver = await Viewer.connect(wsUrl(server.origin, `ws?v=2&token=${TOKEN}`));
  await driver.until(() => driver.texts.length > 0 && watcher.texts.length > 0, 2000, "hello");
  expect(watcher.texts[0]).toMatchObject({ type: "hello", role: "view" });
  expect(driver.texts[0]).toMatchObject({ type: "hello", role: "control" });
  const move = { type: "pointer_move", x: 1, y: 1, button: 0, buttons: [], modifiers: [] };
  watcher.send(move);
  driver.send(move);
  await waitFor(() => server.stats.inputAccepted + server.stats.inputDenied === 2, 3000, "both messages");
  expect(server.drainInput()).toHaveLength(1);
  expect(server.stats.inputDenied).toBe(1);
  await server.stop();
  // A view token alone still turns auth on: a random token drives.
  expect(new StreamingServer({ viewToken: "watch-only-token" }).token).not.toBeNull();
});

describe("WebSocket Origin check", () => {
  const server = new StreamingServer({ port: 0, allowOrigins: ["https://dashboard.example"] });
  beforeAll(() => server.start(64, 64));
  afterAll(() => server.stop());

  test("a foreign Origin is refused with 403; the server's own and listed origins are let in", async () => {
    const port = server.port;
    expect((await rawRequest(port, "GET /ws HTTP/1.1", upgradeHeaders("http://evil.example"))).status).toBe(403);
    expect((await rawRequest(port, "GET /ws HTTP/1.1", upgradeHeaders(`http://127.0.0.1:${port + 1}`))).status).toBe(403);
    expect((await rawRequest(port, "GET /ws HTTP/1.1", upgradeHeaders("null"))).status).toBe(403);
    expect((await rawRequest(port, "GET /ws HTTP/1.1", upgradeHeaders(`http://127.0.0.1:${port}`))).status).toBe(101);
    expect((await rawRequest(port, "GET /ws HTTP/1.1", upgradeHeaders("https://dashboard.example"))).status).toBe(101);
    expect(server.stats.upgradesRefused).toBe(3);
  });
});

describe("static files", () => {
  const server = new StreamingServer({ port: 0 });
  beforeAll(() => server.start(64, 64));
  afterAll(() => server.stop());

  test("no path traversal: every attempt is 400 or 404 and shows no file", async () => {
    const attempts = [
      "/../../etc/passwd",
      "/..%2f..%2fetc%2fpasswd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/%2e%2e%2f%2e%2e%2fpackage.json",
      "/%252e%252e/package.json",
      "//etc/passwd",
      "/etc/passwd",
      "/package.json",
      "/client/index.html",
      "/client/../package.json",
      "/index.html/../../README.md",
      "/..\\..\\package.json",
      "/%5c..%5cpackage.json",
      "/node_modules/.bin/bun",
      "/C:/Windows/win.ini",
      "/.git/config",
      "/src/server.ts",
    ];
    for (const path of attempts) {
      const { status, text } = await rawRequest(server.port, `GET ${path} HTTP/1.1`);
      expect([400, 404]).toContain(status);
      expect(text).not.toContain("root:x:0:0");
      expect(text).not.toContain('"name": "vkcast"');
    }
  });

  test("correct content types and security headers on the page and its assets", async () => {
    const page = await fetch(server.url);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await page.text();
    const js = /src="\.?\/?([^"]+\.js)"/.exec(html)![1]!;
    const css = /href="\.?\/?([^"]+\.css)"/.exec(html)![1]!;
    const jsRes = await fetch(`${server.url}${js}`);
    expect(jsRes.headers.get("content-type")).toContain("javascript");
    expect(jsRes.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await fetch(`${server.url}${css}`)).headers.get("content-type")).toContain("text/css");
    const api = await fetch(`${server.url}api/config`);
    expect(api.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await fetch(`${server.url}nope`)).headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("TLS", () => {
  test("--tls-cert/--tls-key serve HTTPS and WSS", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vkcast-tls-"));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-keyout", key, "-out", cert], { stderr: "pipe" });
    expect(made.exitCode).toBe(0);
    const server = new StreamingServer({ port: 0, tls: { cert, key } });
    await server.start(64, 64);
    expect(server.url.startsWith("https://")).toBe(true);
    const res = await fetch(`${server.url}api/config`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(res.status).toBe(200);
    const ws = new WebSocket(wsUrl(server.url), { tls: { rejectUnauthorized: false } } as never);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("wss failed"));
    });
    ws.close();
    await server.stop();
  });
});

describe("bad input", () => {
  test("fuzz: thousands of malformed messages from several viewers; a good viewer keeps its frames", async () => {
    const errors: string[] = [];
    const logger = { ...createLogger("silent"), error: (m: string) => errors.push(m) };
    const source = new SyntheticSource(320, 180);
    const server = new StreamingServer({ port: 0, fps: 30, logger, inputRateLimit: 100_000 });
    await server.start(320, 180);
    const stopPushing = pushFrames(server, source, 30);
    const good = await Viewer.connect(wsUrl(server.url), false);
    const fuzzers = await Promise.all([1, 2, 3, 4].map(() => Viewer.connect(wsUrl(server.url, "ws?v=2"), false)));

    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const types = ["pointer_down", "pointer_move", "wheel", "key_down", "resize", "focus_in", "ack", "ping", "x", ""];
    const values = [0, -1, 1e308, "1", null, true, [], {}, [1, 2], "Shift", 70000, -70000, 3.5, "a".repeat(40)];
    const fieldNames = ["x", "y", "dx", "dy", "button", "buttons", "modifiers", "key", "width", "height", "ratio", "seq", "t", "time_stamp", "__proto__", "constructor", "extra"];
    const malformed = (): string | Uint8Array => {
      switch (rand(9)) {
        case 0:
          return "{" + "x".repeat(rand(200));
        case 1:
          return "[".repeat(1000) + "]".repeat(1000); // deeply nested
        case 2:
          return '{"type":"pointer_move","x":NaN,"y":1,"button":0,"buttons":[],"modifiers":[]}';
        case 3:
          return JSON.stringify({ type: "wheel", dx: 1e999, dy: 0, x: 0, y: 0, modifiers: [] }).replace("null", "1e999");
        case 4:
          return new Uint8Array([rand(256), rand(256), rand(256)]);
        case 5:
          return JSON.stringify(values[rand(values.length)]);
        case 6:
          return '{"type":"key_down","key":"a","modifiers":[],"__proto__":{"polluted":1}}';
        default: {
          const msg: Record<string, unknown> = { type: types[rand(types.length)] };
          for (let i = rand(6); i > 0; i--) msg[fieldNames[rand(fieldNames.length)]!] = values[rand(values.length)];
          return JSON.stringify(msg);
        }
      }
    };
    await good.until(() => good.frames.length > 0, 3000, "a first frame");
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const start = good.frames.length;
    const [pushed0, published0] = [server.stats.framesPushed, server.stats.framesPublished];
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() - t0 < 4000) {
      for (const f of fuzzers) for (let i = 0; i < 25; i++, sent++) f.send(malformed());
      await Bun.sleep(5);
    }
    const seconds = (Date.now() - t0) / 1000;
    const published = server.stats.framesPublished - published0;
    const pushed = server.stats.framesPushed - pushed0;
    await good.until(() => good.frames.length - start >= published - 2, 3000, "the good viewer to get what was published");
    // One huge message: the socket is closed with 1009 (message too big), the server goes on.
    fuzzers[0]!.send("x".repeat(100_000));
    expect(await fuzzers[0]!.closed).toBe(1009);

    // Whatever reached the engine is a valid event; almost everything was rejected and counted.
    const drained = server.drainInput();
    for (const event of drained) expect(parseMessage(JSON.stringify(event)).ok).toBe(true);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(sent).toBeGreaterThan(5000);
    expect(server.stats.inputRejected).toBeGreaterThan(sent * 0.8);
    // The stream went on: the server published what the producer pushed, at the rate it pushed it.
    expect(published).toBeGreaterThanOrEqual(0.85 * pushed);
    expect(published / seconds).toBeGreaterThan(0.85 * Math.min(30, pushed / seconds));
    expect(good.open).toBe(true);
    expect((await fetch(`${server.url}api/config`)).status).toBe(200);
    expect(errors).toEqual([]);
    stopPushing();
    await server.stop();
  }, 30000);

  test("prototype pollution: messages carrying __proto__ or constructor are refused; a key named __proto__ is just a key", async () => {
    const server = new StreamingServer({ port: 0 });
    await server.start(64, 64);
    const viewer = await Viewer.connect(wsUrl(server.url, "ws?v=2"));
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const attacks = [
      '{"type":"key_down","key":"a","modifiers":[],"__proto__":{"polluted":1}}',
      '{"__proto__":{"polluted":1},"type":"focus_in"}',
      '{"type":"focus_in","constructor":{"prototype":{"polluted":1}}}',
      '{"type":"__proto__"}',
      '{"type":"constructor"}',
      '{"type":"toString"}',
    ];
    for (const text of attacks) viewer.send(text);
    viewer.send({ type: "key_down", key: "__proto__", modifiers: [] });
    await waitFor(() => server.stats.inputAccepted === 1, 3000, "the good message");
    expect(server.stats.inputRejected).toBe(attacks.length);
    await viewer.until(() => viewer.texts.filter((t) => t.type === "error").length === attacks.length, 3000, "an error per attack");
    const drained = server.drainInput();
    expect(drained).toEqual([{ type: "key_down", key: "__proto__", modifiers: [] }]);
    expect(Object.getPrototypeOf(drained[0])).toBe(Object.prototype);
    // The engine folds it into its state like any other key.
    const state = new InputState();
    state.apply(drained);
    expect([...state.keys]).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await server.stop();
  });

  test("a viewer over its input rate limit: the excess is dropped and counted", async () => {
    const server = new StreamingServer({ port: 0, inputRateLimit: 100, inputCapacity: 10_000 });
    await server.start(64, 64);
    const viewer = await Viewer.connect(wsUrl(server.url));
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) viewer.send({ type: "pointer_move", x: i, y: 0, button: 0, buttons: [], modifiers: [] });
    await viewer.until(() => server.stats.inputAccepted + server.stats.inputRateLimited >= 1000, 5000, "all messages");
    const seconds = (performance.now() - t0) / 1000;
    // A burst of 100, plus 100 a second for as long as the messages took to arrive.
    expect(server.stats.inputAccepted).toBeGreaterThanOrEqual(100);
    expect(server.stats.inputAccepted).toBeLessThanOrEqual(100 + Math.ceil(100 * seconds));
    expect(server.stats.inputRateLimited).toBe(1000 - server.stats.inputAccepted);
    expect(server.drainInput().length).toBe(server.stats.inputAccepted);
    await server.stop();
  });
});

describe("faults", () => {
  test("an encoder Worker that dies is replaced and frames resume", async () => {
    const errors: string[] = [];
    const logger = { ...createLogger("silent"), error: (m: string) => errors.push(m) };
    const source = new SyntheticSource(320, 180);
    const server = new StreamingServer({ port: 0, fps: 30, logger, encoderWorkers: 1 });
    await server.start(320, 180);
    const stopPushing = pushFrames(server, source, 30);
    const viewer = await Viewer.connect(wsUrl(server.url), false);
    await viewer.until(() => viewer.frames.length > 5, 3000, "frames");
    // Fault injection: reach the pool and kill its only Worker, as a crash would.
    const pool = (server as unknown as { pool: { slots: { worker: Worker }[] } }).pool;
    pool.slots[0]!.worker.terminate();
    const before = viewer.frames.length;
    await viewer.until(() => viewer.frames.length > before + 3, 5000, "frames after the Worker died");
    expect(errors.some((e) => e.includes("encoder worker died"))).toBe(true);
    expect(server.metricsText()).toContain("vkcast_encoder_restarts_total 1");
    stopPushing();
    await server.stop();
  });

  test("viewers leaving mid-broadcast are harmless", async () => {
    const errors: string[] = [];
    const logger = { ...createLogger("silent"), error: (m: string) => errors.push(m) };
    const source = new SyntheticSource(320, 180);
    const server = new StreamingServer({ port: 0, fps: 60, logger });
    await server.start(320, 180);
    const stopPushing = pushFrames(server, source, 60);
    const stayer = await Viewer.connect(wsUrl(server.url), false);
    for (let round = 0; round < 10; round++) {
      const goers = await Promise.all(Array.from({ length: 10 }, () => Viewer.connect(wsUrl(server.url), false)));
      await Bun.sleep(20 + round * 7);
      for (const g of goers) g.close();
    }
    const count = stayer.frames.length;
    await stayer.until(() => stayer.frames.length > count + 5, 2000, "frames after the churn");
    expect(errors).toEqual([]);
    stopPushing();
    await server.stop();
  });
});

test("soak: 20 viewers joining and leaving at random for 60 s; memory returns, nothing logged as an error", async () => {
  const errors: string[] = [];
  const logger = { ...createLogger("silent"), error: (m: string) => errors.push(m), warn: (m: string) => errors.push(m) };
  const source = new SyntheticSource(640, 360);
  const server = new StreamingServer({ port: 0, fps: 30, logger });
  await server.start(640, 360);
  const stopPushing = pushFrames(server, source, 30);
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const slots: (Viewer | null)[] = new Array(20).fill(null);
  const churn = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const i = Math.floor(rand() * slots.length);
      const v = slots[i];
      if (v) {
        v.close();
        slots[i] = null;
      } else {
        slots[i] = await Viewer.connect(wsUrl(server.url, rand() < 0.5 ? "ws?v=2" : "ws"), false);
      }
      // Keep what the test itself holds small: only metadata is kept, and it is cleared.
      for (const s of slots) if (s) s.frames.length = 0;
      await Bun.sleep(rand() * 100);
    }
  };
  await churn(10_000); // warm-up
  Bun.gc(true);
  const rssWarm = process.memoryUsage().rss;
  await churn(50_000);
  for (const v of slots) v?.close();
  await waitFor(() => server.viewerCount === 0, 5000, "every viewer to be gone");
  Bun.gc(true);
  const rssEnd = process.memoryUsage().rss;
  stopPushing();
  await server.stop();
  expect(server.stats.viewersJoined).toBeGreaterThan(100);
  expect(rssEnd).toBeLessThan(rssWarm * 1.1);
  expect(errors).toEqual([]);
}, 90_000);

test("in Chromium: the printed URL opens the live page; a server restarted with a new token shows 'Not authorised'", async () => {
  const { launchChromium } = await import("./helpers/browser.ts");
  const source = new SyntheticSource(320, 180);
  const first = new StreamingServer({ port: 0, token: TOKEN });
  await first.start(320, 180);
  const port = first.port;
  let stopPushing = pushFrames(first, source, 30);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 640, height: 400 } });
    await page.goto(first.url);
    expect(page.url()).toBe(first.origin); // the token moved into a cookie
    await page.waitForSelector("#app[data-state=live]", { timeout: 10_000 });
    stopPushing();
    await first.stop();
    const second = new StreamingServer({ port, token: "another-token-entirely" });
    await second.start(320, 180);
    stopPushing = pushFrames(second, source, 30);
    await page.waitForFunction(() => document.querySelector("#notice")?.textContent?.includes("Not authorised"), null, {
      timeout: 15_000,
    });
    await page.screenshot({ path: "/tmp/vkcast-shots/not-authorised.png" });
    stopPushing();
    await second.stop();
  } finally {
    stopPushing();
    await browser.close();
  }
}, 40_000);
