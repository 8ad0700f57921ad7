// Clipboard text both ways. From the engine (`clipboard` messages to the controller): written to the
// system clipboard; where the browser refuses, shown in a box to copy from. To the engine: a paste into
// the stream (Ctrl+V) or the paste button, which reads the system clipboard; where the browser refuses,
// the box takes the text instead. A paste has a size limit of its own (64 KiB).

import { MAX_PASTE_BYTES } from "../src/protocol/input-schema.ts";

export interface ClipboardElements {
  box: HTMLElement;
  title: HTMLElement;
  text: HTMLTextAreaElement;
  send: HTMLButtonElement;
  copy: HTMLButtonElement;
  close: HTMLButtonElement;
}

/** The paste message's size in bytes on the wire, or the reason it is too long. */
export function pasteProblem(text: string): string | null {
  const bytes = new TextEncoder().encode(JSON.stringify({ type: "paste", text })).byteLength;
  if (bytes <= MAX_PASTE_BYTES) return null;
  return `Too long to paste: ${Math.ceil(bytes / 1024)} KiB (at most ${MAX_PASTE_BYTES / 1024} KiB)`;
}

export class ClipboardBridge {
  constructor(
    private readonly el: ClipboardElements,
    private readonly sendPaste: (text: string) => void,
  ) {
    el.close.addEventListener("click", () => this.hide());
    el.send.addEventListener("click", () => {
      if (this.paste(el.text.value)) this.hide();
    });
    el.copy.addEventListener("click", () => {
      el.text.select();
      // Inside the click the browser allows copying the selection.
      if (document.execCommand("copy")) this.hide();
    });
  }

  /** Text the engine put on its clipboard. */
  async received(text: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
      this.el.box.dataset.last = "copied"; // for tests and for anyone inspecting the page
    } catch {
      this.show("copy", "Text from the stream: copy it (Ctrl+C)", text);
    }
  }

  /** The paste button: the system clipboard's text goes to the engine, or the box asks for it. */
  async pasteFromSystem(): Promise<void> {
    try {
      const text = await navigator.clipboard.readText();
      this.paste(text);
    } catch {
      this.show("paste", "Paste here (Ctrl+V), then Send", "");
    }
  }

  /** Sends pasted text to the engine; returns false (and says why) when it is too long. */
  paste(text: string): boolean {
    const problem = pasteProblem(text);
    if (problem) {
      this.show("paste", problem, text);
      return false;
    }
    if (text) this.sendPaste(text);
    return true;
  }

  private show(mode: "copy" | "paste", title: string, text: string): void {
    const el = this.el;
    el.box.dataset.mode = mode;
    el.title.textContent = title;
    el.text.value = text;
    el.send.hidden = mode !== "paste";
    el.copy.hidden = mode !== "copy";
    el.box.hidden = false;
    el.text.focus({ preventScroll: true });
    el.text.select();
  }

  private hide(): void {
    this.el.box.hidden = true;
  }
}
