// The text messages a server sends to a v2 viewer (`/ws?v=2`), one JSON object each with a `type`.
// Browser-safe (no Bun or Node imports): the server builds them, the client may import the types.

/** The protocol version a v2 server reports in `hello` and /api/config. */
export const PROTOCOL_VERSION = 2;

export type Role = "control" | "view";

/**
 * A frame's `in` metadata (JPEG COM / H.264 SEI): a viewer's session id (presence's `you`, as a JSON key) -> the
 * highest `seq` of that viewer's input messages the engine had taken before it rendered the frame.
 */
export type AppliedInput = Readonly<Record<string, number>>;

/** Sent once, right after the socket opens. */
export interface HelloMessage {
  type: "hello";
  protocol: number;
  width: number;
  height: number;
  fps: number;
  quality: number;
  role: Role;
  /** The viewer's id on this server (as in the server's logs). */
  id: number;
  /** The codec of its binary messages: "jpeg" (whole JPEGs) or "h264" (one Annex B access unit each). */
  codec: "jpeg" | "h264";
}

/** GET /api/config: a stream's settings and state. The field names are a contract; README lists them. */
export interface StreamConfig {
  width: number;
  height: number;
  fps: number;
  quality: number;
  interactiveQuality: number;
  stillQuality: number;
  /** The JPEG backend in use ("turbo" or "napi"), null before start. */
  encoder: string | null;
  /** Encoder Workers in use (0 before start). */
  encoderWorkers: number;
  /** The codecs a viewer may ask for with /ws?v=2&codec=NAME ("jpeg", and "h264" where offered). */
  codecs: ("jpeg" | "h264")[];
  /** The device that renders the stream's frames, as its engine reports it. */
  device: string;
  /** WebSocket and MJPEG viewers connected now. */
  viewers: number;
  /** Who drives: one viewer at a time, every viewer, or nobody. */
  control: "one" | "all" | "none";
  protocol: number;
  /** The frame source's error while it is failing, else null. */
  sourceError: string | null;
}

/** Sent when the frame size or the viewer's role changes: the /api/config fields plus its role. */
export interface ConfigMessage extends StreamConfig {
  type: "config";
  role: Role;
}

/** The answer to a viewer's `ping {t}`: its `t` back, and the server's clock (ms since the epoch). */
export interface PongMessage {
  type: "pong";
  t: number;
  server: number;
}

/** Quantiles of recent samples; null while there are none. */
export interface SampleSummary {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  count: number;
}

/** Sent each second: what this viewer got and skipped, and the stream's latency. */
export interface StatsMessage {
  type: "stats";
  framesSent: number;
  framesSkipped: number;
  latencyMs: SampleSummary;
  viewers: number;
  /** The tier this viewer gets (full, low, small) and why. */
  tier?: string;
  tierReason?: string;
}

/** A message from this viewer was rejected; `error` names the bad field. The socket stays open. */
export interface ErrorMessage {
  type: "error";
  error: string;
}

/** One viewer in a presence message; `id` is the session's number for it (as in `you`, `controller`, `grant`'s `to`). */
export interface PresenceViewer {
  id: number;
  role: Role;
  /** Asked for control and has not had it since. */
  asking?: true;
  /** Came with a view-only link: never controls. */
  viewOnly?: true;
}

/**
 * Who is here and who drives, sent to every viewer on join, leave and every change. Past 50 viewers it
 * lists only the controller, those asking and the first 50 (`total` counts everyone), at most once a second.
 */
export interface PresenceMessage {
  type: "presence";
  you: number;
  controller: number | null;
  viewers: PresenceViewer[];
  total: number;
}

/** To the controller: viewer `from` asks to drive (answer with `control` `grant`, or ignore it). */
export interface ControlRequestMessage {
  type: "control";
  action: "request";
  from: number;
}

/** Text the engine put on the clipboard, sent to the viewers that control. */
export interface ClipboardMessage {
  type: "clipboard";
  text: string;
}

export type ViewerMessage =
  | HelloMessage
  | ConfigMessage
  | PongMessage
  | StatsMessage
  | ErrorMessage
  | PresenceMessage
  | ControlRequestMessage
  | ClipboardMessage;
