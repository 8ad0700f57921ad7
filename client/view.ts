// The picture: a canvas letterboxed to the frame's aspect inside the view area, showing the newest
// frame. JPEGs are decoded off the main thread by createImageBitmap; at most one decode is in flight
// and at most one frame waits for it (a newer one replaces it), and at most one decoded frame waits
// for the next animation frame (a newer one replaces it too). So a slow tab skips, never lags.

export interface Painted {
  receivedAt: number;
  seq: number | undefined;
  captureTime: number | undefined;
}

interface Pending<T> {
  data: T;
  receivedAt: number;
  seq: number | undefined;
  captureTime: number | undefined;
  /** The scale it was encoded at (1, or less for a smaller tier). */
  scale: number;
}

export interface ViewOptions {
  canvas: HTMLCanvasElement;
  viewArea: HTMLElement;
  /** A frame reached the canvas. */
  onPaint: (p: Painted) => void;
  /** A frame was received but will never be shown (a newer one overtook it). */
  onDrop: () => void;
  /** A frame could not be decoded. */
  onError: (err: unknown) => void;
  /** A JPEG was decoded in `ms`. */
  onDecoded: (ms: number) => void;
}

export class StreamView {
  private readonly ctx: CanvasRenderingContext2D;
  private decoding = false;
  private queued: Pending<Blob> | null = null;
  private ready: Pending<ImageBitmap> | null = null;
  private rafId = 0;
  /** Size of the frames, known from the config before the first frame arrives. */
  private frameW = 0;
  private frameH = 0;
  private generation = 0;

  constructor(private readonly o: ViewOptions) {
    const ctx = o.canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("no 2D canvas");
    this.ctx = ctx;
    new ResizeObserver(() => this.layout()).observe(o.viewArea);
    // A hidden tab paints nothing: it keeps only the newest JPEG and decodes it when shown again.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && !this.decoding) this.decodeNext();
    });
  }

  get frameWidth(): number {
    return this.frameW;
  }
  get frameHeight(): number {
    return this.frameH;
  }

  /** Sets the frame size before frames arrive (from /api/config or a hello), so input maps right. */
  setFrameSize(width: number, height: number): void {
    if (!(width > 0 && height > 0) || (width === this.frameW && height === this.frameH)) return;
    this.frameW = width;
    this.frameH = height;
    if (this.o.canvas.width !== width || this.o.canvas.height !== height) {
      // Resizing a canvas clears it; keep the old picture, stretched, until the next frame paints.
      const old = this.o.canvas.width > 1 && this.o.canvas.height > 1 ? this.copyOfCanvas() : null;
      this.o.canvas.width = width;
      this.o.canvas.height = height;
      this.clear();
      if (old) this.ctx.drawImage(old, 0, 0, width, height);
    }
    this.layout();
  }

  private copyOfCanvas(): HTMLCanvasElement {
    const c = document.createElement("canvas");
    c.width = this.o.canvas.width;
    c.height = this.o.canvas.height;
    c.getContext("2d")?.drawImage(this.o.canvas, 0, 0);
    return c;
  }

  private clear(): void {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.o.canvas.width, this.o.canvas.height);
  }

  /** Places the canvas: as large as fits in the view area at the frame's aspect, centred. */
  layout(): void {
    const area = this.o.viewArea.getBoundingClientRect();
    const fw = this.frameW || 16;
    const fh = this.frameH || 9;
    const scale = Math.min(area.width / fw, area.height / fh);
    const w = fw * scale;
    const h = fh * scale;
    const s = this.o.canvas.style;
    s.width = `${w}px`;
    s.height = `${h}px`;
    s.left = `${(area.width - w) / 2}px`;
    s.top = `${(area.height - h) / 2}px`;
  }

  /** Client (CSS px) coordinates → frame pixels, top-left origin; null before the frame size is known. */
  toFrame(clientX: number, clientY: number): { x: number; y: number } | null {
    if (!this.frameW) return null;
    const r = this.o.canvas.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) return null;
    return { x: ((clientX - r.left) * this.frameW) / r.width, y: ((clientY - r.top) * this.frameH) / r.height };
  }

  /** Frame pixels per CSS px. */
  scale(): number {
    const r = this.o.canvas.getBoundingClientRect();
    return r.width > 0 && this.frameW ? this.frameW / r.width : 1;
  }

  /** A JPEG arrived. */
  push(jpeg: ArrayBuffer, receivedAt: number, seq: number | undefined, captureTime: number | undefined, scale = 1): void {
    const data = new Blob([jpeg], { type: "image/jpeg" });
    const item = { data, receivedAt, seq, captureTime, scale: scale > 0 && scale <= 1 ? scale : 1 };
    if (this.queued) this.o.onDrop();
    this.queued = item;
    if (!this.decoding) this.decodeNext();
  }

  /** A decoded H.264 frame, as RGBA pixels (h264.ts), or as the frame itself, drawn and closed at once. */
  paintFrame(picture: ImageData | VideoFrame, p: Painted): void {
    if (picture instanceof ImageData) {
      this.setFrameSize(picture.width, picture.height);
      this.ctx.putImageData(picture, 0, 0);
    } else {
      this.setFrameSize(picture.displayWidth, picture.displayHeight);
      this.ctx.drawImage(picture, 0, 0, picture.displayWidth, picture.displayHeight);
      picture.close();
    }
    this.o.onPaint(p);
  }

  /** Forgets frames not shown yet (on disconnect: their acks would go nowhere). */
  reset(): void {
    this.generation++;
    if (this.queued) this.o.onDrop();
    this.queued = null;
    if (this.ready) {
      this.ready.data.close();
      this.o.onDrop();
      this.ready = null;
    }
    this.decoding = false;
  }

  private decodeNext(): void {
    const item = this.queued;
    if (!item || document.hidden) return;
    this.queued = null;
    this.decoding = true;
    const gen = this.generation;
    const started = performance.now();
    createImageBitmap(item.data).then(
      (bitmap) => {
        if (gen !== this.generation) {
          bitmap.close();
          return;
        }
        this.o.onDecoded(performance.now() - started);
        this.decoding = false;
        if (this.ready) {
          this.ready.data.close();
          this.o.onDrop();
        }
        this.ready = { ...item, data: bitmap };
        if (!this.rafId) this.rafId = requestAnimationFrame(() => this.paint());
        this.decodeNext();
      },
      (err) => {
        if (gen !== this.generation) return;
        this.decoding = false;
        this.o.onDrop();
        this.o.onError(err);
        this.decodeNext();
      },
    );
  }

  private paint(): void {
    this.rafId = 0;
    const item = this.ready;
    if (!item) return;
    this.ready = null;
    const bmp = item.data;
    // A frame of a smaller tier is drawn at the frame's own size, so input keeps landing in frame pixels.
    const width = Math.round(bmp.width / item.scale);
    const height = Math.round(bmp.height / item.scale);
    this.setFrameSize(width, height);
    this.ctx.drawImage(bmp, 0, 0, width, height);
    bmp.close();
    this.o.onPaint({ receivedAt: item.receivedAt, seq: item.seq, captureTime: item.captureTime });
  }
}
