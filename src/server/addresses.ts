// The addresses a server prints and answers at: its origin, one per machine address when bound to all.
import { machineAddresses } from "./start-checks.ts";

const isWildcard = (host: string) => host === "0.0.0.0" || host === "::";

export const withToken = (origin: string, token: string | null) =>
  token === null ? origin : `${origin}?token=${encodeURIComponent(token)}`;

/** The origin to open (localhost when bound to every address). */
export function originOf(host: string, port: number, tls: boolean): string {
  const shown = isWildcard(host) ? "localhost" : host;
  return `${tls ? "https" : "http"}://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
}

/** Every origin to open: one per address of this machine when bound to all of them, loopback last. */
export function machineUrls(host: string, port: number, tls: boolean): string[] {
  if (!isWildcard(host)) return [originOf(host, port, tls)];
  return machineAddresses()
    // IPv6 only when bound to "::"; link-local ones need a zone a browser cannot take.
    .filter((a) => (a.family === "IPv4" || host === "::") && !a.address.startsWith("fe80:"))
    .sort((a, b) => Number(a.internal) - Number(b.internal))
    .map((a) => originOf(a.address, port, tls));
}
