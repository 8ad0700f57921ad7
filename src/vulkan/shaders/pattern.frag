#version 450
// The test pattern: integer-exact bytes at pixel (x, y): R = x & 255, G = y & 255, B = (x ^ y) & 255,
// A = 255. gl_FragCoord is the pixel centre (x + 0.5), so truncation gives x; v / 255 stored to UNORM8
// rounds back to v exactly. test/vulkan.test.ts checks these bytes after readback.
layout(location = 0) out vec4 outColor;
void main() {
  uvec2 p = uvec2(gl_FragCoord.xy);
  outColor = vec4(float(p.x & 255u), float(p.y & 255u), float((p.x ^ p.y) & 255u), 255.0) / 255.0;
}
