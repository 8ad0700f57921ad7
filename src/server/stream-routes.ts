// The HTTP routes of one stream, the same under / (the default stream) and under /s/NAME/: the client
// page and its assets, /api/config, /api/stats, /frame.jpg and /stream.mjpeg. (/ws is an upgrade, in http.ts.)
import { type Asset, assetResponse } from "./client-assets.ts";
import { mjpegResponse } from "./mjpeg.ts";
import type { ServedStream } from "./stream.ts";

/** How long GET /frame.jpg waits for a fresh frame when nobody else is watching. */
const SNAPSHOT_WAIT_MS = 1500;

/** The response to GET `path` of `stream`, or null when the stream has no such path. */
export function streamRoute(
  stream: ServedStream,
  path: string,
  req: Request,
  assets: ReadonlyMap<string, Asset>,
): Response | Promise<Response> | null {
  switch (path) {
    case "/api/config":
      return Response.json(stream.config());
    case "/api/stats":
      return Response.json(stream.statsSnapshot());
    case "/frame.jpg":
      return snapshot(stream);
    case "/stream.mjpeg":
      return mjpegResponse(stream.mjpegFeed());
  }
  const asset = assets.get(path);
  return asset ? assetResponse(asset, req, {}) : null;
}

/** GET /healthz: ok, or 503 with the frame source's error. */
export function healthResponse(stream: ServedStream, uptimeSeconds: number): Response {
  const error = stream.health.error;
  return error ? Response.json({ status: "error", error }, { status: 503 }) : Response.json({ status: "ok", uptimeSeconds });
}

/** GET /frame.jpg: a fresh frame (waiting briefly for one when nobody watches), else 503. */
async function snapshot(stream: ServedStream): Promise<Response> {
  const frame = await stream.freshFrame(SNAPSHOT_WAIT_MS);
  if (!frame) {
    return new Response("no frame yet: the frame source has not produced one\n", { status: 503, headers: { "Retry-After": "1" } });
  }
  return new Response(frame.jpeg as Uint8Array<ArrayBuffer>, { headers: { "Content-Type": "image/jpeg", "Cache-Control": "no-store" } });
}
