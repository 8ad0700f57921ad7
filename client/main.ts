// vkcast browser client: shows the newest JPEG frame from the stream's WebSocket, sends input back,
// and says plainly what state the connection is in. Works with a plain JPEG-only server; everything
// the v2 protocol adds (frame metadata, hello/config/pong/stats, acks) is used when present and reads
// "n/a" when not.
//
// Every URL is relative to the page (./ws, ./api/config), so the page works wherever it is served:
// at / or under a path such as /s/NAME/.
//
// Keys: while the stream (canvas) has focus, every key goes to the renderer and browser shortcuts are
// suppressed (F11 and F12 still reach the browser as well). F2 is the client's own key: it toggles the
// stats overlay wherever the focus is and is never forwarded. Click the stream to give it focus; click
// outside it (e.g. the toolbar) or Tab away to take focus back.

import type { StreamConfig } from "../src/protocol/viewer-messages.ts";
import { ClipboardBridge } from "./clipboard.ts";
import { Connection } from "./connection.ts";
import { ControlPanel, controlView } from "./control-panel.ts";
import { GamepadInput } from "./gamepad.ts";
import { H264Decoder, h264Supported } from "./h264.ts";
import { InputForwarder, type OutgoingMessage } from "./input.ts";
import { InputLatency } from "./input-latency.ts";
import { overlayRows, StatsOverlay } from "./overlay.ts";
import { parseViewerMessage, readFrameMeta } from "./protocol.ts";
import { showSecureContextNotice } from "./secure-context.ts";
import { Session } from "./session.ts";
import { Stats } from "./stats.ts";
import { renderStatus } from "./status.ts";
import { setUpToolbar, touchOnly } from "./toolbar.ts";
import { StreamView } from "./view.ts";

const PING_INTERVAL_MS = 2000;
const CLOCK_MS = 250;
const CONFIG_URL = "./api/config";
/** Config messages the server pushed so far (see loadConfig). */
let configsPushed = 0;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const app = $<HTMLElement>("app");
const stage = $<HTMLElement>("stage");
const canvas = $<HTMLCanvasElement>("view");
const statsButton = $<HTMLButtonElement>("btn-stats");
const statusElements = {
  app,
  text: $<HTMLElement>("status-text"),
  notice: $<HTMLElement>("notice"),
  noticeTitle: $<HTMLElement>("notice-title"),
  noticeDetail: $<HTMLElement>("notice-detail"),
  retryButton: $<HTMLButtonElement>("retry"),
};

showSecureContextNotice($<HTMLElement>("insecure"), window.isSecureContext);

const session = new Session();
const stats = new Stats();
const inputLatency = new InputLatency();

/**
 * For benchmarks and tests: what the overlay shows, as numbers (README, "Input to display"). E.g. in
 * Playwright: `await page.evaluate(() => vkcastStats().inputToDisplayMs)`.
 */
Object.assign(window, {
  vkcastStats: () => {
    const { samplesMs, count } = stats.inputToDisplaySamples();
    return { ...stats.snapshot(performance.now()), inputToDisplayMs: samplesMs, inputToDisplayCount: count };
  },
});

/** Redraws the status and, when it is open, the overlay. */
function refresh(): void {
  const now = performance.now();
  renderStatus(statusElements, session, stats.painted, now);
  if (overlay.visible) overlay.render(overlayRows(session, stats.snapshot(now), { width: view.frameWidth, height: view.frameHeight }));
}

// --- the picture ------------------------------------------------------------------------------

const view = new StreamView({
  canvas,
  viewArea: stage,
  onPaint: (p) => {
    const now = performance.now();
    stats.framePainted(now, p.receivedAt, p.captureTime);
    const inputMs = inputLatency.framePainted(p.seq, now);
    if (inputMs !== null) stats.inputShown(inputMs);
    canvas.dataset.painted = String(stats.painted); // for tests and for anyone inspecting the page
    if (p.seq !== undefined) send({ type: "ack", seq: p.seq });
  },
  onDrop: () => stats.frameDropped(),
  onError: (err) => console.warn("vkcast: a frame failed to decode", err),
  onDecoded: (ms) => stats.frameDecoded(performance.now(), ms),
});

// --- H.264 (where the browser decodes it; `?codec=jpeg` in the page's URL keeps to JPEG) ---------

/** Ask for H.264: decided before the first connection; a decoder error turns it off for good. */
let askH264 = false;
/** The decoder of this connection, when the server's hello said H.264. */
let h264: H264Decoder | null = null;

function startH264(): void {
  h264 = new H264Decoder({
    onFrame: (frame, info) => {
      stats.frameDecoded(performance.now(), info.decodeMs);
      view.paintFrame(frame, { receivedAt: info.receivedAt, seq: info.meta?.seq, captureTime: info.meta?.t });
    },
    onDrop: () => stats.frameDropped(),
    onError: (error) => {
      // Back to JPEG on the same page: the server is asked again, for JPEG this time.
      console.warn("vkcast: the H.264 decoder failed; switching to JPEG:", error);
      askH264 = false;
      app.dataset.h264Error = error; // for tests and for anyone inspecting the page
      conn.restart();
    },
  });
}

