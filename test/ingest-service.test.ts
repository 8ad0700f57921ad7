// vkcast as a service (`--source ipc:PATH`, started on its own) with producers that come and go:
// named streams, a producer killed mid-frame, another user, the socket file's life, the default path.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { frameMatches, Lines, PYTHON, PythonDriver, pattern, RawProducer, ROOT, until, Vkcast } from "./helpers/ingest.ts";

const W = 256;
const H = 160;
const drivers: PythonDriver[] = [];
const viewers: Viewer[] = [];

afterEach(async () => {
  for (const v of viewers.splice(0)) v.close();
  for (const d of drivers.splice(0)) await d.kill();
});

const scratch = () => mkdtempSync(`${tmpdir()}/vkcast-svc-`);

async function attached(vkcast: Vkcast, stream: string, user: string[] = []): Promise<{ driver: PythonDriver; url: string }> {
  const driver = PythonDriver.spawn(user);
  drivers.push(driver);
  const { url } = (await driver.call({ op: "attach", socket: vkcast.socketPath, stream, width: W, height: H })) as { url: string };
  return { driver, url };
}

describe("a vkcast that outlives its producers", () => {
  let vkcast: Vkcast;
  beforeAll(async () => {
    vkcast = await Vkcast.start(`${scratch()}/ingest.sock`, [`--width=${W}`, `--height=${H}`]);
  });
  afterAll(() => vkcast.stop());

  test("two named streams at once, each at /s/NAME/, the first also at /", async () => {
    const front = await attached(vkcast, "front");
    const back = await attached(vkcast, "back");
    expect(front.url).toBe(vkcast.url);
    expect(back.url).toBe(`${vkcast.origin}s/back/`);
    await front.driver.call({ op: "push", width: W, height: H, shift: 10 });
    await back.driver.call({ op: "push", width: W, height: H, shift: 90 });
    await frameMatches(`${vkcast.origin}s/front/`, W, H, pattern(W, H, 10));
    await frameMatches(vkcast.origin, W, H, pattern(W, H, 10));
    await frameMatches(`${vkcast.origin}s/back/`, W, H, pattern(W, H, 90));
    // Input goes to the stream's own producer.
    const viewer = await Viewer.connect(wsUrl(`${vkcast.origin}s/back/`));
    viewers.push(viewer);
    viewer.send({ type: "key_down", key: "b", modifiers: [] });
    expect((await back.driver.call({ op: "input" })).event).toMatchObject({ key: "b" });
    expect((await front.driver.call({ op: "has_clients" })).value).toBe(false);
    // One producer per name.
    const again = PythonDriver.spawn();
    drivers.push(again);
    const refused = await again.ask({ op: "attach", socket: vkcast.socketPath, stream: "back", width: W, height: H });
    expect(refused.error).toContain("stream back already has a producer");
  }, 30_000);

  test("a producer killed mid-frame: viewers keep the picture and see the waiting state; a new producer resumes", async () => {
    const first = await attached(vkcast, "front");
    await first.driver.call({ op: "loop", width: W, height: H, shift: 30, hz: 200 });
    await frameMatches(vkcast.origin, W, H, pattern(W, H, 30));
    const viewer = await Viewer.connect(`${wsUrl(vkcast.origin)}?v=2`);
    viewers.push(viewer);
    await viewer.until(() => viewer.frames.length > 0, 10_000, "a frame");
    await first.driver.kill("SIGKILL");

    await until(async () => (await vkcast.health()).status === 503, "/healthz to say 503");
    expect((await vkcast.health()).body).toEqual({ status: "error", error: "waiting for the engine" });
    const saysWaiting = () => viewer.texts.some((t) => t.type === "config" && t.sourceError === "waiting for the engine");
    await viewer.until(saysWaiting, 10_000, "a config saying it waits");
    const config = (await (await fetch(`${vkcast.origin}api/config`)).json()) as { sourceError: string };
    expect(config.sourceError).toBe("waiting for the engine");
    expect(viewer.open).toBe(true);
    await frameMatches(vkcast.origin, W, H, pattern(W, H, 30)); // the last picture stays

    const second = await attached(vkcast, "front");
    await second.driver.call({ op: "push", width: W, height: H, shift: 70 });
    await frameMatches(vkcast.origin, W, H, pattern(W, H, 70));
    expect((await vkcast.health()).status).toBe(200);
    await viewer.until(() => viewer.texts.some((t) => t.type === "config" && t.sourceError === null), 10_000, "a config saying it is back");
    expect(vkcast.proc.exitCode).toBeNull();
  }, 30_000);

  test("another user's producer is refused: by the socket's permissions, and by its credentials", async () => {
    const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const blocked = PythonDriver.spawn(nobody);
    drivers.push(blocked);
    const byPermissions = await blocked.ask({ op: "attach", socket: vkcast.socketPath, stream: "intruder", width: W, height: H });
    expect(byPermissions.error).toContain("permission denied");
    // Opened up, the file system no longer stops it: the peer's credentials do.
    chmodSync(vkcast.socketPath.replace(/\/[^/]+$/, ""), 0o755);
    chmodSync(vkcast.socketPath, 0o666);
    try {
      const byCredentials = await blocked.ask({ op: "attach", socket: vkcast.socketPath, stream: "intruder", width: W, height: H });
      expect(byCredentials.error).toContain("uid 65534 may not feed this vkcast");
    } finally {
      chmodSync(vkcast.socketPath, 0o600);
      chmodSync(vkcast.socketPath.replace(/\/[^/]+$/, ""), 0o700);
    }
    expect((await (await fetch(`${vkcast.origin}s/intruder/api/config`)).status)).toBe(404);
  }, 30_000);
});

