// What a new user and an attacker found (issue 12), each over the real thing: real sockets, real
// processes of the main job, real Vulkan, real openssl and promtool.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { readFrameMeta } from "../client/protocol.ts";
import { parseCli, UsageError } from "../src/cli.ts";
import { DEFAULTS } from "../src/server/options.ts";
import { COUNTERS } from "../src/server/telemetry.ts";
import { StartError, StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { startMainJob } from "./helpers/main-job.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { pushFrames } from "./helpers/push.ts";
import { rawRequest, upgradeHeaders } from "./helpers/raw-http.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

const ROOT = join(import.meta.dir, "..");
const TOKEN = "s3cret-token-for-tests";
const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const small = new SyntheticSource(200, 100);

/** Runs the main job to its end (killed after `timeoutMs`: a job that should have failed but serves). */
function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000) {
  const run = Bun.spawnSync(["bun", "run", "index.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  return { exitCode: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

/** Stops a main job with SIGTERM and returns its stderr. */
async function stopMainJob(proc: Bun.Subprocess<"ignore", "pipe", "pipe">): Promise<string> {
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
  return await new Response(proc.stderr).text();
}

function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-keyout", key, "-out", cert], { stderr: "pipe" });
  expect(made.exitCode).toBe(0);
  return { cert, key };
}
const tlsDir = mkdtempSync(join(tmpdir(), "vkcast-harden-"));

describe("1. a busy port", () => {
  test("a second server on a busy port fails with 'address in use': the library throws, the main job exits 1", async () => {
    const first = new StreamingServer({ port: 0 });
    await first.start(64, 64);
    try {
      const second = new StreamingServer({ port: first.port });
      const error = await second.start(64, 64).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(StartError);
      expect((error as StartError).option).toBe("port");
      expect((error as StartError).message).toContain("address in use");
      expect(second.running).toBe(false);
      const run = runCli(["--port", String(first.port), "--source", "synthetic"]);
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain(`--port: address in use: 127.0.0.1:${first.port}`);
      // The first still answers every request alone.
      for (let i = 0; i < 4; i++) expect((await fetch(`${first.url}api/config`)).status).toBe(200);
    } finally {
      await first.stop();
    }
  }, 30_000);
});

describe("2. Host allow-list without a token; frames only for this origin", () => {
  const server = new StreamingServer({ port: 0, allowHosts: ["vkcast.example"] });
  let stopPushing = () => {};
  beforeAll(async () => {
    await server.start(200, 100);
    stopPushing = pushFrames(server, small, 30);
  });
  afterAll(async () => {
    stopPushing();
    await server.stop();
  });

  test("a page on a foreign name rebound to 127.0.0.1 gets no 200 and no 101", async () => {
    const port = server.port;
    const evil = `evil.example:${port}`;
    for (const path of ["/", "/frame.jpg", "/api/config", "/stream.mjpeg", "/metrics", "/healthz"]) {
      expect((await rawRequest(port, `GET ${path} HTTP/1.1`, [`Host: ${evil}`])).status).toBe(403);
    }
    // The Origin matches the Host, as it does after rebinding: only the Host check stops it.
    const ws = await rawRequest(port, "GET /ws HTTP/1.1", [`Host: ${evil}`, ...upgradeHeaders(`http://${evil}`)]);
    expect(ws.status).toBe(403);
    expect(server.stats.upgradesRefused).toBe(1);
  });

  test("loopback names and addresses, IP addresses and listed names are served", async () => {
    const port = server.port;
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST.:${port}`, `vkcast.example:${port}`, "192.0.2.7"];
    for (const host of hosts) {
      expect((await rawRequest(port, "GET /api/config HTTP/1.1", [`Host: ${host}`])).status).toBe(200);
    }
    expect((await rawRequest(port, "GET /ws HTTP/1.1", [`Host: vkcast.example:${port}`, ...upgradeHeaders(`http://vkcast.example:${port}`)])).status).toBe(101);
  });

  test("with a token any Host is served (a reverse proxy's real name, --host 0.0.0.0)", async () => {
    const withToken = new StreamingServer({ port: 0, token: TOKEN });
    await withToken.start(64, 64);
    try {
      const res = await rawRequest(withToken.port, "GET /api/config HTTP/1.1", ["Host: vkcast.real-name.example", `Authorization: Bearer ${TOKEN}`]);
      expect(res.status).toBe(200);
    } finally {
      await withToken.stop();
    }
  });

  test("frames carry Cross-Origin-Resource-Policy: same-origin", async () => {
    const snapshot = await fetch(`${server.url}frame.jpg`);
    expect(snapshot.status).toBe(200);
    expect(snapshot.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    const mjpeg = await fetch(`${server.url}stream.mjpeg`);
    expect(mjpeg.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    await mjpeg.body!.cancel();
  });
});

describe("3. the token cookie names the port", () => {
  test("two servers on one host keep their own cookie; with TLS it is __Host- and Secure", async () => {
    const tls = makeCert(tlsDir, "cookie");
    const a = new StreamingServer({ port: 0, token: TOKEN });
    const b = new StreamingServer({ port: 0, token: "another-token-123" });
    const secure = new StreamingServer({ port: 0, token: TOKEN, tls });
    await Promise.all([a.start(64, 64), b.start(64, 64), secure.start(64, 64)]);
    try {
      const cookieOf = async (server: StreamingServer) =>
        (await fetch(server.url, { redirect: "manual", tls: { rejectUnauthorized: false } } as RequestInit)).headers.get("set-cookie")!;
      const [ca, cb, cs] = [await cookieOf(a), await cookieOf(b), await cookieOf(secure)];
      expect(ca.startsWith(`vkcast_token_${a.port}=`)).toBe(true);
      expect(cb.startsWith(`vkcast_token_${b.port}=`)).toBe(true);
      expect(cs.startsWith(`__Host-vkcast_token_${secure.port}=`)).toBe(true);
      expect(cs).toContain("Secure");
      expect(cs).toContain("Path=/");
      // A browser sends both cookies to both servers: each finds its own.
      const jar = `${ca.split(";")[0]}; ${cb.split(";")[0]}`;
      expect((await fetch(`${a.origin}api/config`, { headers: { cookie: jar } })).status).toBe(200);
      expect((await fetch(`${b.origin}api/config`, { headers: { cookie: jar } })).status).toBe(200);
      expect((await fetch(`${a.origin}api/config`, { headers: { cookie: `vkcast_token=${TOKEN}` } })).status).toBe(401);
    } finally {
      await Promise.all([a.stop(), b.stop(), secure.stop()]);
    }
  }, 30_000);
});

/** Reads a multipart body, counting the parts (by their boundary lines). */
function countParts(reader: ReadableStreamDefaultReader<Uint8Array>, state: { parts: number; ended: boolean; error: unknown }) {
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        state.parts += (new TextDecoder("latin1").decode(value).match(/--vkcastframe\r\n/g) ?? []).length;
      }
    } catch (err) {
      state.error = err;
    }
    state.ended = true;
  })();
}

