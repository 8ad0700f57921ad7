// How a stream's frame source is doing, as its engine reports it: the error while it fails, the device
// that renders, and render times. /healthz, /api/config, /api/stats and /metrics read it.
import { Samples } from "./metrics.ts";

export class SourceHealth {
  /** The source's last error while it is failing (null: it renders, or nothing reported a failure). */
  error: string | null = null;
  /** Time the frame source took to render a frame (ms). */
  readonly renderMs = new Samples();

  /** `device`: the human-readable name of what renders the frames. */
  constructor(public device = "") {}

  /** A frame was rendered in `ms`: the source works. */
  rendered(ms: number): void {
    this.renderMs.add(ms);
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