function stopH264(): void {
  h264?.close();
  h264 = null;
}

// --- the socket -------------------------------------------------------------------------------

/** ./ws beside the page, with the page's scheme made ws: or wss:; the page's ?quality= (a pinned tier) goes along. */
function webSocketUrl(): string {
  const u = new URL("ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  u.search = askH264 ? "?v=2&codec=h264" : "?v=2";
  const quality = new URLSearchParams(location.search).get("quality");
  if (quality) u.searchParams.set("quality", quality);
  return u.href;
}

/** Messages about the session; everything else is input, sent only while this viewer drives. */
const SESSION_MESSAGES = new Set(["ack", "ping", "control", "visibility"]);

/** `happenedAt`: when the user did it, for input sent later (a coalesced pointer move or wheel). */
function send(msg: OutgoingMessage, happenedAt = performance.now()): void {
  const input = !SESSION_MESSAGES.has(msg.type);
  if (input && !session.controlling) return;
  // Input to a v2 server carries its seq (input-latency.ts); an older server would hand the field to its engine.
  conn.send(JSON.stringify(input && session.v2 ? inputLatency.stamp(msg, happenedAt) : msg));
}

const conn = new Connection(webSocketUrl, {
  onConnecting: () => {
    session.connecting();
    refresh();
  },
  onOpen: () => {
    stopH264();
    session.opened(performance.now());
    stats.resetConnection();
    inputLatency.reset();
    controlPanel.reset();
    input.connected();
    if (document.hidden) send({ type: "visibility", visible: false });
    loadConfig();
    refresh();
  },
  onClose: (code, reason, retryIn) => {
    stopH264();
    view.reset();
    stats.resetConnection();
    session.closed(code, reason, retryIn, performance.now());
    app.dataset.closeCode = String(code); // for tests and for anyone inspecting the page
    refresh();
    // A refused upgrade looks like any dropped connection: ask over HTTP whether the token is missing.
    if (code === 1006) void probeAuth();
  },
  onBinary: (data) => {
    const now = performance.now();
    // After a still picture its pause is not a slow frame rate: the rates start over.
    if (session.state === "still") stats.restartRates();
    stats.frameReceived(now, data.byteLength);
    canvas.dataset.received = String(stats.received); // for tests and for anyone inspecting the page
    const bytes = new Uint8Array(data);
    const meta = h264 ? H264Decoder.meta(bytes) : readFrameMeta(bytes);
    if (meta) {
      speaksV2();
      if (meta.q !== undefined) session.quality = meta.q;
    }
    session.frameArrived(now);
    inputLatency.frameArrived(meta?.seq, meta?.in);
    if (h264) h264.decode(bytes, meta, now);
    else view.push(data, now, meta?.seq, meta?.t, meta?.s);
    if (app.dataset.state !== session.state) refresh();
  },
  onText: (text) => {
    session.textArrived(performance.now());
    const msg = parseViewerMessage(text);
    switch (msg?.type) {
      case "hello":
        speaksV2();
        session.codec = msg.codec === "h264" ? "h264" : "jpeg";
        app.dataset.codec = session.codec; // for tests and for anyone inspecting the page
        if (session.codec === "h264") startH264();
        applyConfig(msg);
        break;
      case "config":
        configsPushed++;
        applyConfig(msg);
        break;
      case "pong":
        stats.pong(performance.now(), msg.t, msg.server);
        break;
      case "stats":
        session.serverStats = msg;
        break;
      case "error":
        console.warn("vkcast: the server rejected a message:", msg.error);
        break;
      case "presence":
        inputLatency.viewerId = msg.you;
        controlPanel.setPresence(msg);
        renderControl();
        break;
      case "control":
        controlPanel.asked(msg.from);
        renderControl();
        break;
      case "clipboard":
        void clipboard.received(msg.text);
        break;
    }
  },
});

function applyConfig(c: Partial<StreamConfig> & { role?: unknown }): void {
  if (c.role === "control" || c.role === "view") {
    const given = c.role === "control" && session.role === "view";
    session.role = c.role;
    // Given control: the render follows this viewer's view from now on.
    if (given) input.gotControl();
    renderControl();
  }
  if (c.control === "one" || c.control === "all" || c.control === "none") session.controlMode = c.control;
  // Before the first frame the config decides the layout (and so where input lands).
  if (c.width && c.height && stats.painted === 0) view.setFrameSize(c.width, c.height);
  if (c.fps) session.targetFps = c.fps;
  if (c.quality) session.quality = c.quality;
  if (c.sourceError !== undefined) session.sourceError = c.sourceError;
}

/** Pings only servers that have shown they speak v2: an old server would take a ping for input. */
function ping(): void {
  if (session.v2 && conn.isOpen) send({ type: "ping", t: performance.now() });
}

/** The server speaks v2: a few quick pings give a good clock offset (shortest round trip wins). */
function speaksV2(): void {
  if (session.v2) return;
  session.v2 = true;
  for (const ms of [0, 200, 500, 1000]) setTimeout(ping, ms);
}

/**
 * On each connection: the config gives the frame size before the first frame (so the first click maps
 * right) and the source's state, which a hello does not carry; the stream does not wait for it.
 */
function loadConfig(): void {
  const pushedBefore = configsPushed;
  fetch(CONFIG_URL, { cache: "no-store" })
    .then((r) => (r.ok ? (r.json() as Promise<Partial<StreamConfig>>) : null))
    .then((c) => {
      if (!c || typeof c !== "object") return;
      // A config the server pushed while this one was on its way is newer: the fetched one must not undo it.
      if (configsPushed !== pushedBefore) delete c.sourceError;
      applyConfig(c);
    })
    .catch(() => {});
}

async function probeAuth(): Promise<void> {
  try {
    const res = await fetch(CONFIG_URL, { cache: "no-store" });
    session.notAuthorised = res.status === 401;
  } catch {
    session.notAuthorised = false; // not answering at all: the usual reconnecting notice says so
  }
  refresh();
}

// --- input, overlay, toolbar ------------------------------------------------------------------

const overlay = new StatsOverlay($("stats"), $("stats-list"), (visible) => {
  statsButton.setAttribute("aria-pressed", String(visible));
  refresh();
});

const input = new InputForwarder({
  target: canvas,
  keys: $<HTMLTextAreaElement>("keys"),
  viewArea: stage,
  toFrame: (x, y) => view.toFrame(x, y),
  frameScale: () => view.scale(),
  send,
  onClientKey: (key) => {
    if (key === "F2") overlay.toggle();
  },
  onPaste: (text) => clipboard.paste(text),
  onFocus: (focused) => {
    app.classList.toggle("focused", focused);
    renderControl();
  },
});

// --- who drives, clipboard, gamepads ------------------------------------------------------------

const controlPanel = new ControlPanel(
  {
    panel: $("control"),
    badge: $("control-badge"),
    request: $("btn-request"),
    release: $("btn-release"),
    prompt: $("control-prompt"),
    promptText: $("control-prompt-text"),
    give: $("btn-give"),
    ignore: $("btn-ignore"),
    hint: $("hint"),
  },
  send,
);
controlPanel.onChange = renderControl;
const resetButton = $<HTMLButtonElement>("btn-reset");
const pasteButton = $<HTMLButtonElement>("btn-paste");

function renderControl(): void {
  controlPanel.render(controlView(controlPanel.facts(session.role, session.controlMode, input.hasFocus, touchOnly())));
  resetButton.hidden = pasteButton.hidden = !session.controlling;
}

const clipboard = new ClipboardBridge(
  {
    box: $("clipboard"),
    title: $("clipboard-title"),
    text: $<HTMLTextAreaElement>("clipboard-text"),
    send: $<HTMLButtonElement>("clipboard-send"),
    copy: $<HTMLButtonElement>("clipboard-copy"),
    close: $<HTMLButtonElement>("clipboard-close"),
  },
  (text) => send({ type: "paste", text }),
);
new GamepadInput(send, () => session.controlling && conn.isOpen);

// The reset button: the key every engine that has a home view knows.
resetButton.addEventListener("click", () => {
  send({ type: "key_down", key: "Home", code: "Home", modifiers: [] });
  send({ type: "key_up", key: "Home", code: "Home", modifiers: [] });
});
pasteButton.addEventListener("click", () => void clipboard.pasteFromSystem());
// A hidden page is sent nothing and lets go of what it holds; shown again, it gets the newest frame.
document.addEventListener("visibilitychange", () => {
  send({ type: "visibility", visible: !document.hidden });
  input.visibilityChanged(!document.hidden);
});

setUpToolbar(
  { app, canvas, statsButton, lockButton: $("btn-lock"), fullscreenButton: $("btn-fullscreen") },
  overlay,
);
statusElements.retryButton.addEventListener("click", () => conn.retryNow());

// --- start ------------------------------------------------------------------------------------

// The clock: still and stall detection, countdowns, the overlay.
setInterval(() => {
  session.tick(performance.now());
  refresh();
}, CLOCK_MS);
setInterval(ping, PING_INTERVAL_MS);

overlay.restore();
view.layout();
const codecParam = new URLSearchParams(location.search).get("codec");
void h264Supported().then((ok) => {
  askH264 = ok && codecParam !== "jpeg";
  conn.connect();
});
