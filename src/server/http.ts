// The listener: one Bun.serve for every stream. `/s/NAME/...` serves stream NAME, `/` and the plain
// routes serve the default stream; /metrics covers them all. Every request but /healthz needs the token
// when auth is on (without auth, a Host the server trusts), and every response carries the security headers.
import type { Server } from "bun";
import type { Logger } from "../log.ts";
import { MAX_MESSAGE_BYTES, MAX_PASTE_BYTES } from "../protocol/input-schema.ts";
import {
  hostAllowed,
  originAllowed,
  requestToken,
  SECURITY_HEADERS,
  tokenCookie,
  tokenCookieNames,
  tokenMatches,
  unauthorized,
} from "./access.ts";
import type { Asset } from "./client-assets.ts";
import type { AccessSettings } from "./options.ts";
import { DEFAULT_STREAM, STREAM_NAME, type ServedStream } from "./stream.ts";
import { healthResponse, streamRoute } from "./stream-routes.ts";
import { pinnedTier } from "./tiers.ts";
import type { ViewerData } from "./viewer.ts";

export interface ListenerParts {
  host: string;
  port: number;
  access: AccessSettings;
  /** Viewers (WebSocket and MJPEG) of every stream at once; the next one gets 503. */
  maxViewers: number;
  assets: ReadonlyMap<string, Asset>;
  log: Logger;
  /** The stream of this name, if there is one. */
  stream(name: string): ServedStream | undefined;
  metricsText(): string;
  uptimeSeconds(): number;
  /** Viewers of every stream connected now. */
  viewerCount(): number;
  /** Extra GET routes of the listener by exact path (an edge's session list at /); the listener's token applies. */
  routes: Readonly<Record<string, (req: Request) => Response | Promise<Response>>>;
}

/** Where a request path leads: a path of a stream (under `base`), or a redirect to add the slash. */
type Route = { stream: string; path: string; base: string } | { redirect: string } | null;

/** `/s/NAME/rest` is `/rest` of stream NAME; any other path belongs to the default stream. */
function routeOf(pathname: string): Route {
  const named = /^\/s\/([^/]*)(\/.*)?$/.exec(pathname);
  if (!named) return { stream: DEFAULT_STREAM, path: pathname, base: "/" };
  const name = named[1]!;
  if (!STREAM_NAME.test(name)) return null;
  // The page loads its assets relative to its own URL, so it must end in a slash.
  if (named[2] === undefined) return { redirect: `/s/${name}/` };
  return { stream: name, path: named[2], base: `/s/${name}/` };
}

export function listen(parts: ListenerParts): Server<ViewerData> {
  const { tls } = parts.access;
  return Bun.serve<ViewerData>({
    hostname: parts.host,
    port: parts.port,
    // Bun shares a port between processes unless told not to: a second server must fail, not split the traffic.
    reusePort: false,
    development: false,
    ...(tls ? { tls: { cert: Bun.file(tls.cert), key: Bun.file(tls.key) } } : {}),
    fetch: async (req, server) => {
      const res = await respond(parts, req, server);
      parts.log.debug("request", { method: req.method, path: new URL(req.url).pathname.slice(0, 200), status: res?.status ?? 101 });
      return res && withHeaders(res);
    },
    error: (err) => {
      parts.log.error("request failed", { error: err.message });
      return withHeaders(new Response("internal error\n", { status: 500 }));
    },
    websocket: {
      // A paste may be longer than any event (the stream checks who sends one, and how often).
      maxPayloadLength: MAX_PASTE_BYTES + MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      // Flow control keeps each socket's buffer near two frames; this is only the last guard.
      backpressureLimit: 8 * 1024 * 1024,
      open: (ws) => ws.data.events.onViewerOpen(ws),
      message: (ws, message) => ws.data.events.onViewerMessage(ws, message),
      drain: (ws) => ws.data.events.onViewerDrain(ws),
      close: (ws) => ws.data.events.onViewerClose(ws),
    },
  });
}

