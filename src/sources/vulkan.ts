// VulkanSource: frames rendered by the headless Vulkan library (src/vulkan/) and read back into a ring of
// persistently mapped slots (encoder Workers + 1), handed to the encoder in place (no copy).
// The JS thread serves the sockets, so it never waits for the device: the C library does its blocking work
// (context creation, vkQueueSubmit, which on lavapipe runs the whole frame) on a thread of its own; from here
// only vkc_submit (queues a slot) and vkc_poll (reads the timeline semaphore) are called, with a 1 ms timer
// between polls (at most ~1 ms of latency, no CPU). A Worker running the renderer would add a message hop per
// frame and a second event loop for the same result.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import type { Frame, FrameSource } from "../frame.ts";
import type { InputState } from "../input-state.ts";
import { MAX_FRAME_SIDE } from "../protocol/input-schema.ts";
import {
  cString,
  isFatal,
  loadVulkanLibrary,
  readCString,
  resultName,
  VKC_ERR,
  VKC_MAX_SLOTS,
  VKC_OUTPUT,
  VKC_SCENE,
  type VulkanLibrary,
} from "../vulkan/binding.ts";
import { BUILD_PACKAGES } from "../vulkan/build.ts";
import { OrbitCamera, type CameraState } from "../vulkan/camera.ts";
import { buildGeometry, packSceneUniforms, UNIFORM_FLOATS } from "../vulkan/scene.ts";
import { FrameRing } from "./vulkan-ring.ts";
import { frameTimings, readValidationMessages, type ValidationMessages, type VulkanTimings } from "./vulkan-stats.ts";

export type VulkanScene = "orbit" | "pattern";

/**
 * What a frame holds: RGBA pixels read back; YCbCr 4:2:0 planes converted on the GPU and read back (3/8
 * of the bytes, and the JPEG encoder skips its own conversion); or those planes left in GPU memory,
 * exported for nvJPEG on the same GPU (nothing read back).
 */
export type VulkanOutput = "rgba" | "yuv420" | "yuv420-gpu";
const OUTPUTS: Record<VulkanOutput, number> = { rgba: VKC_OUTPUT.RGBA, yuv420: VKC_OUTPUT.YUV420, "yuv420-gpu": VKC_OUTPUT.YUV420_GPU };

export interface VulkanSourceOptions {
  width: number;
  height: number;
  /** Device index or case-insensitive name substring; the best device when absent. */
  device?: string | number;
  scene?: VulkanScene;
  /** VK_LAYER_KHRONOS_validation with synchronization validation, messages counted. */
  validation?: boolean;
  /** Nice value (0-19) of the render threads. Default 0: a nice of 5 made no measurable difference to the
   *  event loop's timer gaps on a 2-core VM, and it makes rendering yield to every other process too. */
  nice?: number;
  /** What a frame holds (default "rgba"). */
  output?: VulkanOutput;
  /** Frames that may be out at once, i.e. the ring's depth (default 2; setFramesInFlight changes it). */
  framesInFlight?: number;
}

export type VulkanDeviceType = "other" | "integrated" | "discrete" | "virtual" | "cpu";
export interface VulkanDeviceInfo {
  index: number;
  name: string;
  type: VulkanDeviceType;
  apiVersion: string;
  /** VkPhysicalDeviceIDProperties.deviceUUID as 32 lowercase hex digits: the same GPU in every process. */
  uuid: string;
}

const DEVICE_TYPES: VulkanDeviceType[] = ["other", "integrated", "discrete", "virtual", "cpu"];
const INSTALL_HINT =
  "Install a Vulkan loader and driver: apt-get install libvulkan-dev mesa-vulkan-drivers " +
  `(building the renderer also needs: apt-get install ${BUILD_PACKAGES}), ` +
  "or run without Vulkan: --source synthetic.";
/** How long nextFrame waits for a held frame to be released before it gives up; close waits as long. */
const SLOT_WAIT_MS = 10_000;

