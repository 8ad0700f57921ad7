// A link shaper on loopback: a TCP proxy that carries each direction through a link of the given
// bandwidth and one-way delay. Bytes are cut into packets of one MSS; each waits for the link to be
// free, takes its serialization time, then its propagation delay. A lost packet (probability `loss`)
// arrives one round trip late, as after a fast retransmit, and holds up what follows it (TCP delivers
// in order). The proxy stops reading from a sender while more than `windowBytes` wait for the link, so
// the backlog stays in the sender's socket as with a real TCP window.
//
//   bun bench/shaper.ts --to 127.0.0.1:8080 --listen 8081 --profile 8mbit-20ms
import net from "node:net";

export interface LinkProfile {
  name: string;
  /** Bits per second, each direction. */
  bps: number;
  /** One-way delay (ms). */
  delayMs: number;
  /** Probability that a packet is lost (and retransmitted a round trip later). */
  loss: number;
}

export const PROFILES: Record<string, LinkProfile> = Object.fromEntries(
  [
    { name: "50mbit-10ms", bps: 50e6, delayMs: 10, loss: 0 },
    { name: "10mbit-25ms", bps: 10e6, delayMs: 25, loss: 0 },
    { name: "8mbit-20ms", bps: 8e6, delayMs: 20, loss: 0 },
    { name: "3mbit-50ms", bps: 3e6, delayMs: 50, loss: 0 },
    { name: "50mbit-10ms-loss1", bps: 50e6, delayMs: 10, loss: 0.01 },
    { name: "10mbit-25ms-loss1", bps: 10e6, delayMs: 25, loss: 0.01 },
    { name: "3mbit-50ms-loss1", bps: 3e6, delayMs: 50, loss: 0.01 },
  ].map((p) => [p.name, p]),
);

const MSS = 1448;

/** One direction of a link: what goes in comes out shaped. */
class ShapedPipe {
  /** When the link finishes sending what it holds, and when the last packet arrives (performance.now). */
  private linkFreeAt = 0;
  private lastArrival = 0;
  private readonly packets: { data: Uint8Array; at: number }[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private paused = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly link: () => LinkProfile,
    private readonly windowBytes: number,
  ) {
    from.on("data", (chunk: Buffer) => this.take(new Uint8Array(chunk)));
  }

  private take(chunk: Uint8Array): void {
    const now = performance.now();
    const p = this.link();
    for (let off = 0; off < chunk.length; off += MSS) {
      const data = chunk.slice(off, off + MSS);
      this.linkFreeAt = Math.max(now, this.linkFreeAt) + (data.length * 8 * 1000) / p.bps;
      let at = this.linkFreeAt + p.delayMs;
      if (p.loss > 0 && Math.random() < p.loss) at += 2 * p.delayMs + 1;
      this.lastArrival = Math.max(at, this.lastArrival);
      this.packets.push({ data, at: this.lastArrival });
    }
    // More than a window waiting for the link: stop reading until it drains.
    const waitingBytes = ((this.linkFreeAt - now) * p.bps) / 8000;
    if (waitingBytes > this.windowBytes && !this.paused) {
      this.paused = true;
      this.from.pause();
      setTimeout(() => this.resume(), ((waitingBytes - this.windowBytes / 2) * 8000) / p.bps);
    }
    this.arm();
  }

  private resume(): void {
    this.paused = false;
    this.from.resume();
  }

  private arm(): void {
    if (this.timer || this.packets.length === 0) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.packets[0]!.at - performance.now()));
  }

  private flush(): void {
    this.timer = null;
    const now = performance.now();
    const due: Uint8Array[] = [];
    while (this.packets.length > 0 && this.packets[0]!.at <= now + 0.5) due.push(this.packets.shift()!.data);
    if (due.length > 0 && !this.to.destroyed) this.to.write(Buffer.concat(due));
    this.arm();
  }
}

export interface Shaper {
  port: number;
  /** Change the link for every connection, now (a link that shrinks or grows). */
  setProfile(profile: LinkProfile): void;
  close(): Promise<void>;
}

/** Starts a shaping proxy on 127.0.0.1 (port 0: a free one) to `target`. */
export async function startShaper(target: { host: string; port: number }, profile: LinkProfile, port = 0): Promise<Shaper> {
  let current = profile;
  const sockets = new Set<net.Socket>();
  // A window of about two bandwidth-delay products, at least 64 KiB (what a TCP sender keeps in flight).
  const windowBytes = () => Math.max(64 * 1024, (2 * current.bps * 2 * current.delayMs) / 8000);
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    new ShapedPipe(client, upstream, () => current, windowBytes());
    new ShapedPipe(upstream, client, () => current, windowBytes());
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    setProfile: (p) => {
      current = p;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const [host, targetPort] = (arg("to") ?? "127.0.0.1:8080").split(":");
  const profile = PROFILES[arg("profile") ?? "8mbit-20ms"];
  if (!profile || !host || !Number(targetPort)) {
    console.error(`usage: bun bench/shaper.ts --to HOST:PORT --listen PORT --profile ${Object.keys(PROFILES).join("|")}`);
    process.exit(2);
  }
  const shaper = await startShaper({ host, port: Number(targetPort) }, profile, Number(arg("listen") ?? 0));
  console.log(`shaping 127.0.0.1:${shaper.port} -> ${host}:${targetPort} as ${profile.name}`);
}
