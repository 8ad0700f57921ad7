// The origin's side of a session's control across edges: the stream's SessionControl is the one
// authority; each edge's viewers are in it as "EDGE:ID". Joins, leaves and control messages (request,
// release, grant) come from the edges in order; each edge is told what its viewers see of the control:
// their roles and session numbers, who is here (presence), who asks its controller, what was refused.
import { parseMessage } from "../protocol/input-schema.ts";
import type { SessionControl, ViewerKey } from "../server/control.ts";
import { PresencePacer } from "../server/presence-pacer.ts";
import type { PresenceBody, RolesMessage } from "./messages.ts";

interface EdgeMembers {
  /** Its viewers in the session's control, by their id on the edge. */
  ids: Set<number>;
  /** The highest viewer id of this edge whose join is known here. */
  upTo: number;
  requests: { to: number; from: number }[];
  refused: { id: number; error: string }[];
  /** Presence changed since this edge was last told. */
  presenceDue: boolean;
}

/** A viewer of an edge, as the session's control knows it. */
export function keyOf(edge: string, id: number): ViewerKey {
  return `${edge}:${id}`;
}

/** The edge and id of a viewer key of an edge (null for a viewer of the origin itself). */
function edgeOf(key: ViewerKey): { edge: string; id: number } | null {
  const colon = key.indexOf(":");
  return colon > 0 ? { edge: key.slice(0, colon), id: Number(key.slice(colon + 1)) } : null;
}

export class EdgeControl {
  private readonly edges = new Map<string, EdgeMembers>();
  /** Edges to be told (coalesced to one message per edge and turn). */
  private readonly due = new Set<string>();
  private readonly presence: PresencePacer;

  /** `send` publishes one edge's message. */
  constructor(
    private readonly control: SessionControl,
    private readonly instance: string,
    private readonly send: (edge: string, message: RolesMessage) => void,
  ) {
    this.presence = new PresencePacer(() => this.presenceChanged(), () => this.viewerCount());
    control.onChange((change) => {
      if (change.type === "presence") return this.presence.changed();
      if (change.type === "role") return this.tellEdgeOf(change.key);
      if (change.type !== "request") return;
      const to = edgeOf(change.to);
      const members = to && this.edges.get(to.edge);
      if (!members) return;
      members.requests.push({ to: to.id, from: change.from });
      this.tell(to.edge);
    });
  }

  join(edge: string, id: number, mayControl: boolean): void {
    const members = this.members(edge);
    members.ids.add(id);
    members.upTo = Math.max(members.upTo, id);
    this.control.join(keyOf(edge, id), mayControl);
    this.tell(edge);
  }

  leave(edge: string, id: number): void {
    if (this.edges.get(edge)?.ids.delete(id)) this.control.leave(keyOf(edge, id));
  }

  /** A viewer's control message, checked here against the schema; a refusal goes back to its edge. */
  command(edge: string, id: number, command: unknown): string | null {
    const parsed = parseMessage(JSON.stringify(command));
    if (!parsed.ok || parsed.kind !== "control" || parsed.message.type !== "control") {
      return parsed.ok ? "control.command is not a control message" : parsed.error;
    }
    const members = this.edges.get(edge);
    if (!members?.ids.has(id)) return `control: viewer ${id} of edge ${edge} has not joined`;
    const refused = this.control.command(keyOf(edge, id), parsed.message);
    if (refused !== null) {
      members.refused.push({ id, error: refused });
      this.tell(edge);
    }
    return null;
  }

  /** The edge's own list wins: viewers missed here join, viewers it lost leave; the edge is told again. */
  reconcile(edge: string, listed: [number, 0 | 1][]): void {
    const members = this.members(edge);
    const ids = new Set<number>();
    for (const [id, mayControl] of listed) {
      ids.add(id);
      if (!members.ids.has(id)) this.join(edge, id, mayControl === 1);
    }
    for (const id of members.ids) if (!ids.has(id)) this.leave(edge, id);
    // Told each time, so that what was lost on the way (a broker restart) is right again within a second.
    members.presenceDue = true;
    this.tell(edge);
  }

  /** An edge gone: its viewers leave the session. */
  forget(edge: string): void {
    const members = this.edges.get(edge);
    if (!members) return;
    this.edges.delete(edge);
    for (const id of members.ids) this.control.leave(keyOf(edge, id));
  }

  close(): void {
    this.presence.close();
  }

  private members(edge: string): EdgeMembers {
    let members = this.edges.get(edge);
    if (!members) {
      members = { ids: new Set(), upTo: 0, requests: [], refused: [], presenceDue: true };
      this.edges.set(edge, members);
    }
    return members;
  }

  private viewerCount(): number {
    let n = 0;
    for (const members of this.edges.values()) n += members.ids.size;
    return n;
  }

  private presenceChanged(): void {
    for (const [edge, members] of this.edges) {
      members.presenceDue = true;
      this.tell(edge);
    }
  }

  private tellEdgeOf(key: ViewerKey): void {
    const of = edgeOf(key);
    if (of) this.tell(of.edge);
  }

  private tell(edge: string): void {
    if (this.due.size === 0) queueMicrotask(() => this.flush());
    this.due.add(edge);
  }

  private flush(): void {
    for (const edge of this.due) {
      const members = this.edges.get(edge);
      if (members) this.send(edge, this.messageFor(edge, members));
    }
    this.due.clear();
  }

  private messageFor(edge: string, members: EdgeMembers): RolesMessage {
    const controllers: number[] = [];
    const ids: [number, number][] = [];
    let presence: PresenceBody | null = null;
    for (const id of members.ids) {
      const key = keyOf(edge, id);
      if (this.control.roleOf(key) === "control") controllers.push(id);
      const mine = this.control.presence(key);
      if (!mine) continue;
      ids.push([id, mine.you]);
      if (members.presenceDue && !presence) presence = { controller: mine.controller, viewers: mine.viewers, total: mine.total };
    }
    const message: RolesMessage = {
      type: "roles",
      instance: this.instance,
      controllers,
      upTo: members.upTo,
      ids,
      presence,
      requests: members.requests,
      refused: members.refused,
    };
    members.presenceDue = false;
    members.requests = [];
    members.refused = [];
    return message;
  }
}
