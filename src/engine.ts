// The engine loop of the main job: each tick, fold the viewers' input into the input state,
// let the source render a frame for it, and offer that frame to the server.
import type { FrameSource } from "./frame.ts";
import { InputState } from "./input.ts";
import type { Logger } from "./log.ts";
import type { StreamingServer } from "./server.ts";

/** The loop's render times and errors are reported through the server (renderMs, sourceError). */
export interface EngineLoop {
  /** Stops ticking and resolves once the frame being rendered (if any) is handed off. */
  stop(): Promise<void>;
}

export function runEngine(server: StreamingServer, source: FrameSource, log: Logger): EngineLoop {
  const input = new InputState();
  const interval = 1000 / server.fps;
  const started = performance.now();
  let next = started;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let current: Promise<void> = Promise.resolve();

  const tick = async () => {
    input.apply(server.drainInput());
    // Nobody watching: nothing to render or encode.
    if (server.hasClients()) {
      try {
        if (input.resize) source.resize(input.resize.width, input.resize.height);
        const renderStart = performance.now();
        const frame = await source.nextFrame((renderStart - started) / 1000, input);
        server.renderMs.add(performance.now() - renderStart);
        server.sourceError = null;
        if (stopped) frame.release?.();
        else server.pushFrame(frame);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (message !== server.sourceError) log.error("frame source failed", { source: source.name, error: message });
        server.sourceError = message;
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
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
