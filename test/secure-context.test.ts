// The page's notice when it is not a secure context (a Chromium page on a non-loopback http origin is hard
// to get in a test, so the message is tested here and the page was checked by screenshot).
import { expect, test } from "bun:test";
import { insecureNotice } from "../client/secure-context.ts";

test("an insecure page names what it costs and how to fix it; a secure one says nothing", () => {
  const text = insecureNotice(false)!;
  expect(text).toContain("Not a secure context");
  expect(text).toContain("H.264");
  expect(text).toContain("clipboard");
  expect(text).toContain("--tls self-signed");
  expect(insecureNotice(true)).toBeNull();
});
