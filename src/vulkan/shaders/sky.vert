#version 450
#include "scene.glsl"
layout(location = 0) out vec3 vDir;
void main() {
  // One triangle covering the screen, at the far plane (depth 1): drawn last with LESS_OR_EQUAL,
  // so only pixels no mesh covered run the sky shader.
  vec2 ndc = vec2((gl_VertexIndex << 1) & 2, gl_VertexIndex & 2) * 2.0 - 1.0;
  vec4 far = u.invViewProj * vec4(ndc, 1.0, 1.0);
  vDir = far.xyz / far.w - u.camPos.xyz; // affine in screen space, so interpolation is exact
  gl_Position = vec4(ndc, 1.0, 1.0);
}
