// H.264 viewers behind a shaped link (bench/shaper.ts), with tiers (the default, `?quality=auto`) and pinned
// to the full tier (`?quality=full`: what every H.264 viewer got before H.264 had tiers). The rich scene of
// bench/codec-scene.ts at 720p30 (a ring of 60 frames pushed at 30 fps) into the library's server; per link
// and mode, one H.264 viewer through the link that acks what it gets and one on loopback beside it. After a
// warm-up, over a window: the shaped viewer's frames per second, its longest gap between two frames (a
// freeze), capture -> receive latency p50/p99, its share of low-tier frames; the loopback viewer's fps and
// the IDRs it got.
//
//   bun bench/h264-tiers.ts [--profiles=8mbit-20ms,3mbit-50ms] [--warmup=S (6)] [--seconds=S (10)]
import { StreamingServer } from "../src/server.ts";
import { H264Viewer } from "../test/helpers/h264-viewer.ts";
import { makeRichScene } from "./codec-scene.ts";
import { loadAverage, machine, option, quantile, table } from "./lib.ts";
import { PROFILES, startShaper } from "./shaper.ts";

const args = process.argv.slice(2);
const profiles = option(args, "profiles", "8mbit-20ms,3mbit-50ms").split(",");
const warmupMs = Number(option(args, "warmup", "6")) * 1000;
const windowMs = Number(option(args, "seconds", "10")) * 1000;
const W = 1280;
const H = 720;
const FPS = 30;

const ring = makeRichScene(W, H, 60);
const server = new StreamingServer({ port: 0, fps: FPS, quality: 85 });
await server.start(W, H);
let k = 0;
const push = () => server.pushFrame({ pixels: ring[k++ % ring.length]!, width: W, height: H, captureTime: Date.now() });
const pusher = setInterval(push, 1000 / FPS);

const rows: (string | number)[][] = [];
for (const name of profiles) {
  const profile = PROFILES[name];
  if (!profile) throw new Error(`--profiles: unknown profile ${name} (one of ${Object.keys(PROFILES).join(", ")})`);
  for (const mode of ["auto", "full"]) {
    const shaper = await startShaper({ host: "127.0.0.1", port: server.port }, profile);
    const near = await H264Viewer.connect(server.url);
    const far = await H264Viewer.connect(`http://127.0.0.1:${shaper.port}/`, { query: `&quality=${mode}` });
    await Bun.sleep(warmupMs);
    const [farFrom, nearFrom, from] = [far.units.length, near.units.length, Date.now()];
    await Bun.sleep(windowMs);
    const got = far.units.slice(farFrom);
    const nearGot = near.units.slice(nearFrom);
    const seconds = (Date.now() - from) / 1000;
    const times = [from, ...got.map((u) => u.at), Date.now()];
    const maxGap = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    const latency = got.map((u) => u.at - u.meta.t);
    rows.push([
      name,
      mode,
      (got.length / seconds).toFixed(1),
      maxGap,
      latency.length ? quantile(latency, 0.5) : "n/a",
      latency.length ? quantile(latency, 0.99) : "n/a",
      `${Math.round((100 * got.filter((u) => u.meta.q <= 40).length) / Math.max(1, got.length))}%`,
      (nearGot.length / seconds).toFixed(1),
      nearGot.filter((u) => u.idr).length,
    ]);
    far.close();
    near.close();
    await shaper.close();
    await Bun.sleep(500);
  }
}
clearInterval(pusher);
await server.stop();
const headers = ["link", "?quality=", "fps", "longest gap ms", "latency p50 ms", "p99 ms", "low-tier frames"];
headers.push("loopback fps", "loopback IDRs");
console.log(table(headers, rows));
const where = `${JSON.stringify(machine())}, load ${loadAverage()}`;
console.log(`rich scene ${W}x${H}@${FPS}, window ${windowMs / 1000} s after ${warmupMs / 1000} s; ${where}`);
process.exit(0);
