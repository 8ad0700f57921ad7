// Vulkan memory shared by file descriptor (docs/ingest-protocol.md, "Vulkan memory"), against the real
// server on lavapipe: clients/c/vulkan-example.c, built with its documented command, renders into memory
// it exports and vkcast's own Vulkan device copies each frame out; /frame.jpg and WebSocket viewers get its
// known pattern. Refusals (another device, another process's pid, an fd that is not there, memory smaller
// than said, memory of no driver, a file that may shrink) are answered and the connection goes on with its
// ring; a killed Vulkan producer leaves the waiting state and a shared-memory producer takes over.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType, ptr } from "bun:ffi";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureVulkanLibrary } from "../src/vulkan/build.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { decodeJpeg, frameMatches, Lines, pattern, RawProducer, ROOT, until, Vkcast } from "./helpers/ingest.ts";

const dir = mkdtempSync(join(tmpdir(), "vkcast-vulkan-"));
const example = join(dir, "vulkan-example");
/** The one that runs: built with ASan and UBSan (leak checks off: the Vulkan driver keeps allocations to exit). */
const exampleAsan = join(dir, "vulkan-example-asan");
const SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"];
const W = 640;
const H = 360;
let vkcast: Vkcast;

const libc = dlopen("libc.so.6", {
  memfd_create: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  ftruncate: { args: [FFIType.i32, FFIType.i64], returns: FFIType.i32 },
  pipe: { args: [FFIType.ptr], returns: FFIType.i32 },
});
const MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033;
const F_SEAL_SHRINK = 2;

/** A memfd of this process of `bytes` bytes (random content), sealed against shrinking. */
function sealedMemfd(bytes: number): number {
  const fd = libc.symbols.memfd_create(ptr(Buffer.from("vkcast-test\0")), MFD_ALLOW_SEALING);
  expect(libc.symbols.ftruncate(fd, bytes)).toBe(0);
  writeSync(fd, crypto.getRandomValues(new Uint8Array(4096)));
  expect(libc.symbols.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)).toBe(0);
  return fd;
}

