// `--tls self-signed`: a P-256 certificate made locally with openssl (nothing downloaded), kept in a
// per-user state directory and reused on the next start, so a browser that trusted it keeps trusting it.
import { createHash, createPublicKey, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface SelfSigned {
  cert: string;
  key: string;
  /** SHA-256 of the certificate (DER), colon-separated hex, as browsers show it. */
  fingerprint: string;
  /** Base64 SHA-256 of the public key (SPKI), for Chromium's --ignore-certificate-errors-spki-list. */
  spkiFingerprint: string;
}

/** `$XDG_STATE_HOME/vkcast`, else `~/.local/state/vkcast`. */
export function stateDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_STATE_HOME?.startsWith("/") ? env.XDG_STATE_HOME : join(env.HOME || homedir(), ".local", "state");
  return join(base, "vkcast");
}

/** The names the certificate covers: the loopback names and the bound host (unless it is a wildcard). */
function altNames(host: string): string[] {
  const names = new Set(["DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare !== "0.0.0.0" && bare !== "::" && bare !== "") {
    names.add(/^[\d.]+$/.test(bare) || bare.includes(":") ? `IP:${bare}` : `DNS:${bare}`);
  }
  return [...names];
}

/** Whether an existing certificate still serves `host`: it parses and covers the host. */
function covers(certPem: string, host: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (new Date(cert.validTo).getTime() < Date.now() + 86_400_000) return false;
    const bare = host.replace(/^\[|\]$/g, "");
    if (bare === "0.0.0.0" || bare === "::") return true;
    return Boolean(/^[\d.]+$/.test(bare) || bare.includes(":") ? cert.checkIP(bare) : cert.checkHost(bare));
  } catch {
    return false;
  }
}

/** Returns the certificate for `host`, making it (and the state directory) when missing or not covering `host`. */
export function selfSigned(host: string, env: Record<string, string | undefined> = process.env): SelfSigned {
  const dir = stateDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const cert = join(dir, "tls-cert.pem");
  const key = join(dir, "tls-key.pem");
  if (!existsSync(cert) || !existsSync(key) || !covers(readFileSync(cert, "utf8"), host)) {
    const made = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "825",
        "-subj", "/CN=vkcast self-signed", "-addext", `subjectAltName=${altNames(host).join(",")}`, "-keyout", key, "-out", cert],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (made.exitCode !== 0) throw new Error(`openssl could not make a certificate: ${made.stderr.toString().trim()}`);
  }
  chmodSync(key, 0o600);
  const pem = readFileSync(cert, "utf8");
  const spki = createPublicKey(pem).export({ type: "spki", format: "der" });
  return {
    cert,
    key,
    fingerprint: new X509Certificate(pem).fingerprint256,
    spkiFingerprint: createHash("sha256").update(spki).digest("base64"),
  };
}
