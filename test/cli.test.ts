// The CLI as a person runs it: a real process, real flags, real signals.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseCli, UsageError } from "../src/cli.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { startMainJob } from "./helpers/main-job.ts";

const ROOT = join(import.meta.dir, "..");

function runCli(args: string[], env: Record<string, string> = {}) {
  return Bun.spawnSync(["bun", "run", "index.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe("bad flags exit 2 with a message naming the flag", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--fps", "0"], {}, /--fps must be an integer from 1 to 240/],
    [["--quality", "200"], {}, /--quality must be an integer from 1 to 100/],
    [["--port", "abc"], {}, /--port must be an integer/],
    [["--width", "1.5"], {}, /--width must be an integer/],
    [["--source", "webcam"], {}, /--source must be one of vulkan, synthetic/],
    [["--encoder=jpegxl"], {}, /--encoder must be one of auto, turbo, napi/],
    [["--bogus"], {}, /unknown flag '--bogus'/],
    [["--fps"], {}, /--fps needs a value/],
    [[], { VKCAST_FPS: "0" }, /VKCAST_FPS must be an integer/],
  ];
  for (const [args, env, message] of cases) {
    test(`${args.join(" ") || JSON.stringify(env)}`, () => {
      const run = runCli(args, env);
      expect(run.exitCode).toBe(2);
      expect(run.stderr.toString()).toMatch(message);
    });
  }
});

describe("parseCli", () => {
  test("defaults, flags over environment, both flag spellings", () => {
    expect(parseCli([], {})).toMatchObject({ host: "127.0.0.1", port: 8080, fps: 30, quality: 85, encoder: "auto" });
    const o = parseCli(["--fps", "60", "--quality=70", "--json-logs"], { VKCAST_FPS: "10", VKCAST_PORT: "9000" });
    expect(o).toMatchObject({ fps: 60, quality: 70, port: 9000, jsonLogs: true });
    expect(() => parseCli(["positional"], {})).toThrow(UsageError);
  });
});

test("--help prints every flag and exits 0", () => {
  const run = runCli(["--help"]);
  expect(run.exitCode).toBe(0);
  const text = run.stdout.toString();
  for (const flag of ["--host", "--port", "--width", "--height", "--fps", "--quality", "--source", "--encoder"]) {
    expect(text).toContain(flag);
  }
});

test("starts, prints the URL to open, serves frames, and exits 0 on SIGTERM", async () => {
  const { proc, url } = await startMainJob(["--source", "synthetic", "--width", "320", "--height", "200"]);
  const config = await (await fetch(`${url}api/config`)).json();
  expect(config).toMatchObject({ width: 320, height: 200, fps: 30 });
  const ws = new WebSocket(`${url.replace("http", "ws")}ws`);
  ws.binaryType = "arraybuffer";
  const first = await new Promise<ArrayBuffer>((resolve) => (ws.onmessage = (e) => resolve(e.data)));
  expect(new Uint8Array(first).subarray(0, 2)).toEqual(new Uint8Array([0xff, 0xd8]));
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
}, 20000);

test("no Vulkan driver: a message naming the packages and --source synthetic, exit code 3", () => {
  const run = runCli(["--port", "0"], { VK_ICD_FILENAMES: "/nonexistent.json", VK_DRIVER_FILES: "/nonexistent.json" });
  expect(run.exitCode).toBe(3);
  const text = run.stderr.toString();
  expect(text).toContain("mesa-vulkan-drivers");
  expect(text).toContain("--source synthetic");
});

test("the main job renders with Vulkan by default on the device the library picks, and reports that device", async () => {
  // The device the Vulkan library itself picks by default, and the devices it lists.
  const probe = await VulkanSource.create({ width: 64, height: 64 });
  const picked = probe.device;
  probe.close();
  const devices = VulkanSource.listDevices();
  expect(devices.map((d) => d.name)).toContain(picked);

  const { proc, url } = await startMainJob(["--width", "320", "--height", "200"]);
  const config = await (await fetch(`${url}api/config`)).json();
  expect(config.device).toBe(picked);
  const snapshot = await fetch(`${url}frame.jpg`);
  expect(snapshot.status).toBe(200);
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);

  // --device INDEX picks by the library's list.
  const last = devices.at(-1)!;
  const chosen = await startMainJob(["--width", "320", "--height", "200", "--device", String(last.index)]);
  expect((await (await fetch(`${chosen.url}api/config`)).json()).device).toBe(last.name);
  chosen.proc.kill("SIGTERM");
  expect(await chosen.proc.exited).toBe(0);
}, 40000);
