// The frame metadata rides in a JPEG COM segment right after SOI, where every decoder skips it.
// client/protocol.ts (readFrameMeta) reads it back.

const SOI = [0xff, 0xd8];
const COM = [0xff, 0xfe];
/** A segment's length field counts itself (2 bytes) and tops out at 0xffff. */
const MAX_COMMENT_BYTES = 0xffff - 2;

/** Copies `jpeg` into a new buffer with a COM segment holding `comment` inserted after its SOI. */
export function copyWithComment(jpeg: Uint8Array, comment: Uint8Array): Uint8Array {
  if (jpeg[0] !== SOI[0] || jpeg[1] !== SOI[1]) throw new Error("not a JPEG: it does not start with SOI");
  if (comment.length > MAX_COMMENT_BYTES) throw new Error(`JPEG comment of ${comment.length} bytes is over ${MAX_COMMENT_BYTES}`);
  const segment = 4 + comment.length;
  const out = new Uint8Array(jpeg.length + segment);
  out.set(SOI, 0);
  out.set(COM, 2);
  out[4] = (comment.length + 2) >> 8;
  out[5] = (comment.length + 2) & 0xff;
  out.set(comment, 6);
  out.set(jpeg.subarray(2), 2 + segment);
  return out;
}
