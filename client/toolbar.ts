// The toolbar (top right): the stats overlay, pointer lock and fullscreen. Each button shows its
// state in aria-pressed; a button whose feature this browser lacks is hidden.

import type { StatsOverlay } from "./overlay.ts";

export interface ToolbarElements {
  /** What goes fullscreen: the whole page, so the toolbar and the status stay on it. */
  app: HTMLElement;
  /** What pointer lock captures: the stream. */
  canvas: HTMLCanvasElement;
  statsButton: HTMLButtonElement;
  lockButton: HTMLButtonElement;
  fullscreenButton: HTMLButtonElement;
}

export function setUpToolbar(el: ToolbarElements, overlay: StatsOverlay): void {
  el.statsButton.addEventListener("click", () => overlay.toggle());

  if (!document.fullscreenEnabled) el.fullscreenButton.hidden = true;
  el.fullscreenButton.addEventListener("click", () => {
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
    else void el.app.requestFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", () => {
    el.fullscreenButton.setAttribute("aria-pressed", String(document.fullscreenElement !== null));
  });

  // A touch screen without a mouse has nothing to lock.
  if (!("requestPointerLock" in el.canvas) || touchOnly()) el.lockButton.hidden = true;
  el.lockButton.addEventListener("click", () => {
    if (document.pointerLockElement === el.canvas) {
      document.exitPointerLock();
      return;
    }
    el.canvas.focus({ preventScroll: true });
    try {
      // Chromium returns a promise (rejected e.g. right after a release); Firefox returns undefined.
      const p = el.canvas.requestPointerLock() as unknown as Promise<void> | undefined;
      p?.catch?.(() => {});
    } catch {
      // not allowed here; nothing to do
    }
  });
  document.addEventListener("pointerlockchange", () => {
    el.lockButton.setAttribute("aria-pressed", String(document.pointerLockElement === el.canvas));
  });
}

/** A touch screen without a mouse. */
export function touchOnly(): boolean {
  return matchMedia("(pointer: coarse)").matches && !matchMedia("(any-pointer: fine)").matches;
}
