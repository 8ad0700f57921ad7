// Where producers' frames go: each stream name is a stream of the server, served at /s/NAME/; the
// first name a producer gives is the default stream, served at / as well. One producer per stream.
import type { Frame } from "../frame.ts";
import type { InputEvent } from "../protocol/input-schema.ts";
import type { Stream, StreamingServer } from "../server.ts";
import type { IngestCounters } from "./counters.ts";
import { ProtocolError } from "./messages.ts";

/** Shown to viewers (config), on /healthz and /api/config while a stream has no producer. */
export const WAITING_FOR_ENGINE = "waiting for the engine";
/** What /api/config reports as the device of a stream fed through the ingest socket. */
const DEVICE = "external producer";

/** One stream as its producer sees it. */
export interface IngestTarget {
  pushFrame(frame: Frame): void;
  drainInput(): InputEvent[];
  hasClients(): boolean;
  /** Sends the engine's clipboard text to the stream's viewers that control. */
  setClipboard(text: string): void;
  /** Where viewers watch it, with the token when one is needed. */
  readonly url: string;
  /** The stream's ingest counters: the producer counts what it does here. */
  readonly counters: IngestCounters;
}

export interface StreamDirectory {
  /** The stream `name` for a new producer; throws a ProtocolError when it already has one. */
  claim(name: string): IngestTarget;
  /** Its producer is gone: viewers keep the last picture and see the waiting state. */
  vacate(name: string): void;
}

export class ServerStreams implements StreamDirectory {
  /** The streams that have a producer now. */
  private readonly fed = new Set<Stream>();
  private defaultName: string | null = null;

  constructor(private readonly server: StreamingServer) {
    this.waiting(server.stream("default")!);
  }

  claim(name: string): IngestTarget {
    const stream = this.streamNamed(name);
    if (this.fed.has(stream)) throw new ProtocolError(`stream ${name} already has a producer`);
    this.fed.add(stream);
    stream.health.recovered(DEVICE);
    stream.announceConfig();
    stream.drainInput(); // input sent while nobody fed the stream is stale
    const url = this.urlOf(name);
    return {
      pushFrame: (frame) => stream.pushFrame(frame),
      drainInput: () => stream.drainInput(),
      hasClients: () => stream.hasClients(),
      setClipboard: (text) => stream.setClipboard(text),
      url,
      counters: stream.ingest,
    };
  }

  vacate(name: string): void {
    const stream = this.server.stream(name);
    if (stream && this.fed.delete(stream)) this.waiting(stream);
  }

  private streamNamed(name: string): Stream {
    if (this.defaultName === null) {
      this.defaultName = name;
      if (name !== "default") this.server.nameDefaultStream(name);
    }
    return this.server.stream(name) ?? this.server.addStream(name, { device: DEVICE });
  }

  private urlOf(name: string): string {
    if (name === this.defaultName) return this.server.url;
    const url = new URL(this.server.url);
    url.pathname = `/s/${name}/`;
    return url.href;
  }

  private waiting(stream: Stream): void {
    stream.health.failed(WAITING_FOR_ENGINE);
    stream.announceConfig();
  }
}
