// The package's entry point for other projects: `import { StreamingServer } from "vkcast"`.
export { StreamingServer } from "./server.ts";
export type { Stream, StreamingServerOptions } from "./server.ts";
export type { Frame, FrameSource, PixelFormat } from "./frame.ts";
export type { InputEvent } from "./protocol/input-schema.ts";
export type { SourceHealth } from "./server/health.ts";
