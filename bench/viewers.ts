// A separate process of N WebSocket viewers: bun bench/viewers.ts URL N WARMUP_S MEASURE_S [STALLED]
// STALLED more viewers do the WebSocket handshake over raw TCP and then never read a byte.
// Prints "start" when the measuring window opens and "stop" when it closes (so the caller can sample the
// server's CPU over exactly that window), then one JSON line: per-viewer fps and bytes/s over the
// window (reading viewers only), and capture->receive latency in ms from the frames' COM metadata
// (when the server sends it).
import { connect } from "node:net";
import { readFrameMeta } from "../client/protocol.ts";

const [url, n, warmup, measure] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const stalled = Number(process.argv[6] ?? 0);
const { hostname, port, pathname } = new URL(url);
for (let i = 0; i < stalled; i++) {
  const socket = connect(Number(port), hostname);
  socket.on("error", () => {});
  socket.once("connect", () =>
    socket.write(
      `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  socket.once("data", () => socket.pause());
}
const counts = new Array<number>(n).fill(0);
const bytes = new Array<number>(n).fill(0);
const latencies: number[] = [];
let measuring = false;
const sockets: WebSocket[] = [];

await Promise.all(
  Array.from({ length: n }, (_, i) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    sockets.push(ws);
    ws.onmessage = (e) => {
      if (!measuring || typeof e.data === "string") return;
      counts[i]!++;
      bytes[i]! += (e.data as ArrayBuffer).byteLength;
      const t = readFrameMeta(new Uint8Array(e.data as ArrayBuffer))?.t;
      if (t !== undefined) latencies.push(Date.now() - t);
    };
    return new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`viewer ${i} could not connect`));
    });
  }),
);
await Bun.sleep(warmup * 1000);
measuring = true;
console.log("start");
const t0 = performance.now();
await Bun.sleep(measure * 1000);
measuring = false;
const seconds = (performance.now() - t0) / 1000;
console.log("stop");
for (const ws of sockets) ws.close();
console.log(JSON.stringify({ fps: counts.map((c) => c / seconds), bytesPerSecond: bytes.map((b) => b / seconds), latencies }));
process.exit(0);
