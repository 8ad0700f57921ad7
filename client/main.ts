// vkcast browser client: shows the newest JPEG frame from /ws, sends input back, and says plainly
// what state the connection is in. Works with a plain JPEG-only server; everything the v2 protocol
// adds (frame metadata, hello/config/pong/stats, acks) is used when present and reads "n/a" when not.
//
// Keys: while the stream (canvas) has focus, every key goes to the renderer and browser shortcuts are
// suppressed (F11 and F12 still reach the browser as well). F2 is the client's own key: it toggles the
// stats overlay wherever the focus is and is never forwarded. Click the stream to give it focus; click
// outside it (e.g. the toolbar) or Tab away to take focus back.

import { Connection } from "./connection.ts";
import type { ControlMessage } from "../src/input.ts";
import { InputForwarder, type OutgoingEvent } from "./input.ts";
import { num, parseServerMessage, pongServerTime, readFrameMeta } from "./protocol.ts";
import { Stats } from "./stats.ts";
import { StreamView } from "./view.ts";

type State = "connecting" | "waiting" | "live" | "stalled" | "reconnecting" | "stopped";

const PING_INTERVAL_MS = 2000;
const STALL_MS = 3000;
const QUIET_AFTER_MS = 2500;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const app = $<HTMLElement>("app");
const stage = $<HTMLElement>("stage");
const canvas = $<HTMLCanvasElement>("view");
const statusText = $<HTMLElement>("status-text");
const notice = $<HTMLElement>("notice");
const noticeTitle = $<HTMLElement>("notice-title");
const noticeDetail = $<HTMLElement>("notice-detail");
const retryButton = $<HTMLButtonElement>("retry");
const statsPanel = $<HTMLElement>("stats");
const statsList = $<HTMLElement>("stats-list");
const btnStats = $<HTMLButtonElement>("btn-stats");
const btnLock = $<HTMLButtonElement>("btn-lock");
const btnFullscreen = $<HTMLButtonElement>("btn-fullscreen");

// --- what we know about the server and the stream ---------------------------------------------

const server = {
  /** The server has shown it speaks the v2 protocol (hello or frame metadata). */
  v2: false,
  role: undefined as string | undefined,
  fps: undefined as number | undefined,
  quality: undefined as number | undefined,
  stats: null as Record<string, unknown> | null,
};
let state: State = "connecting";
let everLive = false;
let stoppedByServer = false;
let closeInfo = "";
let retryAt = 0;
/** Last message of any kind: a v2 server sends stats and pongs even while the scene is still. */
let lastHeardAt = 0;
let framesThisConnection = 0;
let liveSince = 0;
const stats = new Stats();

// --- the picture ------------------------------------------------------------------------------

const view = new StreamView({
  canvas,
  viewArea: stage,
  onPaint: (p) => {
    const now = performance.now();
    stats.framePainted(now, p.receivedAt, p.captureTime);
    canvas.dataset.painted = String(stats.painted);
    if (p.seq !== undefined) send({ type: "ack", seq: p.seq });
  },
  onDrop: () => stats.frameDropped(),
  onError: (err) => console.warn("vkcast: a frame failed to decode", err),
});

// --- the socket -------------------------------------------------------------------------------

