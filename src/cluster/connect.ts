// The connection to the NATS broker of an origin or an edge: credentials from the URL or the
// environment, TLS where the URL says tls:// or a CA file is given, and reconnecting for ever (a broker
// restart is survived by itself). Every status change is logged.
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";

export interface NatsSettings {
  /** nats://[user:password@|token@]host:port or tls://… */
  url: string;
  /** A PEM file of the CA that signed the broker's certificate (TLS). */
  caFile?: string;
  /** Connection name the broker shows (e.g. "vkcast origin demo"). */
  name: string;
}

/** How long between reconnect attempts (ms); the broker coming back is noticed within this. */
const RECONNECT_WAIT_MS = 250;

/**
 * The connection options for `settings`: credentials in the URL win; else VKCAST_NATS_TOKEN, or
 * VKCAST_NATS_USER with VKCAST_NATS_PASSWORD. Throws a RangeError naming a bad URL.
 */
export function connectionOptions(settings: NatsSettings, env: Record<string, string | undefined> = process.env): ConnectionOptions {
  let url: URL;
  try {
    url = new URL(settings.url);
  } catch {
    throw new RangeError(`--nats must be a URL like nats://host:4222 (got '${settings.url}')`);
  }
  if (!["nats:", "tls:"].includes(url.protocol) || url.hostname === "") {
    throw new RangeError(`--nats must be a nats:// or tls:// URL with a host (got '${url.protocol}//${url.host}')`);
  }
  const server = `${url.protocol}//${url.host}`;
  const options: ConnectionOptions = {
    servers: server,
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: 100,
    // Origins and edges may start before the broker.
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  };
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  if (user && password) Object.assign(options, { user, pass: password });
  else if (user) options.token = user;
  else if (env.VKCAST_NATS_TOKEN) options.token = env.VKCAST_NATS_TOKEN;
  else if (env.VKCAST_NATS_USER) Object.assign(options, { user: env.VKCAST_NATS_USER, pass: env.VKCAST_NATS_PASSWORD ?? "" });
  if (url.protocol === "tls:" || settings.caFile) options.tls = settings.caFile ? { caFile: settings.caFile } : {};
  return options;
}

/** A connection to the broker, and whether it is up now (frames are not queued while it is down). */
export class Broker {
  online = true;
  private readonly reconnectListeners = new Set<() => void>();

  private constructor(readonly nc: NatsConnection) {}

  /** Connects (waiting for the broker if it is not up yet) and logs what happens to the connection. */
  static async connect(settings: NatsSettings, log: Logger): Promise<Broker> {
    const options = connectionOptions(settings);
    const server = String(options.servers);
    const broker = new Broker(await connect(options));
    log.info("connected to NATS", { server, maxPayload: broker.maxPayload });
    void (async () => {
      for await (const status of broker.nc.status()) {
        if (status.type === "disconnect") {
          broker.online = false;
          log.warn("NATS connection lost; reconnecting", { server });
        } else if (status.type === "reconnect") {
          broker.online = true;
          log.info("NATS connection back", { server });
          for (const listener of broker.reconnectListeners) listener();
        }
      }
    })();
    return broker;
  }

  /** The broker's payload limit (bytes), as the server told the connection. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /** Calls `listener` each time the connection comes back after a loss. */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.add(listener);
  }

  /** Publishes if the broker is reachable now; returns whether it did. */
  publish(subject: string, data: Uint8Array): boolean {
    if (!this.online || this.nc.isClosed()) return false;
    this.nc.publish(subject, data);
    return true;
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
  }
}
