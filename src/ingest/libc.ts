// The two libc calls Bun does not offer: the peer's credentials of a Unix socket, and reserving a
// file's blocks up front (so a full /dev/shm fails at the handshake, not with SIGBUS mid-frame).
import { dlopen, FFIType, ptr } from "bun:ffi";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

const libc = dlopen("libc.so.6", {
  getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_fallocate: { args: [FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 },
  strerror: { args: [FFIType.i32], returns: FFIType.cstring },
});

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials the kernel recorded for the peer of a connected Unix socket, or null if unknown. */
export function peerCredentials(fd: number): PeerCredentials | null {
  const ucred = new Int32Array(3); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const length = new Uint32Array([ucred.byteLength]);
  if (libc.symbols.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ptr(ucred), ptr(length)) !== 0) return null;
  if (length[0] !== ucred.byteLength) return null;
  return { pid: ucred[0]!, uid: ucred[1]! >>> 0, gid: ucred[2]! >>> 0 };
}

/** Reserves `length` bytes of `fd`; throws with the system's message (e.g. "No space left on device"). */
export function reserve(fd: number, length: number): void {
  const rc = libc.symbols.posix_fallocate(fd, 0, length);
  if (rc !== 0) throw new Error(String(libc.symbols.strerror(rc)));
}
