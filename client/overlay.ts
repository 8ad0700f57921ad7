// The stats overlay (F2 or the toolbar button): what this page measures, and what a v2 server reports.
// Its visibility is remembered in localStorage; `?stats=1` or `?stats=0` in the URL overrides it.

import type { SampleSummary } from "../src/protocol/viewer-messages.ts";
import type { Session } from "./session.ts";
import type { StatsSnapshot } from "./stats.ts";

const STORAGE_KEY = "vkcast.stats";

/** What the overlay shows about the picture itself. */
export interface FrameInfo {
  width: number;
  height: number;
}

function fmt(v: number | null | undefined, digits: number, unit = ""): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : `${v.toFixed(digits)}${unit}`;
}

/** "30 / 30": painted per second, whole (see stats.ts for why), over the server's target. */
export function fpsText(session: Session, measured: number | null): string {
  if (session.state === "still") return "still picture";
  if (measured === null && !session.showingStream) return "n/a";
  const target = session.targetFps ? ` / ${session.targetFps}` : "";
  return measured === null ? `measuring…${target}` : `${Math.round(measured)}${target}`;
}

/** The server's capture→ack latency quantiles: "12 ms (p90 20)". */
export function latencySummaryText(s: SampleSummary): string {
  if (s.p50 === null) return "n/a";
  return `${Math.round(s.p50)} ms${s.p90 === null ? "" : ` (p90 ${Math.round(s.p90)})`}`;
}

/** Input->display: "34 ms (p90 51)", or n/a before any input was seen on a painted frame. */
export function inputToDisplayText(s: StatsSnapshot["inputToDisplay"]): string {
  return s === null ? "n/a" : `${Math.round(s.p50)} ms (p90 ${Math.round(s.p90)})`;
}

/** A label and its value, or a heading over the rows after it. */
export type OverlayRow = [label: string, value: string] | { heading: string };

export function overlayRows(session: Session, s: StatsSnapshot, frame: FrameInfo): OverlayRow[] {
  const quality = session.quality ? ` q${session.quality}` : "";
  const rows: OverlayRow[] = [
    ["fps", fpsText(session, s.fps)],
    ["latency", fmt(s.latency, 0, " ms")],
    ["input→display", inputToDisplayText(s.inputToDisplay)],
    ["codec", session.codec === "h264" ? "H.264 (WebCodecs)" : "JPEG"],
    ["decode", fmt(s.decode, 1, " ms")],
    ["decode+paint", fmt(s.localDelay, 1, " ms")],
    ["rtt", fmt(s.rtt, 1, " ms")],
    ["frame", frame.width ? `${frame.width}×${frame.height}${quality}` : "n/a"],
    ["KB/frame", fmt(s.kbPerFrame, 1)],
    ["bandwidth", fmt(s.mbps, s.mbps !== null && s.mbps < 1 ? 2 : 1, " Mbit/s")],
    ["dropped", `${s.dropped} of ${s.received}`],
  ];
  const server = session.serverStats;
  if (server) {
    rows.push(
      { heading: "server" },
      ["frames sent", String(server.framesSent)],
      ["skipped for us", String(server.framesSkipped)],
      ["capture→ack", latencySummaryText(server.latencyMs)],
      ["viewers", String(server.viewers)],
    );
    if (server.tier) rows.push(["tier", `${server.tier}: ${server.tierReason ?? ""}`]);
  }
  return rows;
}

export class StatsOverlay {
  constructor(
    private readonly panel: HTMLElement,
    private readonly list: HTMLElement,
    private readonly onVisibilityChange: (visible: boolean) => void,
  ) {}

  get visible(): boolean {
    return !this.panel.hidden;
  }

  setVisible(on: boolean): void {
    this.panel.hidden = !on;
    this.onVisibilityChange(on);
    try {
      localStorage.setItem(STORAGE_KEY, on ? "1" : "0");
    } catch {
      // storage may be unavailable (private mode); the toggle still works
    }
  }

  toggle(): void {
    this.setVisible(!this.visible);
  }

  /** Visible if the URL says so, else as last time. */
  restore(): void {
    const param = new URLSearchParams(location.search).get("stats");
    let stored: string | null = null;
    try {
      stored = localStorage.getItem(STORAGE_KEY);
    } catch {
      stored = null;
    }
    this.setVisible(param !== null ? param !== "0" : stored === "1");
  }

  render(rows: OverlayRow[]): void {
    const items: HTMLElement[] = [];
    for (const row of rows) {
      const dt = document.createElement("dt");
      if ("heading" in row) {
        dt.className = "section"; // spans both columns
        dt.textContent = row.heading;
        items.push(dt);
        continue;
      }
      dt.textContent = row[0];
      const dd = document.createElement("dd");
      dd.textContent = row[1];
      items.push(dt, dd);
    }
    this.list.replaceChildren(...items);
  }
}
