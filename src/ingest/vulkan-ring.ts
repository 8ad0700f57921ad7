// Memory a Vulkan producer shares (docs/ingest-protocol.md, "Vulkan memory"): vkcast takes the producer's
// fd (pidfd_getfd), imports it into its own Vulkan device on the same GPU (the device whose UUID the producer
// names, opened on first use), and for each frame the readback library copies the slot into a host-visible buffer
// that the encoder reads in place. Nothing here blocks the JS thread on the device: copies are polled.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { constants, fstatSync, openSync } from "node:fs";
import { cString, loadVulkanLibrary, resultName, VKC_ERR, VKC_SCENE, type VulkanLibrary } from "../vulkan/binding.ts";
import { addSeals, closeFd, F_SEAL_SHRINK, seals, takeFd } from "./libc.ts";
import { VulkanSource, type VulkanDeviceInfo } from "../sources/vulkan.ts";
import type { VulkanRingRequest } from "./messages.ts";

/** Why vkcast would not import a producer's memory: sent as `vulkan_refused`, the connection goes on. */
export class VulkanRefusal extends Error {}

interface ImportDevice {
  lib: VulkanLibrary;
  ctx: Pointer;
  name: string;
  /** A CPU driver (lavapipe): its memory is a memfd, and its import reads it. */
  cpu: boolean;
  /** deviceUUID as 32 lowercase hex digits. */
  uuid: string;
}

const VK_PHYSICAL_DEVICE_TYPE_CPU = 4;

/** A UUID as Vulkan tools print it. */
const dashed = (hex: string) => hex.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
/** vkcast's Vulkan devices for imports, by deviceUUID: each made on first use and kept for the process's life. */
const devices = new Map<string, Promise<ImportDevice>>();

/**
 * vkcast's device on the GPU whose deviceUUID is `uuid` (the producer's): memory is shared only on the
 * same device, so that is the one to import into, whichever device vkcast renders or encodes on.
 */
function importDevice(uuid: string): Promise<ImportDevice> {
  let device = devices.get(uuid);
  if (!device) {
    device = openImportDevice(uuid);
    devices.set(uuid, device);
    // A refusal is not kept: a device can appear (a driver installed) while vkcast runs.
    device.catch(() => devices.delete(uuid));
  }
  return device;
}

async function openImportDevice(uuid: string): Promise<ImportDevice> {
  let list: VulkanDeviceInfo[];
  try {
    list = VulkanSource.listDevices();
  } catch (err) {
    throw new VulkanRefusal(`vkcast has no Vulkan device to import into: ${(err as Error).message}`);
  }
  const match = list.find((d) => d.uuid === uuid);
  if (!match) {
    const have = list.map((d) => `${d.name}, ${dashed(d.uuid)}`).join("; ") || "none";
    throw new VulkanRefusal(
      `vulkan_ring.deviceUUID ${dashed(uuid)} is none of vkcast's Vulkan devices (${have}): memory is shared only on the same device`,
    );
  }
  const lib = loadVulkanLibrary();
  const ctx = lib.vkc_create(cString(String(match.index)), VKC_SCENE.PATTERN, 0, 0) as Pointer | null;
  if (!ctx) throw new Error("vkc_create failed: out of host memory");
  for (let state = lib.vkc_ready(ctx); state !== 1; state = lib.vkc_ready(ctx)) {
    if (state < 0) {
      const reason = String(lib.vkc_error(ctx));
      lib.vkc_free(ctx);
      throw new VulkanRefusal(`vkcast cannot open Vulkan device ${match.index} (${match.name}) to import into: ${reason}`);
    }
    await Bun.sleep(5);
  }
  const opened = new Uint8Array(16);
  lib.vkc_device_uuid(ctx, opened);
  const cpu = lib.vkc_device_type(ctx) === VK_PHYSICAL_DEVICE_TYPE_CPU;
  return { lib, ctx, name: String(lib.vkc_device_name(ctx)), cpu, uuid: Buffer.from(opened).toString("hex") };
}

