// The NATS subjects of vkcast sessions. A session's name is a stream name (it is served at /s/NAME/ on
// every edge), which is also a valid subject token. Core NATS only: at most once, nothing stored.
import { randomBytes } from "node:crypto";
import { STREAM_NAME } from "../server/stream.ts";

/** Every origin's heartbeat (and its last word when it stops): edges learn the live sessions here. */
export const HEARTBEAT_SUBJECT = "vkcast.sessions";
/** An edge that starts asks here; every origin answers with its heartbeat at once. */
export const DISCOVER_SUBJECT = "vkcast.discover";

/** The subjects of one session. */
export function sessionSubjects(session: string) {
  const base = `vkcast.s.${session}`;
  return {
    /** Origin -> edges: each JPEG frame (frame-wire.ts), in one or more chunks. */
    frames: `${base}.frames`,
    /** Origin -> edges: each H.264 access unit, while some edge has H.264 viewers (they subscribe only then). */
    h264: `${base}.h264`,
    /** Edges -> origin: joins, leaves, input, demand, keyframe requests and state, in order (messages.ts). */
    up: `${base}.up`,
    /** Origin -> one edge: the session's control as that edge's viewers see it. */
    edge: (edge: string) => `${base}.edge.${edge}`,
    /** Origin -> edges: text the engine put on its clipboard, for the viewers that control. */
    clipboard: `${base}.clipboard`,
  };
}

export function checkSessionName(name: string, label = "session"): string {
  if (!STREAM_NAME.test(name)) throw new RangeError(`${label} must match ${STREAM_NAME.source} (got ${JSON.stringify(name)})`);
  return name;
}

/** What an edge is called in viewer keys and subjects: "e" and 10 random base32-ish characters. */
export function newEdgeName(): string {
  return `e${randomBytes(8).toString("base64url").toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 10)}`;
}

/** An edge name as the origin accepts it (it becomes a subject token and a key prefix). */
export const EDGE_NAME = /^[a-z0-9]{1,32}$/;

/** An instance id: tells one run of an origin from the next. */
export function newInstanceId(): string {
  return randomBytes(6).toString("hex");
}
