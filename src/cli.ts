// Command-line flags: each flag also comes from an environment variable (VKCAST_<NAME>);
// a flag beats its variable. A bad value names its flag and exits with code 2.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { ENCODER_CHOICES, type EncoderChoice, type EncoderKind } from "./encode/backend.ts";
import { LIMITS, checkInt } from "./limits.ts";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import { CONTROL_POLICIES, checkCodecs, type ControlPolicy, controlPolicy, DEFAULTS as SERVER } from "./server/options.ts";
import { STREAM_NAME } from "./server/stream.ts";

/** The version of this program (package.json's, built into the one-file executable too). */
export const VERSION: string = packageJson.version;

export interface CliOptions {
  host: string;
  port: number;
  width: number;
  height: number;
  fps: number;
  quality: number;
  interactiveQuality: number;
  stillQuality: number;
  control: ControlPolicy;
  viewOnly: boolean;
  stallTimeout: number;
  /** `ipc:PATH` takes frames from producers on the Unix socket PATH; bare `ipc` on the default path. */
  source: "vulkan" | "synthetic" | "ipc" | `ipc:${string}`;
  exitWithProducer: boolean;
  encoder: EncoderChoice;
  encoderWorkers: number | "auto";
  /** undefined: JPEG, and H.264 where OpenH264 loads. */
  codecs: EncoderKind[] | undefined;
  device: string | undefined;
  logLevel: LogLevel;
  jsonLogs: boolean;
  token: string | undefined;
  viewToken: string | undefined;
  noAuth: boolean;
  allowOrigin: string[];
  tls: "self-signed" | undefined;
  allowHost: string[];
  maxViewers: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** The NATS broker of a cluster (src/cluster/): an origin publishes to it, an edge serves from it. */
  nats: string | undefined;
  natsCa: string | undefined;
  session: string | undefined;
  edge: boolean;
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {}

type Spec = {
  /** Placeholder shown in --help; absent for a switch (a flag without a value). */
  value?: string;
  help: string;
  parse: (raw: string, flag: string) => unknown;
};

const int = (name: keyof typeof LIMITS) => (raw: string, flag: string) => {
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new UsageError(`${flag} must be an integer from ${LIMITS[name][0]} to ${LIMITS[name][1]} (got '${raw}')`);
  }
  try {
    return checkInt(name, Number(raw), flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
};
const oneOf =
  <T extends string>(values: readonly T[]) =>
  (raw: string, flag: string): T => {
    if (!values.includes(raw as T)) throw new UsageError(`${flag} must be one of ${values.join(", ")} (got '${raw}')`);
    return raw as T;
  };
const workers = (raw: string, flag: string): number | "auto" => {
  if (raw.trim() === "auto") return "auto";
  const [min, max] = LIMITS.encoderWorkers;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${flag} must be auto or an integer from ${min} to ${max} (got '${raw}')`);
  return int("encoderWorkers")(raw, flag);
};
const text = (raw: string, flag: string) => {
  if (raw.trim() === "") throw new UsageError(`${flag} must not be empty`);
  return raw;
};
const source = (raw: string, flag: string) => {
  if (raw === "ipc:") throw new UsageError(`${flag} ipc:PATH needs a path`);
  if (["vulkan", "synthetic", "ipc"].includes(raw) || raw.startsWith("ipc:")) return raw;
  throw new UsageError(`${flag} must be one of vulkan, synthetic, ipc, ipc:PATH (got '${raw}')`);
};
// An empty value is off: `VKCAST_NO_AUTH=` must never turn auth off.
const bool = (raw: string, flag: string) => {
  if (["1", "true", "yes", "on"].includes(raw.toLowerCase())) return true;
  if (["0", "false", "no", "off", ""].includes(raw.toLowerCase())) return false;
  throw new UsageError(`${flag} must be true or false (got '${raw}')`);
};

const token = (raw: string, flag: string) => {
  if (!/^[\x21-\x7e]{8,256}$/.test(raw)) throw new UsageError(`${flag} must be 8-256 printable characters without spaces`);
  return raw;
};
const origins = (raw: string, flag: string) =>
  raw.split(",").map((o) => {
    let url: URL;
    try {
      url = new URL(o.trim());
    } catch {
      throw new UsageError(`${flag} must be origins like https://host:port, comma-separated (got '${o}')`);
    }
    if (url.origin === "null" || url.origin !== o.trim().replace(/\/$/, "")) {
      throw new UsageError(`${flag} must be origins like https://host:port, comma-separated (got '${o}')`);
    }
    return url.origin;
  });
