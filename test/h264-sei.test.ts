// The H.264 byte-stream helpers the server and the browser share: NAL units, emulation prevention, and
// the metadata SEI (ffmpeg's view of the same SEI is in h264.test.ts).
import { expect, test } from "bun:test";
import { addEmulationPrevention, isDisposable, isIdrAccessUnit, nalUnits, removeEmulationPrevention } from "../src/encode/h264-annexb.ts";
import { buildSeiNal, insertSei, readSeiPayload, VKCAST_SEI_UUID } from "../src/encode/h264-sei.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);
const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
// A fake access unit: SPS, PPS, then a slice whose body holds a start-code-like run (00 00 03 01).
const SPS = bytes(0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f);
const PPS = bytes(0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80);
const IDR = bytes(0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 3, 1, 0x21);
const accessUnit = new Uint8Array([...SPS, ...PPS, ...IDR]);

test("NAL units are found between 3- and 4-byte start codes, with their types and bounds", () => {
  const units = [...nalUnits(accessUnit)];
  expect(units.map((u) => u.type)).toEqual([7, 8, 5]);
  expect(units.map((u) => [u.start, u.end])).toEqual([
    [0, 8],
    [8, 16],
    [16, accessUnit.length],
  ]);
  expect(isIdrAccessUnit(accessUnit)).toBe(true);
  expect(isIdrAccessUnit(bytes(0, 0, 0, 1, 0x41, 0x9a))).toBe(false);
  expect([...nalUnits(bytes(1, 2, 3))]).toEqual([]);
});

test("emulation prevention: every 00 00 before a byte <= 3 gets a 03, and comes back out", () => {
  const raw = bytes(0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0);
  const escaped = addEmulationPrevention(raw);
  expect([...escaped]).toEqual([0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3, 0, 0, 4, 0, 0]);
  for (let i = 0; i + 2 < escaped.length; i++) {
    const startCodeLike = escaped[i] === 0 && escaped[i + 1] === 0 && escaped[i + 2]! <= 2;
    expect(startCodeLike).toBe(false);
  }
  expect([...removeEmulationPrevention(escaped)]).toEqual([...raw]);
});

test("the metadata SEI goes right before the first slice and reads back; other SEIs are skipped", () => {
  const meta = { seq: 42, t: 1700000000123, w: 1280, h: 720, q: 85 };
  const withSei = insertSei(accessUnit, buildSeiNal(json(meta)));
  expect([...nalUnits(withSei)].map((u) => u.type)).toEqual([7, 8, 6, 5]);
  expect(withSei.subarray(withSei.length - IDR.length)).toEqual(IDR);
  expect(JSON.parse(text(readSeiPayload(withSei))!)).toEqual(meta);

  // Another user_data_unregistered message (a different UUID) precedes ours in the same SEI NAL unit.
  const other = bytes(5, 17, ...new Array(16).fill(0x11), 0x41);
  const ours = bytes(5, 16 + 2, ...VKCAST_SEI_UUID, 0x7b, 0x7d);
  const sei = new Uint8Array([0, 0, 0, 1, 6, ...addEmulationPrevention(new Uint8Array([...other, ...ours, 0x80]))]);
  expect(text(readSeiPayload(insertSei(accessUnit, sei)))).toBe("{}");
});

test("payloads of any length round-trip, sizes of 255 and more included", () => {
  for (const n of [0, 1, 238, 239, 240, 254, 255, 600, 5000]) {
    const payload = json({ pad: "y".repeat(n) });
    expect(text(readSeiPayload(insertSei(accessUnit, buildSeiNal(payload))))).toBe(text(payload));
  }
});

test("no metadata, or broken metadata, reads as null and never throws", () => {
  expect(readSeiPayload(accessUnit)).toBeNull();
  expect(readSeiPayload(new Uint8Array(0))).toBeNull();
  // An SEI after the slice does not count: the metadata must come before the picture.
  expect(readSeiPayload(new Uint8Array([...accessUnit, ...buildSeiNal(json({ seq: 1 }))]))).toBeNull();
  const sei = buildSeiNal(json({ seq: 1 }));
  for (let cut = 5; cut < sei.length; cut += 3) {
    expect(() => readSeiPayload(insertSei(accessUnit, sei.subarray(0, cut)))).not.toThrow();
  }
  expect(() => insertSei(SPS, sei)).toThrow(/no slice/);
});

test("a picture nothing refers to (nal_ref_idc 0) is disposable; references and IDRs are not", () => {
  expect(isDisposable(bytes(0, 0, 0, 1, 0x01, 0x9a))).toBe(true);
  expect(isDisposable(bytes(0, 0, 0, 1, 0x61, 0x9a))).toBe(false);
  expect(isDisposable(accessUnit)).toBe(false);
  expect(isDisposable(SPS)).toBe(false);
});