/** The producer's fd, duplicated into vkcast: pidfd_getfd, else opening /proc/PID/fd/N. */
function takeProducerFd(pid: number, fd: number): number {
  try {
    return takeFd(pid, fd);
  } catch (err) {
    try {
      // Non-blocking, and no controlling terminal: whatever the descriptor is, opening it must not wait.
      return openSync(`/proc/${pid}/fd/${fd}`, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (fallback) {
      const why = `${(err as Error).message}; /proc/${pid}/fd/${fd}: ${(fallback as NodeJS.ErrnoException).code ?? fallback}`;
      throw new VulkanRefusal(`cannot take fd ${fd} of pid ${pid} (${why})`);
    }
  }
}

/**
 * What the fd is: never a pipe, socket, directory or block device (a driver's import might read it and wait);
 * a regular file (a memfd, all a CPU driver exports) sealed against shrinking, or vkcast could fault reading
 * it, and as large as said; else driver memory (a dma-buf, a device file), whose size is the driver's to check.
 */
function checkMemoryFile(fd: number, req: VulkanRingRequest, dev: ImportDevice): void {
  const stat = fstatSync(fd);
  if (stat.isFIFO() || stat.isSocket() || stat.isDirectory() || stat.isBlockDevice()) {
    throw new VulkanRefusal(`fd ${req.fd} is not memory (a pipe, socket, directory or block device)`);
  }
  if (!stat.isFile()) {
    if (dev.cpu) throw new VulkanRefusal(`fd ${req.fd} is not a memfd, the only memory ${dev.name} exports`);
    return;
  }
  if (((seals(fd) ?? 0) & F_SEAL_SHRINK) === 0) {
    try {
      addSeals(fd, F_SEAL_SHRINK);
    } catch {
      const why = "not a memfd that takes F_SEAL_SHRINK: vkcast could fault reading it";
      throw new VulkanRefusal(`fd ${req.fd} is a file that may shrink (${why})`);
    }
  }
  if (stat.size < req.size) {
    throw new VulkanRefusal(`vulkan_ring.size ${req.size} is larger than the memory behind fd ${req.fd} (${stat.size} bytes)`);
  }
}

/** Imports the memory `req` names as ring `id`; throws a VulkanRefusal saying why not. */
export async function importVulkanRing(id: number, req: VulkanRingRequest, peerPid: number): Promise<ImportedRing> {
  if (req.pid !== peerPid) {
    const why = "a producer shares only its own memory";
    throw new VulkanRefusal(`vulkan_ring.pid ${req.pid} is not the connected process (pid ${peerPid}): ${why}`);
  }
  const dev = await importDevice(req.deviceUUID);
  if (req.deviceUUID !== dev.uuid) {
    // The loader named this device by its UUID, and the device opened says another: never import then.
    throw new VulkanRefusal(`vkcast's Vulkan device ${dev.name} reports UUID ${dashed(dev.uuid)}, not ${dashed(req.deviceUUID)}`);
  }
  const fd = takeProducerFd(req.pid, req.fd);
  try {
    checkMemoryFile(fd, req, dev);
    const { lib, ctx } = dev;
    const handle = lib.vkc_import_create(ctx, fd, req.size, req.memoryType, req.offset, req.slotBytes, req.slots) as Pointer | null;
    if (!handle) throw new VulkanRefusal(`cannot import the memory: ${lib.vkc_error(ctx)}`);
    return new ImportedRing(id, dev, handle, req.slots, req.slotBytes);
  } finally {
    closeFd(fd);
  }
}

/** An imported ring: slots the producer renders into on the GPU, copied out by vkcast's device per frame. */
export class ImportedRing {
  /** Set once the producer said `mapped`: frames then name this ring. */
  mapped = false;
  private readonly held: boolean[];
  /** Each slot's host-visible copy, made once (toArrayBuffer costs ~26 µs). */
  private readonly copies: Uint8Array[];
  private freed = false;

  constructor(
    readonly id: number,
    private readonly dev: ImportDevice,
    private readonly handle: Pointer,
    readonly slots: number,
    readonly slotBytes: number,
  ) {
    this.held = new Array(slots).fill(false);
    this.copies = this.held.map((_, slot) => {
      const p = dev.lib.vkc_import_pixels(dev.ctx, handle, slot) as Pointer;
      return new Uint8Array(toArrayBuffer(p, 0, slotBytes));
    });
  }

  info(): { id: number; slots: number; slotBytes: number } {
    return { id: this.id, slots: this.slots, slotBytes: this.slotBytes };
  }

  isHeld(slot: number): boolean {
    return this.held[slot]!;
  }

  get heldCount(): number {
    return this.held.filter(Boolean).length;
  }

  /** Marks `slot` as vkcast's and copies its first `byteLength` bytes out; resolves with the copy. */
  take(slot: number, byteLength: number): Promise<Uint8Array> {
    if (this.freed) throw new Error(`ring ${this.id} is closed`);
    this.held[slot] = true;
    const { lib, ctx } = this.dev;
    const rc = lib.vkc_import_copy(ctx, this.handle, slot, byteLength);
    if (rc !== 0) return Promise.reject(new Error(`the copy of slot ${slot} failed (${resultName(rc)}): ${lib.vkc_error(ctx)}`));
    return new Promise((resolve, reject) => {
      const poll = () => {
        const done = lib.vkc_import_poll(ctx, this.handle, slot);
        if (done === 1) resolve(this.copies[slot]!.subarray(0, byteLength));
        else if (done < 0) reject(new Error(`the copy of slot ${slot} failed (${resultName(done)}): ${lib.vkc_error(ctx)}`));
        else setTimeout(poll, 1);
      };
      poll();
    });
  }

  /** The device time of the slot's last copy in ms, or -1 when unknown (no timestamps, not done). */
  copyMs(slot: number): number {
    return this.dev.lib.vkc_import_copy_ms(this.dev.ctx, this.handle, slot);
  }

  give(slot: number): void {
    this.held[slot] = false;
  }

  /** Nothing to close: vkcast's copy of the producer's fd was closed at the import. */
  closeDescriptor(): void {}

  /** Frees the import once no copy is in flight; only once no slot is held. */
  close(): void {
    if (this.freed) return;
    const rc = this.dev.lib.vkc_import_free(this.dev.ctx, this.handle);
    if (rc === VKC_ERR.BUSY) {
      setTimeout(() => this.close(), 10);
      return;
    }
    this.freed = true;
  }
}