const codecList = (raw: string, flag: string) => {
  try {
    return checkCodecs(raw.split(",").map((c) => c.trim()));
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message} (got '${raw}')`);
  }
};
const natsUrl = (raw: string, flag: string) => {
  // Not echoed: it may hold a password.
  if (!/^(nats|tls):\/\/[^/\s]+\/?$/.test(raw)) throw new UsageError(`${flag} must be a URL like nats://[user:pass@]host:4222`);
  return raw;
};
const sessionName = (raw: string, flag: string) => {
  if (!STREAM_NAME.test(raw)) throw new UsageError(`${flag} must match ${STREAM_NAME.source} (got '${raw}')`);
  return raw;
};
const hostNames = (raw: string, flag: string) =>
  raw.split(",").map((h) => {
    const name = h.trim().toLowerCase();
    if (!/^[a-z0-9]([a-z0-9.-]{0,252})$/.test(name)) {
      throw new UsageError(`${flag} must be host names like vkcast.example.com, comma-separated (got '${h}')`);
    }
    return name;
  });
const readableFile = (raw: string, flag: string) => {
  try {
    readFileSync(raw);
  } catch (err) {
    throw new UsageError(`${flag} cannot read '${raw}': ${(err as Error).message}`);
  }
  return raw;
};

const SPECS: Record<string, Spec> = {
  host: { value: "HOST", help: `address to listen on (default ${SERVER.host})`, parse: text },
  port: { value: "PORT", help: `port to listen on, 0 for any free one (default ${SERVER.port})`, parse: int("port") },
  width: { value: "W", help: `frame width in pixels (default ${SERVER.width})`, parse: int("width") },
  height: { value: "H", help: `frame height in pixels (default ${SERVER.height})`, parse: int("height") },
  fps: { value: "N", help: `frames per second sent to viewers (default ${SERVER.fps})`, parse: int("fps") },
  quality: { value: "Q", help: `JPEG quality 1-100 while nobody interacts (default ${SERVER.quality})`, parse: int("quality") },
  "interactive-quality": {
    value: "Q",
    help: `JPEG quality while input arrives (default ${SERVER.interactiveQuality})`,
    parse: int("quality"),
  },
  "still-quality": {
    value: "Q",
    help: `JPEG quality of the frame after input or motion stops (default ${SERVER.stillQuality})`,
    parse: int("quality"),
  },
  control: {
    value: "one|all|none",
    help: `who drives: one viewer at a time (handed over on request; "first" too), every viewer, nobody (default ${SERVER.control})`,
    parse: (raw, flag) => controlPolicy(oneOf(CONTROL_POLICIES)(raw, flag)),
  },
  "view-only": { help: "nobody may send input (the same as --control none)", parse: bool },
  "stall-timeout": {
    value: "S",
    help: `close a viewer that stopped reading for S seconds (default ${SERVER.stallTimeout})`,
    parse: int("stallTimeout"),
  },
  source: {
    value: "vulkan|synthetic|ipc[:PATH]",
    help: "where frames come from; ipc: producers on a Unix socket (default vulkan)",
    parse: source,
  },
  "exit-with-producer": { help: "with --source ipc: exit when the first producer disconnects", parse: bool },
  encoder: {
    value: ENCODER_CHOICES.join("|"),
    help: "JPEG encoder (default auto: nvJPEG when it serves the render GPU, else libjpeg-turbo when it loads, else napi)",
    parse: oneOf(ENCODER_CHOICES),
  },
  "encoder-workers": {
    value: "N|auto",
    help: `encoder Workers; auto: as many as the fps needs, within the CPUs this process may use (default ${SERVER.encoderWorkers})`,
    parse: workers,
  },
  codecs: { value: "LIST", help: "codecs viewers may ask for: jpeg or jpeg,h264 (default: h264 too where it loads)", parse: codecList },
  device: { value: "INDEX|NAME", help: "Vulkan device by index or name substring (default: the fastest kind)", parse: text },
  "log-level": { value: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")} (default info)`, parse: oneOf(LOG_LEVELS) },
  "json-logs": { help: "write logs as JSON lines", parse: bool },
  token: { value: "TOKEN", help: "the token every request needs (default: random when --host is not loopback)", parse: token },
  "view-token": { value: "TOKEN", help: "a second token that lets viewers watch but never drive", parse: token },
  "no-auth": { help: "no token even on a non-loopback host (anyone who reaches it can drive it)", parse: bool },
  "allow-origin": { value: "ORIGINS", help: "other web origins that may open /ws, comma-separated", parse: origins },
  tls: {
    value: "self-signed",
    help: "serve HTTPS/WSS with a certificate made here and kept in ~/.local/state/vkcast",
    parse: oneOf(["self-signed"]),
  },
  "allow-host": {
    value: "HOSTS",
    help: "host names (Host header) served without a token besides loopback and --host, comma-separated",
    parse: hostNames,
  },
  "max-viewers": {
    value: "N",
    help: `viewers (WebSocket and MJPEG) at once; more get 503 (default ${SERVER.maxViewers})`,
    parse: int("maxViewers"),
  },
  "tls-cert": { value: "FILE", help: "serve HTTPS/WSS with this PEM certificate (needs --tls-key)", parse: readableFile },
  "tls-key": { value: "FILE", help: "the PEM private key for --tls-cert", parse: readableFile },
  nats: {
    value: "URL",
    help: "NATS broker (nats://[user:pass@|token@]host:port, tls://…): publish as an origin, or --edge",
    parse: natsUrl,
  },
  "nats-ca": { value: "FILE", help: "PEM CA file for TLS to the broker", parse: readableFile },
  session: { value: "NAME", help: "with --nats: this origin's session name; with --edge: serve that session only", parse: sessionName },
  edge: { help: "serve the sessions of --nats (no frame source, no encoder); every live one unless --session", parse: bool },
  help: { help: "show this help and exit", parse: bool },
  version: { help: "print the version and exit", parse: bool },
};

/** The server's defaults (one table, src/server/options.ts) and those of the flags only the CLI has. */
const DEFAULTS: CliOptions = {
  host: SERVER.host,
  port: SERVER.port,
  width: SERVER.width,
  height: SERVER.height,
  fps: SERVER.fps,
  quality: SERVER.quality,
  interactiveQuality: SERVER.interactiveQuality,
  stillQuality: SERVER.stillQuality,
  control: SERVER.control,
  viewOnly: false,
  stallTimeout: SERVER.stallTimeout,
  source: "vulkan",
  exitWithProducer: false,
  encoder: SERVER.encoder,
  encoderWorkers: SERVER.encoderWorkers,
  codecs: undefined,
  device: undefined,
  logLevel: "info",
  jsonLogs: false,
  token: undefined,
  viewToken: undefined,
  noAuth: false,
  allowOrigin: [],
  tls: undefined,
  allowHost: [],
  maxViewers: SERVER.maxViewers,
  tlsCert: undefined,
  tlsKey: undefined,
  nats: undefined,
  natsCa: undefined,
  session: undefined,
  edge: false,
  help: false,
  version: false,
};

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const envName = (flag: string) => `VKCAST_${flag.toUpperCase().replaceAll("-", "_")}`;

/** The listener's options a server and an edge both take from the command line. */
export function listenerOptions(o: CliOptions) {
  return {
    host: o.host,
    port: o.port,
    stallTimeout: o.stallTimeout,
    // undefined: the server's default (a random token unless the host is loopback)
    token: o.noAuth ? null : o.token,
    viewToken: o.viewToken,
    allowOrigins: o.allowOrigin,
    allowHosts: o.allowHost,
    maxViewers: o.maxViewers,
    tls: o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : null,
  };
}

/** Parses argv (without the runtime and script) over the environment; throws UsageError. */
export function parseCli(argv: readonly string[], env: Record<string, string | undefined> = process.env): CliOptions {
  const options: Record<string, unknown> = { ...DEFAULTS };
  for (const [flag, spec] of Object.entries(SPECS)) {
    const raw = env[envName(flag)];
    if (raw !== undefined && flag !== "help" && flag !== "version") options[camel(flag)] = spec.parse(raw, envName(flag));
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      options.help = true;
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const spec = match ? SPECS[match[1]!] : undefined;
    if (!match || !spec) throw new UsageError(`unknown flag '${arg}' (see --help)`);
    const flag = `--${match[1]}`;
    let raw = match[2];
    if (spec.value === undefined) {
      options[camel(match[1]!)] = raw === undefined ? true : spec.parse(raw, flag);
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new UsageError(`${flag} needs a value (${spec.value})`);
      // `--token --view-only` is a forgotten value, not a token (a negative number is still a value).
      if (/^-[^\d]/.test(raw)) throw new UsageError(`${flag} needs a value (${spec.value}), not the flag '${raw}'`);
    }
    options[camel(match[1]!)] = spec.parse(raw, flag);
  }
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  if (options.tls !== undefined && options.tlsCert !== undefined) {
    throw new UsageError("--tls self-signed contradicts --tls-cert and --tls-key");
  }
  if (options.viewToken !== undefined && options.viewToken === options.token) {
    throw new UsageError("--view-token must differ from --token");
  }
  if (options.noAuth && (options.token !== undefined || options.viewToken !== undefined)) {
    throw new UsageError("--no-auth contradicts --token and --view-token");
  }
  if (options.nats === undefined && (options.edge || options.session !== undefined || options.natsCa !== undefined)) {
    throw new UsageError("--edge, --session and --nats-ca need --nats URL");
  }
  if (options.nats !== undefined && !options.edge && options.session === undefined) {
    throw new UsageError("--nats needs --session NAME (an origin) or --edge");
  }
  return options as unknown as CliOptions;
}

/** How the program was started: its own name when it is the one-file executable. */
function programName(): string {
  return Bun.main.startsWith("/$bunfs/") ? basename(process.execPath) : "bun run index.ts";
}

export function usage(): string {
  const lines = Object.entries(SPECS).map(([flag, spec]) => {
    const left = `  --${flag}${spec.value ? ` ${spec.value}` : ""}`;
    return `${left.padEnd(30)} ${spec.help}  [${envName(flag)}]`;
  });
  return [
    "vkcast: watch and drive a headless Vulkan renderer from a web browser",
    "",
    `usage: ${programName()} [flags]`,
    "",
    ...lines,
    "",
    "Exit codes: 0 stopped cleanly, 2 bad flag, 3 no Vulkan device (try --source synthetic) or no CUDA or nvJPEG for --encoder nvjpeg.",
  ].join("\n");
}