describe("4. MJPEG readers", () => {
  test("a still picture keeps its reader past 15 s; a reader that stops reading is closed by the stall rule and counted", async () => {
    // Both at once, so the test takes the longer of the two.
    const still = new StreamingServer({ port: 0 });
    await still.start(200, 100);
    // 12 s: longer than Bun's 10 s idle timeout, which used to cut stalled readers first (as "left").
    const busy = new StreamingServer({ port: 0, stallTimeout: 12 });
    await busy.start(1280, 720);
    const big = new SyntheticSource(1280, 720);
    const stopPushing = pushFrames(busy, big, 30);
    let stalled: Socket | null = null;
    try {
      still.pushFrame(small.frame(1)); // one picture, then nothing
      const res = await fetch(`${still.url}stream.mjpeg`);
      const state = { parts: 0, ended: false, error: null as unknown };
      countParts(res.body!.getReader(), state);

      stalled = connect(busy.port, "127.0.0.1");
      stalled.write(`GET /stream.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:${busy.port}\r\n\r\n`);
      stalled.once("data", () => stalled!.pause()); // reads the head, then never again
      await waitFor(() => busy.statsSnapshot().mjpegViewers === 1, 5000, "the stalled reader to join");

      const t0 = performance.now();
      await waitFor(() => performance.now() - t0 > 15_000 || state.ended, 20_000, "15 s");
      expect(state.ended).toBe(false);
      expect(still.statsSnapshot().mjpegViewers).toBe(1);
      // The first part and the keep-alive sends of the same picture.
      expect(state.parts).toBeGreaterThanOrEqual(3);
      expect(still.stats.framesEncoded).toBe(1);

      await waitFor(() => busy.stats.viewersClosedTooSlow === 1, 25_000, "the stalled reader to be closed as too slow");
      expect(busy.statsSnapshot().mjpegViewers).toBe(0);
    } finally {
      stopPushing();
      stalled?.destroy();
      await Promise.all([still.stop(), busy.stop()]);
    }
  }, 60_000);
});

