// Real processes for the ingest tests: vkcast with --source ipc, the Python client driven line by line,
// and a raw producer speaking the socket protocol by hand (for the protocol's own tests).
import type { Subprocess } from "bun";
import { Transformer } from "@napi-rs/image";

export const ROOT = `${import.meta.dir}/../..`;
export const PYTHON = "/usr/bin/python3";
export const PYTHON_ENV = { ...process.env, PYTHONPATH: `${ROOT}/clients/python` };

/** Resolves once `predicate` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

export function portIsFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Collects a process's output lines and resolves waits for a line that matches. */
export class Lines {
  readonly all: string[] = [];
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  readonly ended: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.ended = this.read(stream);
  }

  private async read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) !== -1) {
        this.add(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    }
  }

  private add(line: string): void {
    this.all.push(line);
    for (const w of [...this.waiters]) {
      const m = line.match(w.re);
      if (m) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** The first line (already seen or to come) that matches `re`. */
  wait(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    for (const line of this.all) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} in:\n${this.all.slice(-20).join("\n")}`)), timeoutMs);
      this.waiters.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }
}

/** `bun run index.ts --source ipc:PATH ...` (synthetic-free: frames come only from producers). */
export class Vkcast {
  private constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly out: Lines,
    readonly url: string,
    readonly socketPath: string,
  ) {}

  static async start(socketPath: string, extra: string[] = []): Promise<Vkcast> {
    const proc = Bun.spawn(["bun", "run", "index.ts", `--source=ipc:${socketPath}`, "--port=0", ...extra], {
      cwd: ROOT,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = new Lines(proc.stdout);
    const err = new Lines(proc.stderr);
    const [, url] = await Promise.race([
      out.wait(/vkcast: open (\S+)/),
      proc.exited.then(async (code) => {
        await err.ended;
        throw new Error(`vkcast exited with ${code}: ${err.all.join("\n")}`);
      }),
    ]);
    await out.wait(/producers connect to/);
    return new Vkcast(proc, out, url!, socketPath);
  }

  get origin(): string {
    return this.url.replace(/\?.*$/, "");
  }

  async health(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.origin}healthz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async stop(): Promise<void> {
    this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
}

/** The Python client in a child process, one command at a time (test/fixtures/ingest_driver.py). */
export class PythonDriver {
  private readonly out: Lines;
  private asked = 0;
  readonly err: Lines;

  constructor(readonly proc: Subprocess<"pipe", "pipe", "pipe">) {
    this.out = new Lines(proc.stdout);
    this.err = new Lines(proc.stderr);
  }

  /** `user`: a command that runs it as someone else (setpriv ...); `env`: instead of PYTHON_ENV. */
  static spawn(user: string[] = [], env: Record<string, string | undefined> = PYTHON_ENV): PythonDriver {
    const proc = Bun.spawn([...user, PYTHON, `${ROOT}/test/fixtures/ingest_driver.py`], {
      cwd: ROOT,
      env,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    return new PythonDriver(proc);
  }

  /** Sends one command and returns its answer; throws the client's error, if any. */
  async call(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const answer = await this.ask(cmd, timeoutMs);
    if (typeof answer.error === "string") throw new Error(answer.error);
    return answer;
  }

  /** Sends one command and returns its answer as is (an `error` field included). */
  async ask(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const n = ++this.asked;
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    this.proc.stdin.flush();
    await until(() => this.answers().length >= n, `the Python driver's answer to ${JSON.stringify(cmd)}`, timeoutMs);
    return JSON.parse(this.answers()[n - 1]!);
  }

  private answers(): string[] {
    return this.out.all.filter((line) => line.startsWith("{"));
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    this.proc.kill(signal);
    return this.proc.exited;
  }
}

/** The driver's test pattern (flat 32x32 blocks), as RGBA. */
export function pattern(width: number, height: number, shift = 0): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bx = Math.floor(x / 32);
      const by = Math.floor(y / 32);
      const i = (y * width + x) * 4;
      out[i] = (bx * 40 + shift) % 256;
      out[i + 1] = (by * 60 + shift * 3) % 256;
      out[i + 2] = ((bx + by) * 25) % 256;
      out[i + 3] = 255;
    }
  }
  return out;
}

/** Decodes a JPEG for real into RGBA. */
export async function decodeJpeg(jpeg: Uint8Array): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const meta = await new Transformer(jpeg).metadata();
  const raw = await new Transformer(jpeg).rawPixels();
  const n = meta.width * meta.height;
  if (raw.length === n * 4) return { width: meta.width, height: meta.height, rgba: new Uint8Array(raw) };
  const rgba = new Uint8Array(n * 4).fill(255);
  for (let i = 0; i < n; i++) rgba.set(raw.subarray(i * 3, i * 3 + 3), i * 4);
  return { width: meta.width, height: meta.height, rgba };
}

