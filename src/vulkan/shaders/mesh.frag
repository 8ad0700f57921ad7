#version 450
#include "scene.glsl"
// 0: plain lit material, 1: checkered ground. A specialization constant, not a uniform: on lavapipe a
// branch on a push constant or uniform costs per pixel, a constant branch is folded at pipeline build.
layout(constant_id = 0) const int MATERIAL = 0;
layout(location = 0) in vec3 vWorld;
layout(location = 1) in vec3 vNormal;
layout(location = 2) flat in int vObject;
layout(location = 0) out vec4 outColor;

vec3 skyColor(vec3 dir) {
  float h = clamp(dir.y, 0.0, 1.0);
  return mix(u.skyHorizon.rgb, u.skyZenith.rgb, sqrt(h));
}

void main() {
  vec3 n = normalize(vNormal);
  vec3 v = normalize(u.camPos.xyz - vWorld);
  vec3 l = u.lightDir.xyz;
  vec4 c = u.color[vObject];
  vec3 albedo = c.rgb;
  if (MATERIAL == 1) {
    // Anti-aliased checker: the fractional pattern is smoothed over one pixel's footprint.
    vec2 p = vWorld.xz * u.groundTint.w;
    vec2 w = max(fwidth(p), vec2(1e-4));
    vec2 s = clamp((abs(fract(p) - 0.5) - 0.25) / w + 0.5, 0.0, 1.0);
    float k = abs(s.x - s.y);
    albedo = mix(albedo, u.groundTint.rgb, k);
    // Soft contact shadows under the objects would need a pass; a radial vignette keeps it cheap.
  }
  float diff = max(dot(n, l), 0.0);
  vec3 h = normalize(l + v);
  float spec = pow(max(dot(n, h), 0.0), c.w) * step(0.0, diff) * (c.w > 0.0 ? 1.0 : 0.0);
  float hemi = 0.5 + 0.5 * n.y;
  vec3 ambient = u.lightDir.w * mix(vec3(0.35, 0.3, 0.25), u.skyZenith.rgb, hemi);
  vec3 col = albedo * (ambient + diff * vec3(1.0, 0.95, 0.85)) + spec * 0.6;
  // Fog towards the sky colour seen in the same direction, so the ground's edge melts into it.
  float d = length(u.camPos.xyz - vWorld);
  float fog = 1.0 - exp(-d * u.skyHorizon.w);
  col = mix(col, skyColor(-v), clamp(fog, 0.0, 1.0));
  outColor = vec4(sqrt(clamp(col, 0.0, 1.0)), 1.0);
}
