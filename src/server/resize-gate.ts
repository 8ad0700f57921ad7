// The render follows the controller's view: its resize is fitted to the sizes a stream can render
// (aspect kept, at least 320x180, at most 3840x2160 device pixels) and applied at most 4 times a
// second, the last one always. Pure functions of their inputs; the stream keeps the timer.
import { MAX_FRAME_SIDE, type ResizeEvent } from "../protocol/input-schema.ts";

export const MIN_RENDER_SIDE = { width: 320, height: 180 } as const;
/** At most 4 resizes a second reach the engine. */
export const MIN_RESIZE_INTERVAL_MS = 250;

/**
 * The resize the engine gets: the same event when the render size it asks for (width x height x ratio)
 * fits; else one whose size times `ratio` is the nearest size that fits with the same aspect (only an
 * aspect beyond what fits between the limits is cut). `pwidth`/`pheight` follow.
 */
export function fitResize(event: ResizeEvent): ResizeEvent {
  const width = event.width * event.ratio;
  const height = event.height * event.ratio;
  const fitted = fitRenderSize(width, height);
  if (fitted.width === width && fitted.height === height) return event;
  const out: ResizeEvent = { ...event, width: fitted.width / event.ratio, height: fitted.height / event.ratio };
  if (event.pwidth !== undefined) out.pwidth = fitted.width;
  if (event.pheight !== undefined) out.pheight = fitted.height;
  return out;
}

/** A render size in device pixels within the limits, with the aspect of `width` x `height` where it can be kept. */
export function fitRenderSize(width: number, height: number): { width: number; height: number } {
  const max = MAX_FRAME_SIDE;
  const min = MIN_RENDER_SIDE;
  let w = width;
  let h = height;
  const down = Math.min(1, max.width / w, max.height / h);
  w *= down;
  h *= down;
  const up = Math.max(1, min.width / w, min.height / h);
  w *= up;
  h *= up;
  return {
    width: Math.min(max.width, Math.max(min.width, Math.round(w))),
    height: Math.min(max.height, Math.max(min.height, Math.round(h))),
  };
}

/** How long a resize arriving at `now` waits: 0 when the last one applied is old enough. */
export function resizeWait(lastAppliedAt: number, now: number): number {
  return Math.max(0, lastAppliedAt + MIN_RESIZE_INTERVAL_MS - now);
}
