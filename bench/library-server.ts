// vkcast's library API under a producer loop, for the static, idle and network benchmarks:
//   bun bench/library-server.ts PORT W H FPS QUALITY [--frame-file=PATH | --ring-file=PATH] [--always]
// Every tick (at FPS) it pushes a frame to a StreamingServer, as an engine loop would push each rendered
// frame: the next of a synthetic ring, or with --frame-file the same RGBA frame (W*H*4 raw bytes) every
// time, a picture that does not change. With --ring-file (N RGBA frames, one after the other) the scene
// runs on the wall clock: each tick, in the middle of a frame slot, pushes the frame ringIndex gives for
// its capture time, so a viewer knows from a frame's capture time which frame it was (bench/network.ts).
// It pushes only while hasClients() is true, as index.ts's engine does, unless --always is given (then it
// pushes whether or not anyone watches, as run_seed.py does).
import { StreamingServer } from "../src/server.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { hasFlag, option, ringIndex, untilNextSlot } from "./lib.ts";

const [port, width, height, fps, quality] = process.argv.slice(2, 7).map(Number) as [number, number, number, number, number];
const flags = process.argv.slice(7);
const frameFile = option(flags, "frame-file", "");
const ringFile = option(flags, "ring-file", "");
const always = hasFlag(flags, "always");
const frameBytes = width * height * 4;

let ring: Uint8Array[];
if (frameFile || ringFile) {
  const file = frameFile || ringFile;
  const bytes = new Uint8Array(await Bun.file(file).arrayBuffer());
  const count = frameFile ? 1 : Math.floor(bytes.byteLength / frameBytes);
  if (bytes.byteLength !== count * frameBytes || count === 0) throw new Error(`${file}: ${bytes.byteLength} bytes, not ${frameFile ? "one" : "whole"} ${width}x${height} RGBA frame(s)`);
  ring = Array.from({ length: count }, (_, k) => bytes.subarray(k * frameBytes, (k + 1) * frameBytes));
} else {
  ring = makeRing(width, height, 30);
}

const server = new StreamingServer({ port, fps, quality });
await server.start(width, height);
const push = (k: number, captureTime: number) => {
  if (always || server.hasClients()) server.pushFrame({ pixels: ring[k % ring.length]!, width, height, format: "rgba", captureTime });
};
if (ringFile) {
  const tick = () => {
    const now = Date.now();
    push(ringIndex(now, fps, ring.length), now);
    setTimeout(tick, untilNextSlot(Date.now(), fps));
  };
  setTimeout(tick, untilNextSlot(Date.now(), fps));
} else {
  const interval = 1000 / fps;
  let next = performance.now();
  let k = 0;
  const tick = () => {
    push(k++, Date.now());
    next += interval;
    const now = performance.now();
    if (next < now) next = now + interval;
    setTimeout(tick, next - now);
  };
  tick();
}
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
