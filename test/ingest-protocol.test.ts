// The ingest socket protocol (docs/ingest-protocol.md) spoken by hand against a real vkcast:
// permissions, the ring's life, frames and releases, viewers' news, and every kind of bad producer.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { RawProducer, type RingInfo, until, Vkcast, pattern } from "./helpers/ingest.ts";

const W = 64;
const H = 48;
let vkcast: Vkcast;
const producers: RawProducer[] = [];

async function producer(): Promise<RawProducer> {
  const p = await RawProducer.connect(vkcast.socketPath);
  producers.push(p);
  return p;
}

beforeAll(async () => {
  const dir = mkdtempSync(`${tmpdir()}/vkcast-proto-`);
  vkcast = await Vkcast.start(`${dir}/sub/ingest.sock`, [`--width=${W}`, `--height=${H}`]);
});
afterAll(async () => {
  for (const p of producers) p.close();
  await vkcast.stop();
});

/** vkcast's open descriptors of rings ("/memfd:vkcast-STREAM-ID (deleted)"): a ring's until its producer mapped it. */
function ringFds(): string[] {
  const dir = `/proc/${vkcast.proc.pid}/fd`;
  const links = readdirSync(dir).map((fd) => {
    try {
      return readlinkSync(`${dir}/${fd}`);
    } catch {
      return ""; // closed meanwhile
    }
  });
  return links.filter((l) => l.startsWith("/memfd:vkcast-"));
}

