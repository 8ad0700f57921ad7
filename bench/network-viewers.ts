// A separate process of two WebSocket viewers for the network benchmark: one through the shaped link,
// one on loopback beside it.
//   bun bench/network-viewers.ts SHAPED_URL LOOPBACK_URL WARMUP_S MEASURE_S OUT_DIR SAMPLES
// A v2 URL (?v=2, vkcast) gets each frame acked as soon as it arrived (a browser acks once it painted
// it: decode and paint are not in this viewer's figures); the original's frames carry no sequence and
// are not acked. Over the window it counts frames, capture -> receive latency (the frames' COM `t`, same
// clock), the tier of each frame (from its `q` and `s`) and the tier the server's stats name; then it
// writes up to SAMPLES frames per viewer, evenly spread over the window, into OUT_DIR for SSIM: one
// concatenated MJPEG file per viewer and frame scale, with their capture times in the JSON line it prints.
import { join } from "node:path";
import { readFrameMeta } from "../client/protocol.ts";
import { quantile } from "./lib.ts";

const [shapedUrl, loopbackUrl, warmup, measure, outDir, samples] = process.argv.slice(2) as [string, string, string, string, string, string];

interface Received {
  t: number;
  latencyMs: number;
  tier: string;
  q: number | null;
  scale: number;
  bytes: Uint8Array;
}

/** The JPEG tier a frame's metadata says it is (src/server/tiers.ts): half size is `small`, full size at
 *  quality 40 or less `low`, else `full`; a frame without a quality (the original's) has no tier. */
function frameTier(q: number | undefined, s: number | undefined): string {
  if (q === undefined) return "none";
  if (s !== undefined && s < 1) return "small";
  return q <= 40 ? "low" : "full";
}

class Viewer {
  readonly frames: Received[] = [];
  /** Tier names (with why) the server's stats messages gave during the window. */
  readonly statedTiers: string[] = [];
  measuring = false;
  readonly opened: Promise<void>;
  private readonly ws: WebSocket;

  constructor(readonly name: string, url: string) {
    const acks = new URL(url).searchParams.get("v") === "2";
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error(`${name} viewer could not connect to ${url}`));
    });
    this.ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const msg = JSON.parse(e.data) as { type?: string; tier?: string; tierReason?: string };
        if (this.measuring && msg.type === "stats" && msg.tier) this.statedTiers.push(`${msg.tier} (${msg.tierReason ?? "?"})`);
        return;
      }
      const bytes = new Uint8Array(e.data as ArrayBuffer);
      const meta = readFrameMeta(bytes);
      if (acks && meta?.seq !== undefined) this.ws.send(JSON.stringify({ type: "ack", seq: meta.seq }));
      if (!this.measuring || meta?.t === undefined) return;
      this.frames.push({ t: meta.t, latencyMs: Date.now() - meta.t, tier: frameTier(meta.q, meta.s), q: meta.q ?? null, scale: meta.s ?? 1, bytes });
    };
  }

  close(): void {
    this.ws.close();
  }

  /** The window's figures, and its sampled frames written to OUT_DIR. */
  async report(seconds: number, maxSamples: number) {
    const tiers: Record<string, number> = {};
    for (const f of this.frames) tiers[f.tier] = (tiers[f.tier] ?? 0) + 1;
    const lat = this.frames.map((f) => f.latencyMs);
    const step = Math.max(1, this.frames.length / maxSamples);
    const picked = Array.from({ length: Math.min(maxSamples, this.frames.length) }, (_, i) => this.frames[Math.floor(i * step)]!);
    const groups: { file: string; scale: number; captureTimes: number[] }[] = [];
    for (const scale of [...new Set(picked.map((f) => f.scale))]) {
      const inGroup = picked.filter((f) => f.scale === scale);
      const file = join(outDir, `${this.name}-${scale}.mjpeg`);
      await Bun.write(file, new Blob(inGroup.map((f) => f.bytes as Uint8Array<ArrayBuffer>)));
      groups.push({ file, scale, captureTimes: inGroup.map((f) => f.t) });
    }
    const qs = this.frames.map((f) => f.q).filter((q): q is number => q !== null);
    return {
      fps: this.frames.length / seconds,
      bytesPerSecond: this.frames.reduce((a, f) => a + f.bytes.length, 0) / seconds,
      latencyP50: quantile(lat, 0.5),
      latencyP99: quantile(lat, 0.99),
      frames: this.frames.length,
      tierFrames: tiers,
      statedTiers: this.statedTiers,
      qualityP50: qs.length ? quantile(qs, 0.5) : null,
      samples: groups,
    };
  }
}

const viewers = [new Viewer("shaped", shapedUrl), new Viewer("loopback", loopbackUrl)];
await Promise.all(viewers.map((v) => v.opened));
await Bun.sleep(Number(warmup) * 1000);
for (const v of viewers) v.measuring = true;
const t0 = performance.now();
await Bun.sleep(Number(measure) * 1000);
for (const v of viewers) v.measuring = false;
const seconds = (performance.now() - t0) / 1000;
for (const v of viewers) v.close();
const [shaped, loopback] = await Promise.all(viewers.map((v) => v.report(seconds, Number(samples))));
console.log(JSON.stringify({ seconds, shaped, loopback }));
process.exit(0);
