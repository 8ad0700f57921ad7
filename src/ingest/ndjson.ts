// Newline-delimited JSON over a byte stream: splits chunks into lines, refusing any line over the limit.

import { ProtocolError } from "./messages.ts";

export const MAX_LINE_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;
const decoder = new TextDecoder("utf-8", { fatal: true });

function decode(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ProtocolError("a line is not valid UTF-8");
  }
}

/** Collects bytes until a newline; yields each complete line as a string. */
export class LineReader {
  private parts: Uint8Array[] = [];
  private partBytes = 0;

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  /** The complete lines in `chunk` (with what came before it); throws a ProtocolError past the limit. */
  *push(chunk: Uint8Array): Generator<string> {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      if (this.partBytes + nl - start > this.maxBytes) throw new ProtocolError(`a line is longer than ${this.maxBytes} bytes`);
      const tail = chunk.subarray(start, nl);
      yield this.parts.length === 0 ? decode(tail) : this.joinWith(tail);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.partBytes += chunk.length - start;
      if (this.partBytes > this.maxBytes) throw new ProtocolError(`a line is longer than ${this.maxBytes} bytes`);
      // The socket reuses its buffer: keep a copy of an unfinished line.
      this.parts.push(chunk.slice(start));
    }
  }

  private joinWith(tail: Uint8Array): string {
    const line = new Uint8Array(this.partBytes + tail.length);
    let at = 0;
    for (const part of this.parts) {
      line.set(part, at);
      at += part.length;
    }
    line.set(tail, at);
    this.parts = [];
    this.partBytes = 0;
    return decode(line);
  }
}

/** One message as one line. */
export function encodeLine(message: object): string {
  return `${JSON.stringify(message)}\n`;
}
