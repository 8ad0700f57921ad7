// Nothing a producer does to its ring's memory takes vkcast down: the ring is a memfd sealed against
// shrinking and growing, so truncating it (which would SIGBUS the encoder reading a slot in place) fails
// in the producer, and punching holes only reads back as zeros. Frames keep reaching viewers throughout.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, ftruncateSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { pattern, RawProducer, type RingInfo, Vkcast } from "./helpers/ingest.ts";

const W = 160;
const H = 96;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;
const libc = dlopen("libc.so.6", { fallocate: { args: [FFIType.i32, FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 } });

let vkcast: Vkcast;
beforeAll(async () => {
  vkcast = await Vkcast.start(`${mkdtempSync(`${tmpdir()}/vkcast-seal-`)}/ingest.sock`, [`--width=${W}`, `--height=${H}`]);
});
afterAll(() => vkcast.stop());

/** Submits frames one after the other (each once the previous slot came back) until `stop` says so. */
async function stream(p: RawProducer, stop: () => boolean): Promise<number> {
  let sent = 0;
  while (!stop() && !p.closed) {
    p.submit(sent % 3, W, H, pattern(W, H, sent));
    sent++;
    await p.next("release");
  }
  return sent;
}

test("a producer truncating or growing its ring mid-stream is refused by the kernel; vkcast and its viewers go on", async () => {
  const p = await RawProducer.connect(vkcast.socketPath);
  p.send({ type: "hello", version: 1, stream: "main", width: W, height: H, format: "rgba", slots: 3 });
  const ring = (await p.next("welcome")).ring as RingInfo;
  const fd = openSync(ring.path, "r+"); // the producer keeps a descriptor of its own (vkcast closes its one after `mapped`)
  p.map(ring);
  const viewer = await Viewer.connect(wsUrl(vkcast.url));
  let done = false;
  const streaming = stream(p, () => done);
  await viewer.until(() => viewer.frames.length >= 3, 15_000, "frames before the truncation");

  const bytes = ring.slots * ring.slotBytes;
  expect(() => ftruncateSync(fd, 0)).toThrow(expect.objectContaining({ code: "EPERM" }));
  expect(() => ftruncateSync(fd, bytes * 2)).toThrow(expect.objectContaining({ code: "EPERM" }));
  // A hole in shared memory is a page of zeros when read again: no fault either.
  expect(libc.symbols.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, bytes)).toBe(0);
  closeSync(fd);

  const seen = viewer.frames.length;
  await viewer.until(() => viewer.frames.length >= seen + 5, 15_000, "frames after the truncation attempts");
  done = true;
  expect(await streaming).toBeGreaterThan(5);
  expect(vkcast.proc.exitCode).toBeNull();
  expect((await vkcast.health()).status).toBe(200);
  expect(p.closed).toBe(false);
  viewer.close();
  p.close();
});
