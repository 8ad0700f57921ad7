// "A client written for the original SimVX StreamingServer works unchanged", against the real main job
// (`bun run index.ts`, rendering with Vulkan). The client below speaks only what the original serves:
// GET /api/config for {width, height}, GET /ws without `v=2`, every binary message one whole JPEG, and
// JSON input events sent as text with no reply expected. It never acks, never pings, and reads no COM
// metadata. (The original's page, client/index.html, is not in the baseline we have; the events are
// the jupyter_rfb-named ones the original's protocol carries, as DESIGN.md describes them.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { jpegSize } from "./helpers/push.ts";
import { waitFor, waitForAsync } from "./helpers/wait.ts";

const ROOT = join(import.meta.dir, "..");
const W = 320;
const H = 200;

/** What a client of the original keeps: the messages as they came, nothing parsed. */
class OriginalClient {
  readonly binary: Uint8Array[] = [];
  readonly text: string[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (e) => (typeof e.data === "string" ? this.text.push(e.data) : this.binary.push(new Uint8Array(e.data as ArrayBuffer)));
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    });
  }
  sendEvent(event: object): void {
    this.ws.send(JSON.stringify(event));
  }
}

describe("a client written for the original, against `bun run index.ts`", () => {
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  let base = "";
  beforeAll(async () => {
    proc = Bun.spawn(["bun", "run", "index.ts", "--port", "0", "--width", `${W}`, "--height", `${H}`], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const reader = proc.stdout.getReader();
    let out = "";
    while (!/open (http:\S+)/.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the main job exited early: ${await new Response(proc.stderr).text()}`);
      out += new TextDecoder().decode(value);
    }
    base = /open (http:\S+)/.exec(out)![1]!;
  }, 30_000);
  afterAll(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });

  test("GET /api/config gives the frame's width and height; GET / serves a page", async () => {
    const config = await (await fetch(`${base}api/config`)).json();
    expect(typeof config.width).toBe("number");
    expect([config.width, config.height]).toEqual([W, H]);
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });

  test("/ws: only binary messages, each one whole JPEG of the configured size; input goes in, frames keep coming", async () => {
    const client = new OriginalClient(`${base.replace(/^http/, "ws")}ws`);
    await client.opened;
    await waitFor(() => client.binary.length >= 10, 10_000, "10 frames");
    const statsBefore = await (await fetch(`${base}api/stats`)).json();

    // A drag, a wheel turn and a key press, as a page sends them while the user plays.
    const events: object[] = [
      { type: "pointer_down", x: 100, y: 100, button: 1, buttons: [1], modifiers: [] },
      ...Array.from({ length: 10 }, (_, i) => ({ type: "pointer_move", x: 100 + 5 * i, y: 100, button: 0, buttons: [1], modifiers: [] })),
      { type: "pointer_up", x: 145, y: 100, button: 1, buttons: [], modifiers: [] },
      { type: "wheel", dx: 0, dy: 120, x: 160, y: 100, modifiers: [] },
      { type: "key_down", key: "w", modifiers: [] },
      { type: "key_up", key: "w", modifiers: [] },
    ];
    for (const e of events) client.sendEvent(e);
    const stats = async () => await (await fetch(`${base}api/stats`)).json();
    await waitForAsync(async () => (await stats()).inputAccepted - statsBefore.inputAccepted >= events.length, 5000, "every event accepted");
    const statsAfter = await stats();
    expect(statsAfter.inputAccepted - statsBefore.inputAccepted).toBe(events.length);
    expect(statsAfter.inputRejected - statsBefore.inputRejected).toBe(0);

    // It never acknowledges a frame, and still gets frames after its input.
    const seen = client.binary.length;
    await waitFor(() => client.binary.length >= seen + 30, 10_000, "30 more frames");
    expect(client.text).toEqual([]);
    for (const jpeg of client.binary.slice(-5)) {
      expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
      expect([jpeg.at(-2), jpeg.at(-1)]).toEqual([0xff, 0xd9]);
      expect(await jpegSize(jpeg)).toEqual({ width: W, height: H });
    }
    client.ws.close();
    await waitFor(() => client.ws.readyState === WebSocket.CLOSED, 3000, "the socket to close");
  }, 30_000);
});
