// The one-file executable: build it, run it from a temporary directory where neither the repo nor
// bun/node can be seen, and check that it renders, encodes (both backends), serves the client,
// /frame.jpg, /metrics and /ws, and exits 0 on SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { buildExecutable } from "../scripts/build.ts";
import { pageAssetRefs } from "./helpers/page-assets.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { jpegSize } from "./helpers/push.ts";


const REPO_DIR = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "vkcast-exe-"));
const TMP = join(dir, "tmp"); // $TMPDIR of the executable: where it extracts its native files
const EXE = join(dir, "vkcast");
const ENV = { PATH: "/usr/bin:/bin", HOME: dir, TMPDIR: TMP };

const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Runs the executable in a private mount namespace where the repo (and with it node_modules and the
 * build directory) and the global node_modules are empty tmpfs mounts and the bun and node binaries
 * are /dev/null, so it can only work if it carries everything itself. Null where namespaces are not
 * allowed; the test then runs it without and still checks which files it mapped.
 */
function isolation(): string[] | null {
  if (Bun.spawnSync({ cmd: ["unshare", "--mount", "--propagation", "private", "true"], stderr: "pipe" }).exitCode !== 0)
    return null;
  const dirs = [REPO_DIR, "/usr/lib/node_modules"].filter((d) => {
    try {
      return readdirSync(d) && true;
    } catch {
      return false;
    }
  });
  const files = ["bun", "node"]
    .map((tool) => Bun.which(tool, { PATH: ENV.PATH }))
    .filter((p): p is string => p !== null)
    .map((p) => realpathSync(p))
    .filter((p) => !dirs.some((d) => p.startsWith(`${d}/`)));
  const script = [
    "set -e",
    ...dirs.map((d) => `mount -t tmpfs none ${sh(d)}`),
    ...files.map((f) => `mount --bind /dev/null ${sh(f)}`),
    // Prove the hiding worked before starting.
    `test ! -e ${sh(join(REPO_DIR, "package.json"))}`,
    "! bun --version >/dev/null 2>&1",
    "! node --version >/dev/null 2>&1",
    'exec "$@"',
  ].join("\n");
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"];
}

interface Running {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** Milliseconds from spawn to the "open" line. */
  startMs: number;
  output: () => string;
}

const running = new Set<Subprocess>();