beforeAll(async () => {
  ensureVulkanLibrary(); // built before vkcast needs it: a build inside vkcast would hold up its answers
  // The documented build (warning-free C99 against the Vulkan loader), and the sanitized one.
  for (const [out, flags] of [[example, ["-O2"]], [exampleAsan, SANITIZE]] as const) {
    const built = Bun.spawnSync(
      ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", ...flags, "-Iclients/c", "clients/c/vulkan-example.c", "-o", out, "-lvulkan"],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    if (built.exitCode !== 0) throw new Error(`cc vulkan-example.c ${flags.join(" ")} failed:\n${built.stderr.toString()}`);
  }
  vkcast = await Vkcast.start(join(dir, "ingest.sock"), [`--width=${W}`, `--height=${H}`]);
}, 120_000);
afterAll(async () => {
  await vkcast.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startExample(stream = "main") {
  const env = { ...process.env, ASAN_OPTIONS: "detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS: "print_stacktrace=1" };
  const proc = Bun.spawn([exampleAsan, vkcast.socketPath, stream], { stdout: "pipe", stderr: "pipe", env });
  return { proc, out: new Lines(proc.stdout), err: new Lines(proc.stderr) };
}

/** The colour at (x, y) of a decoded frame. */
function at(img: { width: number; rgba: Uint8Array }, x: number, y: number): number[] {
  const i = (y * img.width + x) * 4;
  return [img.rgba[i]!, img.rgba[i + 1]!, img.rgba[i + 2]!];
}

function near(actual: number[], expected: number[]): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= 12);
}

/** The Vulkan example's picture: red, green, blue and yellow quadrants (a white square runs along the middle row). */
function showsQuadrants(img: { width: number; height: number; rgba: Uint8Array }): boolean {
  const [w, h] = [img.width, img.height];
  return (
    near(at(img, w / 4, h / 4), [255, 0, 0]) &&
    near(at(img, (3 * w) / 4, h / 4), [0, 255, 0]) &&
    near(at(img, w / 4, (3 * h) / 4), [0, 0, 255]) &&
    near(at(img, (3 * w) / 4, (3 * h) / 4), [255, 255, 0])
  );
}

/** A shared-memory producer with its ring mapped, for the refusals. */
async function rawProducer(stream: string): Promise<RawProducer> {
  const p = await RawProducer.connect(vkcast.socketPath);
  await p.handshake({ stream, width: 64, height: 48 });
  return p;
}

const OTHER_UUID = "00112233-4455-6677-8899-aabbccddeeff";

/** vkcast's device UUID, as its refusal of another device's names it. */
async function vkcastUuid(p: RawProducer): Promise<string> {
  p.send(vulkanRing({ deviceUUID: OTHER_UUID }));
  const reason = String((await p.next("vulkan_refused", 30_000)).reason);
  return /\(.*, ([0-9a-f-]{36})\)/.exec(reason)![1]!;
}

function vulkanRing(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    type: "vulkan_ring",
    pid: process.pid,
    fd: 0,
    size: 3 * 4096,
    memoryType: 0,
    offset: 0,
    slotBytes: 4096,
    slots: 3,
    ...fields,
  };
}

describe("a Vulkan producer shares its memory", () => {
  test("the C example's frames reach /frame.jpg and viewers; killed, the stream waits; a ring producer takes over", async () => {
    const ex = startExample();
    const sharing = ex.out.wait(/^vulkan-example: sharing 640x360 frames with vkcast on (.+); viewers at (\S+)/);
    const exited = ex.proc.exited.then(async (code) => {
      await ex.err.ended;
      throw new Error(`vulkan-example exited with ${code}: ${ex.err.all.join("\n")}`);
    });
    const [, url] = (await Promise.race([sharing, exited])).slice(1);
    expect(url).toBe(vkcast.url);
    let last = "";
    await until(
      async () => {
        const res = await fetch(`${vkcast.origin}frame.jpg`);
        if (res.status !== 200) return false;
        const img = await decodeJpeg(new Uint8Array(await res.arrayBuffer()));
        last = `${img.width}x${img.height} ${at(img, W / 4, H / 4)}`;
        return img.width === W && img.height === H && showsQuadrants(img);
      },
      `/frame.jpg to show the example's quadrants (last: ${last})`,
    );
    const viewer = await Viewer.connect(wsUrl(vkcast.url));
    await viewer.until(() => viewer.frames.length >= 5, 20_000, "5 frames at a viewer");
    const stats = (await (await fetch(`${vkcast.origin}api/stats`)).json()) as Record<string, unknown>;
    expect(JSON.stringify(stats)).toMatch(/"ingestFramesSubmitted":[1-9]/);

    ex.proc.kill("SIGKILL");
    await until(async () => (await vkcast.health()).status === 503, "/healthz to say the engine is gone");
    expect((await vkcast.health()).body.error).toBe("waiting for the engine");
    const p = await RawProducer.connect(vkcast.socketPath);
    await p.handshake({ stream: "main", width: W, height: H });
    p.submit(0, W, H, pattern(W, H, 7));
    expect(await frameMatches(vkcast.origin, W, H, pattern(W, H, 7))).toBeLessThan(6);
    viewer.close();
    p.close();
    await until(async () => (await vkcast.health()).status === 503, "the ring producer to be gone");
    expect(ex.err.all.join("\n")).not.toMatch(/Sanitizer|runtime error/);
  }, 60_000);

  test("the example streams a named stream and stops cleanly on SIGINT (ASan and UBSan quiet)", async () => {
    const ex = startExample("clean");
    await ex.out.wait(/^vulkan-example: sharing .* viewers at \S+\/s\/clean\/$/);
    await until(async () => (await fetch(`${vkcast.origin}s/clean/frame.jpg`)).status === 200, "a frame of stream clean");
    ex.proc.kill("SIGINT");
    expect(await ex.proc.exited).toBe(0);
    await ex.err.ended;
    expect(ex.err.all.join("\n")).not.toMatch(/Sanitizer|runtime error/);
  }, 60_000);

  test("another device's UUID is refused by name; the connection goes on with its ring", async () => {
    const p = await rawProducer("uuid");
    p.send(vulkanRing({ deviceUUID: OTHER_UUID }));
    const { reason } = await p.next("vulkan_refused", 30_000);
    expect(reason).toMatch(/^vulkan_ring.deviceUUID 00112233-4455-6677-8899-aabbccddeeff is none of vkcast's Vulkan devices \(llvmpipe.*, [0-9a-f-]{36}\)/);
    p.submit(0, 64, 48, pattern(64, 48));
    expect(await p.next("release")).toEqual({ type: "release", ring: 1, slot: 0 });
    expect(p.closed).toBe(false);
    p.close();
  }, 40_000);

  test("a pid that is not the connected process's is refused (a producer cannot name another's fds)", async () => {
    const p = await rawProducer("pid");
    p.send(vulkanRing({ pid: vkcast.proc.pid, deviceUUID: OTHER_UUID }));
    expect((await p.next("vulkan_refused", 30_000)).reason).toBe(
      `vulkan_ring.pid ${vkcast.proc.pid} is not the connected process (pid ${process.pid}): a producer shares only its own memory`,
    );
    p.close();
  }, 40_000);

  test("an fd that is not there, memory smaller than said or of no driver, a file that may shrink, a pipe: refused, vkcast fine", async () => {
    const p = await rawProducer("fds");
    const deviceUUID = await vkcastUuid(p);
    const refusal = async (fields: Record<string, unknown>) => {
      p.send(vulkanRing({ deviceUUID, ...fields }));
      return String((await p.next("vulkan_refused", 30_000)).reason);
    };
    expect(await refusal({ fd: 999_999 })).toMatch(/^cannot take fd 999999 of pid \d+ \(pidfd_getfd\(\d+, 999999\): Bad file descriptor/);
    const small = sealedMemfd(4096);
    expect(await refusal({ fd: small, size: 3 << 20, slotBytes: 1 << 20 })).toBe(
      `vulkan_ring.size ${3 << 20} is larger than the memory behind fd ${small} (4096 bytes)`,
    );
    const foreign = sealedMemfd(3 << 20);
    expect(await refusal({ fd: foreign, size: 3 << 20, slotBytes: 1 << 20 })).toStartWith(
      "cannot import the memory: vkAllocateMemory could not import the memory",
    );
    const file = join(dir, "plain-file");
    const plain = openSync(file, "w+");
    writeSync(plain, new Uint8Array(3 * 4096));
    expect(await refusal({ fd: plain })).toStartWith(`fd ${plain} is a file that may shrink`);
    // An empty pipe: a driver that reads the memory's header at import would wait on it for ever.
    const pipe = new Int32Array(2);
    expect(libc.symbols.pipe(ptr(pipe))).toBe(0);
    expect(await refusal({ fd: pipe[0] })).toBe(`fd ${pipe[0]} is not memory (a pipe, socket, directory or block device)`);
    for (const fd of [small, foreign, plain, pipe[0]!, pipe[1]!]) closeSync(fd);
    // The connection still streams through its ring, and vkcast is fine.
    p.submit(1, 64, 48, pattern(64, 48, 3));
    expect(await p.next("release")).toEqual({ type: "release", ring: 1, slot: 1 });
    expect(vkcast.proc.exitCode).toBeNull();
    p.close();
  }, 60_000);

  test("random mutations of a vulkan_ring: each refused with a reason (or closed with one); vkcast fine", async () => {
    const first = await rawProducer("fuzz");
    const deviceUUID = await vkcastUuid(first);
    first.close();
    const memory = sealedMemfd(3 << 20);
    const valid = vulkanRing({ deviceUUID, fd: memory, size: 3 << 20, slotBytes: 1 << 20 });
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values = [-1, 0, 1, 3, 2.5, 1e300, "", "x", null, true, [], {}, 4096, 2 ** 53, process.pid, 1, 2, 999];
    for (let i = 0; i < 30; i++) {
      const p = await rawProducer("fuzz");
      const msg: Record<string, unknown> = { ...valid };
      const keys = Object.keys(msg).filter((k) => k !== "type");
      msg[keys[Math.floor(random() * keys.length)]!] = values[Math.floor(random() * values.length)];
      p.send(msg);
      // Memory of no driver is never imported: every answer is a refusal or a close, each with its reason.
      await until(() => p.closed || p.messages.some((m) => m.type === "vulkan_refused"), `an answer to ${JSON.stringify(msg)}`);
      if (p.closed) expect(await p.refusal()).not.toBe("(closed without an error message)");
      else expect(String(p.messages.find((m) => m.type === "vulkan_refused")!.reason).length).toBeGreaterThan(10);
      p.close();
      await until(() => p.closed, "the connection to close");
    }
    closeSync(memory);
    expect(vkcast.proc.exitCode).toBeNull();
    expect([200, 503]).toContain((await vkcast.health()).status);
  }, 90_000);

  test("shared memory whose slots do not fit its size is a protocol violation (closed with the reason)", async () => {
    const p = await rawProducer("misfit");
    p.send(vulkanRing({ size: 4096, deviceUUID: OTHER_UUID }));
    expect(await p.refusal()).toBe("vulkan_ring: 3 slots of 4096 bytes from offset 0 do not fit in size 4096");
  });
});
