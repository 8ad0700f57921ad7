// The ingest socket's time and backlog limits (made small so the tests are quick) and its counters in
// /api/stats and /metrics: a real StreamingServer and IngestListener in this process, real producers over
// the Unix socket (one of them a Python process that stops reading), a real viewer over WebSocket.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { IngestListener } from "../src/ingest/listener.ts";
import type { ProducerLimits } from "../src/ingest/producer.ts";
import { ServerStreams } from "../src/ingest/streams.ts";
import type { Logger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { pattern, PYTHON, RawProducer, type RingInfo, until } from "./helpers/ingest.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
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

const producers: RawProducer[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

/** A server with an ingest socket of these limits, stopped after the tests. */
async function openIngest(limits: Partial<ProducerLimits>): Promise<{ server: StreamingServer; listener: IngestListener }> {
  const server = new StreamingServer({ host: "127.0.0.1", port: 0, inputRateLimit: 100_000, logger: log });
  await server.start(64, 48);
  const path = `${mkdtempSync(`${tmpdir()}/vkcast-limits-`)}/ingest.sock`;
  const listener = await IngestListener.open({ path, streams: new ServerStreams(server), log, limits });
  cleanups.push(async () => {
    listener.close();
    await server.stop();
  });
  return { server, listener };
}

let server: StreamingServer;
let listener: IngestListener;

beforeAll(async () => {
  // Input may fill the whole backlog here, so that input alone can show the "stopped reading" close.
  ({ server, listener } = await openIngest({
    helloTimeoutMs: HELLO_TIMEOUT_MS,
    inputBacklogBytes: MAX_BACKLOG_BYTES,
    maxBacklogBytes: MAX_BACKLOG_BYTES,
  }));
});

afterAll(async () => {
  for (const p of producers) p.close();
  for (const c of cleanups.reverse()) await c();
});

async function connect(path = listener.path): Promise<RawProducer> {
  const p = await RawProducer.connect(path);
  producers.push(p);
  return p;
}

/** A Python producer that says hello for `stream`, reads the welcome, then never reads again. */
async function deafProducer(path: string, stream: string): Promise<void> {
  const script = [
    "import socket, sys, time",
    "s = socket.socket(socket.AF_UNIX)",
    "s.connect(sys.argv[1])",
    `s.sendall(b'{"type":"hello","version":1,"stream":"${stream}","width":64,"height":48,"format":"rgba"}\\n')`,
    "buf = b''",
    "while b'\\n' not in buf: buf += s.recv(65536)",
    "print('ready', flush=True)",
    "time.sleep(60)",
  ].join("\n");
  const proc = Bun.spawn([PYTHON, "-c", script, path], { stdout: "pipe", stderr: "inherit" });
  cleanups.push(() => void proc.kill("SIGKILL"));
  const { value } = await proc.stdout.getReader().read();
  expect(new TextDecoder().decode(value)).toContain("ready");
}

/** Sends key presses from `viewer` in bursts until `done()` holds. */
async function floodInput(viewer: Viewer, done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  let sent = 0;
  await until(async () => {
    for (let i = 0; i < 200; i++) viewer.send({ type: "key_down", key: `k${sent++ % 10}`, modifiers: [] });
    await Bun.sleep(5);
    return done();
  }, what);
}

describe("the hello timeout", () => {
  test("a connection that sends no hello is closed once the timeout passes, the reason naming it", async () => {
    const started = performance.now();
    const silent = await connect();
    expect(await silent.refusal()).toBe(`no hello within ${HELLO_TIMEOUT_MS / 1000} s`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 5);
    expect(warnings).toContainEqual(expect.objectContaining({ msg: "producer refused", reason: "no hello within 0.3 s" }));
  }, 15_000);

  test("a producer that said hello in time is not closed by it", async () => {
    const p = await connect();
    await p.handshake({ stream: "in-time" });
    // Long past the timeout, it is still connected and its frames still go through.
    await Bun.sleep(HELLO_TIMEOUT_MS * 3);
    expect(p.closed).toBe(false);
    p.submit(0, 64, 48, new Uint8Array(64 * 48 * 4).fill(200));
    expect(await p.next("release")).toMatchObject({ slot: 0 });
    expect(p.closed).toBe(false);
  }, 15_000);
});

describe("a producer that stops reading its socket", () => {
  test("is closed once its unread backlog passes the limit; the stream waits for a new producer", async () => {
    await deafProducer(listener.path, "deaf");
    const stream = server.stream("deaf")!;
    expect(stream.health.error).toBeNull();

    // Its viewer's input is sent to it until the socket's buffer is full and the backlog passes the limit.
    const viewer = await Viewer.connect(wsUrl(server.origin, "s/deaf/ws"));
    cleanups.push(() => viewer.close());
    const closed = () => warnings.some((w) => w.stream === "deaf" && /stopped reading/.test(String(w.reason)));
    await floodInput(viewer, closed, "the producer to be closed for not reading");
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

describe("ingest counters", () => {
  test("/api/stats and /metrics count a stream's producers, frames (submitted, dropped by them), rings, violations, input not sent", async () => {
    // Default limits but a small input backlog, so that a producer that stops reading has input dropped soon.
    const { server, listener } = await openIngest({ inputBacklogBytes: 4096 });
    const stats = async () => (await (await fetch(`${server.origin}s/counted/api/stats`)).json()) as Record<string, number>;

    // The first stream named becomes the default one (labelled "default"): another stream comes first.
    await (await connect(listener.path)).handshake({ stream: "first" });
    // A producer: its ring, a second ring it asks for, three frames (saying it dropped 2, then 5 in all,
    // then not saying), then a violation: a running total of dropped frames that went down.
    const p = await connect(listener.path);
    await p.handshake({ stream: "counted" });
    p.send({ type: "ring", width: 64, height: 48, format: "rgba" });
    p.map((await p.next("ring")).ring as RingInfo);
    for (const [slot, dropped] of [[0, { dropped: 2 }], [1, { dropped: 5 }], [2, {}]] as const) {
      p.submit(slot, 64, 48, pattern(64, 48, slot * 40), dropped);
      await p.next("release");
    }
    p.submit(0, 64, 48, pattern(64, 48), { dropped: 4 });
    expect(await p.refusal()).toBe("frame.dropped 4 is less than before (5)");

    // A second producer of the stream that stops reading: its viewer's input is dropped, not sent.
    await deafProducer(listener.path, "counted");
    const viewer = await Viewer.connect(wsUrl(server.origin, "s/counted/ws"));
    cleanups.push(() => viewer.close());
    await floodInput(viewer, async () => (await stats()).ingestInputDropped! > 0, "input to be dropped for the deaf producer");

    expect(await stats()).toMatchObject({
      ingestProducersConnected: 2,
      ingestRingsMade: 3,
      ingestFramesSubmitted: 3,
      ingestFramesDroppedByProducer: 5,
      ingestProtocolViolations: 1,
    });
    const metrics = parsePrometheus(await (await fetch(`${server.origin}metrics`)).text());
    const series = (name: string) => metrics.get(`vkcast_ingest_${name}_total{stream="counted"}`);
    expect(series("producers_connected")).toBe(2);
    expect(series("rings_made")).toBe(3);
    expect(series("frames_submitted")).toBe(3);
    expect(series("frames_dropped_by_producer")).toBe(5);
    expect(series("protocol_violations")).toBe(1);
    expect(series("input_dropped")).toBeGreaterThan(0);
    // Each stream counts its own producers only.
    expect(metrics.get('vkcast_ingest_producers_connected_total{stream="default"}')).toBe(1);
    expect(metrics.get('vkcast_ingest_frames_submitted_total{stream="default"}')).toBe(0);
  }, 30_000);
});
