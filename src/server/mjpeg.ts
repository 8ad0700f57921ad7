// GET /stream.mjpeg: multipart/x-mixed-replace, so an <img> tag, VLC or ffmpeg can watch.
// Flow control comes from the stream itself: a part is made only when the reader took the last one,
// and it is always the newest frame, so a slow reader skips frames and nothing queues for it.

export const MJPEG_BOUNDARY = "vkcastframe";
const encoder = new TextEncoder();

export interface FrameFeed {
  /** Resolves with the first frame newer than `afterSeq`, or null once the server stops. */
  nextEncodedFrame(afterSeq: number): Promise<{ seq: number; jpeg: Uint8Array } | null>;
  readonly stallTimeoutMs: number;
  onOpen(): void;
  onClose(reason: "left" | "too slow"): void;
}

export function mjpegResponse(feed: FrameFeed): Response {
  let lastSeq = 0;
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
        const frame = await feed.nextEncodedFrame(lastSeq);
        if (closed) return;
        if (!frame) {
          close("left");
          controller.close();
          return;
        }
        lastSeq = frame.seq;
        const head = encoder.encode(
          `--${MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${frame.jpeg.byteLength}\r\n\r\n`,
        );
        const part = new Uint8Array(head.length + frame.jpeg.byteLength + 2);
        part.set(head);
        part.set(frame.jpeg, head.length);
        part.set([13, 10], head.length + frame.jpeg.byteLength);
        controller.enqueue(part);
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
