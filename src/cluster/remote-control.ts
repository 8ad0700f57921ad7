// An edge's side of a session's control: the origin decides. Joins, leaves and control messages
// (request, release, grant) go to the origin as they happen (in order, before any input of that viewer);
// what it answers is applied here: roles, each viewer's number in the session, presence, requests to a
// controller of this edge, refusals. Until the origin has answered for a viewer, its input goes on for
// the origin to judge.
import type { PresenceMessage, Role } from "../protocol/viewer-messages.ts";
import { type ControlCommand, type ControlListener, ControlListeners, type SessionControl, type ViewerKey } from "../server/control.ts";
import type { PresenceBody, RolesMessage, UpMessage } from "./messages.ts";

interface Member {
  id: number;
  mayControl: boolean;
  role: Role;
  /** The origin has answered for this viewer. */
  decided: boolean;
  /** Its number in the session (what presence shows and `grant` names), once the origin gave it. */
  sessionId: number | null;
}

export class RemoteControl implements SessionControl {
  /** This edge's viewers in join order. */
  private readonly members = new Map<ViewerKey, Member>();
  private readonly listeners = new ControlListeners();
  private presenceBody: PresenceBody | null = null;

  /** `send` publishes a message to the origin; `edge` is this edge's name. */
  constructor(
    private readonly edge: string,
    private readonly send: (message: UpMessage) => void,
  ) {}

  join(key: ViewerKey, mayControl: boolean): void {
    const id = Number(key);
    this.members.set(key, { id, mayControl, role: "view", decided: false, sessionId: null });
    this.send({ type: "join", edge: this.edge, id, mayControl });
  }

  leave(key: ViewerKey): void {
    const member = this.members.get(key);
    if (!member) return;
    this.members.delete(key);
    this.send({ type: "leave", edge: this.edge, id: member.id });
    this.listeners.tell({ type: "left", key });
  }

  /** Goes to the origin, which judges it; a refusal comes back as a "refused" change. */
  command(key: ViewerKey, command: ControlCommand): string | null {
    const member = this.members.get(key);
    if (!member) return "control: this viewer has not joined";
    this.send({ type: "control", edge: this.edge, id: member.id, command });
    return null;
  }

  roleOf(key: ViewerKey): Role {
    return this.members.get(key)?.role ?? "view";
  }

  mayInput(key: ViewerKey): boolean {
    const member = this.members.get(key);
    return member !== undefined && member.mayControl && (member.role === "control" || !member.decided);
  }

  presence(key: ViewerKey): PresenceMessage | null {
    const you = this.members.get(key)?.sessionId;
    return you == null || !this.presenceBody ? null : { type: "presence", you, ...this.presenceBody };
  }

  onChange(listener: ControlListener): () => void {
    return this.listeners.add(listener);
  }

  /** The origin's answer for this edge's viewers (roles for those up to `upTo`: their joins it had). */
  apply(message: Omit<RolesMessage, "type" | "instance">): void {
    const sessionIds = new Map(message.ids);
    const controlling = new Set(message.controllers);
    let presenceChanged = message.presence !== null && JSON.stringify(message.presence) !== JSON.stringify(this.presenceBody);
    for (const [key, member] of this.members) {
      const sessionId = sessionIds.get(member.id) ?? member.sessionId;
      presenceChanged ||= sessionId !== member.sessionId;
      member.sessionId = sessionId;
      if (member.id > message.upTo) continue;
      const role: Role = controlling.has(member.id) ? "control" : "view";
      member.decided = true;
      if (role === member.role) continue;
      member.role = role;
      this.listeners.tell({ type: "role", key, role });
    }
    for (const { to, from } of message.requests) this.listeners.tell({ type: "request", to: String(to), from });
    for (const { id, error } of message.refused) this.listeners.tell({ type: "refused", key: String(id), error });
    if (message.presence) this.presenceBody = message.presence;
    if (presenceChanged) this.listeners.tell({ type: "presence" });
  }

  /** Every viewer as the origin must know them: [id, may control], in join order. */
  roster(): [number, 0 | 1][] {
    return [...this.members.values()].map((m) => [m.id, m.mayControl ? 1 : 0]);
  }

  /** A new origin knows nothing yet: every viewer waits for its answer again. */
  undecide(): void {
    for (const member of this.members.values()) member.decided = false;
  }
}
