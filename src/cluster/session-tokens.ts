// Each session keeps its own viewer tokens on every edge: the origin announces their SHA-256 digests
// (never the tokens), and an edge lets in a request whose token has one of them. A session's token
// opens no other session. Anyone on the broker sees the digests, so tokens must be random (the default).
import { createHash, timingSafeEqual } from "node:crypto";

export interface TokenDigests {
  control: string | null;
  view: string | null;
}

const sha256 = (token: string) => createHash("sha256").update(token).digest();

export function tokenDigest(token: string | null): string | null {
  return token === null ? null : sha256(token).toString("hex");
}

/** What `given` opens in a session with these digests: control, view, or nothing (constant time). */
export function sessionAccess(given: string | null, digests: TokenDigests): "control" | "view" | null {
  if (given === null) return null;
  const digest = sha256(given);
  const matches = (expected: string | null) => expected !== null && timingSafeEqual(digest, Buffer.from(expected, "hex"));
  return matches(digests.control) ? "control" : matches(digests.view) ? "view" : null;
}
