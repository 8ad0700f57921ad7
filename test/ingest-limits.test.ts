// The ingest socket's time and backlog limits, made small so the tests are quick: a real StreamingServer
// and IngestListener in this process, real producers over the Unix socket (one of them a Python process
// that stops reading), a real viewer over WebSocket.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { IngestListener } from "../src/ingest/listener.ts";
import { ServerStreams } from "../src/ingest/streams.ts";
import type { Logger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { PYTHON, RawProducer, until } from "./helpers/ingest.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";

const HELLO_TIMEOUT_MS = 300;
const MAX_BACKLOG_BYTES = 64 * 1024;

/** The listener's warnings ("producer refused" with its reason), kept for the tests to read. */
const warnings: Record<string, unknown>[] = [];
const log: Logger = {
  debug: () => {},
  info: () => {},
  warn: (msg, fields) => warnings.push({ msg, ...fields }),
  error: (msg, fields) => warnings.push({ msg, ...fields }),
};

let server: StreamingServer;
let listener: IngestListener;
const producers: RawProducer[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  server = new StreamingServer({ host: "127.0.0.1", port: 0, inputRateLimit: 100_000, logger: log });
  await server.start(64, 48);
  listener = await IngestListener.open({
    path: `${mkdtempSync(`${tmpdir()}/vkcast-limits-`)}/ingest.sock`,
    streams: new ServerStreams(server),
    log,
    // Input may fill the whole backlog here, so that input alone can show the "stopped reading" close.
    limits: { helloTimeoutMs: HELLO_TIMEOUT_MS, inputBacklogBytes: MAX_BACKLOG_BYTES, maxBacklogBytes: MAX_BACKLOG_BYTES },
  });
});

afterAll(async () => {
  for (const p of producers) p.close();
  for (const c of cleanups) c();
  listener.close();
  await server.stop();
});

async function connect(): Promise<RawProducer> {
  const p = await RawProducer.connect(listener.path);
  producers.push(p);
  return p;
}

describe("the hello timeout", () => {
  test("a connection that sends no hello is closed once the timeout passes, the reason naming it", async () => {
    const started = performance.now();
    const silent = await connect();
    expect(await silent.refusal()).toBe(`no hello within ${HELLO_TIMEOUT_MS / 1000} s`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 5);
    expect(warnings).toContainEqual(expect.objectContaining({ msg: "producer refused", reason: "no hello within 0.3 s" }));
  });

  test("a producer that said hello in time is not closed by it", async () => {
    const p = await connect();
    await p.handshake({ stream: "in-time" });
    // Long past the timeout, it is still connected and its frames still go through.
    await Bun.sleep(HELLO_TIMEOUT_MS * 3);
    expect(p.closed).toBe(false);
    p.submit(0, 64, 48, new Uint8Array(64 * 48 * 4).fill(200));
    expect(await p.next("release")).toMatchObject({ slot: 0 });
    expect(p.closed).toBe(false);
  });
});

describe("a producer that stops reading its socket", () => {
  test("is closed once its unread backlog passes the limit; the stream waits for a new producer", async () => {
    // A Python producer: hello, the welcome, then it never reads again.
    const script = [
      "import socket, sys, time",
      "s = socket.socket(socket.AF_UNIX)",
      "s.connect(sys.argv[1])",
      's.sendall(b\'{"type":"hello","version":1,"stream":"deaf","width":64,"height":48,"format":"rgba"}\\n\')',
      "buf = b''",
      "while b'\\n' not in buf: buf += s.recv(65536)",
      "print('ready', flush=True)",
      "time.sleep(60)",
    ].join("\n");
    const proc = Bun.spawn([PYTHON, "-c", script, listener.path], { stdout: "pipe", stderr: "inherit" });
    cleanups.push(() => proc.kill("SIGKILL"));
    const reader = proc.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("ready");
    const stream = server.stream("deaf")!;
    expect(stream.health.error).toBeNull();

    // Its viewer's input is sent to it until the socket's buffer is full and the backlog passes the limit.
    const viewer = await Viewer.connect(wsUrl(server.origin, "s/deaf/ws"));
    cleanups.push(() => viewer.close());
    let sent = 0;
    const closed = () => warnings.some((w) => w.stream === "deaf" && /stopped reading/.test(String(w.reason)));
    await until(async () => {
      for (let i = 0; i < 200; i++) viewer.send({ type: "key_down", key: `k${sent++ % 10}`, modifiers: [] });
      await Bun.sleep(5);
      return closed();
    }, "the producer to be closed for not reading");
    const refusal = warnings.find((w) => w.stream === "deaf" && /stopped reading/.test(String(w.reason)))!;
    const unread = Number(/\((\d+) bytes unread\)/.exec(String(refusal.reason))?.[1]);
    expect(unread).toBeGreaterThan(MAX_BACKLOG_BYTES);
    // The stream is free again: it waits for the engine, and a new producer may take it.
    expect(stream.health.error).toBe("waiting for the engine");
    const next = await connect();
    await next.handshake({ stream: "deaf" });
    expect(stream.health.error).toBeNull();
  }, 30_000);
});
