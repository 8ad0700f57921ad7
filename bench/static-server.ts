// A static scene through vkcast's library API: bun bench/static-server.ts PORT W H FPS QUALITY FRAME_FILE
// An engine whose picture does not change: every tick (at FPS) while anyone watches, it pushes the same
// RGBA frame (W*H*4 raw bytes from FRAME_FILE) to a StreamingServer, as index.ts's engine loop would
// push each rendered frame. What the server then encodes and sends is what the static benchmark counts.
import { StreamingServer } from "../src/server.ts";

const [port, width, height, fps, quality] = process.argv.slice(2, 7).map(Number) as [number, number, number, number, number];
const file = process.argv[7]!;
const pixels = new Uint8Array(await Bun.file(file).arrayBuffer());
if (pixels.byteLength !== width * height * 4) throw new Error(`${file}: ${pixels.byteLength} bytes, ${width}x${height} RGBA needs ${width * height * 4}`);

const server = new StreamingServer({ port, fps, quality });
await server.start(width, height);
const interval = 1000 / fps;
let next = performance.now();
const tick = () => {
  if (server.hasClients()) server.pushFrame({ pixels, width, height, format: "rgba", captureTime: Date.now() });
  next += interval;
  const now = performance.now();
  if (next < now) next = now + interval;
  setTimeout(tick, next - now);
};
tick();
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
