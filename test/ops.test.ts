// Operating endpoints over real sockets: stats, Prometheus metrics, snapshot, MJPEG, health.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MJPEG_BOUNDARY } from "../src/mjpeg.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { jpegSize, pushFrames } from "./helpers/push.ts";

/** Splits a multipart/x-mixed-replace body into its JPEG parts (complete ones only). */
function mjpegParts(body: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const text = new TextDecoder("latin1").decode(body);
  let at = 0;
  for (;;) {
    const start = text.indexOf(`--${MJPEG_BOUNDARY}\r\n`, at);
    if (start < 0) break;
    const headerEnd = text.indexOf("\r\n\r\n", start);
    if (headerEnd < 0) break;
    const length = Number(/Content-Length: (\d+)/.exec(text.slice(start, headerEnd))![1]);
    const from = headerEnd + 4;
    if (from + length > body.length) break;
    parts.push(body.subarray(from, from + length));
    at = from + length;
  }
  return parts;
}

describe("operating endpoints", () => {
  const source = new SyntheticSource(200, 100);
  const server = new StreamingServer({ port: 0, fps: 30, device: "test device" });
  let stopPushing = () => {};
  beforeAll(async () => {
    await server.start(200, 100);
  });
  afterAll(async () => {
    stopPushing();
    await server.stop();
  });

  test("/frame.jpg is 503 with a message before the first frame", async () => {
    const res = await fetch(`${server.url}frame.jpg`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("no frame yet");
  });

  test("/frame.jpg waits for a fresh frame when nobody watches, and it decodes", async () => {
    // The server asks for frames while the snapshot waits: this is what the engine loop sees.
    const feeding = setInterval(() => server.hasClients() && server.pushFrame(source.frame(1)), 20);
    const res = await fetch(`${server.url}frame.jpg`);
    clearInterval(feeding);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    expect(await jpegSize(new Uint8Array(await res.arrayBuffer()))).toEqual({ width: 200, height: 100 });
  });

  test("/stream.mjpeg yields several complete JPEG parts", async () => {
    stopPushing = pushFrames(server, source, 30);
    const res = await fetch(`${server.url}stream.mjpeg`);
    expect(res.headers.get("content-type")).toBe(`multipart/x-mixed-replace; boundary=${MJPEG_BOUNDARY}`);
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [];
    let parts: Uint8Array[] = [];
    while (parts.length < 5) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      parts = mjpegParts(Buffer.concat(chunks));
    }
    expect(server.hasClients()).toBe(true);
    await reader.cancel();
    expect(parts.length).toBeGreaterThanOrEqual(5);
    for (const part of parts.slice(0, 5)) expect(await jpegSize(part)).toEqual({ width: 200, height: 100 });
    await Bun.sleep(100);
    expect(server.hasClients()).toBe(false);
  });

  test("/api/stats and /metrics count what happened", async () => {
    const stats = await (await fetch(`${server.url}api/stats`)).json();
    expect(stats.framesEncoded).toBeGreaterThan(5);
    expect(stats.device).toBe("test device");
    expect(stats.encodeMs.p50).toBeGreaterThan(0);
    expect(stats.uptimeSeconds).toBeGreaterThan(0);

    const res = await fetch(`${server.url}metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const samples = parsePrometheus(await res.text());
    expect(samples.get("vkcast_frames_encoded_total")).toBeGreaterThan(5);
    expect(samples.get('vkcast_encode_ms{quantile="0.5"}')).toBeGreaterThan(0);
    expect(samples.get('vkcast_info{device="test device",encoder="turbo"}')).toBe(1);
    for (const name of ["frames_pushed_total", "frames_sent_total", "frames_dropped_total", "bytes_sent_total", "viewers", "input_rejected_total", "uptime_seconds"]) {
      expect(samples.has(`vkcast_${name}`)).toBe(true);
    }
  });

  test("/healthz is 200 while the source works and 503 naming its error when it fails", async () => {
    expect((await fetch(`${server.url}healthz`)).status).toBe(200);
    server.sourceError = "device lost";
    const res = await fetch(`${server.url}healthz`);
    expect(res.status).toBe(503);
    expect((await res.json()).error).toBe("device lost");
    expect((await (await fetch(`${server.url}api/config`)).json()).sourceError).toBe("device lost");
    server.sourceError = null;
  });
});
