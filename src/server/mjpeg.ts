// GET /stream.mjpeg: multipart/x-mixed-replace, so an <img> tag, VLC or ffmpeg can watch.
// Flow control comes from the stream itself: a part is made only when the reader took the last one,
// and it is always the newest frame, so a slow reader skips frames and nothing queues for it. A still
// picture is sent again now and then, so that readers, proxies and players keep the stream open.

export const MJPEG_BOUNDARY = "vkcastframe";
/** How often the newest part goes out again while the picture stands still. */
export const MJPEG_KEEPALIVE_MS = 5000;
const encoder = new TextEncoder();

export interface FrameFeed {
  /** Resolves with the first frame newer than `afterSeq`, or null once the server stops. */
  nextEncodedFrame(afterSeq: number): Promise<{ seq: number; jpeg: Uint8Array } | null>;
  readonly stallTimeoutMs: number;
  onOpen(): void;
  /** A part of `bytes` bytes went to the reader. */
  onPart(bytes: number): void;
  onClose(reason: "left" | "too slow"): void;
}

type Part = { seq: number; bytes: Uint8Array };

function part(frame: { seq: number; jpeg: Uint8Array }): Part {
  const head = encoder.encode(`--${MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${frame.jpeg.byteLength}\r\n\r\n`);
  const bytes = new Uint8Array(head.length + frame.jpeg.byteLength + 2);
  bytes.set(head);
  bytes.set(frame.jpeg, head.length);
  bytes.set([13, 10], head.length + frame.jpeg.byteLength);
  return { seq: frame.seq, bytes };
}

export function mjpegResponse(feed: FrameFeed): Response {
  let last: Part | null = null;
  /** The wait for the next frame, kept across keep-alive sends so that only one waits at a time. */
  let next: Promise<{ seq: number; jpeg: Uint8Array } | null> | null = null;
  let lastPull = performance.now();
  let stallTimer: ReturnType<typeof setInterval> | null = null;
  let closed = false;
  const close = (reason: "left" | "too slow") => {
    if (closed) return;
    closed = true;
    if (stallTimer) clearInterval(stallTimer);
    feed.onClose(reason);
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        feed.onOpen();
        stallTimer = setInterval(() => {
          if (performance.now() - lastPull > feed.stallTimeoutMs) {
            close("too slow");
            controller.error(new Error("MJPEG reader stopped reading"));
          }
        }, 1000);
      },
      async pull(controller) {
        lastPull = performance.now();
        next ??= feed.nextEncodedFrame(last?.seq ?? 0);
        let keepAlive: ReturnType<typeof setTimeout> | undefined;
        const stillPicture = new Promise<"still">((resolve) => (keepAlive = setTimeout(() => resolve("still"), MJPEG_KEEPALIVE_MS)));
        const frame = last ? await Promise.race([next, stillPicture]) : await next;
        clearTimeout(keepAlive);
        if (closed) return;
        if (frame === null) {
          close("left");
          controller.close();
          return;
        }
        if (frame !== "still") {
          next = null;
          last = part(frame);
        }
        controller.enqueue(last!.bytes);
        feed.onPart(last!.bytes.byteLength);
      },
      cancel() {
        close("left");
      },
    },
    { highWaterMark: 1 },
  );
  return new Response(stream, {
    headers: {
      "Content-Type": `multipart/x-mixed-replace; boundary=${MJPEG_BOUNDARY}`,
      "Cache-Control": "no-store",
    },
  });
}
