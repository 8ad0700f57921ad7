// Who drives a session, as a pure state machine: each event (a viewer joins, leaves, asks for control,
// releases it, grants it to another) gives the next state, or the reason it is refused and no change.
// No socket, timer or clock here, so one process can own a session's control (an origin) while others
// (its edges) only forward their viewers' events, with keys namespaced by edge ("e-4kq2x:7").
import type { PresenceViewer, Role } from "../protocol/viewer-messages.ts";

/** A viewer's key in its session: its id on the listener that holds it, prefixed by its edge's name elsewhere. */
export type ViewerKey = string;

/** One controller at a time (the default), every viewer that may, or nobody. */
export type ControlMode = "one" | "all" | "none";

export interface ControlMember {
  readonly key: ViewerKey;
  /** The session's number for this viewer, given at join in join order: what viewers see and name in `grant`. */
  readonly id: number;
  /** False for holders of a view-only token: they never control. */
  readonly mayControl: boolean;
}

export interface ControlState {
  readonly mode: ControlMode;
  /** Every viewer, longest connected first. */
  readonly members: readonly ControlMember[];
  /** With "one": the viewer that drives, or null when nobody does. */
  readonly controller: ViewerKey | null;
  /** Viewers that asked for control and have not had it since, asking longest first. */
  readonly asking: readonly ViewerKey[];
  readonly nextId: number;
}

export type ControlEvent =
  | { type: "join"; key: ViewerKey; mayControl: boolean }
  | { type: "leave"; key: ViewerKey }
  /** Asks for control: granted at once when nobody drives, else the controller is asked. */
  | { type: "request"; key: ViewerKey }
  /** The controller gives control up (to the viewer asking longest, if any); one asking withdraws. */
  | { type: "release"; key: ViewerKey }
  /** The controller hands control to viewer `to` (its session id). */
  | { type: "grant"; key: ViewerKey; to: number };

export type Transition = { ok: true; state: ControlState } | { ok: false; error: string };

/** Presence lists everyone up to this many viewers; past it, the controller, those asking and the first this many. */
export const PRESENCE_LIST_LIMIT = 50;

export function initialControl(mode: ControlMode): ControlState {
  return { mode, members: [], controller: null, asking: [], nextId: 1 };
}

export function memberOf(state: ControlState, key: ViewerKey): ControlMember | undefined {
  return state.members.find((m) => m.key === key);
}

export function roleIn(state: ControlState, key: ViewerKey): Role {
  const member = memberOf(state, key);
  if (!member) return "view";
  if (state.mode === "all") return member.mayControl ? "control" : "view";
  return state.mode === "one" && state.controller === key ? "control" : "view";
}

/** The next state after `event`, or why it is refused (the state is then unchanged). */
export function nextControl(state: ControlState, event: ControlEvent): Transition {
  if (event.type === "join") return { ok: true, state: join(state, event.key, event.mayControl) };
  const member = memberOf(state, event.key);
  if (!member) return { ok: false, error: `viewer ${event.key} is not in this session` };
  if (event.type === "leave") return { ok: true, state: leave(state, member) };
  if (state.mode !== "one") {
    return { ok: false, error: `control.action: ${state.mode === "all" ? "every viewer drives" : "nobody drives"} here` };
  }
  switch (event.type) {
    case "request":
      if (!member.mayControl) return { ok: false, error: "control.action: this viewer may only watch (a view-only link)" };
      if (state.controller === member.key || state.asking.includes(member.key)) return { ok: true, state };
      if (state.controller === null) return { ok: true, state: handTo(state, member.key) };
      return { ok: true, state: { ...state, asking: [...state.asking, member.key] } };
    case "release":
      if (state.asking.includes(member.key)) return { ok: true, state: { ...state, asking: state.asking.filter((k) => k !== member.key) } };
      if (state.controller !== member.key) return { ok: false, error: "control.action: this viewer does not control" };
      return { ok: true, state: handTo(state, state.asking[0] ?? null) };
    case "grant": {
      if (state.controller !== member.key) return { ok: false, error: "control.action: only the controller may grant control" };
      const to = state.members.find((m) => m.id === event.to);
      if (!to) return { ok: false, error: `control.to: no viewer ${event.to} in this session` };
      if (!to.mayControl) return { ok: false, error: `control.to: viewer ${event.to} may only watch (a view-only link)` };
      return { ok: true, state: handTo(state, to.key) };
    }
  }
}

function join(state: ControlState, key: ViewerKey, mayControl: boolean): ControlState {
  const known = memberOf(state, key);
  const base = known ? leave(state, known) : state;
  const member: ControlMember = { key, id: base.nextId, mayControl };
  const takes = base.mode === "one" && base.controller === null && mayControl;
  return { ...base, members: [...base.members, member], controller: takes ? key : base.controller, nextId: base.nextId + 1 };
}

/** A controller that leaves hands over to the longest-connected viewer that may control. */
function leave(state: ControlState, member: ControlMember): ControlState {
  const members = state.members.filter((m) => m !== member);
  const left = { ...state, members, asking: state.asking.filter((k) => k !== member.key) };
  if (state.controller !== member.key) return left;
  return handTo(left, members.find((m) => m.mayControl)?.key ?? null);
}

/** `key` drives from now on (nobody for null); it no longer asks. */
function handTo(state: ControlState, key: ViewerKey | null): ControlState {
  return { ...state, controller: key, asking: state.asking.filter((k) => k !== key) };
}

/** What presence says of a session, the same for every viewer but for `you`. */
export interface PresenceBody {
  controller: number | null;
  viewers: PresenceViewer[];
  /** Every viewer in the session, listed or not. */
  total: number;
}

/** Past `limit` viewers, only the controller, those asking and the first `limit` are listed. */
export function presenceOf(state: ControlState, limit = PRESENCE_LIST_LIMIT): PresenceBody {
  const listed = state.members.filter((m, i) => i < limit || m.key === state.controller || state.asking.includes(m.key));
  return {
    controller: state.controller === null ? null : (memberOf(state, state.controller)?.id ?? null),
    viewers: listed.map((m) => ({
      id: m.id,
      role: roleIn(state, m.key),
      ...(state.asking.includes(m.key) ? { asking: true } : {}),
      ...(m.mayControl ? {} : { viewOnly: true }),
    })),
    total: state.members.length,
  };
}
