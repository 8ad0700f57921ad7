// The JSON messages between an origin and its edges, and their checks: whatever arrives from the broker
// is checked field by field before it is used (a bad one is dropped and counted, nothing else changes).
import { MAX_PASTE_BYTES } from "../protocol/input-schema.ts";
import type { PresenceViewer, StreamConfig } from "../protocol/viewer-messages.ts";
import { STREAM_NAME } from "../server/stream.ts";
import { EDGE_NAME } from "./subjects.ts";

/** What every viewer's presence says, but for its own number (`you`). */
export type PresenceBody = { controller: number | null; viewers: PresenceViewer[]; total: number };

/** An origin's heartbeat, each second on HEARTBEAT_SUBJECT (and at once when asked or when it starts). */
export interface Heartbeat {
  type: "session";
  session: string;
  /** One run of the origin: a new one means a restarted origin (frame numbers and viewers start again). */
  instance: string;
  /** The origin's /api/config; `viewers` counts the whole session (the origin's and every edge's). */
  config: StreamConfig;
  /** SHA-256 digests (hex) of the session's viewer tokens, so that every edge checks the same ones. */
  tokens: { control: string | null; view: string | null };
}

/** An origin's last word when it stops. */
export interface Goodbye {
  type: "gone";
  session: string;
  instance: string;
}

/** Edge -> origin, on the session's `up` subject, in order. Viewer ids are the edge's own. */
export type UpMessage =
  | { type: "join"; edge: string; id: number; mayControl: boolean }
  | { type: "leave"; edge: string; id: number }
  /** `event` is checked again at the origin against the input schema. */
  | { type: "input"; edge: string; id: number; event: unknown }
  /** The edge's viewers wanting frames changed, `h264` of them in H.264 (sent at once: the origin starts on it). */
  | { type: "demand"; edge: string; viewers: number; h264: number }
  /** Each second: the edge's viewers in join order, [id, may control (1) or not (0)], and its demand. */
  | { type: "state"; edge: string; viewers: number; h264: number; members: [number, 0 | 1][] }
  /** H.264 viewers of the edge wait for an IDR. */
  | { type: "keyframe"; edge: string }
  /** A viewer's control message (request, release, grant): `command` is checked again at the origin. */
  | { type: "control"; edge: string; id: number; command: unknown }
  /** The edge has no frame (it just started, or a new origin): publish the newest one again. */
  | { type: "resend"; edge: string };

/**
 * Origin -> one edge: the session's control as that edge's viewers see it. Which of its viewers control
 * now (the others watch), of those up to id `upTo`; their numbers in the session; who is here (presence,
 * when it changed); controllers of this edge asked to hand over; control messages of its viewers refused.
 */
export interface RolesMessage {
  type: "roles";
  instance: string;
  controllers: number[];
  /** The highest viewer id of this edge whose join the origin had. */
  upTo: number;
  /** [edge viewer id, session id] of this edge's viewers. */
  ids: [number, number][];
  presence: PresenceBody | null;
  /** This edge's controller `to` is asked by session viewer `from`. */
  requests: { to: number; from: number }[];
  refused: { id: number; error: string }[];
}

