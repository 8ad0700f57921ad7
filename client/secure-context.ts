// A page served over plain http from an address other than localhost is not a secure context: the browser
// then withholds WebCodecs (so no H.264, only JPEG) and the clipboard. Say so, small and out of the way.

/** The notice for a page whose isSecureContext is `secure`; null when nothing is lost. */
export function insecureNotice(secure: boolean): string | null {
  if (secure) return null;
  return (
    "Not a secure context (plain http, not localhost): no H.264 (WebCodecs) and no clipboard; JPEG only. " +
    "Use https (--tls self-signed) or localhost."
  );
}

/** Shows the notice in `el` (hidden otherwise). */
export function showSecureContextNotice(el: HTMLElement, secure: boolean): void {
  const text = insecureNotice(secure);
  el.textContent = text ?? "";
  el.hidden = text === null;
}
