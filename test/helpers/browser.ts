// Browsers for the client tests. Chromium: Debian's chromium driven by playwright-core (never
// downloads a browser). Firefox: Debian's firefox-esr driven over WebDriver BiDi by the small client
// below (playwright-core's own BiDi Firefox needs commands ESR does not have yet). scripts/setup.sh
// installs firefox-esr for the tests; without it the Firefox test fails rather than being skipped.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Flags that keep a headless Chromium quiet on a machine without a GPU or a network. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** The Firefox binary, if one is installed (FIREFOX_PATH overrides). */
export const FIREFOX: string | null =
  process.env.FIREFOX_PATH ?? ["/usr/bin/firefox-esr", "/usr/bin/firefox"].find((p) => existsSync(p)) ?? null;

/** Preferences that keep Firefox from reaching for the network on its own. */
const FIREFOX_PREFS = {
  "app.update.enabled": false,
  "app.normandy.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
  "browser.startup.page": 0,
  "browser.safebrowsing.malware.enabled": false,
  "browser.safebrowsing.phishing.enabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "extensions.update.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "toolkit.telemetry.enabled": false,
};

type BidiResult = Record<string, unknown>;

/** Just enough WebDriver BiDi to load a page, run script, send input and take screenshots. */
export class Firefox {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: BidiResult) => void; reject: (e: Error) => void }>();
  readonly consoleMessages: string[] = [];

  private constructor(
    private readonly proc: Bun.Subprocess,
    private readonly ws: WebSocket,
    private readonly profile: string,
    private context = "",
  ) {
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data)) as { id?: number; type?: string; method?: string; params?: BidiResult };
      if (msg.id !== undefined && this.waiting.has(msg.id)) {
        const w = this.waiting.get(msg.id)!;
        this.waiting.delete(msg.id);
        if (msg.type === "error") w.reject(new Error(`${(msg as BidiResult).error}: ${(msg as BidiResult).message}`));
        else w.resolve((msg as { result: BidiResult }).result);
      } else if (msg.method === "log.entryAdded") this.consoleMessages.push(String(msg.params?.text));
    };
  }

  static async launch(width: number, height: number): Promise<Firefox> {
    if (!FIREFOX) throw new Error("no Firefox installed");
    const profile = mkdtempSync(join(tmpdir(), "vkcast-firefox-"));
    writeFileSync(
      join(profile, "user.js"),
      Object.entries(FIREFOX_PREFS)
        .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`)
        .join(""),
    );
    const proc = Bun.spawn([FIREFOX, "--headless", "--no-remote", "-profile", profile, "--remote-debugging-port=0"], {
      stdout: "ignore",
      stderr: "pipe",
    });
    try {
      const url = await bidiUrl(proc.stderr as ReadableStream<Uint8Array>);
      const ws = new WebSocket(`${url}/session`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("cannot reach Firefox's BiDi endpoint"));
      });
      const ff = new Firefox(proc, ws, profile);
      await ff.send("session.new", { capabilities: {} });
      await ff.send("session.subscribe", { events: ["log.entryAdded"] });
      const tree = (await ff.send("browsingContext.getTree", {})) as { contexts: { context: string }[] };
      ff.context = tree.contexts[0]!.context;
      await ff.setViewport(width, height);
      return ff;
    } catch (err) {
      proc.kill();
      rmSync(profile, { recursive: true, force: true });
      throw err;
    }
  }

  send(method: string, params: object): Promise<BidiResult> {
    const id = ++this.nextId;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  setViewport(width: number, height: number): Promise<BidiResult> {
    return this.send("browsingContext.setViewport", { context: this.context, viewport: { width, height } });
  }

  async goto(url: string): Promise<void> {
    await this.send("browsingContext.navigate", { context: this.context, url, wait: "complete" });
  }

  /** Runs an expression in the page (promises awaited) and returns its JSON-serialisable value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send("script.evaluate", {
      expression: `Promise.resolve(${expression}).then((v) => JSON.stringify(v))`,
      target: { context: this.context },
      awaitPromise: true,
    })) as { type: string; result?: { value?: string }; exceptionDetails?: { text?: string } };
    if (r.type === "exception") throw new Error(`page threw: ${r.exceptionDetails?.text}`);
    return JSON.parse(r.result?.value ?? "null") as T;
  }

  async waitFor(expression: string, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await this.evaluate<boolean>(expression))) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
      await Bun.sleep(50);
    }
  }

  /** input.performActions with one source per entry (pointer, wheel or key). */
  async actions(actions: object[]): Promise<void> {
    await this.send("input.performActions", { context: this.context, actions });
  }

  async screenshot(): Promise<Buffer> {
    const r = (await this.send("browsingContext.captureScreenshot", { context: this.context })) as { data: string };
    return Buffer.from(r.data, "base64");
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send("browser.close", {}), Bun.sleep(2000)]);
    } catch {
      // already gone
    }
    this.ws.close();
    this.proc.kill();
    await Promise.race([this.proc.exited, Bun.sleep(3000)]);
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** Reads Firefox's stderr until it says where WebDriver BiDi listens, then keeps draining it. */
async function bidiUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(text);
    if (m) {
      // A full pipe would stall Firefox: read (and drop) the rest of its chatter.
      void (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done);
      })();
      return m[1]!;
    }
  }
  throw new Error(`Firefox did not start WebDriver BiDi:\n${text.slice(-2000)}`);
}
