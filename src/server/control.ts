// Who may drive a stream's engine. One SessionControl per stream decides every viewer's role. Alone, a
// server decides by its control policy (PolicyControl). With origin and edges (src/cluster/) the origin's
// is the one authority for the whole session: edges forward their viewers' joins and leaves to it, with
// keys namespaced by edge, and apply the roles it answers.
import type { Role } from "../protocol/viewer-messages.ts";
import type { ControlPolicy } from "./options.ts";

/**
 * A viewer's key in its session: its id on the listener that holds it ("7"), prefixed by the edge's
 * name for viewers of an edge ("e-4kq2x:7").
 */
export type ViewerKey = string;

/** A viewer's role changed after it joined (its role at join is read with roleOf). */
export type RoleListener = (key: ViewerKey, role: Role) => void;

export interface SessionControl {
  /** A viewer joined (calls come in join order); `mayControl` is false for holders of a view-only token. */
  join(key: ViewerKey, mayControl: boolean): void;
  leave(key: ViewerKey): void;
  /** The viewer's role now ("view" for a key it does not know). */
  roleOf(key: ViewerKey): Role;
  /**
   * Whether this viewer's input may go on to the engine: it controls. (An edge also lets through the input of a
   * viewer the origin has not decided on yet: the origin, which got the join first, judges it.)
   */
  mayInput(key: ViewerKey): boolean;
  /** Calls `listener` for each viewer whose role changes after its join; returns the unsubscribe. */
  onChange(listener: RoleListener): () => void;
}

/** Role changes told to every listener; what both PolicyControl and an edge's control share. */
export class RoleListeners {
  private readonly listeners = new Set<RoleListener>();

  add(listener: RoleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tell(key: ViewerKey, role: Role): void {
    for (const listener of this.listeners) listener(key, role);
  }
}

/** The control policy of one server: every viewer, the oldest one connected that may drive, or nobody. */
export class PolicyControl implements SessionControl {
  /** Viewers in join order, with whether they may ever control and their role now. */
  private readonly members = new Map<ViewerKey, { mayControl: boolean; role: Role }>();
  private readonly listeners = new RoleListeners();
  /** With "first": the one viewer that drives. */
  private controller: ViewerKey | null = null;

  constructor(private readonly policy: ControlPolicy) {}

  join(key: ViewerKey, mayControl: boolean): void {
    this.leave(key);
    const drives = mayControl && (this.policy === "all" || (this.policy === "first" && this.controller === null));
    if (drives && this.policy === "first") this.controller = key;
    this.members.set(key, { mayControl, role: drives ? "control" : "view" });
  }

  leave(key: ViewerKey): void {
    const member = this.members.get(key);
    if (!member) return;
    this.members.delete(key);
    // With "first", the oldest viewer still connected that may drive takes over from one that controlled.
    if (this.policy !== "first" || member.role !== "control") return;
    this.controller = null;
    for (const [nextKey, next] of this.members) {
      if (!next.mayControl) continue;
      next.role = "control";
      this.controller = nextKey;
      this.listeners.tell(nextKey, "control");
      return;
    }
  }

  roleOf(key: ViewerKey): Role {
    return this.members.get(key)?.role ?? "view";
  }

  mayInput(key: ViewerKey): boolean {
    return this.roleOf(key) === "control";
  }

  onChange(listener: RoleListener): () => void {
    return this.listeners.add(listener);
  }
}