/** Origin -> edges: text the engine put on its clipboard. */
export interface ClipboardMessage {
  type: "clipboard";
  text: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMessage(message: Heartbeat | Goodbye | UpMessage | RolesMessage | ClipboardMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

type Fields = Record<string, unknown>;
const isObject = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isDigest = (v: unknown) => v === null || (typeof v === "string" && /^[0-9a-f]{64}$/.test(v));
const isNullOr = (v: unknown, type: "string") => v === null || typeof v === type;
const isInstance = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{1,32}$/.test(v);

function parseJson(data: Uint8Array): Fields | string {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return isObject(value) ? value : "not a JSON object";
  } catch {
    return "not JSON";
  }
}

/** An edge's message as the origin accepts it, or the reason it is refused. */
export function parseUp(data: Uint8Array): UpMessage | string {
  const m = parseJson(data);
  if (typeof m === "string") return m;
  if (typeof m.edge !== "string" || !EDGE_NAME.test(m.edge)) return "edge must be 1-32 of a-z, 0-9";
  switch (m.type) {
    case "join":
      if (!isId(m.id)) return "join.id must be a positive integer";
      if (typeof m.mayControl !== "boolean") return "join.mayControl must be true or false";
      return { type: "join", edge: m.edge, id: m.id, mayControl: m.mayControl };
    case "leave":
      return isId(m.id) ? { type: "leave", edge: m.edge, id: m.id } : "leave.id must be a positive integer";
    case "input":
      if (!isId(m.id)) return "input.id must be a positive integer";
      return isObject(m.event) ? { type: "input", edge: m.edge, id: m.id, event: m.event } : "input.event must be an object";
    case "demand":
      if (!isCount(m.viewers) || !isCount(m.h264)) return "demand.viewers and demand.h264 must be counts";
      return { type: "demand", edge: m.edge, viewers: m.viewers, h264: m.h264 };
    case "state": {
      if (!isCount(m.viewers) || !isCount(m.h264)) return "state.viewers and state.h264 must be counts";
      const members = m.members;
      const isMember = (e: unknown) => Array.isArray(e) && e.length === 2 && isId(e[0]) && (e[1] === 0 || e[1] === 1);
      if (!Array.isArray(members) || !members.every(isMember)) return "state.members must be [[id, 0|1], ...]";
      return { type: "state", edge: m.edge, viewers: m.viewers, h264: m.h264, members: members as [number, 0 | 1][] };
    }
    case "resend":
    case "keyframe":
      return { type: m.type, edge: m.edge };
    case "control":
      if (!isId(m.id)) return "control.id must be a positive integer";
      return isObject(m.command) ? { type: "control", edge: m.edge, id: m.id, command: m.command } : "control.command must be an object";
    default:
      return "unknown or missing 'type'";
  }
}

/** A heartbeat or goodbye as an edge accepts it, or the reason it is refused. */
export function parseAnnouncement(data: Uint8Array): Heartbeat | Goodbye | string {
  const m = parseJson(data);
  if (typeof m === "string") return m;
  if (typeof m.session !== "string" || !STREAM_NAME.test(m.session)) return `session must match ${STREAM_NAME.source}`;
  if (!isInstance(m.instance)) return "instance must be hex";
  if (m.type === "gone") return { type: "gone", session: m.session, instance: m.instance };
  if (m.type !== "session") return "unknown or missing 'type'";
  const config = m.config;
  if (!isObject(config)) return "config must be an object";
  for (const field of ["width", "height", "fps", "quality", "interactiveQuality", "stillQuality"]) {
    if (!isId(config[field])) return `config.${field} must be a positive integer`;
  }
  if (!isCount(config.viewers)) return "config.viewers must be a count";
  if (typeof config.device !== "string") return "config.device must be a string";
  if (!isNullOr(config.encoder, "string")) return "config.encoder must be a string or null";
  if (!isNullOr(config.sourceError, "string")) return "config.sourceError must be a string or null";
  if (!["one", "all", "none"].includes(config.control as string)) return "config.control must be one, all or none";
  const codecs = config.codecs;
  if (!Array.isArray(codecs) || !codecs.includes("jpeg") || !codecs.every((c) => c === "jpeg" || c === "h264")) {
    return "config.codecs must list jpeg, and h264 where offered";
  }
  const tokens = m.tokens;
  if (!isObject(tokens) || !isDigest(tokens.control) || !isDigest(tokens.view)) return "tokens must be SHA-256 hex digests or null";
  return {
    type: "session",
    session: m.session,
    instance: m.instance,
    config: config as unknown as StreamConfig,
    tokens: { control: tokens.control as string | null, view: tokens.view as string | null },
  };
}

/** Roles as an edge accepts them, or the reason they are refused. */
export function parseRoles(data: Uint8Array): RolesMessage | string {
  const m = parseJson(data);
  if (typeof m === "string") return m;
  if (m.type !== "roles" || !isInstance(m.instance)) return "not a roles message";
  if (!Array.isArray(m.controllers) || !m.controllers.every(isId)) return "controllers must be viewer ids";
  if (!isCount(m.upTo)) return "upTo must be a count";
  const every = (v: unknown, ok: (e: unknown) => boolean) => Array.isArray(v) && v.every(ok);
  if (!every(m.ids, (e) => Array.isArray(e) && e.length === 2 && e.every(isId))) return "ids must be [[edge id, session id], ...]";
  if (!every(m.requests, (e) => isObject(e) && isId(e.to) && isId(e.from))) return "requests must be [{to, from}, ...]";
  if (!every(m.refused, (e) => isObject(e) && isId(e.id) && typeof e.error === "string")) return "refused must be [{id, error}, ...]";
  const presence = m.presence;
  const isViewer = (v: unknown) => isObject(v) && isId(v.id) && (v.role === "control" || v.role === "view");
  const isPresence = (p: Fields) => (p.controller === null || isId(p.controller)) && every(p.viewers, isViewer) && isCount(p.total);
  const validPresence = presence === null || (isObject(presence) && isPresence(presence));
  if (!validPresence) return "presence must be null or {controller, viewers: [{id, role}, ...], total}";
  return {
    type: "roles",
    instance: m.instance,
    controllers: m.controllers as number[],
    upTo: m.upTo,
    ids: m.ids as [number, number][],
    presence: presence as PresenceBody | null,
    requests: m.requests as { to: number; from: number }[],
    refused: m.refused as { id: number; error: string }[],
  };
}

/** Clipboard text as an edge accepts it (as long as a viewer's paste may be), or the reason it is refused. */
export function parseClipboard(data: Uint8Array): ClipboardMessage | string {
  const m = parseJson(data);
  if (typeof m === "string") return m;
  if (m.type !== "clipboard" || typeof m.text !== "string") return "not a clipboard message";
  return m.text.length <= MAX_PASTE_BYTES ? { type: "clipboard", text: m.text } : `clipboard.text longer than ${MAX_PASTE_BYTES}`;
}
