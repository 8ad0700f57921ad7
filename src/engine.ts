// The engine loop of the main job: each tick, fold the viewers' input into the input state,
// let the source render a frame for it, and offer that frame to the server.
import type { FrameSource } from "./frame.ts";
import { InputState } from "./input.ts";
import type { Logger } from "./log.ts";
import type { StreamingServer } from "./server.ts";

export interface EngineLoop {
  /** Stops ticking and resolves once the frame being rendered (if any) is handed off. */
  stop(): Promise<void>;
  readonly framesRendered: number;
  readonly lastError: string | null;
}

export function runEngine(server: StreamingServer, source: FrameSource, log: Logger): EngineLoop {
  const input = new InputState();
  const interval = 1000 / server.fps;
  const started = performance.now();
  let next = started;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let current: Promise<void> = Promise.resolve();
  const loop = { framesRendered: 0, lastError: null as string | null };

  const tick = async () => {
    input.apply(server.drainInput());
    if (input.resize) {
      source.resize(input.resize.width, input.resize.height);
    }
    // Nobody watching: nothing to render or encode.
    if (server.hasClients()) {
      try {
        const frame = await source.nextFrame((performance.now() - started) / 1000, input);
        loop.framesRendered++;
        loop.lastError = null;
        if (stopped) frame.release?.();
        else server.pushFrame(frame);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (message !== loop.lastError) log.error("frame source failed", { source: source.name, error: message });
        loop.lastError = message;
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
    get framesRendered() {
      return loop.framesRendered;
    },
    get lastError() {
      return loop.lastError;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