describe("ingest protocol", () => {
  test("the socket is 0600 in a directory vkcast made 0700", () => {
    expect(statSync(vkcast.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(vkcast.socketPath.replace(/\/[^/]+$/, "")).mode & 0o777).toBe(0o700);
  });

  test("the ring: a memfd of vkcast's, 0600, reserved in full, page-aligned slots, 64-byte rows, closed once mapped", async () => {
    const p = await producer();
    p.send({ type: "hello", version: 1, stream: "main", width: 333, height: 100, format: "rgb", slots: 5 });
    const ring = (await p.next("welcome")).ring as RingInfo;
    expect(ring).toMatchObject({ id: 1, slots: 5, width: 333, height: 100, format: "rgb" });
    expect(ring.stride % 64).toBe(0);
    expect(ring.stride).toBeGreaterThanOrEqual(333 * 3);
    expect(ring.slotBytes % 4096).toBe(0);
    expect(ring.slotBytes).toBeGreaterThanOrEqual(ring.stride * 100);
    expect(ring.path).toMatch(new RegExp(`^/proc/${vkcast.proc.pid}/fd/\\d+$`));
    expect(readlinkSync(ring.path)).toStartWith("/memfd:vkcast-main-1");
    const stat = statSync(ring.path);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(stat.size).toBe(ring.slots * ring.slotBytes);
    expect(stat.blocks * 512).toBeGreaterThanOrEqual(stat.size); // reserved, not sparse
    p.map(ring);
    await until(() => ringFds().length === 0, "vkcast to close the ring's descriptor after mapped");
    p.close();
  });

  test("a submitted slot comes back after the encode; watching and input follow a viewer", async () => {
    const p = await producer();
    const welcome = await p.handshake({ stream: "main", width: W, height: H });
    expect(welcome).toMatchObject({ type: "welcome", version: 1, stream: "main", watching: false });
    expect(welcome.url).toBe(vkcast.url);
    p.submit(0, W, H, pattern(W, H));
    expect(await p.next("release")).toEqual({ type: "release", ring: 1, slot: 0 });
    const viewer = await Viewer.connect(wsUrl(vkcast.url));
    expect(await p.next("watching")).toEqual({ type: "watching", value: true });
    // A viewer that joins gets the last picture at once.
    await viewer.until(() => viewer.frames.length > 0, 10_000, "the last picture");
    const key = { type: "key_down", key: "a", modifiers: [] };
    viewer.send(key);
    viewer.send({ type: "pointer_down", x: "not a number" }); // invalid: never reaches the producer
    expect((await p.next("input")).event).toEqual(key);
    viewer.close();
    expect(await p.next("watching")).toEqual({ type: "watching", value: false });
    // The key the viewer held when it left is let go of on its behalf: the engine never keeps it down.
    expect(p.messages.filter((m) => m.type === "input").map((m) => m.event)).toEqual([key, { ...key, type: "key_up" }]);
    p.close();
  });

  test("new events reach the producer (code, text, paste, gamepad); its clipboard text reaches the controller", async () => {
    const p = await producer();
    await p.handshake({ stream: "main", width: W, height: H });
    const viewer = await Viewer.connect(wsUrl(vkcast.url, "ws?v=2"));
    await viewer.until(() => viewer.texts.some((t) => t.type === "hello" && t.role === "control"), 10_000, "control");
    const events = [
      { type: "key_down", key: "q", code: "KeyA", modifiers: [] },
      { type: "text", text: "日本" },
      { type: "paste", text: "p".repeat(10_000) },
      { type: "gamepad", index: 0, buttons: [0, 1], axes: [0.5, -1] },
    ];
    for (const e of events) viewer.send(e);
    for (const e of events) expect((await p.next("input")).event).toEqual(e);
    p.send({ type: "clipboard", text: "from the engine ✓" });
    await viewer.until(() => viewer.texts.some((t) => t.type === "clipboard"), 10_000, "the clipboard at the viewer");
    expect(viewer.texts.find((t) => t.type === "clipboard")).toEqual({ type: "clipboard", text: "from the engine ✓" });
    viewer.close();
    p.close();
  });

  test("a second producer for a stream is refused; the first goes on", async () => {
    const first = await producer();
    await first.handshake({ stream: "main" });
    const second = await producer();
    second.send({ type: "hello", version: 1, stream: "main", width: W, height: H, format: "rgba" });
    expect(await second.refusal()).toBe("stream main already has a producer");
    first.submit(1, W, H, pattern(W, H));
    expect(await first.next("release")).toMatchObject({ slot: 1 });
    expect(first.closed).toBe(false);
    first.close();
  });
});

/** Each bad producer: what it sends after connecting, and the words its error must contain. */
const hello = (extra: object) =>
  JSON.stringify({ type: "hello", version: 1, stream: "fuzz", width: W, height: H, format: "rgba", ...extra });
const BAD_HELLOS: [string, string, string][] = [
  ["garbage bytes", "\x00\x01\x1b[2J garbage\n", "not JSON"],
  ["not JSON", "{type: hello}\n", "not JSON"],
  ["an array", "[1,2,3]\n", "must be a JSON object"],
  ["an unknown type", '{"type":"launch"}\n', "unknown message type"],
  ["no type", '{"version":1}\n', "unknown message type"],
  ["a frame before hello", '{"type":"frame","ring":1,"slot":0,"width":1,"height":1,"stride":4,"format":"rgba"}\n', "expected hello first"],
  ["another version", `${hello({ version: 2 })}\n`, "unsupported version 2"],
  ["a bad stream name", `${hello({ stream: "../etc" })}\n`, "hello.stream"],
  ["width 0", `${hello({ width: 0 })}\n`, "hello.width"],
  ["a huge height", `${hello({ height: 100000 })}\n`, "hello.height"],
  ["width as a string", `${hello({ width: "64" })}\n`, "hello.width"],
  ["an unknown format", `${hello({ format: "yuv" })}\n`, "hello.format"],
  ["2 slots", `${hello({ slots: 2 })}\n`, "hello.slots"],
  ["17 slots", `${hello({ slots: 17 })}\n`, "hello.slots"],
  ["invalid UTF-8", "{\"type\":\"hello\",\"x\":\"\xc3\x28\"}\n", "UTF-8"],
];

/** Bad messages after a good handshake (ring 1 of 3 slots, 64x48 RGBA). */
const frame = (extra: object) =>
  JSON.stringify({ type: "frame", ring: 1, slot: 0, width: W, height: H, stride: 256, format: "rgba", ...extra });
const BAD_AFTER_HANDSHAKE: [string, string, string][] = [
  ["a slot out of range", `${frame({ slot: 3 })}\n`, "frame.slot 3 is out of range"],
  ["a negative slot", `${frame({ slot: -1 })}\n`, "frame.slot"],
  ["an unknown ring", `${frame({ ring: 7 })}\n`, "frame.ring 7"],
  ["a frame larger than its slot", `${frame({ width: 640, height: 480, stride: 2560 })}\n`, "needs 1228800 bytes"],
  ["a stride below the row", `${frame({ stride: 100 })}\n`, "frame.stride 100"],
  ["a fractional width", `${frame({ width: 10.5 })}\n`, "frame.width"],
  ["a capture time that is not a time", `${frame({ t: "now" })}\n`, "frame.t"],
  ["a slot submitted twice", `${frame({ slot: 2 })}\n${frame({ slot: 2 })}\n`, "submitted again before its release"],
  ["hello twice", `${hello({})}\n`, "hello sent twice"],
  ["mapped for a ring never made", '{"type":"mapped","ring":9}\n', "mapped.ring 9"],
  ["a ring asked twice before mapping", '{"type":"ring","width":8,"height":8,"format":"rgba"}\n'.repeat(2), "not mapped yet"],
  ["clipboard text that is not text", '{"type":"clipboard","text":42}\n', "clipboard.text must be a string"],
  ["clipboard text over its limit", `${JSON.stringify({ type: "clipboard", text: "c".repeat(65_537) })}\n`, "at most 65536 characters"],
];

describe("bad producers are refused with the reason; vkcast and its viewers go on", () => {
  let good: RawProducer;
  let viewer: Viewer;
  let shift = 0;

  /** The good producer's next frame reaches the viewer: nothing a bad one did got in the way. */
  async function streamStillFlows(): Promise<void> {
    const before = viewer.frames.length;
    const slot = shift % 3;
    shift += 1;
    good.submit(slot, W, H, pattern(W, H, shift * 10));
    await good.next("release");
    await viewer.until(() => viewer.frames.length > before, 10_000, "a frame from the good producer");
  }

  beforeAll(async () => {
    good = await producer();
    await good.handshake({ stream: "main" });
    viewer = await Viewer.connect(wsUrl(vkcast.url));
    await streamStillFlows();
  });

  for (const [what, bytes, reason] of BAD_HELLOS) {
    test(`before the handshake: ${what}`, async () => {
      const p = await producer();
      p.sendRaw(new Uint8Array([...bytes].map((c) => c.charCodeAt(0))));
      expect(await p.refusal()).toContain(reason);
    });
  }

  for (const [what, lines, reason] of BAD_AFTER_HANDSHAKE) {
    test(`after the handshake: ${what}`, async () => {
      const p = await producer();
      await p.handshake({ stream: "fuzz" });
      // Watched, so a submitted slot is held until its encode (unwatched, a frame is copied and released at once).
      const watcher = await Viewer.connect(wsUrl(vkcast.url, "s/fuzz/ws"));
      p.sendRaw(lines);
      expect(await p.refusal()).toContain(reason);
      watcher.close();
      await until(() => !ringFds().some((f) => f.includes("-fuzz-")), "the refused producer's rings to be gone");
    });
  }

  test("a frame naming the old ring after the new one was mapped", async () => {
    const p = await producer();
    await p.handshake({ stream: "fuzz" });
    const watcher = await Viewer.connect(wsUrl(vkcast.url, "s/fuzz/ws")); // so that ring 1's frame is held until encoded
    p.send({ type: "ring", width: 128, height: 96, format: "rgba", slots: 3 });
    const { ring } = await p.next("ring");
    p.submit(0, W, H, pattern(W, H)); // still on ring 1: allowed until ring 2 is mapped
    p.map(ring as RingInfo);
    p.sendRaw(`${frame({ slot: 1 })}\n`);
    expect(await p.refusal()).toContain("frame.ring 1 was replaced by ring 2");
    watcher.close();
  });

  test("a line over 1 MiB (50 MiB sent without a newline)", async () => {
    const p = await producer();
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    for (let i = 0; i < 50 && !p.closed; i++) {
      p.sendRaw(chunk);
      await until(() => p.closed || p.backlog < 1024 * 1024, "the socket to take the chunk");
    }
    expect(await p.refusal()).toContain("longer than 1048576 bytes");
  });

  test("random mutations of valid messages", async () => {
    const seeded = (() => {
      let s = 42;
      return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    })();
    const values = [-1, 0, 1, 3, 2.5, 1e300, -1e300, "", "x", null, true, [], {}, 4096, 2 ** 53];
    for (let i = 0; i < 40; i++) {
      const p = await producer();
      await p.handshake({ stream: "fuzz" });
      const msg = JSON.parse(frame({ slot: i % 3 }));
      const keys = Object.keys(msg);
      msg[keys[Math.floor(seeded() * keys.length)]!] = values[Math.floor(seeded() * values.length)];
      p.send(msg);
      // Either accepted (released) or refused with a reason; never anything else.
      await until(() => p.closed || p.messages.some((m) => m.type === "release"), `an answer to ${JSON.stringify(msg)}`);
      if (p.closed) expect(await p.refusal()).not.toBe("(closed without an error message)");
      p.close();
      await until(() => p.closed, "the connection to close");
    }
  });

  test("a flood: 100 connections at once, and a producer submitting as fast as slots come back", async () => {
    const idle = await Promise.all(Array.from({ length: 100 }, () => RawProducer.connect(vkcast.socketPath)));
    for (const p of idle) p.close();
    const p = await producer();
    await p.handshake({ stream: "fuzz" });
    const px = pattern(W, H);
    let submitted = 0;
    const free = new Set([0, 1, 2]);
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      for (const m of p.messages.splice(0)) if (m.type === "release") free.add(m.slot as number);
      for (const slot of free) {
        p.submit(slot, W, H, px);
        submitted++;
      }
      free.clear();
      await Bun.sleep(1);
    }
    expect(submitted).toBeGreaterThan(10);
    expect(p.closed).toBe(false);
    p.close();
  });

  afterAll(async () => {
    await streamStillFlows();
    expect(viewer.open).toBe(true);
    expect((await vkcast.health()).status).toBe(200);
    expect(vkcast.proc.exitCode).toBeNull();
    viewer.close();
  });
});
