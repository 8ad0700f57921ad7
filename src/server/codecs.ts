// The codecs a server offers its viewers.
import type { EncoderKind } from "../encode/backend.ts";
import { h264Unavailable } from "../encode/load.ts";
import type { Logger } from "../log.ts";

/** The codecs asked for, or by default JPEG and H.264 where OpenH264 loads. */
export async function offeredCodecs(asked: readonly EncoderKind[] | null, log: Logger): Promise<EncoderKind[]> {
  if (asked && !asked.includes("h264")) return [...asked];
  const why = await h264Unavailable();
  if (why === null) return ["jpeg", "h264"];
  if (asked) throw new Error(`H.264 is not available: ${why}`);
  log.warn("H.264 is not offered (JPEG only)", { reason: why });
  return ["jpeg"];
}
