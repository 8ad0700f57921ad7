#version 450
#include "scene.glsl"
layout(location = 0) in vec3 vDir;
layout(location = 0) out vec4 outColor;
void main() {
  vec3 d = normalize(vDir);
  float h = clamp(d.y, 0.0, 1.0);
  vec3 col = mix(u.skyHorizon.rgb, u.skyZenith.rgb, sqrt(h));
  float sun = max(dot(d, u.lightDir.xyz), 0.0);
  col += vec3(1.0, 0.9, 0.7) * (pow(sun, 400.0) * 2.0 + pow(sun, 12.0) * 0.25);
  outColor = vec4(sqrt(clamp(col, 0.0, 1.0)), 1.0);
}
