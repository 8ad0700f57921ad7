// How a stream's frame source is doing, as its engine reports it: the error while it fails, the device
// that renders, and render times. /healthz, /api/config, /api/stats and /metrics read it.
import type { SourceStages } from "../frame.ts";
import { Samples } from "./metrics.ts";

/** The source's share of the stages a frame goes through (the stream adds queue, encode and publish). */
export type SourceStageSamples = Record<keyof SourceStages, Samples>;

export class SourceHealth {
  /** The source's last error while it is failing (null: it renders, or nothing reported a failure). */
  error: string | null = null;
  /** Time the frame source took to render a frame (ms). */
  readonly renderMs = new Samples();
  /** Its stages, from the sources that report them. */
  readonly stages: SourceStageSamples = {
    renderMs: new Samples(),
    readbackMs: new Samples(),
    handoffMs: new Samples(),
    ringWaitMs: new Samples(),
  };

  /** `device`: the human-readable name of what renders the frames. */
  constructor(public device = "") {}

  /** A frame was rendered in `ms` (its stages, when the source tells them): the source works. */
  rendered(ms: number, stages?: SourceStages): void {
    this.renderMs.add(ms);
    if (stages) for (const key of Object.keys(this.stages) as (keyof SourceStages)[]) this.stages[key].add(stages[key]);
    this.error = null;
  }

  /** The source failed (or waits for something, e.g. "waiting for the engine"); returns whether the error is new. */
  failed(error: string): boolean {
    const isNew = error !== this.error;
    this.error = error;
    return isNew;
  }

  /** A new source took over (after a lost device): it works, on `device`. */
  recovered(device: string): void {
    this.device = device;
    this.error = null;
  }
}
