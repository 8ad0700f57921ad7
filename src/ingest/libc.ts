// The libc calls Bun does not offer: the peer's credentials of a Unix socket; sealed shared memory
// (memfd_create, posix_fallocate to reserve its pages up front, fcntl seals); another process's file
// descriptor (pidfd_open + pidfd_getfd, Linux 5.6+), for memory a Vulkan producer shares.
import { dlopen, FFIType, ptr, read } from "bun:ffi";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
/** F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW */
export const SEAL_SIZE = 0x1 | 0x2 | 0x4;
export const F_SEAL_SHRINK = 0x2;

const libc = dlopen("libc.so.6", {
  getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_fallocate: { args: [FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 },
  memfd_create: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  pidfd_open: { args: [FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  pidfd_getfd: { args: [FFIType.i32, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
  strerror: { args: [FFIType.i32], returns: FFIType.cstring },
});
const c = libc.symbols;

/** The system's message for the errno the last failed call left. */
function lastError(): string {
  return String(c.strerror(read.i32(c.__errno_location()!, 0)));
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials the kernel recorded for the peer of a connected Unix socket, or null if unknown. */
export function peerCredentials(fd: number): PeerCredentials | null {
  const ucred = new Int32Array(3); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const length = new Uint32Array([ucred.byteLength]);
  if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ptr(ucred), ptr(length)) !== 0) return null;
  if (length[0] !== ucred.byteLength) return null;
  return { pid: ucred[0]!, uid: ucred[1]! >>> 0, gid: ucred[2]! >>> 0 };
}

/** Reserves `length` bytes of `fd`; throws with the system's message (e.g. "No space left on device"). */
export function reserve(fd: number, length: number): void {
  const rc = c.posix_fallocate(fd, 0, length);
  if (rc !== 0) throw new Error(String(c.strerror(rc)));
}

/** A new anonymous shared memory file (close-on-exec, sealable) named `name` in /proc/PID/fd. */
export function memfdCreate(name: string): number {
  const fd = c.memfd_create(ptr(Buffer.from(`${name}\0`)), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw new Error(`memfd_create: ${lastError()}`);
  return fd;
}

/** Adds `seals` (F_SEAL_*) to a memfd; throws when the file cannot take them. */
export function addSeals(fd: number, seals: number): void {
  if (c.fcntl(fd, F_ADD_SEALS, seals) !== 0) throw new Error(`fcntl(F_ADD_SEALS): ${lastError()}`);
}

/** The seals of `fd`, or null when it is not a file that can have seals (not shared memory). */
export function seals(fd: number): number | null {
  const s = c.fcntl(fd, F_GET_SEALS, 0);
  return s < 0 ? null : s;
}

/** A duplicate, in this process, of file descriptor `fd` of process `pid` (needs ptrace permission over it). */
export function takeFd(pid: number, fd: number): number {
  const pidfd = c.pidfd_open(pid, 0);
  if (pidfd < 0) throw new Error(`pidfd_open(${pid}): ${lastError()}`);
  try {
    const copy = c.pidfd_getfd(pidfd, fd, 0);
    if (copy < 0) throw new Error(`pidfd_getfd(${pid}, ${fd}): ${lastError()}`);
    return copy;
  } finally {
    c.close(pidfd);
  }
}

export function closeFd(fd: number): void {
  c.close(fd);
}