/** No Vulkan loader, no driver or no usable device (or the renderer library cannot be built). */
export class VulkanUnavailableError extends Error {
  override name = "VulkanUnavailableError";
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`Vulkan is not available: ${reason}\n${INSTALL_HINT}`, options);
  }
}

/** The `device` option matches no device, or names one that cannot render; the message lists the devices. */
export class NoSuchDeviceError extends Error {
  override name = "NoSuchDeviceError";
}

function loadLibrary(): VulkanLibrary {
  try {
    return loadVulkanLibrary();
  } catch (e) {
    // A failed build (no compiler, no headers, no glslc) or dlopen (no libvulkan.so.1).
    throw new VulkanUnavailableError((e as Error).message, { cause: e });
  }
}

const sleepOneMs = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

export class VulkanSource implements FrameSource {
  readonly name = "vulkan";
  /** The Vulkan device's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly device: string;
  readonly scene: VulkanScene;
  /** The message of the last error (a failed frame or resize, a lost device); null when none so far. */
  lastError: string | null = null;
  /** Timings of the last frame; null before the first. */
  lastTimings: VulkanTimings | null = null;

  private readonly lib: VulkanLibrary;
  private ctx: Pointer | null;
  private ring: FrameRing;
  private output: VulkanOutput;
  /** setOutput asked for another output: the slots are made again before the next frame. */
  private outputChanged = false;
  /** The ring depth asked for; the ring takes it at the next frame rendered with no frame held. */
  private wantSlots: number;
  /** Bumped whenever the slots are made again: imports of exported memory from before are stale. */
  private generation = 0;
  /** The exported planes of each slot (VulkanOutput "yuv420-gpu"). */
  private exported: { fd: number; allocationBytes: number; dedicated: boolean }[] = [];
  private readonly exportCell = new Int32Array(3);
  private readonly camera = new OrbitCamera();
  /** The size the slots have now; 0x0 while they have none (before the first resize, after a failed one). */
  private renderWidth = 0;
  private renderHeight = 0;
  /** The size asked for the next frame. */
  private wantWidth: number;
  private wantHeight: number;
  private readonly uniforms = new Float32Array(UNIFORM_FLOATS);
  private readonly times = new Float64Array(3);
  /** nextFrame calls run one after the other on this chain. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set once the device is lost: the message every later call fails with. */
  private fatal: string | null = null;
  /** The validation messages read at teardown, including the teardown's own. */
  private finalMessages: ValidationMessages | null = null;

  private constructor(lib: VulkanLibrary, ctx: Pointer, opts: Required<VulkanSourceOptions>) {
    this.lib = lib;
    this.ctx = ctx;
    this.device = String(lib.vkc_device_name(ctx) ?? "");
    this.scene = opts.scene;
    this.output = opts.output;
    this.wantSlots = clampSlots(opts.framesInFlight);
    this.ring = new FrameRing(this.wantSlots);
    [this.wantWidth, this.wantHeight] = clampSize(opts.width, opts.height);
  }

