// StreamingServer's options, their defaults (one table the CLI uses too) and their validation.
import { CODECS, type EncoderChoice, ENCODER_CHOICES, type EncoderKind } from "../encode/backend.ts";
import { checkInt } from "../limits.ts";
import { type Logger, silentLogger } from "../log.ts";
import { isLoopback, randomToken } from "./access.ts";
import type { ControlMode } from "./control-state.ts";

/** Who may send input: one viewer at a time (handed over on request), every viewer (as the original), or nobody. */
export type ControlPolicy = ControlMode;
/** The policies a user may name; "first" is the older name of "one". */
export const CONTROL_POLICIES = ["one", "all", "none", "first"] as const;

/** The policy a name stands for ("first" is "one"); throws a RangeError for another name. */
export function controlPolicy(name: string): ControlPolicy {
  if (name === "first") return "one";
  if (name === "one" || name === "all" || name === "none") return name;
  throw new RangeError("control must be one, all or none");
}

/** The defaults of the server and of the CLI flags that set the same things. */
export const DEFAULTS = {
  host: "127.0.0.1",
  port: 8080,
  width: 1280,
  height: 720,
  fps: 30,
  quality: 85,
  interactiveQuality: 60,
  stillQuality: 90,
  control: "one" as ControlPolicy,
  stallTimeout: 30,
  encoder: "auto" as EncoderChoice,
  /** Two Workers keep up with the slower backend at 720p on two cores. */
  encoderWorkers: 2,
  inputCapacity: 256,
  inputRateLimit: 500,
  /** Above the 100 viewers the benchmarks publish; each viewer costs memory and a share of the fan-out. */
  maxViewers: 200,
} as const;

export interface StreamingServerOptions {
  host?: string;
  /** 0 picks a free port; `port` holds the real one after start(). */
  port?: number;
  /** JPEG quality of frames while nobody interacts. */
  quality?: number;
  /** JPEG quality while input arrives (smaller frames, quicker response). */
  interactiveQuality?: number;
  /** JPEG quality of the one frame sent when input stops or the picture stops changing. */
  stillQuality?: number;
  fps?: number;
  encoder?: EncoderChoice;
  /** Encoder Workers (1-16), or "auto": as many as encoding at the target fps needs, within the CPUs this process may use. */
  encoderWorkers?: number | "auto";
  /**
   * The codecs viewers may ask for; "jpeg" must be one (MJPEG, snapshots and v1 viewers use it). Default:
   * JPEG, and H.264 where OpenH264 loads. Asking for "h264" where it does not load makes start() fail.
   */
  codecs?: EncoderKind[];
  /** With the nvJPEG encoder: the UUID of the GPU to encode on (the render device's); the first CUDA device when absent. */
  cudaDevice?: string;
  /** Input events a stream holds for its engine; beyond that the oldest is dropped. */
  inputCapacity?: number;
  /** "one" (the default): one viewer drives at a time; "all": every viewer; "none": nobody. "first" is "one". */
  control?: ControlPolicy | "first";
  /** A viewer that skips frames for this many seconds without catching up is closed (CLOSE_TOO_SLOW). */
  stallTimeout?: number;
  /** Name of the default stream's rendering device, reported in /api/config. */
  device?: string;
  logger?: Logger;
  /**
   * Every request must carry this token (cookie, `?token=` or `Authorization: Bearer`); null turns
   * auth off. Default: off on a loopback host, a random token on any other.
   */
  token?: string | null;
  /** A second token that lets a viewer watch but never drive (role "view"); needs `token`. */
  viewToken?: string | null;
  /** Origins besides the server's own that may open /ws (e.g. "https://dashboard.example"). */
  allowOrigins?: string[];
  /**
   * Host names (the Host header) served when no token is required, besides loopback names, IP
   * addresses and `host`: a page on a foreign name rebound to this address (DNS rebinding) gets 403.
   */
  allowHosts?: string[];
  /** Viewers (WebSocket and MJPEG, all streams) at once; one more gets HTTP 503 before its upgrade. */
  maxViewers?: number;
  /** Serve HTTPS and WSS with this certificate and key (PEM file paths). */
  tls?: { cert: string; key: string } | null;
  /** Text messages a viewer may send per second; the excess is dropped and counted. */
  inputRateLimit?: number;
  /**
   * Serve only streams added with addStream and fed with frames encoded elsewhere (Stream.pushEncoded, as
   * an edge does): no encoder Workers are started, and the default stream is not served.
   */
  relay?: boolean;
  /** Extra GET routes by exact path, behind the token (an edge's list of sessions at /). */
  routes?: Record<string, (req: Request) => Response | Promise<Response>>;
}

/** How each stream encodes, paces and treats its viewers (the same for every stream of a server). */
export interface StreamSettings {
  fps: number;
  quality: number;
  interactiveQuality: number;
  stillQuality: number;
  control: ControlPolicy;
  stallTimeoutMs: number;
  inputCapacity: number;
  inputRateLimit: number;
}