function wsUrl(): string {
  const u = new URL("ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  u.search = "?v=2";
  return u.href;
}

function send(msg: OutgoingEvent | ControlMessage): void {
  conn.send(JSON.stringify(msg));
}

const conn = new Connection(wsUrl(), {
  onConnecting: () => {
    if (state !== "stopped" && state !== "reconnecting") setState("connecting");
  },
  onOpen: () => {
    lastHeardAt = performance.now();
    framesThisConnection = 0;
    stoppedByServer = false;
    notAuthorised = false;
    closeInfo = "";
    stats.resetConnection();
    server.v2 = false;
    server.stats = null;
    server.role = undefined;
    setState("waiting");
    input.connected();
  },
  onClose: (code, reason, retryIn) => {
    view.reset();
    stats.clearWindows();
    stats.resetConnection();
    server.stats = null;
    retryAt = performance.now() + retryIn;
    if (code === 1001) stoppedByServer = true;
    app.dataset.closeCode = String(code); // for tests and for anyone inspecting the page
    closeInfo =
      code === 1000 || code === 1001 || code === 1005 || code === 1006 ? "" : `closed: ${code}${reason ? ` ${reason}` : ""}`;
    setState(stoppedByServer ? "stopped" : everLive ? "reconnecting" : "connecting");
    // A refused upgrade looks like any dropped connection: ask over HTTP whether the token is missing.
    if (code === 1006) void probeAuth();
  },
  onBinary: (data) => {
    const now = performance.now();
    stats.frameReceived(now, data.byteLength);
    const meta = readFrameMeta(new Uint8Array(data));
    if (meta) {
      v2Detected();
      if (meta.q !== undefined) server.quality = meta.q;
    }
    lastHeardAt = now;
    framesThisConnection++;
    view.push(data, now, meta?.seq, meta?.t);
    if (state !== "live") setState("live");
  },
  onText: (text) => {
    lastHeardAt = performance.now();
    // A server that skips unchanged frames is still there: a still picture is not a stall.
    if (state === "stalled" && framesThisConnection > 0) setState("live");
    const msg = parseServerMessage(text);
    if (!msg) return;
    switch (msg.type) {
      case "hello":
      case "config": {
        if (msg.type === "hello") v2Detected();
        applyConfig(msg);
        break;
      }
      case "pong": {
        const t = num(msg.t);
        if (t !== undefined) stats.pong(performance.now(), t, pongServerTime(msg));
        break;
      }
      case "stats":
        server.stats = msg;
        break;
      case "error":
        console.warn("vkcast: the server rejected a message:", msg.error);
        break;
    }
  },
});

function applyConfig(c: Record<string, unknown>): void {
  if (typeof c.role === "string") server.role = c.role;
  const w = num(c.width);
  const h = num(c.height);
  // Before the first frame the config decides the layout (and so where input lands).
  if (w && h && stats.painted === 0) view.setFrameSize(w, h);
  server.fps = num(c.fps) ?? server.fps;
  server.quality = num(c.quality) ?? server.quality;
}

/** Pings only servers that have shown they speak v2: an old server would take a ping for input. */
function ping(): void {
  if (server.v2 && conn.isOpen) send({ type: "ping", t: performance.now() });
}
setInterval(ping, PING_INTERVAL_MS);

/** The server speaks v2: a few quick pings give a good clock offset (shortest round trip wins). */
function v2Detected(): void {
  if (server.v2) return;
  server.v2 = true;
  for (const ms of [0, 200, 500, 1000]) setTimeout(ping, ms);
}

// --- input ------------------------------------------------------------------------------------

const input = new InputForwarder({
  target: canvas,
  viewArea: stage,
  toFrame: (x, y) => view.toFrame(x, y),
  frameScale: () => view.scale(),
  send: (ev) => send(ev),
  onClientKey: (key) => {
    if (key === "F2") toggleStats();
  },
});
canvas.addEventListener("focus", () => app.classList.add("focused"));
canvas.addEventListener("blur", () => app.classList.remove("focused"));

// --- state and its display --------------------------------------------------------------------

function setState(next: State): void {
  if (next === "live" && state !== "live") {
    liveSince = performance.now();
    app.classList.remove("quiet");
    everLive = true;
  }
  state = next;
  app.dataset.state = next;
  render();
}

/** Set when the server answers 401: the page was opened without the token it needs. */
let notAuthorised = false;
async function probeAuth(): Promise<void> {
  try {
    const res = await fetch("api/config", { cache: "no-store" });
    notAuthorised = res.status === 401;
  } catch {
    notAuthorised = false; // not answering at all: the usual reconnecting notice says so
  }
  render();
}

function seconds(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 1000))} s`;
}

function render(): void {
  const now = performance.now();
  const retry = `reconnecting in ${seconds(retryAt - now)}`;
  let text: string;
  let title = "";
  let detail = "";
  switch (state) {
    case "connecting":
      text = retryAt > now ? `connecting · retry in ${seconds(retryAt - now)}` : "connecting…";
      title = "Connecting…";
      detail = retryAt > now ? `The server is not answering; ${retry.replace("reconnecting", "trying again")}` : location.host;
      break;
    case "waiting":
      text = "connected · waiting for frames";
      break;
    case "live":
      // The usual role (driving the scene) goes without saying; any other stays on screen, since
      // the server then ignores this viewer's input.
      if (!server.role || /^control/.test(server.role)) {
        text = "live";
        if (now - liveSince > QUIET_AFTER_MS) app.classList.add("quiet");
      } else {
        text = server.role === "view" ? "live · view only" : `live · ${server.role}`;
        app.classList.remove("quiet");
      }
      break;
    case "stalled":
      text = `stalled · nothing received for ${seconds(now - lastHeardAt)}`;
      break;
    case "reconnecting":
      text = retryAt > now ? retry : "reconnecting…";
      title = "Connection lost";
      detail = closeInfo || (retryAt > now ? `${retry[0]!.toUpperCase()}${retry.slice(1)}` : "Reconnecting…");
      break;
    case "stopped":
      text = retryAt > now ? `server stopped · ${retry}` : "server stopped · reconnecting…";
      title = "Server stopped";
      detail = retryAt > now ? `It will come back by itself; ${retry}` : "Reconnecting…";
      break;
  }
  if (notAuthorised && state !== "live" && state !== "waiting") {
    text = "not authorised";
    title = "Not authorised";
    detail = "This server needs its token: open the URL vkcast printed at start (…/?token=…).";
  }
  statusText.textContent = text;
  app.classList.toggle("view-only", server.role !== undefined && !/^control/.test(server.role));
  // The centred notice is for states without a moving picture; before the first frame it is shown too.
  const showNotice = title !== "" || (state === "waiting" && stats.painted === 0);
  if (state === "waiting") {
    title = "Connected";
    detail = "Waiting for the first frame…";
  }
  notice.hidden = !showNotice;
  if (showNotice) {
    noticeTitle.textContent = title;
    noticeDetail.textContent = detail;
    retryButton.hidden = state === "waiting" || !(retryAt > now);
  }
}

retryButton.addEventListener("click", () => conn.retryNow());

// --- stats overlay ----------------------------------------------------------------------------

function fmt(v: number | null | undefined, digits: number, unit = ""): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : `${v.toFixed(digits)}${unit}`;
}

function renderStats(): void {
  const s = stats.snapshot(performance.now());
  const rows: [string, string][] = [
    ["fps", fmt(s.fps, 0) + (server.fps ? ` / ${server.fps}` : "")],
    ["latency", fmt(s.latency, 0, " ms")],
    ["decode+paint", fmt(s.localDelay, 1, " ms")],
    ["rtt", fmt(s.rtt, 1, " ms")],
    ["frame", view.frameWidth ? `${view.frameWidth}×${view.frameHeight}${server.quality ? ` q${server.quality}` : ""}` : "n/a"],
    ["KB/frame", fmt(s.kbPerFrame, 1)],
    ["bandwidth", `${fmt(s.mbps, s.mbps < 10 ? 2 : 1)} Mbit/s`],
    ["dropped", `${s.dropped} of ${s.received}`],
  ];
  const parts = rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`);
  if (server.stats) {
    parts.push(`<dt class="section">server</dt>`);
    let n = 0;
    for (const [k, v] of Object.entries(server.stats)) {
      if (k === "type" || n >= 6) continue;
      const label = escapeHtml(SERVER_STAT_LABELS[k] ?? k);
      if (typeof v === "number" && Number.isFinite(v)) {
        const unit = /Ms$/.test(k) ? " ms" : "";
        parts.push(`<dt>${label}</dt><dd>${Number.isInteger(v) ? v : v.toFixed(1)}${unit}</dd>`);
        n++;
      } else if (v === null && /Ms$/.test(k)) {
        parts.push(`<dt>${label}</dt><dd>n/a</dd>`);
        n++;
      } else if (typeof v === "string" && v.length <= 24) {
        parts.push(`<dt>${label}</dt><dd>${escapeHtml(v)}</dd>`);
        n++;
      }
    }
  }
  statsList.innerHTML = parts.join("");
}

