// An edge's side of a session's control: the origin decides every role. Joins and leaves go to the
// origin as they happen (in order, before any input of that viewer), and the roles it answers are applied
// here; until the origin has answered for a viewer, its input goes on for the origin to judge.
import type { PresenceMessage, Role } from "../protocol/viewer-messages.ts";
import { type ControlCommand, type ControlListener, ControlListeners, type SessionControl, type ViewerKey } from "../server/control.ts";
import type { UpMessage } from "./messages.ts";

interface Member {
  id: number;
  mayControl: boolean;
  role: Role;
  /** The origin has answered for this viewer. */
  decided: boolean;
}

export class RemoteControl implements SessionControl {
  /** This edge's viewers in join order. */
  private readonly members = new Map<ViewerKey, Member>();
  private readonly listeners = new ControlListeners();

  /** `send` publishes a message to the origin; `edge` is this edge's name. */
  constructor(
    private readonly edge: string,
    private readonly send: (message: UpMessage) => void,
  ) {}

  join(key: ViewerKey, mayControl: boolean): void {
    const id = Number(key);
    this.members.set(key, { id, mayControl, role: "view", decided: false });
    this.send({ type: "join", edge: this.edge, id, mayControl });
  }

  leave(key: ViewerKey): void {
    const member = this.members.get(key);
    if (!member) return;
    this.members.delete(key);
    this.send({ type: "leave", edge: this.edge, id: member.id });
  }

  roleOf(key: ViewerKey): Role {
    return this.members.get(key)?.role ?? "view";
  }

  /** Requests, releases and grants are not relayed to the origin yet: refused, so the viewer is told. */
  command(_key: ViewerKey, command: ControlCommand): string | null {
    return `control.action: '${command.action}' is not relayed through an edge`;
  }

  /** Presence is the origin's to tell and is not relayed yet. */
  presence(_key: ViewerKey): PresenceMessage | null {
    return null;
  }

  mayInput(key: ViewerKey): boolean {
    const member = this.members.get(key);
    return member !== undefined && member.mayControl && (member.role === "control" || !member.decided);
  }

  onChange(listener: ControlListener): () => void {
    return this.listeners.add(listener);
  }

  /**
   * The origin's answer for this edge's viewers up to id `upTo` (those whose join it had when it answered;
   * ids only grow): `controllers` control, the others watch.
   */
  apply(controllers: readonly number[], upTo: number): void {
    const controlling = new Set(controllers);
    for (const [key, member] of this.members) {
      if (member.id > upTo) continue;
      const role: Role = controlling.has(member.id) ? "control" : "view";
      member.decided = true;
      if (role === member.role) continue;
      member.role = role;
      this.listeners.tell({ type: "role", key, role });
    }
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
