// Ranges every entry point checks against: the CLI's flags and StreamingServer's options alike.
export const LIMITS = {
  port: [0, 65535],
  width: [1, 3840],
  height: [1, 2160],
  fps: [1, 240],
  quality: [1, 100],
  encoderWorkers: [1, 16],
  stallTimeout: [1, 3600],
  inputRateLimit: [1, 100_000],
  maxViewers: [1, 100_000],
} as const satisfies Record<string, readonly [number, number]>;

/** Returns `value` if it is an integer within LIMITS[name]; throws a RangeError naming it otherwise. */
export function checkInt(name: keyof typeof LIMITS, value: unknown, label: string = name): number {
  const [min, max] = LIMITS[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${label} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}
