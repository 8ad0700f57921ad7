// An edge: a vkcast listener with no frame source and no encoder that serves sessions from their
// origins over NATS, each at /s/NAME/ with the usual client, protocol, flow control, auth, metrics,
// snapshot and MJPEG. Started for one session it serves that one (and / leads to it); otherwise it serves
// every live session it hears announced and lists them at /. Sessions appear at their first heartbeat;
// one whose origin went quiet leaves the list within seconds and is removed after a minute offline.
import type { Logger } from "../log.ts";
import { StreamingServer, type StreamingServerOptions } from "../server.ts";
import type { Broker } from "./connect.ts";
import { type EdgeContext, EdgeSession } from "./edge-session.ts";
import { parseAnnouncement } from "./messages.ts";
import { sessionListJson, sessionListPage, type SessionEntry } from "./session-list.ts";
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT, newEdgeName } from "./subjects.ts";

/** A session offline this long is removed (its viewers closed with 1001), unless it is the edge's only one. */
const REMOVE_AFTER_MS = 60_000;

export class Edge {
  readonly name = newEdgeName();
  readonly server: StreamingServer;
  private readonly sessions = new Map<string, EdgeSession>();
  private readonly ctx: EdgeContext;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stateTimer: ReturnType<typeof setInterval> | null = null;
  private subscription: { unsubscribe(): void } | null = null;
  announcementsRejected = 0;

  /** `only`: serve this session alone (null: every live one). */
  constructor(
    private readonly broker: Broker,
    options: StreamingServerOptions,
    private readonly only: string | null,
    private readonly log: Logger,
  ) {
    const routes = {
      // An edge of one session leads straight to it.
      "/": () => (only ? redirect(`/s/${only}/`) : sessionListPage(this.name, this.list())),
      "/api/sessions": () => sessionListJson(this.name, this.list()),
    };
    this.server = new StreamingServer({ ...options, relay: true, routes, logger: log });
    this.ctx = { broker, edge: this.name, server: this.server, log, ownToken: this.server.token !== null };
  }

  async start(): Promise<void> {
    await this.server.start(1280, 720);
    if (this.only) this.open(this.only);
    this.subscription = this.broker.nc.subscribe(HEARTBEAT_SUBJECT, { callback: (_err, msg) => this.onAnnouncement(msg.data) });
    // Ask every origin to announce itself now rather than within the next second; again after a broker restart.
    const discover = () => {
      this.broker.publish(DISCOVER_SUBJECT, new Uint8Array());
      for (const session of this.sessions.values()) session.sendState();
    };
    this.broker.onReconnect(discover);
    discover();
    this.timer = setInterval(() => this.tick(performance.now()), 500);
    this.stateTimer = setInterval(() => {
      for (const session of this.sessions.values()) session.sendState();
    }, 1000);
    this.log.info("edge serving", { edge: this.name, url: this.server.origin, session: this.only ?? "every live session" });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.stateTimer) clearInterval(this.stateTimer);
    this.subscription?.unsubscribe();
    await this.server.stop();
  }

  /** The session NAME as this edge serves it, if it does. */
  session(name: string): EdgeSession | undefined {
    return this.sessions.get(name);
  }

  /** Live sessions, by name. */
  list(): SessionEntry[] {
    return [...this.sessions.values()]
      .filter((s) => s.online && s.announced)
      .map((s) => ({
        name: s.session,
        width: s.announced!.config.width,
        height: s.announced!.config.height,
        device: s.announced!.config.device,
        viewers: s.announced!.config.viewers,
        here: s.stream.viewerCount,
        url: `/s/${s.session}/`,
        relay: { ...s.counters },
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private onAnnouncement(data: Uint8Array): void {
    const message = parseAnnouncement(data);
    if (typeof message === "string") {
      this.announcementsRejected++;
      this.log.debug("announcement refused", { error: message });
      return;
    }
    if (this.only && message.session !== this.only) return;
    if (message.type === "gone") return this.sessions.get(message.session)?.onGone(message.instance);
    const { width, height } = message.config;
    (this.sessions.get(message.session) ?? this.open(message.session, { width, height })).onHeartbeat(message);
  }

  private open(name: string, size?: { width: number; height: number }): EdgeSession {
    const session = new EdgeSession(this.ctx, name, size);
    this.sessions.set(name, session);
    this.log.info("session opened", { edge: this.name, session: name });
    return session;
  }

  private tick(now: number): void {
    for (const [name, session] of this.sessions) {
      session.tick(now);
      if (this.only || session.offlineSince === null || now - session.offlineSince < REMOVE_AFTER_MS) continue;
      this.sessions.delete(name);
      void session.close();
      this.log.info("session removed after a minute offline", { edge: this.name, session: name });
    }
  }
}

function redirect(location: string): Response {
  return new Response(null, { status: 302, headers: { Location: location } });
}