/** Who may connect, and how the listener is reached. */
export interface AccessSettings {
  /** The token every request needs, or null when auth is off. */
  token: string | null;
  viewToken: string | null;
  allowOrigins: readonly string[];
  /** Host names served without a token besides loopback, IP addresses and the bound host (lower case). */
  allowHosts: readonly string[];
  tls: { cert: string; key: string } | null;
}

export interface ServerSettings {
  host: string;
  port: number;
  encoder: EncoderChoice;
  encoderWorkers: number | "auto";
  relay: boolean;
  routes: Readonly<Record<string, (req: Request) => Response | Promise<Response>>>;
  /** The codecs asked for, or null for the default (H.264 where it loads). */
  codecs: readonly EncoderKind[] | null;
  cudaDevice: string | undefined;
  maxViewers: number;
  device: string;
  logger: Logger;
  stream: StreamSettings;
  access: AccessSettings;
}

/** Fills in the defaults and checks every option; throws a TypeError/RangeError naming the bad one. */
export function resolveOptions(options: StreamingServerOptions): ServerSettings {
  const host = options.host ?? DEFAULTS.host;
  if (typeof host !== "string" || host === "") throw new RangeError("host must be a non-empty string");
  const encoder = options.encoder ?? DEFAULTS.encoder;
  if (!ENCODER_CHOICES.includes(encoder)) throw new RangeError(`encoder must be one of ${ENCODER_CHOICES.join(", ")}`);
  const control = controlPolicy(options.control ?? DEFAULTS.control);
  return {
    host,
    port: checkInt("port", options.port ?? DEFAULTS.port),
    encoder,
    encoderWorkers:
      options.encoderWorkers === "auto" ? "auto" : checkInt("encoderWorkers", options.encoderWorkers ?? DEFAULTS.encoderWorkers),
    relay: options.relay ?? false,
    routes: options.routes ?? {},
    codecs: options.codecs === undefined ? null : checkCodecs(options.codecs),
    cudaDevice: options.cudaDevice,
    maxViewers: checkInt("maxViewers", options.maxViewers ?? DEFAULTS.maxViewers),
    device: options.device ?? "",
    logger: options.logger ?? silentLogger,
    stream: {
      fps: checkInt("fps", options.fps ?? DEFAULTS.fps),
      quality: checkInt("quality", options.quality ?? DEFAULTS.quality),
      interactiveQuality: checkInt("quality", options.interactiveQuality ?? DEFAULTS.interactiveQuality, "interactiveQuality"),
      stillQuality: checkInt("quality", options.stillQuality ?? DEFAULTS.stillQuality, "stillQuality"),
      control,
      stallTimeoutMs: checkInt("stallTimeout", options.stallTimeout ?? DEFAULTS.stallTimeout) * 1000,
      inputCapacity: options.inputCapacity ?? DEFAULTS.inputCapacity,
      inputRateLimit: checkInt("inputRateLimit", options.inputRateLimit ?? DEFAULTS.inputRateLimit),
    },
    access: resolveAccess(host, options),
  };
}

function resolveAccess(host: string, options: StreamingServerOptions): AccessSettings {
  // A view token alone turns auth on too: someone must hold the token that drives.
  const authByDefault = !isLoopback(host) || Boolean(options.viewToken);
  const token = options.token === undefined ? (authByDefault ? randomToken() : null) : options.token;
  if (token !== null && (typeof token !== "string" || token.length < 8)) {
    throw new RangeError("token must be a string of at least 8 characters");
  }
  const viewToken = options.viewToken ?? null;
  if (viewToken !== null) {
    if (token === null) throw new RangeError("viewToken needs token auth (a token)");
    if (typeof viewToken !== "string" || viewToken.length < 8 || viewToken === token) {
      throw new RangeError("viewToken must be a string of at least 8 characters, unlike token");
    }
  }
  const allowHosts = options.allowHosts ?? [];
  if (!Array.isArray(allowHosts) || allowHosts.some((h) => typeof h !== "string" || h === "")) {
    throw new RangeError("allowHosts must be an array of host names");
  }
  const hosts = allowHosts.map((h) => h.toLowerCase());
  return { token, viewToken, allowOrigins: options.allowOrigins ?? [], allowHosts: hosts, tls: options.tls ?? null };
}

/** A codec list: known names, JPEG among them; duplicates dropped. */
export function checkCodecs(codecs: readonly string[]): EncoderKind[] {
  if (!Array.isArray(codecs) || codecs.some((c) => !CODECS.includes(c as EncoderKind))) {
    throw new RangeError(`codecs must be a list of ${CODECS.join(", ")}`);
  }
  if (!codecs.includes("jpeg")) throw new RangeError("codecs must include jpeg (MJPEG, snapshots and v1 viewers use it)");
  return [...new Set(codecs as EncoderKind[])];
}
