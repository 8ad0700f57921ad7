// The C client (clients/c/vkcast.h) against the real server (`bun run index.ts --source ipc:PATH`):
// the example builds warning-free with the documented command and streams to real WebSocket viewers,
// a producer pushes known pixels that come back out of /frame.jpg, input and `watching` reach C, a
// killed example is replaced by a second one. Every C program here runs built with ASan and UBSan
// (any report fails the test).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, Subprocess } from "bun";
import { Transformer } from "@napi-rs/image";
import { Viewer, wsUrl } from "./helpers/viewer.ts";

const ROOT = join(import.meta.dir, "..");
const EXAMPLE = join(ROOT, "clients/c/example.c");
const HEADER = join(ROOT, "clients/c/vkcast.h");
const PRODUCER = join(import.meta.dir, "fixtures/c/producer.c");
const dir = mkdtempSync(join(tmpdir(), "vkcast-c-"));
const SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"];
const SANITIZER_ENV = { ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS: "print_stacktrace=1" };
const bin = { example: join(dir, "example-asan"), producer: join(dir, "producer-asan") };
let sockets = 0;
const socketPath = () => join(dir, `s${++sockets}.sock`);

function cc(args: string[], cwd = ROOT) {
  const run = Bun.spawnSync(["cc", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: run.exitCode, output: run.stdout.toString() + run.stderr.toString() };
}

beforeAll(() => {
  for (const [out, src] of [[bin.example, EXAMPLE], [bin.producer, PRODUCER]] as const) {
    const built = cc(["-std=c99", "-Wall", "-Wextra", "-Werror", ...SANITIZE, "-Iclients/c", src, "-o", out, "-lm"]);
    if (built.code !== 0) throw new Error(`cc ${src} failed:\n${built.output}`);
  }
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Lines a process prints, collected as they come; `until` waits for one that matches. */
class Lines {
  readonly lines: string[] = [];
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      const reader = stream.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        rest += decoder.decode(r.value, { stream: true });
        const parts = rest.split("\n");
        rest = parts.pop()!;
        this.lines.push(...parts);
      }
      if (rest) this.lines.push(rest);
    })();
  }
  async until(match: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const m = match.exec(line);
        if (m) return m;
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${match} in:\n${this.lines.join("\n")}`);
      await Bun.sleep(10);
    }
  }
}

const running: Subprocess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
});

/** `bun run index.ts --source ipc:PATH --port 0`; resolves with its URL once the socket listens. */
async function startVkcast(socket: string) {
  const proc = Bun.spawn(["bun", "run", "index.ts", "--port", "0", "--source", `ipc:${socket}`, "--width", "320", "--height", "180"], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  running.push(proc);
  const out = new Lines(proc.stdout);
  const log = new Lines(proc.stderr); // read, so that a chatty server never blocks on a full pipe
  const url = (await out.until(/open (http:\S+)/, 30_000))[1]!;
  await until(() => existsSync(socket), "the ingest socket");
  return { proc, url, log };
}

/** A C program built with the sanitizers; its stderr must stay free of their reports. */
function startC(path: string, args: string[]) {
  const proc = Bun.spawn([path, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...SANITIZER_ENV } });
  running.push(proc);
  const out = new Lines(proc.stdout);
  const err = new Lines(proc.stderr);
  return {
    proc,
    out,
    err,
    send(line: string) {
      proc.stdin.write(line + "\n");
      proc.stdin.flush();
    },
    async exit(): Promise<number> {
      const code = await proc.exited;
      await Promise.all([out.done, err.done]);
      expect(err.lines.join("\n")).not.toMatch(/AddressSanitizer|LeakSanitizer|runtime error/);
      return code;
    },
  };
}

async function until(predicate: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await Bun.sleep(20);
  }
}

type Picture = { width: number; height: number; rgb: Uint8Array };

async function decode(jpeg: Uint8Array): Promise<Picture> {
  const meta = await new Transformer(jpeg).metadata();
  return { width: meta.width, height: meta.height, rgb: await new Transformer(jpeg).rawPixels() };
}

async function snapshot(url: string): Promise<Picture | null> {
  const res = await fetch(`${url}frame.jpg`);
  return res.ok ? decode(new Uint8Array(await res.arrayBuffer())) : null;
}

/** The producer's pattern (test/fixtures/c/producer.c): 16x16 blocks, one colour each. */
const blockColour = (bx: number, by: number, seed: number) => [(bx * 37 + seed * 11) & 255, (by * 59 + seed * 7) & 255, ((bx + by) * 23 + seed * 5) & 255];

/** The largest difference of one channel at the centre of every whole block, against the pattern. */
function patternError(p: Picture, seed: number): number {
  let worst = 0;
  for (let by = 0; by < Math.floor(p.height / 16); by++) {
    for (let bx = 0; bx < Math.floor(p.width / 16); bx++) {
      const i = ((by * 16 + 8) * p.width + bx * 16 + 8) * 3;
      const want = blockColour(bx, by, seed);
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(p.rgb[i + c]! - want[c]!));
    }
  }
  return worst;
}

/** JPEG (4:2:0, q85) keeps the centre of a flat 16x16 block within a few levels; a swapped channel or a
 *  wrong stride is off by far more. */
const TOLERANCE = 16;

async function untilPattern(url: string, width: number, height: number, seed: number): Promise<void> {
  let last = "no frame";
  await until(async () => {
    const p = await snapshot(url);
    if (!p) return false;
    last = `${p.width}x${p.height}, error ${p.width === width && p.height === height ? patternError(p, seed) : "-"}`;
    return p.width === width && p.height === height && patternError(p, seed) <= TOLERANCE;
  }, () => `/frame.jpg to show the ${width}x${height} pattern ${seed} (last: ${last})`, 20_000);
}

test("example.c builds warning-free with the documented command", () => {
  // Exactly the README's command, in a directory laid out like the repository.
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "clients/c"), { recursive: true });
  copyFileSync(EXAMPLE, join(tree, "clients/c/example.c"));
  copyFileSync(HEADER, join(tree, "clients/c/vkcast.h"));
  const built = cc("-std=c99 -Wall -Wextra -Werror -O2 -Iclients/c clients/c/example.c -o example -lm".split(" "), tree);
  expect(built.output).toBe("");
  expect(built.code).toBe(0);
  expect(Bun.file(join(tree, "example")).size).toBeGreaterThan(0);
}, 60_000);

test("the JSON getters read numbers and strings, and refuse what is not valid JSON", async () => {
  const cases: [string, string][] = [
    ['{"x":1.5,"y":2}', "number 1.5"],
    ['{"x":-2e3}', "number -2000"],
    ['{"x":1732438800123.25}', "number 1732438800123.25"],
    ['{ "x" : 0.000125 }', "number 0.000125"],
    ['{"x":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\"}', 'string café 😀 "q" \\'],
    ['{"x":1,"x":2}', "number 2"], // the last one wins, as in JSON.parse
    ['{"a":{"x":5}}', "none"], // top level only
    ['{"x":true}', "none"],
    ['{"x":1} trailing', "none"],
    ['{"x":01}', "none"],
    ['{"x":', "none"],
    ['{"x":"unterminated}', "none"],
    ["[1,2]", "none"],
    ["not json", "none"],
    ["", "none"],
    [`{"x":${"[".repeat(5000)}${"]".repeat(5000)}}`, "none"], // deeper than the limit
    [`{"x":"${"a".repeat(300)}"}`, "none"], // longer than the caller's buffer
  ];
  const p = startC(bin.producer, ["json", "x"]);
  p.proc.stdin.write(cases.map(([line]) => line).join("\n") + "\n");
  p.proc.stdin.end();
  expect(await p.exit()).toBe(0);
  expect(p.out.lines).toEqual(cases.map(([, want]) => want));
}, 30_000);

describe("against the real server", () => {
  test("known pixels come back out of /frame.jpg: rgba, bgra with padded rows, rgb, zero-copy, a larger frame", async () => {
    const socket = socketPath();
    const { url } = await startVkcast(socket);
    const p = startC(bin.producer, [socket, "serve"]);
    const steps: [string, number, number, number][] = [
      ["push 640 360 rgba 1 0", 640, 360, 1],
      ["push 640 360 bgra 2 12", 640, 360, 2],
      ["push 320 240 rgb 3 5", 320, 240, 3],
      ["zero 480 272 bgra 4", 480, 272, 4],
      // Larger than the first ring (320x180 rgba): push asks for a new ring itself.
      ["push 1920 1080 rgba 5 0", 1920, 1080, 5],
      ["zero 1280 720 rgb 6", 1280, 720, 6],
    ];
    for (const [command, width, height, seed] of steps) {
      p.send(command);
      await p.out.until(new RegExp(`^pushed ${width} ${height} \\w+ ${seed}$`));
      await untilPattern(url, width, height, seed);
      const config = (await (await fetch(`${url}api/config`)).json()) as { width: number; height: number };
      expect([config.width, config.height]).toEqual([width, height]);
    }
    expect(p.out.lines.filter((l) => l.startsWith("closed") || l.startsWith("bad"))).toEqual([]);
    p.proc.stdin.end();
    expect(await p.exit()).toBe(0);
  }, 120_000);

  test("a frame that grows again and again gets new rings within the protocol's limits", async () => {
    const socket = socketPath();
    const { url } = await startVkcast(socket);
    const viewer = await Viewer.connect(wsUrl(url)); // the encoder holds slots, so old rings drain slowly
    const p = startC(bin.producer, [socket, "serve"]);
    for (let i = 1; i <= 8; i++) {
      p.send(`push ${320 + i * 160} ${180 + i * 90} ${i % 2 ? "rgba" : "rgb"} ${i} 0`);
      await p.out.until(new RegExp(`^pushed ${320 + i * 160} ${180 + i * 90} \\w+ ${i}$`));
    }
    await untilPattern(url, 1600, 900, 8);
    expect(p.out.lines.filter((l) => l.startsWith("closed"))).toEqual([]);
    expect(viewer.frames.length).toBeGreaterThan(0);
    p.proc.stdin.end();
    expect(await p.exit()).toBe(0);
  }, 60_000);

  test("watching follows viewers, and a viewer's input reaches C with its fields", async () => {
    const socket = socketPath();
    const { url } = await startVkcast(socket);
    const p = startC(bin.producer, [socket, "serve"]);
    p.send("push 320 180 rgba 1 0");
    await p.out.until(/^watching 0$/);
    const viewer = await Viewer.connect(wsUrl(url));
    await p.out.until(/^watching 1$/);
    viewer.send({ type: "pointer_down", x: 12, y: 34, button: 1, buttons: [1], modifiers: [] });
    viewer.send({ type: "key_down", key: "é", modifiers: ["Shift"] });
    const down = await p.out.until(/^event pointer_down (\{.*\}) x=(\S+) y=(\S+) key=$/);
    expect(JSON.parse(down[1]!)).toMatchObject({ type: "pointer_down", x: 12, y: 34, button: 1, buttons: [1] });
    expect([down[2], down[3]]).toEqual(["12", "34"]);
    await p.out.until(/^event key_down \{.*\} x=-1 y=-1 key=é$/);
    viewer.close();
    await until(() => p.out.lines.filter((l) => l.startsWith("watching")).length >= 3, "watching 0 after the viewer left");
    expect(p.out.lines.filter((l) => l.startsWith("watching"))).toEqual(["watching 0", "watching 1", "watching 0"]);
    p.proc.stdin.end();
    expect(await p.exit()).toBe(0);
  }, 60_000);

  test("the new events reach C (code, text, paste, gamepad); vkcast_set_clipboard reaches the controller", async () => {
    const socket = socketPath();
    const { url } = await startVkcast(socket);
    const p = startC(bin.producer, [socket, "serve"]);
    p.send("push 320 180 rgba 1 0");
    const viewer = await Viewer.connect(wsUrl(url, "ws?v=2"));
    await p.out.until(/^watching 1$/);
    const events = [
      { type: "key_down", key: "q", code: "KeyA", modifiers: [] },
      { type: "text", text: "日本" },
      { type: "paste", text: "p".repeat(9000) },
      { type: "gamepad", index: 2, buttons: [0, 1], axes: [0.5, -1] },
    ];
    for (const e of events) viewer.send(e);
    for (const e of events) {
      const line = await p.out.until(new RegExp(`^event ${e.type} (\\{.*\\}) x=`));
      expect(JSON.parse(line[1]!)).toEqual(e);
    }
    p.send("clip from C \\xe2\\x9c\\x93 \"quoted\"\\x01");
    await p.out.until(/^clipboard 0$/);
    await viewer.until(() => viewer.texts.some((t) => t.type === "clipboard"), 10_000, "the clipboard at the viewer");
    expect(viewer.texts.find((t) => t.type === "clipboard")).toEqual({ type: "clipboard", text: 'from C ✓ "quoted"\x01' });
    // Not UTF-8, or over the limit: refused in C, and the connection goes on.
    p.send("clip bad \\xff");
    p.send("cliprep 65537");
    p.send("cliprep 65536");
    await until(() => p.out.lines.filter((l) => l.startsWith("clipboard")).length === 4, "three more answers");
    expect(p.out.lines.filter((l) => l.startsWith("clipboard"))).toEqual(["clipboard 0", "clipboard -2", "clipboard -2", "clipboard 0"]);
    await viewer.until(() => viewer.texts.filter((t) => t.type === "clipboard").length === 2, 10_000, "the longest clipboard");
    expect(String(viewer.texts.filter((t) => t.type === "clipboard")[1]!.text).length).toBe(65_536);
    viewer.close();
    p.proc.stdin.end();
    expect(await p.exit()).toBe(0);
  }, 60_000);

  test("connect fails with a reason: no socket, or a stream that already has a producer", async () => {
    const none = startC(bin.producer, [join(dir, "missing.sock"), "serve"]);
    expect(await none.exit()).toBe(1);
    expect(none.out.lines[0]).toMatch(/^closed vkcast: cannot connect to the socket \(No such file or directory\)$/);

    const socket = socketPath();
    await startVkcast(socket);
    const first = startC(bin.producer, [socket, "serve", "cam"]);
    first.send("push 320 180 rgba 1 0");
    await first.out.until(/^pushed /);
    const second = startC(bin.producer, [socket, "serve", "cam"]);
    expect(await second.exit()).toBe(1);
    expect(second.out.lines[0]).toMatch(/^closed vkcast: .*stream cam already has a producer/);
    expect(first.proc.exitCode).toBeNull(); // the first is untouched
    first.proc.stdin.end();
    expect(await first.exit()).toBe(0);
  }, 60_000);

  test("two named streams at once, each at its own URL with its own pixels", async () => {
    const socket = socketPath();
    await startVkcast(socket);
    // One after the other: the first stream named is the default one, also at /.
    const left = startC(bin.producer, [socket, "serve", "left"]);
    left.send("push 320 240 rgba 11 0");
    const leftUrl = (await left.out.until(/^url (\S+)$/))[1]!;
    const right = startC(bin.producer, [socket, "serve", "right"]);
    right.send("push 480 272 bgra 12 0");
    const rightUrl = (await right.out.until(/^url (\S+)$/))[1]!;
    expect(rightUrl).toEndWith("/s/right/");
    expect(leftUrl).not.toBe(rightUrl);
    await untilPattern(leftUrl, 320, 240, 11);
    await untilPattern(rightUrl, 480, 272, 12);
    for (const p of [left, right]) {
      p.proc.stdin.end();
      expect(await p.exit()).toBe(0);
    }
  }, 60_000);

  test("the example streams to 5 viewers: frames arrive, decode and change", async () => {
    const socket = socketPath();
    const { url } = await startVkcast(socket);
    const example = startC(bin.example, [socket]);
    expect((await example.out.until(/^streaming to (\S+) /))[1]).toBe(url);
    const viewers = await Promise.all(Array.from({ length: 5 }, () => Viewer.connect(wsUrl(url))));
    await until(() => viewers.every((v) => v.frames.length >= 10), "10 frames at each of 5 viewers", 30_000);
    for (const v of viewers) {
      const first = await decode(v.frames[0]!.jpeg);
      const last = await decode(v.frames.at(-1)!.jpeg);
      expect([first.width, first.height, last.width, last.height]).toEqual([1280, 720, 1280, 720]);
      let changed = 0;
      for (let i = 0; i < first.rgb.length; i += 3 * 97) changed += Math.abs(first.rgb[i]! - last.rgb[i]!) > 24 ? 1 : 0;
      expect(changed).toBeGreaterThan(100); // the pattern moved
      const seqs = v.frames.map((f) => f.meta!.seq ?? NaN);
      expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)).toBe(true);
    }
    for (const v of viewers) v.close();
    example.proc.kill("SIGINT");
    expect(await example.exit()).toBe(0); // clean exit on SIGINT, nothing leaked
  }, 90_000);

  test("the example reacts to a viewer: its square follows the pointer and turns red while a button is down", async () => {
    const socket = socketPath();
    const { url } = await startVkcast(socket);
    const example = startC(bin.example, [socket]);
    await example.out.until(/^streaming to /); // input sent before a producer is there goes nowhere
    const viewer = await Viewer.connect(wsUrl(url));
    await until(() => viewer.frames.length > 0, "a first frame");
    /** The mean colour of the 12x12 pixels around (x, y) in the newest frame, and how much they vary. */
    const around = async (x: number, y: number) => {
      const p = await decode(viewer.frames.at(-1)!.jpeg);
      const sum = [0, 0, 0];
      const values: number[][] = [[], [], []];
      for (let dy = -6; dy < 6; dy++) {
        for (let dx = -6; dx < 6; dx++) {
          for (let c = 0; c < 3; c++) values[c]!.push(p.rgb[((y + dy) * p.width + x + dx) * 3 + c]!);
        }
      }
      values.forEach((v, c) => (sum[c] = v.reduce((a, b) => a + b, 0) / v.length));
      const spread = Math.max(...values.map((v) => Math.max(...v) - Math.min(...v)));
      return { rgb: sum.map(Math.round), spread };
    };
    const is = (want: number[]) => async () => {
      if (viewer.frames.length === 0) return false;
      const { rgb, spread } = await around(200, 150);
      return spread < 40 && rgb.every((v, c) => Math.abs(v - want[c]!) < 30);
    };
    const pointer = { button: 1, modifiers: [] as string[] };
    viewer.send({ type: "pointer_move", x: 200, y: 150, ...pointer, button: 0, buttons: [] });
    await until(is([255, 255, 255]), "a white square at (200, 150)");
    viewer.send({ type: "pointer_down", x: 200, y: 150, ...pointer, buttons: [1] });
    await until(is([255, 0, 0]), "the square to turn red");
    viewer.send({ type: "pointer_up", x: 200, y: 150, ...pointer, buttons: [] });
    await until(is([255, 255, 255]), "the square to turn white again");
    example.proc.kill("SIGINT");
    expect(await example.exit()).toBe(0);
  }, 60_000);

  test("the example killed: the server stays up, waits, and a second example resumes the stream", async () => {
    const socket = socketPath();
    const { proc: server, url } = await startVkcast(socket);
    const first = startC(bin.example, [socket]);
    const viewer = await Viewer.connect(wsUrl(url));
    await until(() => viewer.frames.length >= 5, "frames from the first example");
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    await until(async () => (await fetch(`${url}healthz`)).status === 503, "/healthz to report the waiting state");
    expect(await (await fetch(`${url}healthz`)).text()).toMatch(/waiting for the engine/);
    const before = viewer.frames.length;
    const second = startC(bin.example, [socket]);
    await until(() => viewer.frames.length >= before + 10, "frames from the second example", 30_000);
    expect(viewer.open).toBe(true);
    expect(server.exitCode).toBeNull();
    expect((await fetch(`${url}healthz`)).status).toBe(200);
    second.proc.kill("SIGINT");
    expect(await second.exit()).toBe(0);
  }, 90_000);
});

// Two behaviours of the client need a peer the real server never is: one that sends garbage, and one
// that holds every slot forever. A scripted peer on a Unix socket speaks just enough of the protocol,
// with real shared-memory rings.
type Message = Record<string, unknown> & { type: string };
type PeerData = { buffered: string; queue: Uint8Array[] };

class ScriptedPeer {
  private readonly listener: ReturnType<typeof Bun.listen<PeerData>>;
  private readonly files: string[] = [];
  private nextRing = 1;
  socket: Socket<PeerData> | null = null;

  constructor(path: string, onMessage: (peer: ScriptedPeer, message: Message) => void) {
    // Bun's socket.write takes what the kernel takes now: the rest waits for the drain event.
    const flush = (s: Socket<PeerData>) => {
      while (s.data.queue.length) {
        const head = s.data.queue[0]!;
        const n = s.write(head);
        if (n < head.length) {
          s.data.queue[0] = head.subarray(Math.max(n, 0));
          return;
        }
        s.data.queue.shift();
      }
    };
    this.listener = Bun.listen<PeerData>({
      unix: path,
      socket: {
        open: (s) => {
          s.data = { buffered: "", queue: [] };
          this.socket = s;
        },
        drain: flush,
        data: (s, chunk) => {
          s.data.buffered += chunk.toString();
          let nl: number;
          while ((nl = s.data.buffered.indexOf("\n")) >= 0) {
            const message = JSON.parse(s.data.buffered.slice(0, nl)) as Message;
            s.data.buffered = s.data.buffered.slice(nl + 1);
            onMessage(this, message);
          }
        },
      },
    });
    this.flush = flush;
  }

  private readonly flush: (s: Socket<PeerData>) => void;

  send(chunk: string | Uint8Array | Message): void {
    const s = this.socket!;
    const text = typeof chunk === "string" || chunk instanceof Uint8Array ? chunk : JSON.stringify(chunk) + "\n";
    s.data.queue.push(typeof text === "string" ? new TextEncoder().encode(text) : text);
    this.flush(s);
  }

  /** A real ring file of 3 slots for width x height RGBA, as vkcast would make it. */
  ring(width: number, height: number) {
    const stride = Math.ceil((width * 4) / 64) * 64;
    const slotBytes = Math.ceil((stride * height) / 4096) * 4096;
    const path = `/dev/shm/vkcast-test-${process.pid}-${this.files.length}`;
    const fd = openSync(path, "w+", 0o600);
    ftruncateSync(fd, 3 * slotBytes);
    closeSync(fd);
    this.files.push(path);
    return { id: this.nextRing++, path, slots: 3, slotBytes, stride, width, height, format: "rgba" };
  }

  welcome(width: number, height: number): void {
    this.send({ type: "welcome", version: 1, stream: "main", url: "http://peer/", watching: false, ring: this.ring(width, height) });
  }

  stop(): void {
    this.listener.stop(true);
    for (const f of this.files) if (existsSync(f)) unlinkSync(f);
  }
}

test("odd server output is skipped, never trusted; a broken ring ends the connection with a reason", async () => {
  const odd: (string | Uint8Array)[] = [
    "not json\n",
    '{"type":"release","ring":1,"slot":99}\n{"type":"release","ring":1,"slot":-1}\n{"type":"release","ring":1,"slot":0.5}\n',
    '{"type":"input","event":"nope"}\n{"type":"input","event":{"x":1}}\n{"type":"input"}\n',
    '{"type":"watching","value":"yes"}\n{"type":"welcome","ring":{"id":9}}\n{"type":"mystery"}\n{"type":7}\n',
    "x".repeat(3 * 1024 * 1024) + "\n", // over the 1 MiB line limit
    "[".repeat(100_000) + "\n",
    crypto.getRandomValues(new Uint8Array(65536)).map((b) => (b === 10 ? 11 : b)),
    "\n",
    '{"type":"input","event":{"type":"key_down","key":"q","modifiers":[]}}\n',
    '{"type":"watching","value":true}\n',
  ];
  const socket = socketPath();
  const peer = new ScriptedPeer(socket, (peer, message) => {
    if (message.type === "hello") {
      peer.welcome(320, 180);
      for (const chunk of odd) peer.send(chunk);
    } else if (message.type === "ring") {
      peer.send({ type: "ring", ring: { ...peer.ring(640, 360), path: "/dev/shm/vkcast-test-missing" } });
    }
  });
  try {
    const p = startC(bin.producer, [socket, "serve"]);
    await p.out.until(/^event key_down \{"type":"key_down","key":"q","modifiers":\[\]\} x=-1 y=-1 key=q$/, 30_000);
    await p.out.until(/^watching 1$/);
    expect(p.out.lines.filter((l) => l.startsWith("event"))).toHaveLength(1);
    expect(p.out.lines.filter((l) => l.startsWith("closed"))).toEqual([]);
    // A frame larger than the ring: the client asks for a new one, and a ring it cannot map ends the connection.
    p.send("push 640 360 rgba 1 0");
    expect(await p.exit()).toBe(1);
    expect(p.out.lines.at(-1)).toBe("closed vkcast: cannot open the ring (No such file or directory)");
  } finally {
    peer.stop();
  }
}, 60_000);

test("with slots held, the client never has more than 4 rings alive, and asks again once one drains", async () => {
  const socket = socketPath();
  const requests: number[] = []; // rings alive when each ring request arrived
  const frames: Message[] = [];
  const alive = new Map<number, Set<number>>(); // ring id -> slots held (never released unless told)
  let current = 0;
  const peer = new ScriptedPeer(socket, (peer, message) => {
    if (message.type === "hello" || message.type === "ring") {
      if (message.type === "ring") requests.push(alive.size);
      const ring = peer.ring(Number(message.width), Number(message.height));
      alive.set(ring.id, new Set());
      if (message.type === "hello") peer.send({ type: "welcome", version: 1, stream: "main", url: "http://peer/", watching: true, ring });
      else peer.send({ type: "ring", ring });
    } else if (message.type === "mapped") {
      const old = current;
      current = Number(message.ring);
      if (old && alive.get(old)!.size === 0) alive.delete(old);
    } else if (message.type === "frame") {
      // The first frame of each ring is held for good; later ones are released at once.
      frames.push(message);
      const held = alive.get(Number(message.ring))!;
      if (held.size === 0) held.add(Number(message.slot));
      else peer.send({ type: "release", ring: message.ring, slot: message.slot });
    }
  });
  try {
    const p = startC(bin.producer, [socket, "serve"]);
    // Four sizes, each larger: ring 1 (the welcome's) and three more, each with a frame held.
    for (const [i, [w, h]] of [[320, 180], [640, 360], [960, 540], [1280, 720]].entries()) {
      p.send(`push ${w} ${h} rgba ${i} 0`);
      await p.out.until(new RegExp(`^pushed ${w} ${h} rgba ${i}$`));
    }
    expect(alive.size).toBe(4);
    // A fifth size would need a fifth ring: the frame is dropped and nothing is asked...
    const droppedBefore = Number(frames.at(-1)!.dropped);
    p.send("push 1600 900 rgba 5 0");
    await p.out.until(/^dropped 1600 900 rgba 5$/);
    p.send("push 320 180 rgba 6 0"); // ...while frames that fit go on (and, the socket being ordered, flush what came before)
    await until(() => frames.some((f) => f.width === 320 && f.ring === current), "the small frame after the dropped one");
    // Each frame message carries the client's running count of frames it dropped.
    expect(frames.find((f) => f.width === 320 && f.ring === current)!.dropped).toBe(droppedBefore + 1);
    expect(requests).toEqual([1, 2, 3]);
    // Ring 1 drains: now the client may ask, and the large frame goes through.
    for (const slot of alive.get(1)!) peer.send({ type: "release", ring: 1, slot });
    alive.delete(1);
    p.send("push 1600 900 rgba 7 0");
    await p.out.until(/^pushed 1600 900 rgba 7$/);
    expect(requests).toEqual([1, 2, 3, 3]);
    expect(p.out.lines.filter((l) => l.startsWith("closed"))).toEqual([]);
    p.proc.stdin.end();
    expect(await p.exit()).toBe(0);
  } finally {
    peer.stop();
  }
}, 60_000);
