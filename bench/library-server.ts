// vkcast's library API under a producer loop, for the static and idle benchmarks:
//   bun bench/library-server.ts PORT W H FPS QUALITY [--frame-file=PATH] [--always]
// Every tick (at FPS) it pushes a frame to a StreamingServer, as an engine loop would push each rendered
// frame: the next of a synthetic ring, or with --frame-file the same RGBA frame (W*H*4 raw bytes) every
// time, a picture that does not change. It pushes only while hasClients() is true, as index.ts's engine
// does, unless --always is given (then it pushes whether or not anyone watches, as run_seed.py does).
import { StreamingServer } from "../src/server.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { hasFlag, option } from "./lib.ts";

const [port, width, height, fps, quality] = process.argv.slice(2, 7).map(Number) as [number, number, number, number, number];
const flags = process.argv.slice(7);
const frameFile = option(flags, "frame-file", "");
const always = hasFlag(flags, "always");

let ring: Uint8Array[];
if (frameFile) {
  const pixels = new Uint8Array(await Bun.file(frameFile).arrayBuffer());
  if (pixels.byteLength !== width * height * 4) throw new Error(`${frameFile}: ${pixels.byteLength} bytes, ${width}x${height} RGBA needs ${width * height * 4}`);
  ring = [pixels];
} else {
  ring = makeRing(width, height, 30);
}

const server = new StreamingServer({ port, fps, quality });
await server.start(width, height);
const interval = 1000 / fps;
let next = performance.now();
let k = 0;
const tick = () => {
  if (always || server.hasClients()) server.pushFrame({ pixels: ring[k++ % ring.length]!, width, height, format: "rgba", captureTime: Date.now() });
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
