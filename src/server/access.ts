// Who may use the server: token auth (as Jupyter does), the WebSocket Origin check, and the
// headers every response carries.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_COOKIE = "vkcast_token";

/** Security headers for every response; the CSP allows exactly what the bundled client needs. */
export const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
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

/** The token a request carries: `Authorization: Bearer`, then `?token=`, then the cookie. */
export function requestToken(req: Request, url: URL): { token: string | null; fromQuery: boolean } {
  const auth = req.headers.get("authorization");
  if (auth?.startsWith("Bearer ")) return { token: auth.slice(7).trim(), fromQuery: false };
  const query = url.searchParams.get("token");
  if (query !== null) return { token: query, fromQuery: true };
  return { token: cookie(req, TOKEN_COOKIE), fromQuery: false };
}

export function tokenCookie(token: string, secure: boolean, path = "/"): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=${path}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
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