describe("5. a bare pushFrame array", () => {
  test("a bare array of the old size after a resize is refused with a RangeError naming both sizes", async () => {
    const server = new StreamingServer({ port: 0 });
    await server.start(1280, 720);
    const viewer = await Viewer.connect(wsUrl(server.url));
    try {
      const smaller = new SyntheticSource(640, 480);
      server.pushFrame(smaller.frame(0));
      await waitFor(() => server.config().width === 640, 5000, "the stream to take 640x480");
      const pushed = server.stats.framesPushed;
      expect(() => server.pushFrame(new Uint8Array(1280 * 720 * 4))).toThrow(RangeError);
      expect(() => server.pushFrame(new Uint8Array(1280 * 720 * 4))).toThrow(/3686400 bytes.*640x480 \(1228800 bytes\)/);
      expect(server.stats.framesPushed).toBe(pushed);
      server.pushFrame(new Uint8Array(640 * 480 * 4)); // the right size still goes
      expect(server.stats.framesPushed).toBe(pushed + 1);
    } finally {
      viewer.close();
      await server.stop();
    }
  });
});

describe("6. start-up errors name the flag and exit 2", () => {
  test("--device 99 and a name that matches nothing", () => {
    for (const device of ["99", "no-such-gpu"]) {
      const run = runCli(["--port", "0", "--device", device]);
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toContain(`--device: no Vulkan device matches "${device}"`);
    }
  }, 60_000);

  test("TLS files that are not PEM, swapped, or not a pair", () => {
    const { cert, key } = makeCert(tlsDir, "a");
    const other = makeCert(tlsDir, "b");
    const junk = join(tlsDir, "junk.pem");
    writeFileSync(junk, "not a certificate\n");
    const cases: [string, string, RegExp][] = [
      [junk, key, /--tls-cert: '.*junk\.pem' is not a PEM certificate/],
      [cert, junk, /--tls-key: '.*junk\.pem' is not a PEM private key/],
      [key, cert, /--tls-cert: .* holds a private key .* swapped/],
      [cert, other.key, /--tls-key: '.*b-key\.pem' is not the private key of the certificate/],
    ];
    for (const [c, k, message] of cases) {
      const run = runCli(["--port", "0", "--source", "synthetic", "--tls-cert", c, "--tls-key", k]);
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  }, 60_000);

  test("--host nosuchhost.invalid says it does not resolve", () => {
    const run = runCli(["--port", "0", "--source", "synthetic", "--host", "nosuchhost.invalid"]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("--host: 'nosuchhost.invalid' does not resolve");
  }, 30_000);
});

describe("7. flag parsing", () => {
  test("a flag's value that looks like a flag is refused", () => {
    expect(() => parseCli(["--token", "--view-only"], {})).toThrow(/--token needs a value \(TOKEN\), not the flag '--view-only'/);
    expect(() => parseCli(["--host", "--no-auth"], {})).toThrow(UsageError);
    expect(() => parseCli(["--host", "-h"], {})).toThrow(UsageError);
    expect(parseCli(["--token=--its-own-token"], {}).token).toBe("--its-own-token"); // explicit with '='
  });

  test("an empty boolean is off: VKCAST_NO_AUTH= on 0.0.0.0 still needs the token", async () => {
    expect(parseCli([], { VKCAST_NO_AUTH: "" }).noAuth).toBe(false);
    expect(parseCli(["--view-only="], {}).viewOnly).toBe(false);
    const { proc, urls } = await startMainJob(["--source", "synthetic", "--host", "0.0.0.0"], { VKCAST_NO_AUTH: "" });
    try {
      expect(urls[0]).toContain("?token=");
      const port = new URL(urls[0]!).port;
      expect((await fetch(`http://127.0.0.1:${port}/api/config`)).status).toBe(401);
    } finally {
      await stopMainJob(proc);
    }
  }, 30_000);
});

describe("8. auth details", () => {
  const server = new StreamingServer({ port: 0, token: TOKEN });
  beforeAll(async () => {
    server.addStream("cam");
    await server.start(64, 64);
  });
  afterAll(() => server.stop());

  test("the Bearer scheme in any case", async () => {
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const res = await fetch(`${server.origin}api/config`, { headers: { authorization: `${scheme} ${TOKEN}` } });
      expect(res.status).toBe(200);
    }
  });

  test("the token redirect keeps the other query parameters", async () => {
    const first = await fetch(`${server.origin}?token=${TOKEN}&stats=1&x=a%20b`, { redirect: "manual" });
    expect(first.status).toBe(302);
    expect(first.headers.get("location")).toBe("/?stats=1&x=a+b");
    const named = await fetch(`${server.origin}s/cam/?debug=1&token=${TOKEN}`, { redirect: "manual" });
    expect(named.headers.get("location")).toBe("/s/cam/?debug=1");
  });

  test("--host 0.0.0.0 prints a URL for each address of the machine, and each opens", async () => {
    const expected = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((a) => a.family === "IPv4")
      .map((a) => a.address);
    const { proc, urls } = await startMainJob(["--source", "synthetic", "--host", "0.0.0.0", "--token", TOKEN], {}, expected.length);
    try {
      expect(urls.map((u) => new URL(u).hostname).sort()).toEqual([...expected].sort());
      for (const url of urls) {
        expect(url).toEndWith(`?token=${TOKEN}`);
        expect((await fetch(url.replace(/\?token=.*/, "api/config"), { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      }
    } finally {
      await stopMainJob(proc);
    }
  }, 30_000);
});

describe("9. one list of counters, Prometheus conventions", () => {
  test("every counter of /api/stats is in /metrics with the same value, MJPEG is counted, and promtool passes", async () => {
    const server = new StreamingServer({ port: 0, inputRateLimit: 1, allowHosts: [] });
    await server.start(200, 100);
    try {
      server.health.rendered(4);
      const viewer = await Viewer.connect(wsUrl(server.url, "ws?v=2"));
      const stopPushing = pushFrames(server, small, 30);
      for (let i = 0; i < 5; i++) viewer.send({ type: "ping", t: i });
      expect((await rawRequest(server.port, "GET /ws HTTP/1.1", [`Host: 127.0.0.1:${server.port}`, ...upgradeHeaders("http://evil.example")])).status).toBe(403);
      const mjpeg = await fetch(`${server.url}stream.mjpeg`);
      const state = { parts: 0, ended: false, error: null as unknown };
      const reader = mjpeg.body!.getReader();
      countParts(reader, state);
      await waitFor(() => state.parts >= 2 && server.stats.inputRateLimited > 0, 5000, "MJPEG parts and rate-limited input");
      stopPushing();
      await reader.cancel();
      viewer.close();
      await waitFor(() => !server.hasClients(), 5000, "every viewer gone");

      const stats = await (await fetch(`${server.url}api/stats`)).json();
      const text = await (await fetch(`${server.url}metrics`)).text();
      const metrics = parsePrometheus(text);
      const fields = COUNTERS.map(([field]) => field as string);
      for (const field of ["inputRateLimited", "upgradesRefused", "mjpegFramesSent", "mjpegBytesSent"]) expect(fields).toContain(field);
      for (const [field, name] of COUNTERS) expect(metrics.get(`vkcast_${name}_total{stream="default"}`)).toBe(stats[field]);
      // Every number of /api/stats that counts something is in the one list.
      const gauges = ["uptimeSeconds", "viewers", "websocketViewers", "mjpegViewers", "encoderWorkers"];
      for (const [key, value] of Object.entries(stats)) {
        if (typeof value === "number" && !gauges.includes(key)) expect(fields).toContain(key);
      }
      expect(stats.mjpegFramesSent).toBeGreaterThanOrEqual(2);
      expect(stats.mjpegBytesSent).toBeGreaterThan(stats.mjpegFramesSent * 100);
      expect(stats.upgradesRefused).toBe(1);
      // Times in seconds, as histograms.
      const count = metrics.get('vkcast_encode_seconds_count{stream="default"}')!;
      expect(count).toBe(stats.encodeMs.count);
      expect(metrics.get('vkcast_encode_seconds_bucket{stream="default",le="+Inf"}')).toBe(count);
      expect(metrics.get('vkcast_render_seconds_sum{stream="default"}')).toBeCloseTo(0.004, 6);
      expect(text).not.toMatch(/_ms\b/);

      const stdin = new TextEncoder().encode(text);
      const lint = Bun.spawnSync(["promtool", "check", "metrics"], { stdin, stdout: "pipe", stderr: "pipe" });
      expect(`${lint.stdout}${lint.stderr}`.trim()).toBe("");
      expect(lint.exitCode).toBe(0);
    } finally {
      await server.stop();
    }
  }, 30_000);
});

describe("10. --max-viewers", () => {
  test("a viewer over the cap gets 503 before its upgrade; the others keep their frames", async () => {
    expect(DEFAULTS.maxViewers).toBeGreaterThanOrEqual(100); // the README publishes 100 viewers
    const server = new StreamingServer({ port: 0, maxViewers: 3 });
    await server.start(200, 100);
    const stopPushing = pushFrames(server, small, 30);
    const viewers = await Promise.all([1, 2, 3].map(() => Viewer.connect(wsUrl(server.url), false)));
    try {
      const own = `http://127.0.0.1:${server.port}`;
      const refused = await rawRequest(server.port, "GET /ws HTTP/1.1", [`Host: 127.0.0.1:${server.port}`, ...upgradeHeaders(own)]);
      expect(refused.status).toBe(503);
      expect(refused.text).toContain("--max-viewers");
      expect((await fetch(`${server.url}stream.mjpeg`)).status).toBe(503);
      expect(server.viewerCount).toBe(3);
      expect(server.stats.upgradesRefused).toBe(1);
      const before = viewers.map((v) => v.frames.length);
      await waitFor(() => viewers.every((v, i) => v.frames.length > before[i]! + 5), 5000, "the three viewers' frames");
      viewers.pop()!.close();
      await waitFor(() => server.viewerCount === 2, 5000, "one viewer gone");
      viewers.push(await Viewer.connect(wsUrl(server.url), false));
      expect(server.viewerCount).toBe(3);
    } finally {
      stopPushing();
      for (const v of viewers) v.close();
      await server.stop();
    }
    expect(runCli(["--max-viewers", "0"]).exitCode).toBe(2);
  }, 30_000);
});

describe("11. no encode while nobody needs frames", () => {
  test("30 pushes with no viewer: none encoded, each released at once; a viewer, then a snapshot, get the newest", async () => {
    const server = new StreamingServer({ port: 0 });
    await server.start(200, 100);
    try {
      // Paced as an engine loop pushes (25 fps), so that each push could have been encoded.
      let released = 0;
      for (let i = 1; i <= 30; i++) {
        server.pushFrame({ ...small.frame(i), captureTime: 1_000_000 + i, release: () => released++ });
        await Bun.sleep(40);
      }
      expect(server.stats.framesPushed).toBe(30);
      // The producer has all its memory back: the newest waits as a copy.
      expect(released).toBe(30);
      const viewer = await Viewer.connect(wsUrl(server.url));
      await viewer.until(() => viewer.frames.length > 0, 5000, "a frame");
      expect(viewer.frames[0]!.meta!.t).toBe(1_000_030);
      // One encode for 30 pushes: none ran before someone watched.
      expect(server.stats.framesEncoded).toBe(1);
      viewer.close();
      await waitFor(() => !server.hasClients(), 5000, "the viewer gone");

      for (let i = 31; i <= 35; i++) server.pushFrame({ ...small.frame(i), captureTime: 1_000_000 + i });
      const snapshot = new Uint8Array(await (await fetch(`${server.url}frame.jpg`)).arrayBuffer());
      expect(readFrameMeta(snapshot)!.t).toBe(1_000_035);
      expect(server.stats.framesEncoded).toBe(2);
    } finally {
      await server.stop();
    }
  });
});

describe("12. small ones", () => {
  test("--log-level debug logs each request; info does not", async () => {
    const runs: Record<string, string> = {};
    for (const level of ["debug", "info"]) {
      const { proc, urls } = await startMainJob(["--source", "synthetic", "--log-level", level]);
      expect((await fetch(`${urls[0]}api/config`)).status).toBe(200);
      runs[level] = await stopMainJob(proc);
    }
    expect(runs.debug).toMatch(/^debug request method="GET" path="\/api\/config" status=200$/m);
    expect(runs.info).not.toMatch(/^debug/m);
    expect(runs.info).toContain("vkcast is running");
  }, 30_000);

  test("POST /api/config is 405 naming the allowed methods", async () => {
    const server = new StreamingServer({ port: 0 });
    await server.start(64, 64);
    try {
      const res = await fetch(`${server.url}api/config`, { method: "POST", body: "{}" });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    } finally {
      await server.stop();
    }
  });
});

describe("13. a license and a version", () => {
  test("LICENSE is MIT as package.json says, and --version prints the package's version", () => {
    expect(readFileSync(join(ROOT, "LICENSE"), "utf8")).toStartWith("MIT License");
    expect(PACKAGE.license).toBe("MIT");
    const run = runCli(["--version"]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.trim()).toBe(`vkcast ${PACKAGE.version}`);
    expect(runCli(["--help"]).stdout).toContain("usage: bun run index.ts [flags]");
  });
});
