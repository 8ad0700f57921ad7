// The status pill (top left) and the centred notice: say plainly what state the stream is in.
// Live or still and driving the scene, the pill shrinks to its dot after a while so it does not sit
// on the picture; any other role stays on screen, since the server then ignores this viewer's input.

import type { Session } from "./session.ts";

const QUIET_AFTER_MS = 2500;

export interface StatusElements {
  /** Carries data-state and the quiet / view-only classes the style sheet keys on. */
  app: HTMLElement;
  text: HTMLElement;
  notice: HTMLElement;
  noticeTitle: HTMLElement;
  noticeDetail: HTMLElement;
  retryButton: HTMLButtonElement;
}

interface StatusText {
  pill: string;
  /** The notice's title; "" for no notice. */
  title: string;
  detail: string;
}

function seconds(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 1000))} s`;
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** What the pill and the notice say, from the session alone. */
export function statusText(s: Session, now: number): StatusText {
  const retrying = s.retryAt > now;
  const retryIn = seconds(s.retryAt - now);
  if (s.notAuthorised && !s.showingStream && s.state !== "waiting") {
    return {
      pill: "not authorised",
      title: "Not authorised",
      detail: "This server needs its token: open the URL vkcast printed at start (…/?token=…).",
    };
  }
  const role = s.controlling ? "" : s.role === "view" ? " · view only" : ` · ${s.role}`;
  // The server is there but its frame source is not (an engine gone, a device lost): say that, not "live".
  if (s.sourceError && (s.showingStream || s.state === "waiting" || s.state === "stalled")) {
    return { pill: `${s.sourceError}${role}`, title: "", detail: "" };
  }
  switch (s.state) {
    case "connecting":
      return {
        pill: retrying ? `connecting · retry in ${retryIn}` : "connecting…",
        title: "Connecting…",
        detail: retrying ? `The server is not answering; trying again in ${retryIn}` : location.host,
      };
    case "waiting":
      return { pill: "connected · waiting for frames", title: "", detail: "" };
    case "live":
      return { pill: `live${role}`, title: "", detail: "" };
    case "still":
      return { pill: `still picture${role}`, title: "", detail: "" };
    case "stalled":
      return { pill: `stalled · nothing received for ${seconds(now - s.lastHeardAt)}`, title: "", detail: "" };
    case "reconnecting":
      return {
        pill: retrying ? `reconnecting in ${retryIn}` : "reconnecting…",
        title: "Connection lost",
        detail: s.closeInfo || (retrying ? `Reconnecting in ${retryIn}` : "Reconnecting…"),
      };
    case "stopped":
      return {
        pill: retrying ? `server stopped · reconnecting in ${retryIn}` : "server stopped · reconnecting…",
        title: "Server stopped",
        detail: retrying ? `It will come back by itself; reconnecting in ${retryIn}` : "Reconnecting…",
      };
  }
}

export function renderStatus(el: StatusElements, s: Session, painted: number, now: number): void {
  const t = statusText(s, now);
  el.app.dataset.state = s.state;
  el.text.textContent = t.pill;
  el.app.classList.toggle("source-error", s.sourceError !== null);
  el.app.classList.toggle("quiet", s.showingStream && s.controlling && !s.sourceError && now - s.liveSince > QUIET_AFTER_MS);
  el.app.classList.toggle("view-only", !s.controlling);
  // The notice is for states without a moving picture, and for the wait before the first frame.
  const waitingForFirst = s.state === "waiting" && painted === 0;
  el.notice.hidden = t.title === "" && !waitingForFirst;
  if (el.notice.hidden) return;
  el.noticeTitle.textContent = waitingForFirst ? "Connected" : t.title;
  el.noticeDetail.textContent = waitingForFirst ? (s.sourceError ? sentence(s.sourceError) : "Waiting for the first frame…") : t.detail;
  el.retryButton.hidden = s.state === "waiting" || !(s.retryAt > now);
}
