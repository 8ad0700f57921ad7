// The main job's cluster roles (index.ts): `--nats URL --session NAME` makes the server an origin that
// publishes its default stream as session NAME; `--edge --nats URL [--session NAME]` runs an edge instead
// of a frame source.
import { type CliOptions, listenerOptions } from "../cli.ts";
import type { Logger } from "../log.ts";
import type { StreamingServer } from "../server.ts";
import { DEFAULT_STREAM } from "../server/stream.ts";
import { Broker } from "./connect.ts";
import { Edge } from "./edge.ts";
import { Origin } from "./origin.ts";

export interface OriginProcess {
  /** Resolves once connected to the broker and publishing; rejects if the broker refuses (credentials, TLS). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/** Publishes `server`'s default stream as session `options.session`, also served locally at /s/NAME/. */
export function startOrigin(server: StreamingServer, options: CliOptions, log: Logger): OriginProcess {
  const session = options.session!;
  server.nameDefaultStream(session);
  let broker: Broker | null = null;
  let origin: Origin | null = null;
  let stopped = false;
  const ready = Broker.connect({ url: options.nats!, caFile: options.natsCa, name: `vkcast origin ${session}` }, log).then((b) => {
    broker = b;
    if (stopped) return void b.close();
    const access = server.settings.access;
    origin = new Origin(b, session, server.stream(DEFAULT_STREAM)!, { token: access.token, viewToken: access.viewToken }, log);
    origin.start();
  });
  return {
    ready,
    async stop() {
      stopped = true;
      await origin?.stop();
      await broker?.close();
    },
  };
}

/** Starts an edge with the listener flags of `options`; resolves once it serves. */
export async function startEdge(options: CliOptions, log: Logger): Promise<{ edge: Edge; stop(): Promise<void> }> {
  const broker = await Broker.connect({ url: options.nats!, caFile: options.natsCa, name: "vkcast edge" }, log);
  const edge = new Edge(
    broker,
    listenerOptions(options),
    options.session ?? null,
    log,
  );
  await edge.start();
  return {
    edge,
    async stop() {
      await edge.stop();
      await broker.close();
    },
  };
}

/** The edge job of index.ts: serves until SIGINT or SIGTERM, then closes viewers (1001) and exits 0. It never returns. */
export async function runEdgeJob(options: CliOptions, log: Logger, shutdownLimitMs: number): Promise<never> {
  let started: Awaited<ReturnType<typeof startEdge>>;
  try {
    started = await startEdge(options, log);
  } catch (err) {
    // The broker refused (credentials, TLS) or the port is taken.
    console.error(`vkcast: the edge could not start: ${(err as Error).message}`);
    process.exit(1);
  }
  const { edge, stop } = started;
  console.log(`vkcast: edge ${edge.name} serving ${edge.server.url}`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1); // a second signal: stop at once
    stopping = true;
    log.info("stopping", { signal });
    setTimeout(() => process.exit(1), shutdownLimitMs).unref();
    await stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  return await new Promise<never>(() => {});
}