describe("the socket file", () => {
  test("a stale socket is replaced; a live one and a file that is no socket are refused (exit 2)", async () => {
    const dir = scratch();
    const path = `${dir}/ingest.sock`;
    // A socket file nobody listens on, as a killed vkcast leaves it.
    const stale = Bun.spawnSync([PYTHON, "-c", `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
    expect(stale.exitCode).toBe(0);
    expect(existsSync(path)).toBe(true);
    const vkcast = await Vkcast.start(path);
    try {
      const second = Bun.spawnSync(["bun", "run", "index.ts", `--source=ipc:${path}`, "--port=0"], { cwd: ROOT });
      expect(second.exitCode).toBe(2);
      expect(second.stderr.toString()).toContain(`another process is listening on ${path}`);
      const p = await RawProducer.connect(path);
      await p.handshake();
      p.close();
    } finally {
      await vkcast.stop();
    }
    expect(existsSync(path)).toBe(false);
    writeFileSync(`${dir}/plain`, "not a socket");
    const plain = Bun.spawnSync(["bun", "run", "index.ts", `--source=ipc:${dir}/plain`, "--port=0"], { cwd: ROOT });
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr.toString()).toContain("exists and is not a socket");
  }, 30_000);

  test("--source ipc listens on $XDG_RUNTIME_DIR/vkcast/PORT.sock; --exit-with-producer exits when its producer leaves", async () => {
    const runtime = scratch();
    mkdirSync(runtime, { recursive: true });
    const proc = Bun.spawn(["bun", "run", "index.ts", "--source=ipc", "--port=0", "--exit-with-producer"], {
      cwd: ROOT,
      env: { ...process.env, XDG_RUNTIME_DIR: runtime },
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = new Lines(proc.stdout);
    const [, url] = await out.wait(/vkcast: open (\S+)/);
    const [, path] = await out.wait(/producers connect to (\S+)/);
    expect(path).toBe(`${runtime}/vkcast/${new URL(url!).port}.sock`);
    const p = await RawProducer.connect(path!);
    await p.handshake();
    p.close();
    expect(await proc.exited).toBe(0);
    expect(existsSync(path!)).toBe(false);
  }, 30_000);
});
