// The Vulkan frame source on the real device (lavapipe here): nothing is mocked. Per-test timeouts,
// since bunfig's [test] timeout is ignored.
import { afterAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { InputState } from "../src/input-state.ts";
import { VulkanSource, VulkanUnavailableError } from "../src/sources/vulkan.ts";
import { ensureVulkanLibrary } from "../src/vulkan/build.ts";

const open: VulkanSource[] = [];
afterAll(() => {
  for (const s of open) s.close();
});
async function make(opts: Parameters<typeof VulkanSource.create>[0]): Promise<VulkanSource> {
  const s = await VulkanSource.create(opts);
  open.push(s);
  return s;
}

/** The test pattern of src/vulkan/shaders/pattern.frag. */
function expected(x: number, y: number): number[] {
  return [x & 255, y & 255, (x ^ y) & 255, 255];
}

function pixel(f: { pixels: Uint8Array; width: number }, x: number, y: number): number[] {
  const o = (y * f.width + x) * 4;
  return [...f.pixels.subarray(o, o + 4)];
}

/** A deterministic PRNG (mulberry32) so "random" pixels are the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("the library builds, and a second call finds it up to date and does not rebuild it", () => {
  const path = ensureVulkanLibrary();
  expect(path).toEndWith("build/libvkcast_vk.so");
  const built = statSync(path);
  expect(ensureVulkanLibrary()).toBe(path);
  // A rebuild renames a new file into place: another inode and modification time.
  const after = statSync(path);
  expect([after.ino, after.mtimeMs]).toEqual([built.ino, built.mtimeMs]);
}, 60_000);

test("a failed build throws the compiler's output and the packages to install", async () => {
  // A copy of the build in a temp tree whose C file does not compile.
  const { cpSync, mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const root = mkdtempSync("/tmp/vkcast-build-test-");
  try {
    const here = `${import.meta.dir}/../src/vulkan`;
    cpSync(`${here}/build.ts`, `${root}/src/vulkan/build.ts`);
    cpSync(`${here}/shaders`, `${root}/src/vulkan/shaders`, { recursive: true });
    writeFileSync(`${root}/src/vulkan/vkcast_vk.c`, "int broken( {\n");
    const build = await import(`${root}/src/vulkan/build.ts`);
    let error: Error | null = null;
    try {
      build.ensureVulkanLibrary();
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe("VulkanBuildError");
    expect(error?.message).toContain("vkcast_vk.c:1"); // the compiler's diagnostics
    expect(error?.message).toContain("libvulkan-dev mesa-vulkan-drivers glslc");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}, 60_000);

test("listDevices names lavapipe as a CPU device, with the UUID the opened device reports", async () => {
  const devices = VulkanSource.listDevices();
  expect(devices.length).toBeGreaterThan(0);
  const cpu = devices.find((d) => d.type === "cpu");
  expect(cpu?.name.toLowerCase()).toContain("llvmpipe");
  for (const d of devices) expect(d.uuid).toMatch(/^[0-9a-f]{32}$/);
  const source = await make({ width: 64, height: 64, device: String(cpu!.index) });
  expect(source.uuid).toBe(cpu!.uuid);
}, 20_000);

describe("pixel truth: the test pattern read back byte-exact", () => {
  const sizes: [number, number][] = [
    [1, 1],
    [64, 64],
    [641, 361],
    [1280, 720],
    [3, 1000],
  ];
  test("at several sizes, odd ones included, resizing one source", async () => {
    const src = await make({ width: 64, height: 64, scene: "pattern" });
    const input = new InputState();
    const random = rng(42);
    for (const [w, h] of sizes) {
      src.resize(w, h);
      expect([src.width, src.height]).toEqual([w, h]);
      for (let rep = 0; rep < 2; rep++) {
        // twice: both ring slots
        const f = await src.nextFrame(0, input);
        expect([f.width, f.height, f.stride ?? w * 4, f.format]).toEqual([w, h, w * 4, "rgba"]);
        expect(f.pixels.length).toBe(w * h * 4);
        const points: [number, number][] = [
          [0, 0],
          [w - 1, 0],
          [0, h - 1],
          [w - 1, h - 1],
          [w >> 1, h >> 1],
        ];
        for (let i = 0; i < 20; i++) points.push([Math.floor(random() * w), Math.floor(random() * h)]);
        for (const [x, y] of points) {
          const got = pixel(f, x, y);
          if (got.join() !== expected(x, y).join()) throw new Error(`${w}x${h} pixel (${x},${y}): ${got} != ${expected(x, y)}`);
        }
        f.release!();
      }
    }
    // One whole frame, every byte.
    src.resize(641, 361);
    const f = await src.nextFrame(0, input);
    let bad = 0;
    for (let y = 0; y < 361; y++)
      for (let x = 0; x < 641; x++) {
        const o = (y * 641 + x) * 4;
        const p = f.pixels;
        if (p[o] !== (x & 255) || p[o + 1] !== (y & 255) || p[o + 2] !== ((x ^ y) & 255) || p[o + 3] !== 255) bad++;
      }
    f.release!();
    expect(bad).toBe(0);
    src.close();
  }, 60_000);

  test("created directly at an odd size", async () => {
    const src = await make({ width: 641, height: 361, scene: "pattern" });
    const f = await src.nextFrame(0, new InputState());
    for (const [x, y] of [
      [0, 0],
      [640, 360],
      [320, 180],
      [257, 300],
    ] as const)
      expect(pixel(f, x, y)).toEqual(expected(x, y));
    f.release!();
    src.close();
  }, 30_000);
});

describe("the orbit scene", () => {
  const W = 320;
  const H = 180;

  test("no input and a fixed t give the same bytes twice, across both slots", async () => {
    const src = await make({ width: W, height: H });
    const input = new InputState();
    const a = await src.nextFrame(2.5, input);
    const b = await src.nextFrame(2.5, input); // a is still held, so b is the other slot
    expect(b.pixels).not.toBe(a.pixels);
    expect(Buffer.compare(a.pixels, b.pixels)).toBe(0);
    const firstA = Buffer.from(a.pixels);
    a.release!();
    b.release!();
    const c = await src.nextFrame(2.5, input);
    expect(Buffer.compare(c.pixels, firstA)).toBe(0);
    c.release!();
    // Something is drawn: not one flat colour.
    const colours = new Set<number>();
    const v = new Uint32Array(firstA.buffer, firstA.byteOffset, firstA.length / 4);
    for (let i = 0; i < v.length; i += 97) colours.add(v[i]!);
    expect(colours.size).toBeGreaterThan(50);
    // Time animates the objects.
    const d = await src.nextFrame(3.5, input);
    expect(Buffer.compare(d.pixels, firstA)).not.toBe(0);
    d.release!();
    src.close();
  }, 30_000);

  test("a left-button drag rotates the camera, the wheel zooms, keys move and r resets", async () => {
    const src = await make({ width: W, height: H });
    const input = new InputState();
    const grab = async (t: number) => {
      const f = await src.nextFrame(t, input);
      const copy = Buffer.from(f.pixels);
      f.release!();
      input.endFrame();
      return copy;
    };
    const before = await grab(1);
    const yaw0 = src.cameraState.yaw;

    input.buttons.add(1);
    input.dragX = 100;
    const dragged = await grab(1);
    expect(src.cameraState.yaw).toBeCloseTo(yaw0 - 0.5, 6);
    expect(Buffer.compare(dragged, before)).not.toBe(0);
    input.buttons.clear();

    // No input: the picture stays.
    expect(Buffer.compare(await grab(1), dragged)).toBe(0);

    const d0 = src.cameraState.distance;
    input.wheelY = 200;
    const zoomed = await grab(1);
    expect(src.cameraState.distance).toBeGreaterThan(d0);
    expect(Buffer.compare(zoomed, dragged)).not.toBe(0);

    input.keys.add("w");
    await grab(1.0);
    const target0 = src.cameraState.target;
    await grab(1.05); // 50 ms of "w" held
    input.keys.clear();
    const target1 = src.cameraState.target;
    expect(Math.hypot(target1[0] - target0[0], target1[2] - target0[2])).toBeGreaterThan(0.1);

    input.pressed.add("r");
    const reset = await grab(1);
    expect(Buffer.compare(reset, before)).toBe(0);
    src.close();
  }, 30_000);

  test("a runtime resize changes the frame size; held frames delay it without blocking", async () => {
    const src = await make({ width: W, height: H });
    const input = new InputState();
    const held = await src.nextFrame(0, input);
    src.resize(200.4, 99.6);
    expect([src.width, src.height]).toEqual([200, 100]);
    let resolved = false;
    const next = src.nextFrame(0, input).then((f) => {
      resolved = true;
      return f;
    });
    await Bun.sleep(30);
    expect(resolved).toBe(false); // waits for the held frame, without blocking this thread
    expect(held.pixels[3]).toBe(255); // the held frame is intact
    held.release!();
    const f = await next;
    expect([f.width, f.height, f.pixels.length]).toEqual([200, 100, 200 * 100 * 4]);
    f.release!();
    src.resize(1e9, -5);
    expect([src.width, src.height]).toEqual([3840, 1]);
    expect(() => src.resize(Number.NaN, 10)).toThrow(RangeError);
    src.close();
  }, 30_000);

  test("nextFrame does not block the event loop while the frame renders", async () => {
    const src = await make({ width: 1280, height: 720 });
    const input = new InputState();
    for (let i = 0; i < 3; i++) (await src.nextFrame(i, input)).release!(); // warm up the JIT
    // A 1 ms timer keeps ticking while frames render. Were the render done on this thread (lavapipe's
    // vkQueueSubmit runs most of a frame before it returns), it would tick about once per frame.
    const gaps: number[] = [];
    let last = performance.now();
    let running = true;
    const ticker = (async () => {
      while (running) {
        await new Promise((r) => setTimeout(r, 1));
        const now = performance.now();
        gaps.push(now - last);
        last = now;
      }
    })();
    const frames = 12;
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) (await src.nextFrame(3 + i * 0.1, input)).release!();
    const elapsed = performance.now() - t0;
    running = false;
    await ticker;
    src.close();
    gaps.sort((a, b) => a - b);
    const median = gaps[gaps.length >> 1]!;
    const max = gaps.at(-1)!;
    const ticks = `${gaps.length} ticks, gap median ${median.toFixed(2)} ms, max ${max.toFixed(2)} ms`;
    console.log(`${frames} frames in ${elapsed.toFixed(0)} ms; ${ticks}`);
    expect(gaps.length).toBeGreaterThan(2 * frames);
    expect(median).toBeLessThan(2);
  }, 30_000);
});

function rssMB(): number {
  Bun.gc(true);
  return process.memoryUsage.rss() / 2 ** 20;
}

test("create/render/resize/destroy 200 times: RSS stays bounded", async () => {
  const input = new InputState();
  const cycle = async (i: number) => {
    const src = await VulkanSource.create({ width: 320 + (i % 7), height: 180 });
    (await src.nextFrame(i * 0.01, input)).release!();
    src.resize(640, 360 + (i % 5));
    const f = await src.nextFrame(i * 0.01, input);
    expect(f.width).toBe(640);
    f.release!();
    src.close();
  };
  // Warm-up: LLVM's and Mesa's caches, the allocator's arenas.
  for (let i = 0; i < 40; i++) await cycle(i);
  const rss0 = rssMB();
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) await cycle(i);
  const grown = rssMB() - rss0;
  console.log(`200 cycles in ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS grew ${grown.toFixed(1)} MB`);
  // The bound: at 640x360 one slot holds ~2.7 MB (colour image, depth image, readback buffer), so
  // leaking one slot, one mapping or one frame's view per cycle would add >= 200 x 0.9 MB = 180 MB.
  // What does grow is llvmpipe's JIT: each new device compiles its shader variants at its first draw
  // and keeps ~20 KB (measured: flat with no draws, flat in one long-lived device) = ~4 MB here, plus
  // allocator noise. 40 MB sits well between the two.
  expect(grown).toBeLessThan(40);
}, 120_000);

test("one source resized 300 times while rendering: RSS flat", async () => {
  const src = await make({ width: 320, height: 180 });
  const input = new InputState();
  const step = async (i: number) => {
    src.resize(320 + (i % 13) * 17, 180 + (i % 11) * 9);
    (await src.nextFrame(i * 0.01, input)).release!();
    (await src.nextFrame(i * 0.01, input)).release!();
  };
  for (let i = 0; i < 30; i++) await step(i);
  const rss0 = rssMB();
  for (let i = 0; i < 300; i++) await step(i);
  const grown = rssMB() - rss0;
  console.log(`300 resizes, 600 frames: RSS grew ${grown.toFixed(1)} MB`);
  expect(grown).toBeLessThan(10); // one leaked slot per resize would be >= 300 x 0.3 MB
  src.close();
}, 60_000);

test("validation layer with synchronization validation: no errors, no warnings", async () => {
  for (const scene of ["orbit", "pattern"] as const) {
    const src = await VulkanSource.create({ width: 320, height: 200, scene, validation: true });
    const input = new InputState();
    const a = await src.nextFrame(0, input);
    const b = await src.nextFrame(0.1, input); // both slots in use
    a.release!();
    const c = await src.nextFrame(0.2, input);
    b.release!();
    c.release!();
    src.resize(333, 111);
    for (let i = 0; i < 3; i++) (await src.nextFrame(0.3 + i * 0.1, input)).release!();
    src.close(); // the teardown is validated too (objects left alive would be errors)
    const m = src.validationMessages;
    if (m.errors || m.warnings) console.error(m.messages.join("\n\n"));
    expect(m.errors).toBe(0);
    expect(m.warnings).toBe(0);
  }
}, 60_000);

describe("errors are reported, never a crash", () => {
  test("no Vulkan driver → VulkanUnavailableError naming the packages and --source synthetic", async () => {
    // A child process whose loader finds no driver (VK_ICD_FILENAMES points at nothing).
    const code = `
      import { VulkanSource, VulkanUnavailableError } from ${JSON.stringify(`${import.meta.dir}/../src/sources/vulkan.ts`)};
      try { await VulkanSource.create({ width: 64, height: 64 }); console.log("CREATED"); }
      catch (e) { console.log(JSON.stringify({ unavailable: e instanceof VulkanUnavailableError, message: e.message })); }`;
    const proc = Bun.spawnSync({
      cmd: [process.execPath, "-e", code],
      env: { ...process.env, VK_ICD_FILENAMES: "/nonexistent/icd.json", VK_DRIVER_FILES: "/nonexistent/icd.json" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(proc.exitCode).toBe(0);
    const out = JSON.parse(proc.stdout.toString().trim().split("\n").pop()!);
    expect(out.unavailable).toBe(true);
    expect(out.message).toContain("apt-get install libvulkan-dev mesa-vulkan-drivers");
    expect(out.message).toContain("--source synthetic");
  }, 30_000);

  test("an unknown device is a clear error listing the devices", async () => {
    const e = await VulkanSource.create({ width: 8, height: 8, device: "no-such-gpu" }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(VulkanUnavailableError);
    expect((e as Error).message).toContain("no-such-gpu");
    expect((e as Error).message).toContain("llvmpipe");
    const byIndex = await make({ width: 8, height: 8, device: 0, scene: "pattern" });
    expect(byIndex.device.toLowerCase()).toContain("llvmpipe");
    byIndex.close();
  }, 30_000);

  test("an allocation failure rejects nextFrame and sets lastError; the next resize recovers", async () => {
    const src = await make({ width: 64, height: 64, scene: "pattern" });
    const input = new InputState();
    src.resize(80, 60);
    src.injectFailure(-2); // VK_ERROR_OUT_OF_DEVICE_MEMORY at the next resize
    const e = await src.nextFrame(0, input).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toContain("VK_ERROR_OUT_OF_DEVICE_MEMORY");
    expect(src.lastError).toContain("VK_ERROR_OUT_OF_DEVICE_MEMORY");
    const f = await src.nextFrame(0, input); // the resize is retried
    expect([f.width, f.height]).toEqual([80, 60]);
    expect(pixel(f, 79, 59)).toEqual(expected(79, 59));
    f.release!();
    // A failed resize followed by a request for the size that was current before it still recovers.
    src.resize(64, 64);
    (await src.nextFrame(0, input)).release!();
    src.resize(70, 50);
    src.injectFailure(-2);
    expect(await src.nextFrame(0, input).catch(() => "failed")).toBe("failed");
    src.resize(64, 64);
    const g = await src.nextFrame(0, input);
    expect([g.width, g.height]).toEqual([64, 64]);
    expect(pixel(g, 63, 63)).toEqual(expected(63, 63));
    g.release!();
    src.close();
  }, 30_000);

  test("a lost device rejects this and every later nextFrame; close still works", async () => {
    const src = await make({ width: 64, height: 64, scene: "pattern" });
    const input = new InputState();
    (await src.nextFrame(0, input)).release!();
    src.injectFailure(-4); // VK_ERROR_DEVICE_LOST at the next submit
    const e1 = await src.nextFrame(0, input).catch((x: Error) => x);
    expect((e1 as Error).message).toContain("lost");
    expect(src.lastError).toContain("lost");
    const e2 = await src.nextFrame(0, input).catch((x: Error) => x);
    expect(e2).toBeInstanceOf(Error);
    src.close();
    const e3 = await src.nextFrame(0, input).catch((x: Error) => x);
    expect((e3 as Error).message).toContain("closed");
  }, 30_000);
});