  /**
   * Creates the renderer without blocking: the device and pipelines are made on the library's thread.
   * Throws VulkanUnavailableError when there is no loader, driver or device; NoSuchDeviceError when
   * `device` matches none; an Error for anything else (e.g. `validation` without the layer installed).
   */
  static async create(opts: VulkanSourceOptions): Promise<VulkanSource> {
    const full: Required<VulkanSourceOptions> = {
      width: opts.width,
      height: opts.height,
      device: String(opts.device ?? ""),
      scene: opts.scene ?? "orbit",
      validation: opts.validation ?? false,
      nice: opts.nice ?? 0,
      output: opts.output ?? "rgba",
      framesInFlight: opts.framesInFlight ?? 2,
    };
    if (!(full.output in OUTPUTS)) throw new Error(`unknown Vulkan output "${full.output}"`);
    if (full.scene !== "orbit" && full.scene !== "pattern") throw new Error(`unknown Vulkan scene "${full.scene}"`);
    clampSize(full.width, full.height); // throws on a bad size before anything is created
    const lib = loadLibrary();
    const scene = full.scene === "pattern" ? VKC_SCENE.PATTERN : VKC_SCENE.ORBIT;
    const ctx = lib.vkc_create(cString(String(full.device)), scene, full.validation ? 1 : 0, full.nice) as Pointer | null;
    if (!ctx) throw new Error("vkc_create failed: out of host memory");
    let state: number;
    while ((state = lib.vkc_ready(ctx)) === 0) await sleepOneMs();
    if (state < 0) {
      const reason = String(lib.vkc_error(ctx) ?? "unknown error");
      lib.vkc_free(ctx);
      if (state === VKC_ERR.UNAVAILABLE) throw new VulkanUnavailableError(reason);
      if (state === VKC_ERR.NO_DEVICE) throw new NoSuchDeviceError(reason);
      throw new Error(`cannot create the Vulkan renderer: ${reason}`);
    }
    const source = new VulkanSource(lib, ctx, full);
    try {
      if (full.scene === "orbit") {
        const g = buildGeometry();
        source.check(
          lib.vkc_set_geometry(ctx, g.vertices, g.vertices.byteLength, g.indices, g.indices.byteLength, g.draws, g.draws.length / 4),
          "uploading the scene",
        );
      }
      source.applySize();
    } catch (e) {
      source.destroyNow();
      throw e;
    }
    return source;
  }

