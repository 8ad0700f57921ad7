#version 450
// The rendered RGBA image to YCbCr 4:2:0 planes, so that 3/8 of the bytes cross to the host (or none,
// when nvJPEG encodes them on the GPU). The arithmetic is libjpeg-turbo's (jccolor.c: 16-bit fixed
// point; jcsample.c h2v2_downsample: each 2x2 block's mean with the rounding bias alternating 1, 2),
// and edges are replicated as libjpeg pads odd sizes, so the planes equal what libjpeg-turbo would
// compute from the RGBA pixels. Layout (src/frame.ts yuv420Layout): Y rows of yPitch bytes (a multiple
// of 8; an even number of rows), then U and V rows of cPitch = yPitch / 2 bytes.
//
// One invocation per 8x2 pixels: two rows of 8 luma bytes (4 words) and 4 Cb and 4 Cr bytes (a word
// each), so every store is a whole 32-bit word (no 8-bit storage needed). The pixels come from a copy
// of the image in a buffer (rows packed, one word per pixel): buffer loads are far cheaper than image
// loads on lavapipe, where this shader runs on the CPU.

layout(local_size_x = 8, local_size_y = 8) in;

layout(set = 0, binding = 0, std430) readonly buffer Pixels {
  uint rgba[];
};
layout(set = 0, binding = 1, std430) writeonly buffer Planes {
  uint words[];
};

layout(push_constant) uniform Layout {
  uint width;
  uint height;
  uint yPitch;
  uint cPitch;
  uint uOffset;
  uint vOffset;
} L;

// FIX(x) = x * 65536 rounded, as jccolor.c defines its constants.
const int FIX_0_29900 = 19595;
const int FIX_0_58700 = 38470;
const int FIX_0_11400 = 7471;
const int FIX_0_16874 = 11059;
const int FIX_0_33126 = 21709;
const int FIX_0_50000 = 32768;
const int FIX_0_41869 = 27439;
const int FIX_0_08131 = 5329;
const int ONE_HALF = 32768;
const int CBCR_OFFSET = 128 << 16;

ivec3 rgb(int x, int y) {
  uint v = rgba[uint(min(y, int(L.height) - 1)) * L.width + uint(min(x, int(L.width) - 1))];
  return ivec3(int(v & 255u), int((v >> 8) & 255u), int((v >> 16) & 255u));
}

uint luma(ivec3 c) {
  return uint((FIX_0_29900 * c.r + FIX_0_58700 * c.g + FIX_0_11400 * c.b + ONE_HALF) >> 16);
}

int cb(ivec3 c) {
  return (-FIX_0_16874 * c.r - FIX_0_33126 * c.g + FIX_0_50000 * c.b + CBCR_OFFSET + ONE_HALF - 1) >> 16;
}

int cr(ivec3 c) {
  return (FIX_0_50000 * c.r - FIX_0_41869 * c.g - FIX_0_08131 * c.b + CBCR_OFFSET + ONE_HALF - 1) >> 16;
}

void main() {
  uint bx = gl_GlobalInvocationID.x; // 8-pixel column block
  uint cy = gl_GlobalInvocationID.y; // chroma row: luma rows 2cy and 2cy + 1
  if (bx * 8u >= L.width || cy * 2u >= L.height) return;
  int x0 = int(bx * 8u);
  int y0 = int(cy * 2u);
  uint yWords[4] = uint[4](0u, 0u, 0u, 0u);
  uint uWord = 0u;
  uint vWord = 0u;
  for (int i = 0; i < 4; i++) {
    // Chroma sample bx * 4 + i covers luma columns x0 + 2i and x0 + 2i + 1.
    int sumCb = 0;
    int sumCr = 0;
    for (int dy = 0; dy < 2; dy++) {
      for (int dx = 0; dx < 2; dx++) {
        ivec3 c = rgb(x0 + 2 * i + dx, y0 + dy);
        int column = 2 * i + dx; // 0..7 within the block
        yWords[dy * 2 + column / 4] |= luma(c) << (8 * (column % 4));
        sumCb += cb(c);
        sumCr += cr(c);
      }
    }
    int bias = ((bx * 4u + uint(i)) & 1u) == 1u ? 2 : 1;
    uWord |= uint((sumCb + bias) >> 2) << (8 * i);
    vWord |= uint((sumCr + bias) >> 2) << (8 * i);
  }
  uint yBase = (uint(y0) * L.yPitch + bx * 8u) / 4u;
  // Both rows, also past an odd height: the Y plane has an even number of rows, the last repeated.
  words[yBase] = yWords[0];
  words[yBase + 1u] = yWords[1];
  words[yBase + L.yPitch / 4u] = yWords[2];
  words[yBase + L.yPitch / 4u + 1u] = yWords[3];
  uint cBase = cy * L.cPitch + bx * 4u;
  words[(L.uOffset + cBase) / 4u] = uWord;
  words[(L.vOffset + cBase) / 4u] = vWord;
}
