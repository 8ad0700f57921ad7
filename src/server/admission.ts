// Whether a viewer's text message is looked at, before anything acts on it: the viewer's rate limits
// (all messages, gamepad events, messages longer than an event), who may send a long one (a paste), and
// the schema. What is dropped is counted here; a malformed message is returned for the stream to answer.
import { MAX_MESSAGE_BYTES, type ParsedMessage, parseMessage } from "../protocol/input-schema.ts";
import { GAMEPAD_RATE, LARGE_MESSAGE_RATE, type ViewerData, withinRateLimit } from "./viewer.ts";

export interface AdmissionCounters {
  inputRateLimited: number;
  inputDenied: number;
  inputFieldsIgnored: number;
}

/** The parsed message, or why it is malformed; null when it was dropped (rate limit, a long one without control). */
export function admitMessage(
  data: ViewerData,
  message: string | Buffer,
  rateLimit: number,
  controls: () => boolean,
  counters: AdmissionCounters,
  now: number,
): ParsedMessage | null {
  if (!withinRateLimit(data.rate, rateLimit, now)) {
    counters.inputRateLimited++;
    return null;
  }
  if (typeof message !== "string") return { ok: false, error: "binary messages are not accepted" };
  if (message.length > MAX_MESSAGE_BYTES) {
    // Only a paste may be longer than an event: it is parsed only for a viewer that may send one.
    if (!controls()) {
      counters.inputDenied++;
      return null;
    }
    if (!withinRateLimit(data.largeRate, LARGE_MESSAGE_RATE, now)) {
      counters.inputRateLimited++;
      return null;
    }
  }
  const parsed = parseMessage(message);
  if (!parsed.ok) return parsed;
  counters.inputFieldsIgnored += parsed.ignored;
  if (parsed.kind === "input" && parsed.event.type === "gamepad" && !withinRateLimit(data.gamepadRate, GAMEPAD_RATE, now)) {
    counters.inputRateLimited++;
    return null;
  }
  return parsed;
}
