// Operating endpoints over real sockets: stats, Prometheus metrics, snapshot, MJPEG, health.
// Each test starts its own server, so each stands alone and any one may run by itself.
import { describe, expect, test } from "bun:test";
import { MJPEG_BOUNDARY } from "../src/server/mjpeg.ts";
import { StreamingServer, type StreamingServerOptions } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { jpegSize, pushFrames } from "./helpers/push.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

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

const source = new SyntheticSource(200, 100);

/** A started server (200x100) for one test; `run` gets it, and it is stopped whatever happens. */
async function withServer(options: StreamingServerOptions, run: (server: StreamingServer) => Promise<void>): Promise<void> {
  const server = new StreamingServer({ port: 0, fps: 30, ...options });
  await server.start(200, 100);
  try {
    await run(server);
  } finally {
    await server.stop();
  }
}

describe("operating endpoints", () => {
  test("/frame.jpg is 503 with a message before the first frame", () =>
    withServer({}, async (server) => {
      const res = await fetch(`${server.url}frame.jpg`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain("no frame yet");
    }));

  test("/frame.jpg waits for a fresh frame when nobody watches, and it decodes", () =>
    withServer({}, async (server) => {
      // The server asks for frames while the snapshot waits: this is what the engine loop sees.
      const feeding = setInterval(() => server.hasClients() && server.pushFrame(source.frame(1)), 20);
      const res = await fetch(`${server.url}frame.jpg`);
      clearInterval(feeding);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      expect(await jpegSize(new Uint8Array(await res.arrayBuffer()))).toEqual({ width: 200, height: 100 });
      expect(server.stats.framesPushed).toBeGreaterThan(0);
    }));

  test("/stream.mjpeg yields several complete JPEG parts, and counts as a viewer while it is read", () =>
    withServer({}, async (server) => {
      const stopPushing = pushFrames(server, source, 30);
      try {
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
        expect(server.viewerCount).toBe(1);
        await reader.cancel();
        expect(parts.length).toBeGreaterThanOrEqual(5);
        for (const part of parts.slice(0, 5)) expect(await jpegSize(part)).toEqual({ width: 200, height: 100 });
        await waitFor(() => !server.hasClients(), 3000, "the MJPEG reader to be gone");
      } finally {
        stopPushing();
      }
    }));

  for (const encoder of ["auto", "napi"] as const) {
    test(`/api/stats and /metrics count what happened and name the encoder in use (encoder: ${encoder})`, () =>
      withServer({ device: "test device", encoder }, async (server) => {
        // Frames are encoded only while someone watches.
        const viewer = await Viewer.connect(wsUrl(server.url));
        const stopPushing = pushFrames(server, source, 30);
        await waitFor(() => server.stats.framesEncoded > 5, 5000, "six encoded frames");
        stopPushing();
        viewer.close();
        // The encoder the server reports: "auto" falls back to napi when libjpeg-turbo does not load.
        const config = await (await fetch(`${server.url}api/config`)).json();
        expect(config.encoder).toBe(server.encoder);
        expect(encoder === "auto" ? ["turbo", "napi"] : [encoder]).toContain(config.encoder);
        const stats = await (await fetch(`${server.url}api/stats`)).json();
        expect(stats.framesEncoded).toBeGreaterThan(5);
        expect(stats.device).toBe("test device");
        expect(stats.encoder).toBe(config.encoder);
        expect(stats.encodeMs.p50).toBeGreaterThan(0);
        expect(stats.uptimeSeconds).toBeGreaterThan(0);
        const res = await fetch(`${server.url}metrics`);
        expect(res.headers.get("content-type")).toContain("text/plain");
        const samples = parsePrometheus(await res.text());
        expect(samples.get('vkcast_frames_encoded_total{stream="default"}')).toBeGreaterThan(5);
        expect(samples.get('vkcast_encode_seconds_count{stream="default"}')).toBeGreaterThan(5);
        expect(samples.get(`vkcast_info{stream="default",device="test device",encoder="${config.encoder}"}`)).toBe(1);
        for (const name of ["frames_pushed_total", "frames_sent_total", "frames_dropped_total", "bytes_sent_total", "viewers", "input_rejected_total"]) {
          expect(samples.has(`vkcast_${name}{stream="default"}`)).toBe(true);
        }
        expect(samples.has("vkcast_uptime_seconds")).toBe(true);
      }));
  }

  test("/healthz is 200 while the source works and 503 naming its error when it fails", () =>
    withServer({}, async (server) => {
      expect((await fetch(`${server.url}healthz`)).status).toBe(200);
      server.health.error = "device lost";
      const res = await fetch(`${server.url}healthz`);
      expect(res.status).toBe(503);
      expect((await res.json()).error).toBe("device lost");
      expect((await (await fetch(`${server.url}api/config`)).json()).sourceError).toBe("device lost");
      server.health.error = null;
      expect((await fetch(`${server.url}healthz`)).status).toBe(200);
    }));
});