/** Names for the server's per-viewer stats; keys not listed are shown as they come. */
const SERVER_STAT_LABELS: Record<string, string> = {
  framesSent: "frames sent",
  framesSkipped: "skipped for us",
  latencyMs: "capture→ack",
  viewers: "viewers",
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function setStatsVisible(on: boolean): void {
  statsPanel.hidden = !on;
  btnStats.setAttribute("aria-pressed", String(on));
  try {
    localStorage.setItem("vkcast.stats", on ? "1" : "0");
  } catch {
    // storage may be unavailable (private mode); the toggle still works
  }
  if (on) renderStats();
}
function toggleStats(): void {
  setStatsVisible(statsPanel.hidden);
}
btnStats.addEventListener("click", toggleStats);
{
  const param = new URLSearchParams(location.search).get("stats");
  let stored: string | null = null;
  try {
    stored = localStorage.getItem("vkcast.stats");
  } catch {
    stored = null;
  }
  setStatsVisible(param !== null ? param !== "0" : stored === "1");
}

// --- fullscreen and pointer lock ---------------------------------------------------------------

if (!document.fullscreenEnabled) btnFullscreen.hidden = true;
btnFullscreen.addEventListener("click", () => {
  if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
  else void app.requestFullscreen().catch(() => {});
});
document.addEventListener("fullscreenchange", () => {
  btnFullscreen.setAttribute("aria-pressed", String(document.fullscreenElement !== null));
});

const coarseOnly = matchMedia("(pointer: coarse)").matches && !matchMedia("(any-pointer: fine)").matches;
if (!("requestPointerLock" in canvas) || coarseOnly) btnLock.hidden = true;
btnLock.addEventListener("click", () => {
  if (document.pointerLockElement === canvas) {
    document.exitPointerLock();
    return;
  }
  canvas.focus({ preventScroll: true });
  try {
    // Chromium returns a promise (rejected e.g. right after a release); Firefox returns undefined.
    const p = canvas.requestPointerLock() as unknown as Promise<void> | undefined;
    p?.catch?.(() => {});
  } catch {
    // not allowed here; nothing to do
  }
});
document.addEventListener("pointerlockchange", () => {
  btnLock.setAttribute("aria-pressed", String(document.pointerLockElement === canvas));
});

// --- the clock: stall detection, countdowns, stats --------------------------------------------

setInterval(() => {
  const now = performance.now();
  if (state === "live" && now - lastHeardAt > STALL_MS) setState("stalled");
  else render();
  if (!statsPanel.hidden) renderStats();
}, 250);

// --- start ------------------------------------------------------------------------------------

// The config gives the frame size before the first frame (so the first click maps right); the
// stream does not wait for it.
fetch(new URL("api/config", location.href), { cache: "no-store" })
  .then((r) => (r.ok ? r.json() : null))
  .then((c: unknown) => {
    if (c && typeof c === "object") applyConfig(c as Record<string, unknown>);
  })
  .catch(() => {});
view.layout();
conn.connect();
