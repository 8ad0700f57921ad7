// vkcast's main job: parse flags, pick a frame source, start the server, stop cleanly on a signal.
import { type CliOptions, listenerOptions, parseCli, usage, UsageError, VERSION } from "./src/cli.ts";
import { runEdgeJob, startOrigin } from "./src/cluster/processes.ts";
import { chooseEncoder, type EncoderPlan } from "./src/encode/choose.ts";
import { NvjpegUnavailableError } from "./src/encode/nvjpeg-cuda.ts";
import { runEngine } from "./src/engine.ts";
import type { FrameSource } from "./src/frame.ts";
import { IngestListener } from "./src/ingest/listener.ts";
import { defaultSocketPath, SocketPathError } from "./src/ingest/socket-path.ts";
import { ServerStreams } from "./src/ingest/streams.ts";
import { isLoopback } from "./src/server/access.ts";
import { createLogger } from "./src/log.ts";
import { selfSigned } from "./src/self-signed.ts";
import { StartError, StreamingServer } from "./src/server.ts";
import { SyntheticSource } from "./src/sources/synthetic.ts";
import { NoSuchDeviceError, VulkanSource, VulkanUnavailableError } from "./src/sources/vulkan.ts";

const EXIT_USAGE = 2;
/** No Vulkan device, or (--encoder nvjpeg) no CUDA or nvJPEG. */
const EXIT_NO_DEVICE = 3;
/** A stop that takes longer than this is cut short. */
const SHUTDOWN_LIMIT_MS = 2000;

let options: CliOptions;
try {
  options = parseCli(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`vkcast: ${err.message}`);
  process.exit(EXIT_USAGE);
}
if (options.help) {
  console.log(usage());
  process.exit(0);
}
if (options.version) {
  console.log(`vkcast ${VERSION}`);
  process.exit(0);
}

const log = createLogger(options.logLevel, options.jsonLogs);
// --tls self-signed: made once in the per-user state directory, then reused like --tls-cert/--tls-key.
let certificateLines: string[] = [];
if (options.tls === "self-signed") {
  const made = selfSigned(options.host);
  options = { ...options, tlsCert: made.cert, tlsKey: made.key };
  certificateLines = [
    `vkcast: certificate SHA-256 ${made.fingerprint}`,
    `vkcast: certificate SPKI SHA-256 (base64, for --ignore-certificate-errors-spki-list) ${made.spkiFingerprint}`,
  ];
}
if (options.edge) certificateLines.forEach((line) => console.log(line));
// An edge has no frame source and no encoder; it serves until a signal ends the process (nothing below runs).
if (options.edge) await runEdgeJob(options, log, SHUTDOWN_LIMIT_MS);
// With --source ipc[:PATH] frames come from producers on a Unix socket ("" here: the default path).
const ipcPath = options.source === "ipc" ? "" : options.source.startsWith("ipc:") ? options.source.slice(4) : null;

/** The encoder and what the source hands it; decided once the first source is open (its GPU counts). */
let plan: EncoderPlan | null = null;

async function openSource(): Promise<FrameSource> {
  if (options.source === "synthetic") return new SyntheticSource(options.width, options.height);
  return await VulkanSource.create({ width: options.width, height: options.height, device: options.device, output: plan?.output });
}
let source: FrameSource | null = null;
try {
  if (ipcPath === null) source = await openSource();
} catch (err) {
  if (err instanceof NoSuchDeviceError) {
    console.error(`vkcast: --device: ${err.message}`);
    process.exit(EXIT_USAGE);
  }
  if (!(err instanceof VulkanUnavailableError)) throw err;
  console.error(`vkcast: ${err.message}`);
  process.exit(EXIT_NO_DEVICE);
}
try {
  const render = source instanceof VulkanSource ? { uuid: source.uuid, cpu: source.deviceType === "cpu" } : null;
  plan = await chooseEncoder(options.encoder, render);
} catch (err) {
  if (!(err instanceof NvjpegUnavailableError)) throw err;
  console.error(`vkcast: --encoder nvjpeg: ${err.message}`);
  source?.close();
  process.exit(EXIT_NO_DEVICE);
}
if (source instanceof VulkanSource) source.setOutput(plan.output);
if (source) log.info("frame source ready", { source: source.name, device: source.device, width: source.width, height: source.height });

const server = new StreamingServer({
  ...listenerOptions(options),
  fps: options.fps,
  quality: options.quality,
  interactiveQuality: options.interactiveQuality,
  stillQuality: options.stillQuality,
  control: options.viewOnly ? "none" : options.control,
  encoder: plan.encoder,
  cudaDevice: plan.cudaDevice,
  encoderWorkers: options.encoderWorkers,
  // Frames that stay on the GPU are JPEG only (nvJPEG): the H.264 encoder reads pixels from host memory.
  codecs: plan.output === "yuv420-gpu" ? ["jpeg"] : options.codecs,
  device: source?.device,
  logger: log,
});
try {
  await server.start(source?.width ?? options.width, source?.height ?? options.height);
} catch (err) {
  source?.close();
  if (!(err instanceof StartError)) throw err;
  // A bad --host or TLS file is a bad flag (2); a port in use is not (1).
  console.error(`vkcast: --${err.option.replace(".", "-")}: ${err.reason}`);
  process.exit(err.inUse ? 1 : EXIT_USAGE);
}
// A lost Vulkan device: the engine closes the source and opens a new one; the server keeps serving.
const engine = source ? runEngine(server, source, log, openSource) : null;
let ingest: IngestListener | null = null;
if (ipcPath !== null) {
  try {
    ingest = await IngestListener.open({
      path: ipcPath || defaultSocketPath(server.port),
      streams: new ServerStreams(server),
      log,
      onProducerGone: options.exitWithProducer ? () => void shutdown("producer disconnected") : undefined,
    });
  } catch (err) {
    if (!(err instanceof SocketPathError)) throw err;
    console.error(`vkcast: --source: ${err.message}`);
    process.exit(EXIT_USAGE);
  }
  console.log(`vkcast: producers connect to ${ingest.path}`);
}
// With --nats and --session this server is the origin of a session that edges serve.
const origin = options.nats ? startOrigin(server, options, log) : null;
origin?.ready.catch((err: Error) => {
  log.error("could not publish to NATS", { error: err.message });
  void shutdown("NATS refused");
});
const { origin: url, encoder, codecs, token } = server;
log.info("vkcast is running", { url, device: server.health.device, encoder, codecs, auth: token !== null });
if (options.noAuth && !isLoopback(options.host)) log.warn("--no-auth on a non-loopback host: anyone who reaches it can drive it");
for (const url of server.urls) console.log(`vkcast: open ${url}`);
certificateLines.forEach((line) => console.log(line));
if (server.viewUrl) console.log(`vkcast: view-only link ${server.viewUrl}`);

let stopping = false;
/** Stop accepting, close viewers (1001), let encodes in flight finish, release Vulkan, exit 0. */
const shutdown = async (signal: string) => {
  if (stopping) process.exit(1); // a second signal: stop at once
  stopping = true;
  log.info("stopping", { signal });
  setTimeout(() => {
    log.error("stop took too long; exiting anyway", { limitMs: SHUTDOWN_LIMIT_MS });
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS).unref();
  await engine?.stop();
  await origin?.stop();
  ingest?.close();
  await server.stop();
  engine?.source.close();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
