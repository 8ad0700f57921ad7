// The 4:2:0 conversion on the GPU (lavapipe here): the planes equal libjpeg-turbo's own conversion of
// the same RGBA picture within ±1 per sample, libjpeg-turbo encodes them directly, and a deep ring
// streams its frames in order.
import { describe, expect, test } from "bun:test";
import { dlopen, FFIType, ptr } from "bun:ffi";
import { loadJpegBackend } from "../src/encode/load.ts";
import { runEngine } from "../src/engine.ts";
import { type Frame, yuv420Layout } from "../src/frame.ts";
import { InputState } from "../src/input-state.ts";
import { silentLogger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { Viewer } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

const W = 321; // odd sizes exercise the edge replication of 4:2:0
const H = 183;

const [P, I] = [FFIType.ptr, FFIType.i32];

/** libjpeg-turbo's CPU conversion of RGBA to 4:2:0 planes (tjEncodeYUVPlanes), into `yuv420Layout`. */
function cpuPlanes(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const tj = dlopen("libturbojpeg.so.0", {
    tjInitCompress: { args: [], returns: FFIType.ptr },
    tjEncodeYUVPlanes: {
      // handle, srcBuf, width, pitch, height, pixelFormat, dstPlanes, strides, subsamp, flags
      args: [P, P, I, I, I, I, P, P, I, I],
      returns: FFIType.i32,
    },
  }).symbols;
  const layout = yuv420Layout(width, height);
  const out = new Uint8Array(layout.bytes);
  const planes = new BigUint64Array([layout.yOffset, layout.uOffset, layout.vOffset].map((o) => BigInt(ptr(out)) + BigInt(o)));
  const strides = new Int32Array([layout.yPitch, layout.cPitch, layout.cPitch]);
  const TJPF_RGBX = 2;
  const TJSAMP_420 = 2;
  const handle = tj.tjInitCompress();
  expect(tj.tjEncodeYUVPlanes(handle, rgba, width, width * 4, height, TJPF_RGBX, ptr(planes), ptr(strides), TJSAMP_420, 0)).toBe(0);
  return out;
}

async function renderOnce(output: "rgba" | "yuv420", t: number): Promise<{ frame: Frame; copy: Uint8Array; source: VulkanSource }> {
  const source = await VulkanSource.create({ width: W, height: H, output, validation: output === "yuv420" });
  const frame = await source.nextFrame(t, new InputState());
  return { frame, copy: frame.pixels.slice(), source };
}

describe("4:2:0 planes converted on the GPU", () => {
  test("equal libjpeg-turbo's conversion of the same picture within ±1, with no validation message", async () => {
    const t = 1.25;
    const rgba = await renderOnce("rgba", t);
    const yuv = await renderOnce("yuv420", t);
    try {
      const layout = yuv420Layout(W, H);
      expect(yuv.frame.format).toBe("yuv420");
      expect(yuv.frame.pixels.byteLength).toBe(layout.bytes);
      // 3/8 of the bytes of RGBA (give or take the row padding).
      expect(layout.bytes / (W * H * 4)).toBeLessThan(0.39);
      const want = cpuPlanes(rgba.copy, W, H);
      let worst = 0;
      let differing = 0;
      const planes: [number, number, number, number][] = [
        [layout.yOffset, layout.yPitch, W, H],
        [layout.uOffset, layout.cPitch, Math.ceil(W / 2), Math.ceil(H / 2)],
        [layout.vOffset, layout.cPitch, Math.ceil(W / 2), Math.ceil(H / 2)],
      ];
      for (const [offset, pitch, width, height] of planes) {
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const d = Math.abs(yuv.copy[offset + y * pitch + x]! - want[offset + y * pitch + x]!);
            worst = Math.max(worst, d);
            if (d) differing++;
          }
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
      // The picture is not flat: a conversion that wrote nothing would not pass the comparison above.
      expect(new Set(yuv.copy.subarray(0, 4096)).size).toBeGreaterThan(8);
      expect(differing).toBeLessThan(W * H * 0.01);
      expect(yuv.source.validationMessages.errors + yuv.source.validationMessages.warnings).toBe(0);
    } finally {
      rgba.frame.release?.();
      yuv.frame.release?.();
      rgba.source.close();
      yuv.source.close();
    }
  });

  test("libjpeg-turbo encodes the planes into the same picture as from RGBA", async () => {
    const t = 2.5;
    const rgba = await renderOnce("rgba", t);
    const yuv = await renderOnce("yuv420", t);
    try {
      const turbo = await loadJpegBackend("turbo");
      const fromPlanes = turbo.encode({ pixels: yuv.copy, width: W, height: H, stride: W, format: "yuv420" }, 85).slice();
      const fromRgba = turbo.encode({ pixels: rgba.copy, width: W, height: H, stride: W * 4, format: "rgba" }, 85).slice();
      expect([fromPlanes[0], fromPlanes[1]]).toEqual([0xff, 0xd8]);
      // The same conversion, the same DCT: the files differ by little if at all.
      expect(Math.abs(fromPlanes.length - fromRgba.length)).toBeLessThan(fromRgba.length * 0.02);
      const napi = await loadJpegBackend("napi");
      expect(napi.encode({ pixels: yuv.copy, width: W, height: H, stride: W, format: "yuv420" }, 85).length).toBeGreaterThan(1000);
    } finally {
      rgba.frame.release?.();
      yuv.frame.release?.();
      rgba.source.close();
      yuv.source.close();
    }
  });
});

describe("a deep ring", () => {
  test("with 3 encoder Workers the source keeps 4 frames out, and every frame reaches the viewer in order", async () => {
    const server = new StreamingServer({ port: 0, fps: 30, encoderWorkers: 3, logger: silentLogger });
    const source = await VulkanSource.create({ width: 320, height: 240, output: "yuv420" });
    await server.start(320, 240);
    const engine = runEngine(server, source, silentLogger);
    try {
      const viewer = await Viewer.connect(`ws://127.0.0.1:${server.port}/ws`, false);
      await waitFor(() => viewer.frames.length >= 20, 30_000, "20 frames");
      expect(source.ringDepth).toBe(4);
      const seqs = viewer.frames.map((f) => f.meta!.seq as number);
      const times = viewer.frames.map((f) => f.meta!.t as number);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      const stats = server.statsSnapshot();
      expect(stats.encoderWorkers).toBe(3);
      expect(stats.stages.renderMs!.count).toBeGreaterThan(0);
      expect(stats.stages.ringWaitMs!.count).toBeGreaterThan(0);
      viewer.close();
    } finally {
      await engine.stop();
      await server.stop();
      source.close();
    }
  });
});

describe("a smaller tier of a 4:2:0 frame", () => {
  test("halving the planes gives the planes of the halved picture, within ±2", async () => {
    const { halve } = await import("../src/encode/downscale.ts");
    const rgba = await renderOnce("rgba", 0.5);
    const yuv = await renderOnce("yuv420", 0.5);
    try {
      const fromPlanes = halve({ pixels: yuv.copy, width: W, height: H, stride: W, format: "yuv420" });
      const fromRgba = halve({ pixels: rgba.copy, width: W, height: H, stride: W * 4, format: "rgba" });
      expect([fromPlanes.width, fromPlanes.height, fromPlanes.format]).toEqual([160, 91, "yuv420"]);
      const want = cpuPlanes(fromRgba.pixels.slice(0, 160 * 91 * 4), 160, 91);
      const l = yuv420Layout(160, 91);
      let worst = 0;
      for (let y = 0; y < 91; y++) {
        for (let x = 0; x < 160; x++) worst = Math.max(worst, Math.abs(fromPlanes.pixels[y * l.yPitch + x]! - want[y * l.yPitch + x]!));
      }
      expect(worst).toBeLessThanOrEqual(2);
    } finally {
      rgba.frame.release?.();
      yuv.frame.release?.();
      rgba.source.close();
      yuv.source.close();
    }
  });
});
