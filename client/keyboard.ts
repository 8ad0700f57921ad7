// Keys → the event schema: key_down / key_up with both the logical `key` and the physical `code`, and
// composed text (an IME's result, a dead key's accented letter) as a `text` event. Keys are read from a
// hidden text area that takes the focus when the stream is clicked: only an editable element gets the
// browser's composition, and its `paste` event carries what the viewer pastes.

import type { InputEvent, Modifier } from "../src/protocol/input-schema.ts";

/** Keys the client keeps for itself: never forwarded, never prevented. */
const CLIENT_KEYS = new Set(["F2"]);
/** Keys forwarded to the stream but still left to the browser (fullscreen, devtools). */
const BROWSER_KEYS = new Set(["F11", "F12"]);
/** Keys that start a composition: the text they make comes as a `text` event instead. */
const COMPOSING_KEYS = new Set(["Dead", "Process", "Unidentified"]);

export function modifiersOf(e: { shiftKey: boolean; ctrlKey: boolean; altKey: boolean; metaKey: boolean }): Modifier[] {
  const m: Modifier[] = [];
  if (e.shiftKey) m.push("Shift");
  if (e.ctrlKey) m.push("Control");
  if (e.altKey) m.push("Alt");
  if (e.metaKey) m.push("Meta");
  return m;
}

/** Ctrl+V, Cmd+V and Shift+Insert are left to the browser: its `paste` event sends the text instead. */
function isPasteShortcut(e: KeyboardEvent): boolean {
  return ((e.ctrlKey || e.metaKey) && e.code === "KeyV") || (e.shiftKey && e.key === "Insert");
}

export interface KeyboardOptions {
  /** The hidden text area that has the focus while keys go to the stream. */
  keys: HTMLTextAreaElement;
  send: (event: InputEvent) => void;
  /** The text of a paste into the stream. */
  onPaste: (text: string) => void;
  /** Client keys (F2) wherever the focus is. */
  onClientKey: (key: string) => void;
}

export class KeyboardInput {
  /** Physical keys whose key_down went out: only their key_up follows. */
  private readonly down = new Set<string>();
  /** Text the last composition ended with (some browsers repeat it in an `input` event after it). */
  private composed: string | null = null;

  constructor(private readonly o: KeyboardOptions) {
    const k = o.keys;
    k.addEventListener("keydown", (e) => this.keyDown(e));
    k.addEventListener("keyup", (e) => this.keyUp(e));
    k.addEventListener("compositionend", (e) => this.composition(e));
    k.addEventListener("input", (e) => this.input(e as globalThis.InputEvent));
    k.addEventListener("paste", (e) => this.paste(e));
    // Client keys work wherever the focus is (when the stream has it, its handler runs first).
    window.addEventListener("keydown", (e) => {
      if (CLIENT_KEYS.has(e.key) && !e.repeat) {
        e.preventDefault();
        o.onClientKey(e.key);
      }
    });
  }

  /** Forgets the keys it sent down (the server lets go of them when the page loses the focus). */
  reset(): void {
    this.down.clear();
  }

  private keyDown(e: KeyboardEvent): void {
    if (CLIENT_KEYS.has(e.key)) return; // handled by the window listener
    e.stopPropagation();
    if (e.isComposing || COMPOSING_KEYS.has(e.key) || isPasteShortcut(e)) return; // the browser makes text of it
    if (!BROWSER_KEYS.has(e.key)) e.preventDefault(); // browser shortcuts go to the stream while it has focus
    const key = e.key.slice(0, 32);
    if (!key) return;
    const code = (e.code || key).slice(0, 32);
    this.down.add(code);
    this.o.send({ type: "key_down", key, code, modifiers: modifiersOf(e) });
  }

  private keyUp(e: KeyboardEvent): void {
    if (CLIENT_KEYS.has(e.key)) return;
    e.stopPropagation();
    const code = (e.code || e.key).slice(0, 32);
    if (!this.down.delete(code)) return;
    if (!BROWSER_KEYS.has(e.key)) e.preventDefault();
    this.o.send({ type: "key_up", key: e.key.slice(0, 32) || code, code, modifiers: modifiersOf(e) });
  }

  private composition(e: CompositionEvent): void {
    this.composed = e.data || null;
    if (e.data) this.sendText(e.data);
    this.o.keys.value = "";
  }

  /** Text the key events did not carry: a dead key's letter, text typed by an on-screen keyboard or a tool. */
  private input(e: globalThis.InputEvent): void {
    if (e.isComposing) return; // it ends with compositionend
    const data = e.data;
    this.o.keys.value = "";
    if (data && data === this.composed) {
      this.composed = null;
      return;
    }
    this.composed = null;
    if (data && e.inputType.startsWith("insert")) this.sendText(data);
  }

  private paste(e: ClipboardEvent): void {
    e.preventDefault();
    const text = e.clipboardData?.getData("text/plain") ?? "";
    if (text) this.o.onPaste(text);
  }

  private sendText(text: string): void {
    // Long compositions go in pieces of at most 1024 characters (the schema's limit).
    for (let i = 0; i < text.length; i += 1024) this.o.send({ type: "text", text: text.slice(i, i + 1024) });
  }
}