/** The response to a request, or undefined when it became a WebSocket. */
async function respond(parts: ListenerParts, req: Request, server: Server<ViewerData>): Promise<Response | undefined> {
  const url = new URL(req.url);
  const notFound = () => new Response(`not found: ${url.pathname.slice(0, 200)}\n`, { status: 404 });
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response(`${req.method.slice(0, 20)} is not allowed: only GET\n`, { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  const { access } = parts;
  const route = routeOf(url.pathname);
  const stream = route && "stream" in route ? parts.stream(route.stream) : undefined;
  if (access.token === null && !stream?.authorize && !hostAllowed(req.headers.get("host"), parts.host, access.allowHosts)) {
    if (route && "path" in route && route.path === "/ws" && stream) stream.telemetry.stats.upgradesRefused++;
    return new Response("403: this server answers to this Host only with a token (or list it in --allow-host)\n", { status: 403 });
  }
  const cookies = tokenCookieNames(server.port ?? parts.port, access.tls !== null);
  const extra = parts.routes[url.pathname];
  if (extra) {
    const allowed = access.token === null || accessOf(access, undefined, requestToken(req, url, [cookies.root]).token) !== null;
    return allowed ? extra(req) : unauthorized();
  }
  if (route === null) return notFound();
  if ("redirect" in route) return new Response(null, { status: 301, headers: { Location: route.redirect + url.search } });
  const noStream = () => new Response(`no stream named '${route.stream}' on this server\n`, { status: 404 });
  // Health stays open for load balancers and supervisors; it tells only ok or the source's error.
  if (route.path === "/healthz") return stream ? healthResponse(stream, parts.uptimeSeconds()) : noStream();
  // A stream's own token lives in a cookie for that stream's paths only, which comes first.
  const names = stream?.authorize ? [cookies.scoped, cookies.root] : [cookies.root];
  if (route.path === "/ws") return upgrade(parts, req, url, server, { stream, noStream, names }) ?? undefined;

  const given = requestToken(req, url, names);
  if (access.token !== null || stream?.authorize) {
    if (accessOf(access, stream, given.token) === null) return unauthorized();
    // The page's first visit carries the token in its URL: keep it in a cookie, drop it from the URL.
    if (given.fromQuery && route.path === "/") {
      url.searchParams.delete("token");
      const cookie = stream?.authorize
        ? tokenCookie(cookies.scoped, given.token!, access.tls !== null, route.base)
        : tokenCookie(cookies.root, given.token!, access.tls !== null, "/");
      return new Response(null, { status: 302, headers: { Location: route.base + url.search, "Set-Cookie": cookie } });
    }
  }
  if (url.pathname === "/metrics") {
    return new Response(parts.metricsText(), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } });
  }
  if (!stream) return noStream();
  if (route.path === "/stream.mjpeg") {
    if (parts.viewerCount() >= parts.maxViewers) return full(parts.maxViewers);
    // The stall rule (--stall-timeout) closes a reader that stops reading, not the idle timeout.
    server.timeout(req, 0);
  }
  return (await streamRoute(stream, route.path, req, parts.assets)) ?? notFound();
}

/** 503 for a viewer over the cap: refused before it costs anything. */
function full(maxViewers: number): Response {
  return new Response(`503: this server has its ${maxViewers} viewers already (--max-viewers); try again later\n`, {
    status: 503,
    headers: { "Retry-After": "10" },
  });
}

/** A WebSocket upgrade onto `stream`: null once upgraded, else the refusal. */
function upgrade(
  parts: ListenerParts,
  req: Request,
  url: URL,
  server: Server<ViewerData>,
  target: { stream: ServedStream | undefined; noStream: () => Response; names: string[] },
): Response | null {
  const { access } = parts;
  const { stream } = target;
  const refused = (res: Response) => {
    if (stream) stream.telemetry.stats.upgradesRefused++;
    return res;
  };
  if (!originAllowed(req, url, access.allowOrigins)) {
    return refused(new Response("403: WebSocket from a foreign origin\n", { status: 403 }));
  }
  const token = requestToken(req, url, target.names).token;
  const role = access.token === null && !stream?.authorize ? "control" : accessOf(access, stream, token);
  if (role === null) return refused(unauthorized());
  if (!stream) return target.noStream();
  // Bun opens an upgraded socket at once (open runs inside upgrade), so this count is exact.
  if (parts.viewerCount() >= parts.maxViewers) return refused(full(parts.maxViewers));
  const v2 = url.searchParams.get("v") === "2";
  const codec = url.searchParams.get("codec") ?? "jpeg";
  if (codec !== "jpeg" && codec !== "h264") return new Response("400: codec must be jpeg or h264\n", { status: 400 });
  if (codec === "h264" && !v2) return new Response("400: codec=h264 needs v=2 (the hello says which codec comes)\n", { status: 400 });
  const pinned = pinnedTier(url.searchParams.get("quality"));
  if (pinned instanceof Error) return new Response(`400: ${pinned.message}\n`, { status: 400 });
  if (server.upgrade(req, { data: stream.newViewer(v2, role === "view", codec, pinned) })) return null;
  return new Response("expected a WebSocket upgrade\n", { status: 426 });
}

/**
 * What a token allows: driving ("control"), watching ("view"), or nothing (null), by the listener's tokens
 * (compared in constant time) and then the stream's own (its authorize).
 */
function accessOf(access: AccessSettings, stream: ServedStream | undefined, given: string | null): "control" | "view" | null {
  const control = access.token !== null && tokenMatches(given, access.token);
  const view = access.viewToken !== null && tokenMatches(given, access.viewToken);
  return control ? "control" : view ? "view" : (stream?.authorize?.(given) ?? null);
}

/** Adds the security headers to a response of ours. */
function withHeaders(res: Response): Response {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.headers.set(name, value);
  return res;
}
