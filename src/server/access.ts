// Who may use the server: token auth (as Jupyter does), the Host check where no token is needed, the
// WebSocket Origin check, and the headers every response carries.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";

/**
 * The token cookies' names: cookies ignore ports, so they name the port (two servers on one host keep
 * their own). With TLS the listener's is `__Host-` (Secure, Path=/, this host only); a stream's own,
 * kept for the stream's paths, is `__Secure-` (`__Host-` allows no path).
 */
export function tokenCookieNames(port: number, secure: boolean): { root: string; scoped: string } {
  const name = `vkcast_token_${port}`;
  return secure ? { root: `__Host-${name}`, scoped: `__Secure-${name}` } : { root: name, scoped: name };
}

/** Security headers for every response; the CSP allows exactly what the bundled client needs. */
export const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
  // Pages of other sites cannot embed the frames (an <img> of /frame.jpg or /stream.mjpeg).
  "Cross-Origin-Resource-Policy": "same-origin",
};

export function randomToken(): string {
  return randomBytes(24).toString("base64url");
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant-time comparison (of fixed-length digests, so the length leaks nothing either). */
export function tokenMatches(given: string | null, expected: string): boolean {
  return given !== null && timingSafeEqual(digest(given), digest(expected));
}

function cookie(req: Request, name: string): string | null {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/**
 * The token a request carries: `Authorization: Bearer` (the scheme in any case), then `?token=`, then
 * the first of the cookies `names` it has.
 */
export function requestToken(req: Request, url: URL, names: readonly string[]): { token: string | null; fromQuery: boolean } {
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  if (bearer) return { token: bearer[1]!, fromQuery: false };
  const query = url.searchParams.get("token");
  if (query !== null) return { token: query, fromQuery: true };
  for (const name of names) {
    const value = cookie(req, name);
    if (value !== null) return { token: value, fromQuery: false };
  }
  return { token: null, fromQuery: false };
}

export function tokenCookie(name: string, token: string, secure: boolean, path: string): string {
  return `${name}=${encodeURIComponent(token)}; Path=${path}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

/** The host name of a Host header: lower case, without the port, brackets or a trailing dot. */
function hostName(header: string): string {
  const name = header.startsWith("[") ? header.slice(1, header.indexOf("]")) : header.replace(/:\d*$/, "");
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * Where no token is needed, a request must name this server by an address or a trusted name: a page
 * on a foreign name rebound to this address (DNS rebinding) names its own. An IP address cannot be
 * rebound, so any is fine; names must be loopback ones, the bound host or listed (`allowHosts`).
 */
export function hostAllowed(header: string | null, boundHost: string, allowHosts: readonly string[]): boolean {
  if (header === null) return true; // not a browser: browsers always send Host
  const name = hostName(header);
  if (isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost")) return true;
  return name === boundHost.toLowerCase() || allowHosts.includes(name);
}

/**
 * An upgrade from a browser page is allowed only from the server's own origin or a listed one.
 * Clients that are not browsers send no Origin and are let through (the token still applies).
 */
export function originAllowed(req: Request, url: URL, allowed: readonly string[]): boolean {
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  const own = `${url.protocol}//${req.headers.get("host") ?? url.host}`;
  return origin === own || allowed.includes(origin);
}

export function unauthorized(): Response {
  return new Response(
    "401: this vkcast server needs its token. Open the URL it printed at start (…/?token=…),\n" +
      "or send 'Authorization: Bearer TOKEN'.\n",
    { status: 401, headers: { ...SECURITY_HEADERS, "Content-Type": "text/plain; charset=utf-8", "WWW-Authenticate": "Bearer" } },
  );
}
