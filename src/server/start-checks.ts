// What start() checks before and after it binds, so that a failure names the option to fix: TLS files
// that are not PEM (or swapped, or not a pair), a host that does not resolve or is not this machine's,
// and a port in use. (Bun reports all of the last three as "Is port in use?".)
import { createPrivateKey, X509Certificate } from "node:crypto";
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";

/** Options a start-up failure can name; the CLI turns each into its flag. */
export type StartOption = "host" | "port" | "tls.cert" | "tls.key";

/** start() could not serve; `option` is the one to change, `inUse` tells a busy port from a bad value. */
export class StartError extends Error {
  override name = "StartError";
  constructor(
    readonly option: StartOption,
    readonly reason: string,
    readonly inUse = false,
  ) {
    super(`${option}: ${reason}`);
  }
}

function readPem(path: string, option: StartOption): string {
  try {
    return readFileSync(path, "latin1");
  } catch (err) {
    throw new StartError(option, `cannot read '${path}': ${(err as Error).message}`);
  }
}

/** Throws a StartError naming tls.cert or tls.key unless they are a PEM certificate and its private key. */
export function checkTlsFiles(tls: { cert: string; key: string }): void {
  const certText = readPem(tls.cert, "tls.cert");
  const keyText = readPem(tls.key, "tls.key");
  const swapped = /PRIVATE KEY-----/.test(certText) && /-----BEGIN CERTIFICATE-----/.test(keyText);
  if (swapped) throw new StartError("tls.cert", `'${tls.cert}' holds a private key and '${tls.key}' a certificate: swapped?`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certText);
  } catch {
    throw new StartError("tls.cert", `'${tls.cert}' is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyText);
  } catch {
    throw new StartError("tls.key", `'${tls.key}' is not a PEM private key (-----BEGIN PRIVATE KEY-----)`);
  }
  if (!cert.checkPrivateKey(key)) throw new StartError("tls.key", `'${tls.key}' is not the private key of the certificate '${tls.cert}'`);
}

const WILDCARDS = ["0.0.0.0", "::"];

/** The addresses of this machine's network interfaces (loopback included). */
export function machineAddresses(): { address: string; family: "IPv4" | "IPv6"; internal: boolean }[] {
  return Object.values(networkInterfaces()).flatMap((list) =>
    (list ?? []).map((a) => ({ address: a.address, family: a.family as "IPv4" | "IPv6", internal: a.internal })),
  );
}

/** Why binding `host`:`port` failed: the host does not resolve, is not this machine's, or the port is taken. */
export async function explainBindFailure(host: string, port: number): Promise<StartError> {
  let address: string;
  try {
    address = (await lookup(host)).address;
  } catch {
    return new StartError("host", `'${host}' does not resolve to an address`);
  }
  const own = WILDCARDS.includes(address) || /^127\./.test(address) || machineAddresses().some((a) => a.address === address);
  if (!own) return new StartError("host", `'${host}' (${address}) is not an address of this machine`);
  return new StartError("port", `address in use: ${host}:${port} (another server listens there)`, true);
}
