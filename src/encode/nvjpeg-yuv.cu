// RGBA (or BGRA) to YCbCr 4:2:0 planes on the GPU, for nvJPEG's nvjpegEncodeYUV. The arithmetic is
// libjpeg-turbo's (jccolor.c: 16-bit fixed point; jcsample.c h2v2_downsample: the mean of each 2x2
// block with the rounding bias alternating 1, 2), so a frame encoded here decodes like one that
// libjpeg-turbo converted itself. Edges are replicated as libjpeg does for odd sizes.
// Compiled to PTX by scripts/gpu/ptx.ts into nvjpeg-ptx.ts; the driver JIT-compiles that PTX, so
// nothing is built for a particular GPU and nothing is linked.

#define FIX(x) ((int)((x) * 65536.0 + 0.5))

__device__ __forceinline__ void load(const unsigned char *src, int stride, int width, int height, int x, int y,
                                     int bgra, int *r, int *g, int *b) {
  x = min(x, width - 1);
  y = min(y, height - 1);
  const unsigned char *p = src + (size_t)y * stride + (size_t)x * 4;
  *r = p[bgra ? 2 : 0];
  *g = p[1];
  *b = p[bgra ? 0 : 2];
}

// One thread per 2x2 block of pixels: 4 luma samples, 1 Cb and 1 Cr.
extern "C" __global__ void rgba_to_yuv420(const unsigned char *src, int stride, int width, int height, int bgra,
                                          unsigned char *yPlane, int yPitch, unsigned char *uPlane,
                                          unsigned char *vPlane, int cPitch) {
  int cx = blockIdx.x * blockDim.x + threadIdx.x;
  int cy = blockIdx.y * blockDim.y + threadIdx.y;
  if (cx * 2 >= width || cy * 2 >= height) return;
  int cb = 0, cr = 0;
  for (int dy = 0; dy < 2; dy++) {
    for (int dx = 0; dx < 2; dx++) {
      int x = cx * 2 + dx, y = cy * 2 + dy;
      int r, g, b;
      load(src, stride, width, height, x, y, bgra, &r, &g, &b);
      if (x < width && y < height)
        yPlane[(size_t)y * yPitch + x] = (FIX(0.29900) * r + FIX(0.58700) * g + FIX(0.11400) * b + 32768) >> 16;
      cb += (-FIX(0.16874) * r - FIX(0.33126) * g + FIX(0.5) * b + (128 << 16) + 32767) >> 16;
      cr += (FIX(0.5) * r - FIX(0.41869) * g - FIX(0.08131) * b + (128 << 16) + 32767) >> 16;
    }
  }
  int bias = (cx & 1) ? 2 : 1;
  uPlane[(size_t)cy * cPitch + cx] = (cb + bias) >> 2;
  vPlane[(size_t)cy * cPitch + cx] = (cr + bias) >> 2;
}