async function start(args: string[], prefix: string[] | null): Promise<Running> {
  const t0 = performance.now();
  const proc = Bun.spawn([...(prefix ?? []), EXE, ...args], {
    cwd: dir,
    env: ENV,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(proc);
  let out = "";
  let err = "";
  const output = () => `stdout:\n${out}\nstderr:\n${err}`;
  void (async () => {
    const decoder = new TextDecoder();
    for (const reader = proc.stderr.getReader(); ; ) {
      const { value, done } = await reader.read();
      if (done) break;
      err += decoder.decode(value, { stream: true });
    }
  })();
  const decoder = new TextDecoder();
  let url: string | null = null;
  let startMs = 0;
  const opened = new Promise<void>((resolve, reject) => {
    void (async () => {
      for (const reader = proc.stdout.getReader(); ; ) {
        const { value, done } = await reader.read();
        if (done) break;
        out += decoder.decode(value, { stream: true });
        const m = /vkcast: open (http:\/\/\S+)/.exec(out);
        if (m && !url) {
          url = m[1]!;
          startMs = performance.now() - t0;
          resolve();
        }
      }
      reject(new Error(`vkcast exited (${await proc.exited}) before its "open" line\n${output()}`));
    })();
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  try {
    await opened;
  } finally {
    clearTimeout(timer);
  }
  return { proc, url: url!, startMs, output };
}

/** SIGTERM: the executable must exit by itself with code 0 (within its 2 s shutdown bound). */
async function stop(r: Running): Promise<number | null> {
  r.proc.kill("SIGTERM");
  const code = await Promise.race([r.proc.exited, Bun.sleep(4000).then(() => null)]);
  running.delete(r.proc);
  return code;
}

/** Files the process has mapped or open (libraries included), as it sees them. */
function filesOf(pid: number): string[] {
  const mapped = readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .map((l) => l.split(/\s+/).slice(5).join(" "))
    .filter((p) => p.startsWith("/"))
    .map((p) => p.replace(/ \(deleted\)$/, "")); // an extracted file may be unlinked once loaded
  const open = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return [];
    }
  });
  return [...new Set([...mapped, ...open])];
}

function expectSelfContained(pid: number, native: RegExp) {
  const files = filesOf(pid);
  expect(files.filter((f) => f.startsWith(`${REPO_DIR}/`) || f.includes("node_modules"))).toEqual([]);
  // Its native parts come out of the executable into $TMPDIR.
  expect(files.filter((f) => f.startsWith(`${TMP}/`) && native.test(f)).length, files.join("\n")).toBeGreaterThan(0);
}

let prefix: string[] | null = null;

beforeAll(async () => {
  mkdirSync(TMP, { recursive: true });
  const built = await buildExecutable(EXE);
  console.log(`built ${built.path}: ${(built.bytes / 2 ** 20).toFixed(1)} MiB in ${(built.ms / 1000).toFixed(1)} s`);
  prefix = isolation();
  console.log(
    prefix
      ? "running it in a mount namespace where the repo, node_modules, bun and node are hidden"
      : "no mount namespaces here: running it without hiding the repo (its mapped files are still checked)",
  );
}, 60_000);

afterAll(async () => {
  for (const proc of running) proc.kill("SIGKILL");
  await Promise.all([...running].map((p) => p.exited));
  rmSync(dir, { recursive: true, force: true });
});

describe("the one-file executable", () => {
  test(
    "renders with Vulkan, encodes with libjpeg-turbo, serves the client, /frame.jpg, /metrics and /ws; exits 0 on SIGTERM",
    async () => {
      const r = await start(["--port", "0", "--encoder", "turbo", "--width", "640", "--height", "360"], prefix);
      console.log(`vulkan/turbo: "open" line after ${r.startMs.toFixed(0)} ms`);
      try {
        expect(r.output()).toContain('encoder="turbo"');
        expectSelfContained(r.proc.pid, /\.so$/);
        const files = filesOf(r.proc.pid);
        expect(files.some((f) => /libvulkan\.so/.test(f))).toBe(true);
        expect(files.some((f) => /libturbojpeg\.so/.test(f))).toBe(true);

        // The page, and every script and stylesheet it references.
        const page = await fetch(r.url);
        expect(page.status).toBe(200);
        expect(page.headers.get("content-type")).toContain("text/html");
        const html = await page.text();
        const refs = pageAssetRefs(html);
        expect(refs.length).toBeGreaterThanOrEqual(2);
        for (const { ref, type } of refs) {
          // Relative to the page, so that a proxy serving it under a path prefix (/s/NAME/) still finds them.
          expect(ref).toMatch(/^\.\/[^/]+$/);
          const res = await fetch(new URL(ref, r.url));
          expect(res.status, ref).toBe(200);
          expect(res.headers.get("content-type") ?? "", ref).toMatch(type);
          expect((await res.arrayBuffer()).byteLength, ref).toBeGreaterThan(100);
        }

        const snap = await fetch(new URL("/frame.jpg", r.url));
        expect(snap.status).toBe(200);
        expect(snap.headers.get("content-type")).toBe("image/jpeg");
        expect(await jpegSize(new Uint8Array(await snap.arrayBuffer()))).toEqual({ width: 640, height: 360 });

        const metrics = await fetch(new URL("/metrics", r.url));
        expect(metrics.status).toBe(200);
        const samples = parsePrometheus(await metrics.text());
        expect([...samples.keys()].filter((k) => k.startsWith("vkcast_")).length).toBeGreaterThan(5);

        const ws = new WebSocket(new URL("/ws", r.url).href.replace(/^http/, "ws"));
        ws.binaryType = "arraybuffer";
        const jpeg = await new Promise<Uint8Array>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no frame over /ws within 10 s")), 10_000);
          ws.onmessage = (e) => {
            if (typeof e.data === "string") return;
            clearTimeout(timer);
            resolve(new Uint8Array(e.data as ArrayBuffer));
          };
          ws.onerror = () => reject(new Error("/ws failed"));
        });
        expect([jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
        expect(await jpegSize(jpeg)).toEqual({ width: 640, height: 360 });

        // With a viewer connected: it is closed with "going away" and the process exits 0.
        const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
        expect(await stop(r)).toBe(0);
        expect([1001, 1006]).toContain(await Promise.race([closed, Bun.sleep(1000).then(() => -1)]));
      } catch (err) {
        console.log(r.output());
        throw err;
      }
    },
    30_000,
  );

  test(
    "loads the embedded @napi-rs/image addon (--source synthetic --encoder napi)",
    async () => {
      const r = await start(["--port", "0", "--source", "synthetic", "--encoder", "napi", "--width", "320", "--height", "240"], prefix);
      console.log(`synthetic/napi: "open" line after ${r.startMs.toFixed(0)} ms`);
      try {
        expect(r.output()).toContain('encoder="napi"');
        const snap = await fetch(new URL("/frame.jpg", r.url));
        expect(snap.status).toBe(200);
        expect(await jpegSize(new Uint8Array(await snap.arrayBuffer()))).toEqual({ width: 320, height: 240 });
        // The addon is loaded once the Worker encoded a frame.
        expectSelfContained(r.proc.pid, /\.node$/);
        expect(await stop(r)).toBe(0);
      } catch (err) {
        console.log(r.output());
        throw err;
      }
    },
    30_000,
  );

  test("--help works from the temporary directory, names the executable, and --version prints the package's", () => {
    const run = (flag: string) =>
      Bun.spawnSync({ cmd: [...(prefix ?? []), EXE, flag], cwd: dir, env: ENV, stdout: "pipe", stderr: "pipe" });
    const help = run("--help");
    expect(help.exitCode).toBe(0);
    expect(help.stdout.toString()).toContain("--encoder");
    expect(help.stdout.toString()).toContain("usage: vkcast [flags]");
    const version = run("--version");
    expect(version.exitCode).toBe(0);
    const { version: expected } = JSON.parse(readFileSync(join(REPO_DIR, "package.json"), "utf8"));
    expect(version.stdout.toString().trim()).toBe(`vkcast ${expected}`);
  }, 10_000);
});
