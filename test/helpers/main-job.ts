// The main job (`bun run index.ts`) as a user starts it, for the tests of what it prints and serves.
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/**
 * Starts `bun run index.ts --port 0 ARGS` and resolves once its stdout holds `lines` "open URL"
 * lines; `url` is the first of them.
 */
export async function startMainJob(args: string[], env: Record<string, string> = {}, lines = 1) {
  const proc = Bun.spawn(["bun", "run", "index.ts", "--port", "0", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  const urls = () => [...out.matchAll(/open (https?:\S+)/g)].map((m) => m[1]!);
  while (urls().length < lines) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited early: ${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, urls: urls(), url: urls()[0]! };
}