/** Mean absolute difference per colour channel between two RGBA images of one size. */
export function meanDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 4) sum += Math.abs(a[i]! - b[i]!) + Math.abs(a[i + 1]! - b[i + 1]!) + Math.abs(a[i + 2]! - b[i + 2]!);
  return sum / ((a.length / 4) * 3);
}

/** Polls /frame.jpg until it decodes to `expected` (mean difference under 6); returns the last difference. */
export async function frameMatches(origin: string, width: number, height: number, expected: Uint8Array, timeoutMs = 15_000) {
  let diff = Infinity;
  await until(
    async () => {
      const res = await fetch(`${origin}frame.jpg`);
      if (res.status !== 200) return false;
      const img = await decodeJpeg(new Uint8Array(await res.arrayBuffer()));
      if (img.width !== width || img.height !== height) return false;
      diff = meanDiff(img.rgba, expected);
      return diff < 6;
    },
    `/frame.jpg to show the pushed pattern (last mean difference ${diff})`,
    timeoutMs,
  );
  return diff;
}

export interface RingInfo {
  id: number;
  path: string;
  slots: number;
  slotBytes: number;
  stride: number;
  width: number;
  height: number;
  format: string;
}

/** A producer written by hand against docs/ingest-protocol.md, for the protocol's own tests. */
export class RawProducer {
  readonly messages: Record<string, unknown>[] = [];
  private taken = 0;
  closed = false;
  ring: RingInfo | null = null;
  memory: Uint8Array | null = null;
  private buffered = "";
  /** Bytes the socket has not taken yet (Bun's socket writes only what fits). */
  private unsent: Uint8Array[] = [];
  private socket!: Awaited<ReturnType<typeof Bun.connect>>;

  static async connect(path: string): Promise<RawProducer> {
    const p = new RawProducer();
    const decoder = new TextDecoder();
    p.socket = await Bun.connect({
      unix: path,
      socket: {
        data: (_s, chunk) => {
          p.buffered += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = p.buffered.indexOf("\n")) !== -1) {
            p.messages.push(JSON.parse(p.buffered.slice(0, nl)));
            p.buffered = p.buffered.slice(nl + 1);
          }
        },
        drain: () => p.flush(),
        close: () => {
          p.closed = true;
        },
        error: () => {
          p.closed = true;
        },
      },
    });
    return p;
  }

  send(message: object): void {
    this.sendRaw(`${JSON.stringify(message)}\n`);
  }

  sendRaw(data: string | Uint8Array): void {
    this.unsent.push(typeof data === "string" ? new TextEncoder().encode(data) : data);
    this.flush();
  }

  /** Bytes queued but not yet taken by the socket. */
  get backlog(): number {
    return this.unsent.reduce((n, b) => n + b.length, 0);
  }

  private flush(): void {
    while (this.unsent.length > 0 && !this.closed) {
      const head = this.unsent[0]!;
      const written = Math.max(0, this.socket.write(head));
      if (written < head.length) {
        this.unsent[0] = head.subarray(written);
        return;
      }
      this.unsent.shift();
    }
  }

  /** The next message of `type` not yet taken (earlier ones of other types are skipped). */
  async next(type: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    await until(() => this.messages.slice(this.taken).some((m) => m.type === type), `a '${type}' message`, timeoutMs);
    const i = this.messages.findIndex((m, k) => k >= this.taken && m.type === type);
    this.taken = i + 1;
    return this.messages[i]!;
  }

  /** Waits for vkcast to close the connection and returns the reason of its error message. */
  async refusal(timeoutMs = 10_000): Promise<string> {
    await until(() => this.closed, "vkcast to close the connection", timeoutMs);
    const error = this.messages.find((m) => m.type === "error");
    return String(error?.reason ?? "(closed without an error message)");
  }

  /** hello, welcome, map the ring, mapped. */
  async handshake(hello: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    this.send({ type: "hello", version: 1, width: 64, height: 48, format: "rgba", ...hello });
    const welcome = await this.next("welcome");
    this.map(welcome.ring as RingInfo);
    return welcome;
  }

  map(ring: RingInfo): void {
    this.ring = ring;
    this.memory = Bun.mmap(ring.path, { shared: true });
    this.send({ type: "mapped", ring: ring.id });
  }

  /** Writes RGBA `pixels` (width*4 per row) into `slot` at the ring's stride and submits it (with `extra` fields). */
  submit(slot: number, width: number, height: number, pixels: Uint8Array, extra: object = {}): void {
    const ring = this.ring!;
    for (let y = 0; y < height; y++) {
      this.memory!.set(pixels.subarray(y * width * 4, (y + 1) * width * 4), slot * ring.slotBytes + y * ring.stride);
    }
    this.send({ type: "frame", ring: ring.id, slot, width, height, stride: ring.stride, format: "rgba", t: Date.now(), ...extra });
  }

  close(): void {
    this.socket.end();
  }
}
