// What vkcast pays per frame for a Vulkan producer's shared memory (docs/ingest-protocol.md, "Vulkan
// memory"): clients/c/vulkan-example.c (built -O2) renders at each size into memory it exports and submits
// 30 frames a second to vkcast's real ingest code (IngestListener, Producer, the import through
// libvkcast_vk) running in this process; frames are taken as the stream would take them and released at
// once (no encoder, so only the import path is measured).
//
//   device copy: the copy of the slot into vkcast's host-visible buffer, between GPU timestamps (on
//                lavapipe the driver's CPU threads do it)
//   copy seen:   vkc_import_copy queued -> the copy seen done by the JS thread (polled every 1 ms, so it
//                includes up to ~1 ms of polling)
//   submit->ready: the producer's capture time (stamped at its submit, after its fence) -> the frame handed
//                to the stream: the socket message, the copy and the polling
//   cpu/frame:   this process's CPU time (user + system, the driver's copy threads included) per frame
//
// bun run bench/vulkan-import.ts [--sizes=1280x720,1920x1080] [--frames=150]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IngestListener } from "../src/ingest/listener.ts";
import { ImportedRing } from "../src/ingest/vulkan-ring.ts";
import type { IngestCounters } from "../src/ingest/counters.ts";
import type { StreamDirectory } from "../src/ingest/streams.ts";
import { createLogger } from "../src/log.ts";
import { parseSizes } from "./fanout.ts";
import { loadAverage, machine, option, quantile, summary, table } from "./lib.ts";
import { ROOT } from "./servers.ts";

const args = process.argv.slice(2);
const sizes = parseSizes(args, "1280x720,1920x1080");
const frames = Number(option(args, "frames", "150"));
const dir = mkdtempSync(join(tmpdir(), "vkcast-vkimport-"));
const example = join(dir, "vulkan-example");
const cc = Bun.spawnSync(["cc", "-std=c99", "-O2", "-Iclients/c", "clients/c/vulkan-example.c", "-o", example, "-lvulkan"], {
  cwd: ROOT,
  stderr: "pipe",
});
if (cc.exitCode !== 0) throw new Error(`cc vulkan-example.c failed:\n${cc.stderr.toString()}`);

// Time each copy: on the device, and from queueing it to the JS thread seeing it done.
let copies: number[] = [];
let deviceCopies: number[] = [];
const take = ImportedRing.prototype.take;
ImportedRing.prototype.take = function (this: ImportedRing, slot: number, bytes: number) {
  const start = performance.now();
  const copied = take.call(this, slot, bytes);
  copied
    .then(() => {
      copies.push(performance.now() - start);
      deviceCopies.push(this.copyMs(slot));
    })
    .catch(() => {});
  return copied;
};

let ready: number[] = [];
const counters = {} as IngestCounters;
const streams: StreamDirectory = {
  claim: () => ({
    pushFrame: (frame) => {
      ready.push(Date.now() - (frame.captureTime ?? NaN));
      frame.release?.();
    },
    drainInput: () => [],
    hasClients: () => true,
    setClipboard: () => {},
    url: "http://bench/",
    counters,
  }),
  vacate: () => {},
};
const socket = join(dir, "ingest.sock");
const listener = await IngestListener.open({ path: socket, streams, log: createLogger("warn") });

const rows: (string | number)[][] = [];
let device = "";
for (const [width, height] of sizes) {
  copies = [];
  ready = [];
  const proc = Bun.spawn([example, socket, "main", `${width}x${height}`], { stdout: "pipe", stderr: "inherit" });
  void new Response(proc.stdout).text().then((out) => (device ||= / on (.+); viewers/.exec(out)?.[1] ?? ""));
  while (copies.length < 10) await Bun.sleep(20); // warm up: the device opens, the first frames go
  copies = [];
  deviceCopies = [];
  ready = [];
  const cpu0 = process.cpuUsage();
  while (copies.length < frames) await Bun.sleep(20);
  const cpu = process.cpuUsage(cpu0);
  const n = copies.length;
  proc.kill("SIGINT");
  await proc.exited;
  const range = (xs: number[], digits: number) => `${quantile(xs, 0.1).toFixed(digits)}-${quantile(xs, 0.9).toFixed(digits)}`;
  rows.push([
    `${width}x${height}`,
    n,
    summary(deviceCopies).median.toFixed(2),
    range(deviceCopies, 2),
    summary(copies).median.toFixed(2),
    range(copies, 2),
    summary(ready).median.toFixed(1),
    range(ready, 1),
    ((cpu.user + cpu.system) / 1000 / n).toFixed(2),
  ]);
}
listener.close();
rmSync(dir, { recursive: true, force: true });

const m = machine();
console.log(`vulkan import: clients/c/vulkan-example.c -> vkcast's ingest + libvkcast_vk import, RGBA, 30 fps, no encoder`);
console.log(`machine: ${m.cpu} (${m.cores} cores, ${m.usableCores} usable), load ${loadAverage().toFixed(2)}; device: ${device}`);
console.log(table(["size", "frames", "device copy ms", "p10-p90", "copy seen ms", "p10-p90", "submit->ready ms", "p10-p90", "cpu ms/frame"], rows));
process.exit(0);
