// The stream's WebSocket, reopened by itself with exponential backoff (capped, with jitter) whenever it
// closes, including after the server said it was going away (close code 1001 from stop()).

const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 5000;

export interface ConnectionEvents {
  onConnecting: () => void;
  onOpen: () => void;
  /** The socket closed; `retryIn` ms until the next attempt. */
  onClose: (code: number, reason: string, retryIn: number) => void;
  onBinary: (data: ArrayBuffer) => void;
  onText: (text: string) => void;
}

export class Connection {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    /** Asked at each attempt (the page may change its mind about the codec). */
    private readonly url: () => string,
    private readonly ev: ConnectionEvents,
  ) {
    // Coming back online or to the tab is a good moment to try again at once.
    addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.retryNow();
    });
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect(): void {
    if (this.ws) return;
    this.clearTimer();
    this.ev.onConnecting();
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleRetry(1006, "bad URL");
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => this.ev.onOpen();
    ws.onmessage = (e) => {
      // The backoff restarts only once the server has really sent something, so a server that
      // accepts and closes at once is not hammered.
      this.attempt = 0;
      if (typeof e.data === "string") this.ev.onText(e.data);
      else if (e.data instanceof ArrayBuffer) this.ev.onBinary(e.data);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleRetry(e.code, e.reason);
    };
    // onerror is always followed by onclose, which does the work.
  }

  send(text: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    // A socket that cannot keep up with input should not buffer it without bound.
    if (ws.bufferedAmount > 1 << 20) return false;
    ws.send(text);
    return true;
  }

  /** Closes the socket (if open) and connects again at once, to what `url` says now. */
  restart(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, "reconnecting");
      this.ev.onClose(1000, "reconnecting", 0);
    }
    this.attempt = 0;
    this.connect();
  }

  /** Tries again now if a retry is waiting (the "retry now" button, coming back online). */
  retryNow(): void {
    if (this.timer && !this.ws) {
      this.clearTimer();
      this.connect();
    }
  }

  private scheduleRetry(code: number, reason: string): void {
    const base = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.ev.onClose(code, reason, delay);
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
