// The ingest socket: accepts producers of this user (peer credentials checked), hands each to a
// Producer, and sends them their streams' news every few milliseconds.
import type { Socket, UnixSocketListener } from "bun";
import { chmodSync, unlinkSync } from "node:fs";
import type { Logger } from "../log.ts";
import { encodeLine } from "./ndjson.ts";
import { peerCredentials } from "./libc.ts";
import { DEFAULT_PRODUCER_LIMITS, Producer, type ProducerLimits } from "./producer.ts";
import { prepareSocketPath } from "./socket-path.ts";
import type { StreamDirectory } from "./streams.ts";

/** How often producers get their viewers' input and watching changes. */
const TICK_MS = 4;

export interface IngestListenerOptions {
  path: string;
  streams: StreamDirectory;
  log: Logger;
  /** Called when a producer that completed its handshake disconnects (for --exit-with-producer). */
  onProducerGone?: (stream: string) => void;
  /** The defaults (a 10 s hello, 4 MiB unread) unless given. */
  limits?: Partial<ProducerLimits>;
}

type Conn = Socket<{ producer: Producer | null }>;

export class IngestListener {
  private readonly producers = new Set<Producer>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  private constructor(
    private readonly options: IngestListenerOptions,
    private readonly listener: UnixSocketListener<{ producer: Producer | null }>,
  ) {}

  /** Binds the socket (mode 0600) at `options.path`; throws a SocketPathError when the path is unusable. */
  static async open(options: IngestListenerOptions): Promise<IngestListener> {
    await prepareSocketPath(options.path);
    let self: IngestListener | null = null;
    const previousMask = process.umask(0o177); // the socket is born 0600: no window where others may connect
    let listener: UnixSocketListener<{ producer: Producer | null }>;
    try {
      listener = Bun.listen<{ producer: Producer | null }>({
        unix: options.path,
        socket: {
          open: (socket) => self!.onOpen(socket),
          data: (socket, chunk) => socket.data?.producer?.onData(chunk),
          drain: (socket) => socket.data?.producer?.onDrain(),
          close: (socket) => self?.onClose(socket),
          error: (socket) => self?.onClose(socket),
        },
      });
    } finally {
      process.umask(previousMask);
    }
    chmodSync(options.path, 0o600);
    self = new IngestListener(options, listener);
    options.log.info("ingest socket listening", { path: options.path });
    return self;
  }

  get path(): string {
    return this.options.path;
  }

  get producerCount(): number {
    return this.producers.size;
  }

  private onOpen(socket: Conn): void {
    socket.data = { producer: null };
    const fd = (socket as unknown as { fd?: number }).fd;
    const peer = fd === undefined ? null : peerCredentials(fd);
    const uid = process.getuid!();
    let refusal: string | null = null;
    if (peer === null) refusal = "cannot read the peer's credentials";
    else if (peer.uid !== uid && peer.uid !== 0) refusal = `uid ${peer.uid} may not feed this vkcast (it runs as uid ${uid})`;
    if (refusal) {
      this.options.log.warn("producer refused", { reason: refusal, pid: peer?.pid });
      socket.write(encodeLine({ type: "error", reason: refusal }));
      socket.end();
      return;
    }
    const limits = { ...DEFAULT_PRODUCER_LIMITS, ...this.options.limits };
    const producer = new Producer(socket as Socket<unknown>, this.options.streams, this.options.log, peer!.pid, limits);
    socket.data.producer = producer;
    this.producers.add(producer);
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
  }

  private onClose(socket: Conn): void {
    const producer = socket.data?.producer;
    if (!producer || !this.producers.delete(producer)) return;
    producer.onClose();
    if (this.producers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (producer.stream !== null && !this.closed) this.options.onProducerGone?.(producer.stream);
  }

  private tick(): void {
    for (const producer of this.producers) producer.tick();
  }

  /** Stops accepting, closes every producer and removes the socket file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const producer of this.producers) producer.fail("vkcast is stopping");
    this.listener.stop(true);
    if (this.timer) clearInterval(this.timer);
    try {
      unlinkSync(this.options.path);
    } catch {}
  }
}
