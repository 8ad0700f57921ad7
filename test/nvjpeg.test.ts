// nvJPEG where there is no GPU (CI): loading refuses cleanly, naming what is missing. The encoding
// itself is measured and checked on a GPU machine (bench/gpu.ts, scripts/gpu/).
import { describe, expect, test } from "bun:test";
import { FFIType } from "bun:ffi";
import { CUDA_LIBRARIES, loadCuda, NVJPEG_LIBRARIES, NvjpegUnavailableError, openFirst } from "../src/encode/nvjpeg-cuda.ts";
import { NvjpegEncoder } from "../src/encode/nvjpeg.ts";
import { yuv420Layout } from "../src/frame.ts";

describe("loading", () => {
  test("the CUDA 13 sonames are tried before older ones", () => {
    expect(CUDA_LIBRARIES[0]).toBe("libcuda.so.1");
    expect(NVJPEG_LIBRARIES.slice(0, 3)).toEqual(["libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so.11"]);
  });

  test("a library that is nowhere is refused with its name, the names tried and a hint", () => {
    const names = ["libnvjpeg-missing.so.13", "libnvjpeg-missing.so.12"];
    let error: unknown;
    try {
      openFirst(names, { nvjpegCreateSimple: { args: [FFIType.ptr], returns: FFIType.i32 } }, "nvJPEG", "install it", ["/nonexistent"]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NvjpegUnavailableError);
    expect((error as Error).message).toStartWith("nvJPEG is not available: none of libnvjpeg-missing.so.13, libnvjpeg-missing.so.12");
    expect((error as Error).message).toContain("install it");
  });

  test("a library without the symbols asked for is refused too", () => {
    expect(() => openFirst(["libc.so.6"], { nvjpegCreateSimple: { args: [FFIType.ptr], returns: FFIType.i32 } }, "nvJPEG", "hint")).toThrow(
      NvjpegUnavailableError,
    );
  });

  test("on this machine (no NVIDIA driver) opening an encoder names CUDA or nvJPEG", () => {
    expect(() => loadCuda()).toThrow(/^(CUDA|nvJPEG) is not available/);
    expect(() => NvjpegEncoder.open()).toThrow(NvjpegUnavailableError);
  });
});

describe("4:2:0 layout", () => {
  test.each([
    // width, height -> Y pitch, chroma pitch, U offset, V offset, bytes
    [3840, 2160, 3840, 1920, 3840 * 2160, 3840 * 2160 + 1920 * 1080, 3840 * 2160 * 1.5],
    [321, 183, 328, 164, 328 * 184, 328 * 184 + 164 * 92, 328 * 184 + 2 * 164 * 92],
    [1, 1, 8, 4, 16, 20, 24],
  ])("%p x %p", (w, h, yPitch, cPitch, uOffset, vOffset, bytes) => {
    expect(yuv420Layout(w, h)).toEqual({ yOffset: 0, uOffset, vOffset, yPitch, cPitch, bytes });
  });

  test("rows stay 4-byte aligned in every plane (the Vulkan pass writes whole words)", () => {
    for (const w of [1, 7, 9, 641, 1279, 1920, 3840]) {
      const l = yuv420Layout(w, 5);
      expect([l.yPitch % 8, l.cPitch % 4, l.uOffset % 4, l.vOffset % 4]).toEqual([0, 0, 0, 0]);
    }
  });
});

describe("--encoder nvjpeg without CUDA", () => {
  const ROOT = `${import.meta.dir}/..`;
  test.each([["synthetic"], ["vulkan"]])("with the %s source: exit 3, naming CUDA or nvJPEG", (source) => {
    const args = ["--port", "0", "--source", source, "--encoder", "nvjpeg"];
    const run = Bun.spawnSync(["bun", "run", "index.ts", ...args], { cwd: ROOT, stderr: "pipe" });
    expect(run.exitCode).toBe(3);
    expect(run.stderr.toString()).toMatch(/--encoder nvjpeg: (CUDA|nvJPEG) is not available/);
  });

  test("auto falls back to a CPU encoder, fed 4:2:0 planes by a GPU, RGBA by lavapipe", async () => {
    const { chooseEncoder } = await import("../src/encode/choose.ts");
    const gpu = { uuid: "00112233445566778899aabbccddeeff", cpu: false };
    expect(await chooseEncoder("auto", gpu)).toEqual({ encoder: "turbo", output: "yuv420" });
    expect(await chooseEncoder("auto", { ...gpu, cpu: true })).toEqual({ encoder: "turbo", output: "rgba" });
    expect(await chooseEncoder("auto", null)).toEqual({ encoder: "turbo", output: "rgba" });
    expect(await chooseEncoder("napi", gpu)).toEqual({ encoder: "napi", output: "rgba" });
  });
});
