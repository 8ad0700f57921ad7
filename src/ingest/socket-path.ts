// Where the ingest socket lives, and making that place safe to bind: a private directory, a stale
// socket file replaced, a live one (another vkcast) refused.
import { lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_PATH_BYTES = 107;

export class SocketPathError extends Error {}

/** `$XDG_RUNTIME_DIR/vkcast/PORT.sock`, or `/tmp/vkcast-UID/PORT.sock` without XDG_RUNTIME_DIR. */
export function defaultSocketPath(port: number): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? `${runtime}/vkcast/${port}.sock` : `/tmp/vkcast-${process.getuid!()}/${port}.sock`;
}

/** Readies `path` for bind: throws a SocketPathError when it cannot or must not be used. */
export async function prepareSocketPath(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new SocketPathError(`socket path is longer than ${MAX_PATH_BYTES} bytes: ${path}`);
  checkDirectory(dirname(path));
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new SocketPathError(`${path} exists and is not a socket`);
  if (await accepts(path)) throw new SocketPathError(`another process is listening on ${path}`);
  unlinkSync(path); // a stale socket left by a vkcast that died
}

/** The directory must be ours and closed to others; one we create is mode 0700. */
function checkDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new SocketPathError(`cannot create ${dir}: ${(err as Error).message}`);
  }
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new SocketPathError(`${dir} is not a directory`);
  const uid = process.getuid!();
  if (stat.uid !== uid && stat.uid !== 0) throw new SocketPathError(`${dir} belongs to uid ${stat.uid}, not to this user (${uid})`);
  // A directory others may write to (like /tmp) is fine only with the sticky bit: nobody can swap our socket.
  if ((stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
    throw new SocketPathError(`${dir} is writable by others (mode ${(stat.mode & 0o7777).toString(8)})`);
  }
}

async function accepts(path: string): Promise<boolean> {
  try {
    const probe = await Bun.connect({ unix: path, socket: { data() {} } });
    probe.end();
    return true;
  } catch {
    return false;
  }
}