  /** The Vulkan devices in the loader's order (the `device` option's indices). */
  static listDevices(): VulkanDeviceInfo[] {
    const lib = loadLibrary();
    const buf = new Uint8Array(16384);
    const n = lib.vkc_list_devices(buf, buf.length);
    const text = readCString(buf);
    if (n < 0) throw new VulkanUnavailableError(text);
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [index, type, name, api, uuid] = line.split("\t");
        return { index: Number(index), name: name ?? "", type: DEVICE_TYPES[Number(type)] ?? "other", apiVersion: api ?? "", uuid: uuid ?? "" };
      });
  }

  /** The size of the next frame. */
  get width(): number {
    return this.wantWidth;
  }
  get height(): number {
    return this.wantHeight;
  }

  /** Validation layer messages so far, including those of close() (zeros when validation is off). */
  get validationMessages(): ValidationMessages {
    if (this.ctx) return readValidationMessages(this.lib, this.ctx);
    return this.finalMessages ?? { errors: 0, warnings: 0, messages: [] };
  }

  /** Once the device is lost every frame fails: the engine re-creates the source. */
  get lost(): boolean {
    return this.fatal !== null;
  }

  /** The orbit camera's state (a copy). */
  get cameraState(): CameraState {
    return this.camera.snapshot();
  }

  /**
   * Renders the frame for time `t` seen through `input` into a free ring slot and resolves when its
   * pixels are readable. Calls are serialized. The frame's memory is the slot's mapped buffer: it is
   * not rendered into again until `release()` is called, so hold at most one frame while asking for
   * the next (with 2 slots, a third request waits for a release).
   */
  nextFrame(t: number, input: InputState): Promise<Frame> {
    const run = this.chain.then(() => this.render(t, input));
    this.chain = run.catch(() => {});
    return run;
  }

  /** The device's kind: a CPU device (lavapipe) renders on the same cores that encode. */
  get deviceType(): VulkanDeviceType {
    return DEVICE_TYPES[this.lib.vkc_device_type(this.ensureOpen())] ?? "other";
  }

  /** The device's UUID as hex (the same as CUDA's for the same GPU). */
  get uuid(): string {
    const out = new Uint8Array(16);
    this.lib.vkc_device_uuid(this.ensureOpen(), out);
    return Buffer.from(out).toString("hex");
  }

  /** What the frames hold: from the next frame on, what setOutput asked for. */
  get frameOutput(): VulkanOutput {
    return this.output;
  }

  /** What the next frames hold (e.g. once the encoder is known); the slots are made again for it. */
  setOutput(output: VulkanOutput): void {
    if (!(output in OUTPUTS)) throw new Error(`unknown Vulkan output "${output}"`);
    this.outputChanged ||= output !== this.output;
    this.output = output;
  }

  /** The ring's depth now. */
  get ringDepth(): number {
    return this.ring.size;
  }

  /** Frames that may be out at once (1-16): the ring's depth from the next frame rendered with none held. */
  setFramesInFlight(count: number): void {
    this.wantSlots = clampSlots(count);
  }

  /** The next frame has this size (rounded, clamped to 1x1..3840x2160). */
  resize(width: number, height: number): void {
    [this.wantWidth, this.wantHeight] = clampSize(width, height);
  }

  /**
   * Releases everything. Frames still held keep their memory until they are released (or for at
   * most 10 s), so an encoder that is still reading one does not read freed memory.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ring.wake();
    this.ring.whenAllReleased(SLOT_WAIT_MS, () => this.destroyNow());
  }

  /**
   * Test hook: the next resize or submit fails with this VkResult (e.g. -2 out of device memory,
   * -4 device lost) without calling Vulkan, so the error paths can be exercised on a healthy device.
   */
  injectFailure(code: number): void {
    if (this.ctx) this.lib.vkc_debug_fail_next(this.ctx, code);
  }

  // -------------------------------------------------------------------------------------------------

  private destroyNow(): void {
    if (!this.ctx) return;
    const ctx = this.ctx;
    this.ring.setPixels([]);
    this.lib.vkc_close(ctx); // waits for work in flight: at most one frame
    // The teardown's validation messages (e.g. objects left alive) count too.
    this.finalMessages = readValidationMessages(this.lib, ctx);
    this.ctx = null;
    this.lib.vkc_free(ctx);
  }

  private ensureOpen(): Pointer {
    if (this.closed || !this.ctx) throw new Error("the Vulkan source is closed");
    if (this.fatal) throw new Error(this.fatal);
    return this.ctx;
  }

  /** Turns a library code into an exception (and lastError); device loss is remembered for good. */
  private check(code: number, what: string): void {
    if (code >= 0) return;
    const detail = this.ctx ? String(this.lib.vkc_error(this.ctx) ?? "") : "";
    let message = `Vulkan: ${what} failed: ${resultName(code)}${detail ? ` (${detail})` : ""}`;
    if (isFatal(code)) {
      message = `Vulkan device lost while ${what}: ${detail || resultName(code)}; the renderer must be recreated`;
      this.fatal = message;
    }
    this.lastError = message;
    throw new Error(message);
  }

  /** Makes the slots again at the size and depth asked for (nothing is held or in flight). */
  private applySize(): void {
    const ctx = this.ensureOpen();
    const [w, h] = [this.wantWidth, this.wantHeight];
    // The old slots are gone whether or not the new ones can be made: forget their views, and make a
    // failed resize retried by the next frame whatever size is asked for then.
    this.ring.setPixels([]);
    this.renderWidth = this.renderHeight = 0;
    this.generation++;
    if (this.wantSlots !== this.ring.size || this.generation === 1 || this.outputChanged) {
      this.outputChanged = false;
      const depth = this.wantSlots;
      this.check(this.lib.vkc_configure(ctx, depth, OUTPUTS[this.output]), `making a ring of ${depth} slots`);
      this.ring = new FrameRing(depth);
    }
    this.check(this.lib.vkc_resize(ctx, w, h), `resizing to ${w}x${h}`);
    this.renderWidth = w;
    this.renderHeight = h;
    // One view per slot, made once per size: toArrayBuffer costs ~26 us per 8 MB, and a view over
    // mapped memory is what the encoder Worker reads through its address.
    const bytes = this.lib.vkc_slot_bytes(ctx);
    const views = Array.from({ length: this.ring.size }, (_, i) => {
      if (this.output === "yuv420-gpu") return new Uint8Array(0);
      const p = this.lib.vkc_slot_pixels(ctx, i) as Pointer | null;
      if (!p) throw new Error("Vulkan: a slot has no mapped memory");
      return new Uint8Array(toArrayBuffer(p, 0, bytes));
    });
    this.exported = this.output !== "yuv420-gpu" ? [] : views.map((_, i) => {
      this.check(this.lib.vkc_slot_export(ctx, i, this.exportCell), "exporting a slot's memory");
      const [fd, allocationBytes, dedicated] = this.exportCell;
      return { fd: fd!, allocationBytes: allocationBytes!, dedicated: dedicated === 1 };
    });
    this.ring.setPixels(views);
  }

  /** Waits (without blocking) until `ready()` holds; throws after SLOT_WAIT_MS or on close. */
  private async waitUntil(ready: () => boolean, what: string): Promise<void> {
    if (await this.ring.waitFor(ready, SLOT_WAIT_MS, () => this.ensureOpen())) return;
    this.lastError = `Vulkan: gave up waiting ${SLOT_WAIT_MS / 1000} s for ${what}: every frame handed out must be released`;
    throw new Error(this.lastError);
  }

  private async render(t: number, input: InputState): Promise<Frame> {
    this.ensureOpen();
    if (this.scene === "orbit") this.camera.apply(t, input);

    const resized = this.wantWidth !== this.renderWidth || this.wantHeight !== this.renderHeight;
    // A deeper ring waits for a moment with no frame held (a shallower one could not take them back).
    if (resized || this.outputChanged || (this.wantSlots !== this.ring.size && !this.ring.anyHeld)) {
      // Nothing in flight here (calls are serialized); wait for the held frames to come back.
      await this.waitUntil(() => !this.ring.anyHeld, "the frames held before a resize");
      this.applySize();
    }

    let index = -1;
    const waitStart = performance.now();
    await this.waitUntil(() => (index = this.ring.freeSlot()) >= 0, "a free ring slot");
    const ringWaitMs = performance.now() - waitStart;
    const [width, height] = [this.renderWidth, this.renderHeight];
    if (this.scene === "orbit") packSceneUniforms(this.uniforms, this.camera, t, width, height);

    const ctx = this.ensureOpen();
    const t0 = performance.now();
    this.check(this.lib.vkc_submit(ctx, index, this.uniforms, this.uniforms.byteLength), "submitting a frame");
    this.ring.submitted(index);
    try {
      for (;;) {
        const done = this.lib.vkc_poll(this.ensureOpen(), index);
        if (done < 0) this.check(done, "rendering a frame");
        if (done > 0) break;
        await sleepOneMs();
      }
    } finally {
      // On close the library waits for the work itself; on an error the slot is unusable anyway.
      this.ring.completed(index);
    }
    const gpu = this.lib.vkc_frame_times(ctx, index, this.times) === 1;
    const timings = frameTimings(this.times, gpu, performance.now() - t0);
    this.lastTimings = timings;
    const exported = this.exported[index];
    return {
      pixels: this.ring.pixels(index),
      width,
      height,
      stride: this.output === "rgba" ? width * 4 : width,
      format: this.output === "rgba" ? "rgba" : "yuv420",
      ...(exported && {
        gpu: { ...exported, generation: this.generation, offset: 0 },
        // The uniforms and the size decide the picture: they tell an unchanged frame without reading it.
        contentHash: Bun.hash.xxHash3(new Uint8Array(this.uniforms.buffer)) ^ BigInt(width * 65536 + height),
      }),
      captureTime: Date.now(),
      stages: { renderMs: timings.renderMs, readbackMs: timings.readbackMs, handoffMs: timings.handoffMs, ringWaitMs },
      release: this.ring.hold(index),
    };
  }
}

/** A ring depth within 1..VKC_MAX_SLOTS. */
function clampSlots(count: number): number {
  if (!Number.isInteger(count)) throw new RangeError(`frames in flight must be an integer (got ${count})`);
  return Math.min(VKC_MAX_SLOTS, Math.max(1, count));
}

function clampSize(width: number, height: number): [number, number] {
  if (!Number.isFinite(width) || !Number.isFinite(height)) throw new RangeError(`bad frame size ${width}x${height}`);
  return [
    Math.min(MAX_FRAME_SIDE.width, Math.max(1, Math.round(width))),
    Math.min(MAX_FRAME_SIDE.height, Math.max(1, Math.round(height))),
  ];
}
