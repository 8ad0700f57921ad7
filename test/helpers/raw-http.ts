// One HTTP/1.1 request written by hand on a raw socket: for the headers fetch() will not send as
// given (Host, Origin, a bare WebSocket upgrade) and the answers to malformed requests.
import { connect } from "node:net";

/**
 * Sends `requestLine` (e.g. "GET /ws HTTP/1.1") with exactly `headers`, adding a Host header for the
 * port when they carry none, and returns the status code and the whole response text (for a 101 only
 * its head: the socket would stay open as a WebSocket, so it is closed at once).
 */
export async function rawRequest(port: number, requestLine: string, headers: string[] = []): Promise<{ status: number; text: string }> {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      const head = Buffer.concat(chunks).toString("latin1");
      if (head.startsWith("HTTP/1.1 101") && head.includes("\r\n\r\n")) socket.destroy();
    });
    socket.once("close", () => resolve());
    socket.on("error", () => resolve());
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const host = headers.some((h) => /^host:/i.test(h)) ? [] : [`Host: 127.0.0.1:${port}`];
  socket.write(`${requestLine}\r\n${[...host, ...headers].map((h) => h + "\r\n").join("")}Connection: close\r\n\r\n`);
  await done;
  const text = Buffer.concat(chunks).toString("latin1");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

/** The headers of a WebSocket upgrade, with an Origin when one is given. */
export const upgradeHeaders = (origin?: string) => [
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
  ...(origin === undefined ? [] : [`Origin: ${origin}`]),
];
