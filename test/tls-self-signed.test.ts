// `--tls self-signed` as a person runs it: a real process makes the certificate with openssl, keeps it in the
// state directory, reuses it on the next start, and Chromium that trusts its SPKI fingerprint shows live frames.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS } from "./helpers/browser.ts";

const ROOT = join(import.meta.dir, "..");
const state = mkdtempSync(join(tmpdir(), "vkcast-state-"));
afterAll(() => rmSync(state, { recursive: true, force: true }));

/** Starts the main job with `env` and resolves with the https URL and both fingerprints it prints. */
async function start(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(["bun", "run", "index.ts", "--port", "0", "--source", "synthetic", ...args], {
    cwd: ROOT,
    env: { ...process.env, XDG_STATE_HOME: state, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!/SPKI SHA-256 .* (\S+)\n/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited early: ${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  return {
    proc,
    url: /open (https:\S+)/.exec(out)![1]!,
    fingerprint: /certificate SHA-256 ([0-9A-F:]{95})/.exec(out)![1]!,
    spki: /SPKI SHA-256 .* (\S+)\n/.exec(out)![1]!,
  };
}

describe("--tls self-signed", () => {
  test("made once with private modes, reused on the next start, trusted by Chromium through its SPKI fingerprint", async () => {
    const first = await start(["--tls", "self-signed"], {});
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);
    const dir = join(state, "vkcast");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "tls-key.pem")).mode & 0o777).toBe(0o600);
    const certMade = statSync(join(dir, "tls-cert.pem")).mtimeMs;

    // The environment variable works as the flag does; the certificate is the same one.
    const second = await start([], { VKCAST_TLS: "self-signed" });
    try {
      expect(second.fingerprint).toBe(first.fingerprint);
      expect(second.spki).toBe(first.spki);
      expect(statSync(join(dir, "tls-cert.pem")).mtimeMs).toBe(certMade);
      expect(second.url.startsWith("https://")).toBe(true);

      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${second.spki}`],
        headless: true,
      });
      try {
        const page = await browser.newPage();
        await page.goto(second.url);
        expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
        // A secure context loses nothing: the page's insecure-context notice stays hidden.
        expect(await page.evaluate(() => document.getElementById("insecure")!.hidden)).toBe(true);
        await page.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 15_000 });
        const painted = Number(await page.evaluate(() => document.getElementById("view")!.dataset.painted ?? 0));
        await page.waitForFunction((n) => Number(document.getElementById("view")!.dataset.painted ?? 0) > n + 3, painted, {
          timeout: 15_000,
        });
      } finally {
        await browser.close();
      }
      // Without the fingerprint Chromium refuses the certificate: the trust above came from the SPKI list.
      const strict = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
      try {
        await expect((await strict.newPage()).goto(second.url)).rejects.toThrow(/ERR_CERT/);
      } finally {
        await strict.close();
      }
    } finally {
      second.proc.kill("SIGTERM");
      await second.proc.exited;
    }
  }, 60_000);

  test("contradicts --tls-cert: exit 2 naming the flag", () => {
    const run = Bun.spawnSync(["bun", "run", "index.ts", "--tls", "self-signed", "--tls-cert", "index.ts", "--tls-key", "index.ts"], {
      cwd: ROOT,
      stderr: "pipe",
    });
    expect(run.exitCode).toBe(2);
    expect(run.stderr.toString()).toContain("--tls self-signed contradicts --tls-cert");
    const bad = Bun.spawnSync(["bun", "run", "index.ts", "--tls", "made-up"], { cwd: ROOT, stderr: "pipe" });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("--tls must be one of self-signed");
  });
});
