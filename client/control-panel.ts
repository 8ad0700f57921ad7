// Who drives, on the page: a badge ("viewer 3 is driving · 2 watching"), "request control" for a viewer
// that watches, "release" for the one that drives, a prompt to the controller when someone asks
// ("viewer 3 asks to drive — give / ignore"), and a "click to control" hint until keys reach the stream.
// What to show is a pure function of the session (controlView), so it is tested as a table.

import type { PresenceMessage, Role } from "../src/protocol/viewer-messages.ts";

export type ControlMode = "one" | "all" | "none";

export interface ControlFacts {
  presence: PresenceMessage | null;
  role: Role | undefined;
  mode: ControlMode | undefined;
  /** Viewers asking to drive, oldest first (from presence and from requests told to this controller). */
  askers: readonly number[];
  /** Askers the controller chose to ignore. */
  ignored: ReadonlySet<number>;
  /** Keys reach the stream (it has the focus). */
  focused: boolean;
  /** A touch screen without a mouse: there are no keys to send. */
  touchOnly: boolean;
}

export interface ControlView {
  /** The badge's text; null: no panel (a server without presence). */
  badge: string | null;
  /** The button for a viewer that watches: ask (take, when nobody drives), or withdraw the request; null: none. */
  request: "ask" | "take" | "asking" | null;
  release: boolean;
  /** The viewer whose request is put to the controller now. */
  prompt: number | null;
  hint: string | null;
}

export function controlView(f: ControlFacts): ControlView {
  const p = f.presence;
  const none: ControlView = { badge: null, request: null, release: false, prompt: null, hint: null };
  if (!p || !f.role) return none;
  const driving = f.role === "control";
  const hint = driving && !f.focused && !f.touchOnly ? "Click the picture to control it" : null;
  const watching = p.total - (p.controller === null ? 0 : 1);
  if (f.mode === "all") return { ...none, badge: `Everyone drives · ${p.total} here`, hint };
  if (f.mode === "none") return { ...none, badge: `View only · ${p.total} watching` };
  const me = p.viewers.find((v) => v.id === p.you);
  const who = driving ? "You are driving" : p.controller === null ? "Nobody is driving" : `Viewer ${p.controller} is driving`;
  const asking = f.askers.includes(p.you) || me?.asking === true;
  return {
    badge: `${who} · ${watching} watching`,
    request: driving || me?.viewOnly ? null : asking ? "asking" : p.controller === null ? "take" : "ask",
    release: driving,
    prompt: driving ? (f.askers.find((id) => !f.ignored.has(id) && id !== p.you) ?? null) : null,
    hint,
  };
}

export interface ControlElements {
  panel: HTMLElement;
  badge: HTMLElement;
  request: HTMLButtonElement;
  release: HTMLButtonElement;
  prompt: HTMLElement;
  promptText: HTMLElement;
  give: HTMLButtonElement;
  ignore: HTMLButtonElement;
  hint: HTMLElement;
}

/** The panel's state and its DOM; `send` carries the control messages. */
export class ControlPanel {
  private presence: PresenceMessage | null = null;
  private askers: number[] = [];
  private readonly ignored = new Set<number>();
  private shown: ControlView | null = null;

  constructor(
    private readonly el: ControlElements,
    send: (message: { type: "control"; action: "request" | "release" } | { type: "control"; action: "grant"; to: number }) => void,
  ) {
    el.request.addEventListener("click", () => send({ type: "control", action: this.shown?.request === "asking" ? "release" : "request" }));
    el.release.addEventListener("click", () => send({ type: "control", action: "release" }));
    el.give.addEventListener("click", () => {
      const to = this.shown?.prompt;
      if (to != null) send({ type: "control", action: "grant", to });
    });
    el.ignore.addEventListener("click", () => {
      const id = this.shown?.prompt;
      if (id != null) this.ignored.add(id);
      this.onChange();
    });
  }

  /** Re-renders when something outside changed (role, focus, mode). */
  onChange: () => void = () => {};

  /** A new connection: nothing is known until the server says it. */
  reset(): void {
    this.presence = null;
    this.askers = [];
    this.ignored.clear();
  }

  setPresence(p: PresenceMessage): void {
    this.presence = p;
    this.askers = p.viewers.filter((v) => v.asking).map((v) => v.id);
    // A viewer that stopped asking and asks again is put to the controller again.
    for (const id of this.ignored) if (!this.askers.includes(id)) this.ignored.delete(id);
  }

  /** The server told this controller that viewer `from` asks to drive. */
  asked(from: number): void {
    if (!this.askers.includes(from)) this.askers.push(from);
    this.ignored.delete(from);
  }

  facts(role: Role | undefined, mode: ControlMode | undefined, focused: boolean, touchOnly: boolean): ControlFacts {
    return { presence: this.presence, role, mode, askers: this.askers, ignored: this.ignored, focused, touchOnly };
  }

  render(view: ControlView): void {
    this.shown = view;
    const el = this.el;
    el.panel.hidden = view.badge === null;
    el.badge.textContent = view.badge ?? "";
    el.request.hidden = view.request === null;
    el.request.textContent = { ask: "Request control", take: "Take control", asking: "Asked to drive · cancel" }[view.request ?? "ask"];
    el.release.hidden = !view.release;
    el.prompt.hidden = view.prompt === null;
    el.promptText.textContent = view.prompt === null ? "" : `Viewer ${view.prompt} asks to drive`;
    el.hint.hidden = view.hint === null;
    el.hint.textContent = view.hint ?? "";
  }
}
