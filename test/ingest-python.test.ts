// The Python client (clients/python) against the real vkcast it launches: frames, input, viewers,
// and the server's life bound to the engine's.
import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { PythonDriver, ROOT, PYTHON, PYTHON_ENV, Lines, frameMatches, freePort, pattern, portIsFree, until } from "./helpers/ingest.ts";

const W = 320;
const H = 200;
const drivers: PythonDriver[] = [];
const viewers: Viewer[] = [];

afterEach(async () => {
  for (const v of viewers.splice(0)) v.close();
  for (const d of drivers.splice(0)) await d.kill();
});

async function started(): Promise<{ driver: PythonDriver; url: string; port: number }> {
  const driver = PythonDriver.spawn();
  drivers.push(driver);
  const { url } = (await driver.call({ op: "start", width: W, height: H })) as { url: string };
  return { driver, url, port: Number(new URL(url).port) };
}

describe("Python client", () => {
  test("pushed pixels come out of /frame.jpg: RGBA, RGB through negative strides, a strided view, zero copy", async () => {
    const { driver, url } = await started();
    await driver.call({ op: "push", width: W, height: H, shift: 0 });
    await frameMatches(url, W, H, pattern(W, H, 0));
    await driver.call({ op: "push", width: W, height: H, shift: 50, channels: 3 });
    await frameMatches(url, W, H, pattern(W, H, 50));
    await driver.call({ op: "push", width: W, height: H, shift: 100, strided: true });
    await frameMatches(url, W, H, pattern(W, H, 100));
    expect((await driver.call({ op: "acquire", width: W, height: H, shift: 150 })).slot).toBe(true);
    await frameMatches(url, W, H, pattern(W, H, 150));
  }, 30_000);

  test("a larger frame gets a larger ring: /api/config and /frame.jpg follow the new size", async () => {
    const { driver, url } = await started();
    await driver.call({ op: "loop", width: 640, height: 360, shift: 20, hz: 30 });
    await frameMatches(url, 640, 360, pattern(640, 360, 20));
    const config = (await (await fetch(`${url}api/config`)).json()) as { width: number; height: number };
    expect([config.width, config.height]).toEqual([640, 360]);
    const tooLarge = await driver.ask({ op: "push", width: 64, height: 2200 });
    expect(tooLarge.error).toBe("ValueError: vkcast streams frames from 1x1 to 3840x2160 (got 64x2200)");
  }, 30_000);

  test("frames the client drops (a larger frame waits for its ring) are reported: /api/stats counts them", async () => {
    const { driver, url } = await started();
    await driver.call({ op: "push", width: W, height: H });
    // The first larger frame is dropped while its ring is asked for; pushes go on until one gets through.
    let reported = 0;
    await until(async () => {
      reported = Number((await driver.call({ op: "push", width: 640, height: 360 })).dropped);
      // Nobody watches, so frames wait unencoded: a snapshot takes the newest out, and the config follows it.
      await (await fetch(`${url}frame.jpg`)).arrayBuffer();
      return ((await (await fetch(`${url}api/config`)).json()) as { width: number }).width === 640;
    }, "a 640x360 frame to get through");
    expect(reported).toBeGreaterThanOrEqual(1);
    // The count the client sent with its last submitted frame.
    const stats = (await (await fetch(`${url}api/stats`)).json()) as { ingestFramesDroppedByProducer: number };
    expect(stats.ingestFramesDroppedByProducer).toBe(reported);
  }, 30_000);

  test("a viewer's pointer_down arrives in _input_queue; has_clients() follows viewers", async () => {
    const { driver, url } = await started();
    expect((await driver.call({ op: "has_clients" })).value).toBe(false);
    const viewer = await Viewer.connect(wsUrl(url));
    viewers.push(viewer);
    await until(async () => (await driver.call({ op: "has_clients" })).value === true, "has_clients() to turn true");
    const event = { type: "pointer_down", x: 12, y: 34, button: 1, buttons: [1], modifiers: ["Shift"] };
    viewer.send(event);
    expect((await driver.call({ op: "input", timeout: 10 })).event).toEqual(event);
    viewer.close();
    await until(async () => (await driver.call({ op: "has_clients" })).value === false, "has_clients() to turn false");
  }, 30_000);

  test("the new events reach _input_queue (code, text, paste, gamepad); set_clipboard reaches the controller", async () => {
    const { driver, url } = await started();
    const viewer = await Viewer.connect(wsUrl(url, "ws?v=2"));
    viewers.push(viewer);
    await until(async () => (await driver.call({ op: "has_clients" })).value === true, "has_clients() to turn true");
    const events = [
      { type: "key_down", key: "é", code: "Digit2", modifiers: [] },
      { type: "text", text: "日本語" },
      { type: "paste", text: "x".repeat(8000) },
      { type: "gamepad", index: 1, buttons: [1, 0.5], axes: [-1, 0, 0.25] },
    ];
    for (const e of events) viewer.send(e);
    for (const e of events) expect((await driver.call({ op: "input", timeout: 10 })).event).toEqual(e);
    await driver.call({ op: "clipboard", text: "from Python ✓" });
    await viewer.until(() => viewer.texts.some((t) => t.type === "clipboard"), 10_000, "the clipboard");
    expect(viewer.texts.find((t) => t.type === "clipboard")).toEqual({ type: "clipboard", text: "from Python ✓" });
    expect(String((await driver.ask({ op: "clipboard", text: "c".repeat(65_537) })).error)).toContain("at most 65536");
    viewer.close();
  }, 30_000);

  test("stop() ends vkcast and frees its port before it returns", async () => {
    const { driver, port } = await started();
    expect(portIsFree(port)).toBe(false);
    await driver.call({ op: "stop" });
    expect(portIsFree(port)).toBe(true);
  }, 30_000);

  test("SIGKILL of the engine ends the vkcast it launched and frees the port", async () => {
    const { driver, url, port } = await started();
    const viewer = await Viewer.connect(wsUrl(url));
    viewers.push(viewer);
    await driver.kill("SIGKILL");
    await until(() => portIsFree(port), "the port to be free after the engine was killed");
    await viewer.closed;
  }, 30_000);

  test("pip install ./clients/python: the installed package launches the vkcast VKCAST_BIN names", async () => {
    const dir = mkdtempSync(`${tmpdir()}/vkcast-pip-`);
    cpSync(`${ROOT}/clients/python`, `${dir}/src`, { recursive: true }); // pip builds in the source tree
    const pip = Bun.spawnSync(
      [PYTHON, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps", "--target", `${dir}/site`, `${dir}/src`],
      { env: { ...process.env, PIP_NO_INDEX: "1" } },
    );
    expect(pip.stderr.toString()).not.toContain("ERROR");
    expect(pip.exitCode).toBe(0);
    const env = { ...process.env, PYTHONPATH: `${dir}/site`, VKCAST_BIN: `bun run ${ROOT}/index.ts` };
    const driver = PythonDriver.spawn([], env);
    drivers.push(driver);
    const { url } = (await driver.call({ op: "start", width: W, height: H })) as { url: string };
    await driver.call({ op: "push", width: W, height: H, shift: 5 });
    await frameMatches(url, W, H, pattern(W, H, 5));
    expect(existsSync(`${dir}/site/vkcast/server.py`)).toBe(true);
  }, 30_000);

  test("the original's producer loop runs with only its import changed (test/fixtures/seed_loop.py)", async () => {
    const port = freePort();
    const proc = Bun.spawn([PYTHON, `${ROOT}/test/fixtures/seed_loop.py`, String(port), "640", "360", "30"], {
      cwd: `${ROOT}/test/fixtures`,
      env: PYTHON_ENV,
      stdout: "pipe",
      stderr: "pipe",
    });
    const err = new Lines(proc.stderr);
    try {
      const url = `http://127.0.0.1:${port}/`;
      await until(async () => (await fetch(`${url}api/config`).catch(() => null))?.ok === true, `the seed loop's server on ${url}`, 60_000)
        .catch((e) => Promise.reject(new Error(`${e.message}\n${err.all.join("\n")}`)));
      const viewer = await Viewer.connect(wsUrl(url));
      viewers.push(viewer);
      // It keeps pushing its ring of 30 different frames: the viewer sees many distinct ones.
      await viewer.until(() => new Set(viewer.frames.map((f) => f.meta?.seq)).size >= 20, 20_000, "20 frames from the seed loop");
      expect(viewer.frames.at(-1)!.meta).toMatchObject({ w: 640, h: 360 });
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    await until(() => portIsFree(port), "the port to be free after the seed loop was killed");
  }, 30_000);
});
