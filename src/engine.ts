// The engine loop of the main job: each tick, fold the viewers' input into the input state,
// let the source render a frame for it, and offer that frame to the stream. Render times and
// errors go to the stream's source health (/api/stats, /healthz).
import type { Frame, FrameSource } from "./frame.ts";
import { InputState } from "./input-state.ts";
import type { Logger } from "./log.ts";
import type { InputEvent } from "./protocol/input-schema.ts";
import type { SourceHealth } from "./server/health.ts";

/** What the loop drives: a stream (or the StreamingServer, for its default stream). */
export interface EngineTarget {
  readonly fps: number;
  readonly health: SourceHealth;
  /** Encoder Workers in use: the source may have as many frames out at once, plus one being rendered. */
  readonly encoderWorkers?: number;
  drainInput(): InputEvent[];
  hasClients(): boolean;
  pushFrame(frame: Frame): void;
  /** Tells viewers the config again: the source's error in it changed. */
  announceConfig(): void;
}

export interface EngineLoop {
  /** The source in use now (a lost one is replaced by a new one from `reopen`). */
  readonly source: FrameSource;
  /** Stops ticking and resolves once the frame being rendered (if any) is handed off. */
  stop(): Promise<void>;
}

/** Waits between attempts to re-create a lost source: 1 s, doubling up to 10 s. */
const REOPEN_FIRST_MS = 1000;
const REOPEN_MAX_MS = 10_000;

export function runEngine(
  target: EngineTarget,
  initial: FrameSource,
  log: Logger,
  reopen?: () => Promise<FrameSource>,
): EngineLoop {
  const input = new InputState();
  const interval = 1000 / target.fps;
  const started = performance.now();
  let source = initial;
  let next = started;
  let stopped = false;
  let reopening = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let current: Promise<void> = Promise.resolve();

  /** A lost source (e.g. a lost Vulkan device) is closed and re-created while the server keeps serving. */
  const recreate = async () => {
    reopening = true;
    log.error("frame source lost; re-creating it", { source: source.name });
    try {
      source.close();
    } catch {}
    for (let wait = REOPEN_FIRST_MS; !stopped; wait = Math.min(REOPEN_MAX_MS, wait * 2)) {
      await Bun.sleep(wait);
      try {
        source = await reopen!();
        target.health.recovered(source.device);
        target.announceConfig();
        log.info("frame source re-created", { source: source.name, device: source.device });
        break;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (target.health.failed(message)) target.announceConfig();
        log.error("could not re-create the frame source", { error: message, retryMs: wait });
      }
    }
    reopening = false;
  };

  const tick = async () => {
    input.apply(target.drainInput());
    // Nobody watching: nothing to render or encode.
    if (target.hasClients() && !reopening) {
      try {
        if (input.resize) source.resize(input.resize.width, input.resize.height);
        if (target.encoderWorkers) source.setFramesInFlight?.(target.encoderWorkers + 1);
        const renderStart = performance.now();
        const frame = await source.nextFrame((renderStart - started) / 1000, input);
        const wasFailing = target.health.error !== null;
        target.health.rendered(performance.now() - renderStart, frame.stages);
        if (wasFailing) target.announceConfig();
        if (stopped) frame.release?.();
        else target.pushFrame(frame);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (target.health.failed(message)) {
          log.error("frame source failed", { source: source.name, error: message });
          target.announceConfig();
        }
        if (source.lost && reopen) void recreate();
      }
    }
    input.endFrame();
  };

  const schedule = () => {
    if (stopped) return;
    const now = performance.now();
    next = now - next > interval ? now + interval : next + interval;
    timer = setTimeout(() => {
      current = tick().finally(schedule);
    }, Math.max(0, next - now));
  };
  schedule();

  return {
    get source() {
      return source;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
