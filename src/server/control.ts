// Who may drive a stream's engine: one SessionControl per stream decides every viewer's role and what
// presence says. Alone, a server runs the control state machine itself (PolicyControl over
// control-state.ts). With origin and edges (src/cluster/) the origin owns the one machine of the session:
// edges forward their viewers' joins, leaves and control messages to it, with keys namespaced by edge, and
// apply the roles and presence it answers.
import type { ControlMessage } from "../protocol/input-schema.ts";
import type { PresenceMessage, Role } from "../protocol/viewer-messages.ts";
import {
  type ControlEvent,
  type ControlMode,
  type ControlState,
  initialControl,
  memberOf,
  nextControl,
  type PresenceBody,
  presenceOf,
  roleIn,
  type ViewerKey,
} from "./control-state.ts";

export type { ViewerKey } from "./control-state.ts";

/** A viewer's control message: ask, release, grant. */
export type ControlCommand = Extract<ControlMessage, { type: "control" }>;

/** What a session's control tells its listeners after a change. */
export type ControlChange =
  /** A viewer's role changed after its join (its role at join is read with roleOf). */
  | { type: "role"; key: ViewerKey; role: Role }
  /** A viewer left (what it held is released toward the engine). */
  | { type: "left"; key: ViewerKey }
  /** The controller `to` is asked by viewer `from` (a session id) to hand over. */
  | { type: "request"; to: ViewerKey; from: number }
  /** Who is here, who drives or who asks changed: every viewer's presence is new. */
  | { type: "presence" }
  /** A viewer's control message, judged elsewhere (an edge's, by its origin), was refused there. */
  | { type: "refused"; key: ViewerKey; error: string };

export type ControlListener = (change: ControlChange) => void;

export interface SessionControl {
  /** A viewer joined (calls come in join order); `mayControl` is false for holders of a view-only token. */
  join(key: ViewerKey, mayControl: boolean): void;
  leave(key: ViewerKey): void;
  /** A viewer's control message; returns null, or why it is refused (naming the field) with nothing changed. */
  command(key: ViewerKey, command: ControlCommand): string | null;
  /** The viewer's role now ("view" for a key it does not know). */
  roleOf(key: ViewerKey): Role;
  /**
   * Whether this viewer's input may go on to the engine: it controls. (An edge also lets through the input of a
   * viewer the origin has not decided on yet: the origin, which got the join first, judges it.)
   */
  mayInput(key: ViewerKey): boolean;
  /** The presence message for this viewer now (null for a key it does not know). */
  presence(key: ViewerKey): PresenceMessage | null;
  /** Calls `listener` after each change; returns the unsubscribe. */
  onChange(listener: ControlListener): () => void;
}

/** Changes told to every listener; what PolicyControl and an edge's control share. */
export class ControlListeners {
  private readonly listeners = new Set<ControlListener>();

  add(listener: ControlListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tell(change: ControlChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

/** A session's control run here, by the state machine of control-state.ts in the given mode. */
export class PolicyControl implements SessionControl {
  private current: ControlState;
  private readonly listeners = new ControlListeners();
  /** Presence of the current state, built once for all viewers. */
  private presenceBody: { of: ControlState; body: PresenceBody } | null = null;

  constructor(mode: ControlMode) {
    this.current = initialControl(mode);
  }

  /** The machine's state now (read-only; for an origin that shares it with its edges, and for tests). */
  get state(): ControlState {
    return this.current;
  }

  join(key: ViewerKey, mayControl: boolean): void {
    this.apply({ type: "join", key, mayControl });
  }

  leave(key: ViewerKey): void {
    if (this.apply({ type: "leave", key }) === null) this.listeners.tell({ type: "left", key });
  }

  command(key: ViewerKey, command: ControlCommand): string | null {
    if (command.action === "grant") return this.apply({ type: "grant", key, to: command.to });
    return this.apply({ type: command.action, key });
  }

  roleOf(key: ViewerKey): Role {
    return roleIn(this.current, key);
  }

  mayInput(key: ViewerKey): boolean {
    return this.roleOf(key) === "control";
  }

  presence(key: ViewerKey): PresenceMessage | null {
    const member = memberOf(this.current, key);
    if (!member) return null;
    if (this.presenceBody?.of !== this.current) this.presenceBody = { of: this.current, body: presenceOf(this.current) };
    return { type: "presence", you: member.id, ...this.presenceBody.body };
  }

  onChange(listener: ControlListener): () => void {
    return this.listeners.add(listener);
  }

  /** Runs one event through the machine and tells what changed; returns why it was refused, if it was. */
  private apply(event: ControlEvent): string | null {
    const before = this.current;
    const result = nextControl(before, event);
    if (!result.ok) return result.error;
    const after = result.state;
    if (after === before) return null;
    this.current = after;
    for (const member of after.members) {
      // The joining viewer's role is read at its join, not told.
      if (event.type === "join" && member.key === event.key) continue;
      const role = roleIn(after, member.key);
      if (role !== roleIn(before, member.key)) this.listeners.tell({ type: "role", key: member.key, role });
    }
    const asker = event.type === "request" ? memberOf(after, event.key) : undefined;
    if (asker && after.controller !== null && after.asking.includes(asker.key) && !before.asking.includes(asker.key)) {
      this.listeners.tell({ type: "request", to: after.controller, from: asker.id });
    }
    this.listeners.tell({ type: "presence" });
    return null;
  }
}
