// Builds the C files of src/vulkan/ (vkcast_vk*.c, API: vkcast_vk.h) and the GLSL shaders into
// <repo>/build/libvkcast_vk.so.
//
// The shaders are compiled by glslc into C initializer lists (`-mfmt=c`) that the C file #includes,
// so the library carries its SPIR-V. `ensureVulkanLibrary()` rebuilds only when a source (C, headers, GLSL or
// this file) is newer than the library; otherwise it costs a few stat calls. Concurrent builds (two
// test processes, a server and a bench) are safe: each builds in its own temp directory and renames
// the finished library into place, which is atomic.
//
// Run directly: `bun run src/vulkan/build.ts` (prints the library path).

import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";

const SRC_DIR = import.meta.dir;
const SHADER_DIR = join(SRC_DIR, "shaders");
const REPO_DIR = resolve(SRC_DIR, "..", "..");
const BUILD_DIR = join(REPO_DIR, "build");
const LIBRARY_PATH = join(BUILD_DIR, "libvkcast_vk.so");
/** The file with the library's entry points: when it is absent there are no sources to build from. */
const C_SOURCE = join(SRC_DIR, "vkcast_vk.c");

export const BUILD_PACKAGES = "libvulkan-dev mesa-vulkan-drivers glslc gcc";

/** Thrown when the library cannot be built; the message holds the compiler's output. */
export class VulkanBuildError extends Error {
  override name = "VulkanBuildError";
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function filesIn(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir)
    .filter((f) => pattern.test(f))
    .map((f) => join(dir, f));
}

/** Every input of the build: the C files and headers, the shaders (and their includes), this script. */
function sources(): string[] {
  return [...filesIn(SRC_DIR, /\.[ch]$/), import.meta.path, ...filesIn(SHADER_DIR, /\.(vert|frag|comp|glsl)$/)];
}

function run(cmd: string[], cwd: string): void {
  let proc: ReturnType<typeof Bun.spawnSync>;
  try {
    proc = Bun.spawnSync({ cmd, cwd, stdout: "pipe", stderr: "pipe" });
  } catch (e) {
    throw new VulkanBuildError(
      `cannot run ${cmd[0]} (${(e as Error).message}). Install the build tools: ` +
        `apt-get install ${BUILD_PACKAGES}`,
    );
  }
  if (proc.exitCode !== 0) {
    const out = `${proc.stderr?.toString() ?? ""}${proc.stdout?.toString() ?? ""}`.trim();
    throw new VulkanBuildError(
      `building the Vulkan library failed: \`${cmd.join(" ")}\` exited with ${proc.exitCode}:\n${out}\n` +
        `The build needs a C compiler, the Vulkan headers and loader, a driver and glslc: ` +
        `apt-get install ${BUILD_PACKAGES}`,
    );
  }
}

/** Builds unconditionally; returns the library path. */
function buildVulkanLibrary(): string {
  const cc = process.env.CC || Bun.which("cc") || Bun.which("gcc") || Bun.which("clang");
  const glslc = Bun.which("glslc");
  const missing = [!cc && "a C compiler (cc)", !glslc && "glslc"].filter(Boolean);
  if (missing.length)
    throw new VulkanBuildError(
      `cannot build the Vulkan library: ${missing.join(" and ")} not found. ` + `apt-get install ${BUILD_PACKAGES}`,
    );
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = join(BUILD_DIR, `.vk-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmp, { recursive: true });
  try {
    for (const shader of filesIn(SHADER_DIR, /\.(vert|frag|comp)$/))
      run([glslc!, "-O", "--target-env=vulkan1.2", "-mfmt=c", "-I", SHADER_DIR, "-o", join(tmp, `${basename(shader)}.inc`), shader], tmp);
    const out = join(tmp, "libvkcast_vk.so");
    run(
      [
        cc!,
        "-O2",
        "-shared",
        "-fPIC",
        "-fvisibility=hidden",
        "-std=c11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Wno-missing-field-initializers",
        "-I",
        tmp,
        "-o",
        out,
        ...filesIn(SRC_DIR, /\.c$/),
        "-lvulkan",
        "-lpthread",
      ],
      tmp,
    );
    renameSync(out, LIBRARY_PATH);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return LIBRARY_PATH;
}

/**
 * The absolute path of the built library, building it first when it is missing or older than a
 * source. `VKCAST_VULKAN_LIB` names a prebuilt library instead (e.g. next to a compiled binary).
 */
export function ensureVulkanLibrary(): string {
  const override = process.env.VKCAST_VULKAN_LIB;
  if (override) return resolve(override);
  const built = mtime(LIBRARY_PATH);
  if (mtime(C_SOURCE) < 0) {
    // No sources next to this file (e.g. inside a `bun build --compile` binary): use what is built.
    if (built >= 0) return LIBRARY_PATH;
    throw new VulkanBuildError(
      `the Vulkan library is not built and its sources are not at ${SRC_DIR}; ` +
        `build it from a checkout (bun run src/vulkan/build.ts) and point VKCAST_VULKAN_LIB at the .so`,
    );
  }
  if (built >= 0 && sources().every((s) => mtime(s) <= built)) return LIBRARY_PATH;
  return buildVulkanLibrary();
}

if (import.meta.main) {
  try {
    const t0 = performance.now();
    const path = ensureVulkanLibrary();
    console.log(`${path} (${(performance.now() - t0).toFixed(0)} ms)`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
