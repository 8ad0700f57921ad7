// A real cluster for tests: nats-server (Debian's) on a free port with its own config, and vkcast
// origins and edges as real processes (`bun run index.ts ...`). Nothing is mocked.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

const ROOT = join(import.meta.dir, "..", "..");
export const NATS_SERVER = Bun.which("nats-server") ?? "/usr/sbin/nats-server";

/** A port nobody listens on now. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

async function listening(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

/** nats-server on a free port; `config` is added to its config file (e.g. max_payload, authorization, tls). */
export class NatsBroker {
  private proc: ReturnType<typeof Bun.spawn> | null = null;
  log = "";

  private constructor(
    readonly port: number,
    private readonly configFile: string,
  ) {}

  static async start(config = "max_payload: 8MB"): Promise<NatsBroker> {
    const dir = mkdtempSync(join(tmpdir(), "vkcast-nats-"));
    const port = freePort();
    const file = join(dir, "nats.conf");
    writeFileSync(file, `listen: 127.0.0.1:${port}\n${config}\n`);
    const broker = new NatsBroker(port, file);
    await broker.run();
    return broker;
  }

  /** nats://127.0.0.1:PORT, with `credentials` (user:pass or token) before the host if given. */
  url(credentials = "", scheme = "nats"): string {
    return `${scheme}://${credentials ? `${credentials}@` : ""}127.0.0.1:${this.port}`;
  }

  async run(): Promise<void> {
    const proc = Bun.spawn([NATS_SERVER, "-c", this.configFile], { stdout: "ignore", stderr: "pipe" });
    this.proc = proc;
    void collect(proc.stderr as ReadableStream<Uint8Array>, (text) => (this.log = (this.log + text).slice(-20_000)));
    await waitFor(() => proc.exitCode === null, 1000, "nats-server to run");
    const end = Date.now() + 10_000;
    while (!(await listening(this.port))) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`nats-server did not start: ${this.log}`);
      await Bun.sleep(20);
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
  }

  /** Stops the broker and starts it again on the same port (clients must reconnect by themselves). */
  async restart(): Promise<void> {
    await this.stop();
    await this.run();
  }
}

async function collect(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onText(decoder.decode(value));
  }
}

/** A vkcast process (an origin or an edge) and the URL it printed. */
export class VkcastProcess {
  private constructor(
    readonly proc: ReturnType<typeof Bun.spawn>,
    readonly url: string,
    private readonly output: { stderr: string },
  ) {}

  /** The last 50 KB of its logs. */
  get stderr(): string {
    return this.output.stderr;
  }

  /** `bun run index.ts --port 0 ARGS`; resolves once it prints where it serves. */
  static async start(args: string[], env: Record<string, string> = {}): Promise<VkcastProcess> {
    const proc = Bun.spawn(["bun", "run", "index.ts", "--port", "0", "--log-level", "debug", ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const output = { stderr: "" };
    let stdout = "";
    void collect(proc.stderr as ReadableStream<Uint8Array>, (text) => (output.stderr = (output.stderr + text).slice(-50_000)));
    const printed = /(?:open|serving) (https?:\/\/\S+)/;
    const stdoutDone = collect(proc.stdout as ReadableStream<Uint8Array>, (text) => (stdout += text));
    const end = Date.now() + 30_000;
    while (!printed.test(stdout)) {
      if (proc.exitCode !== null || Date.now() > end) {
        await Promise.race([stdoutDone, Bun.sleep(200)]);
        throw new Error(`vkcast ${args.join(" ")} did not start (exit ${proc.exitCode}): ${output.stderr}`);
      }
      await Bun.sleep(10);
    }
    return new VkcastProcess(proc, printed.exec(stdout)![1]!, output);
  }

  /** The URL of PATH on this server (PATH without the leading slash, and with its own query if any). */
  at(path: string): string {
    return new URL(`/${path}`, this.url).href;
  }

  async json<T = Record<string, unknown>>(path: string, headers: Record<string, string> = {}): Promise<T> {
    const res = await fetch(this.at(path), { headers });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** SIGTERM (a clean stop), or SIGKILL; resolves with the exit code. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    return await this.proc.exited;
  }
}
