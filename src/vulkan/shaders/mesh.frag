#version 450
#include "scene.glsl"
// 0: lit object (diffuse + specular), 1: the checkered ground. A specialization constant, not a
// uniform: on lavapipe a branch on a push constant or uniform costs per pixel, while a constant branch
// is folded when the pipeline is built. The ground (most of the screen) is flat, so its lighting is
// constant and it skips the normal and the specular term.
layout(constant_id = 0) const int MATERIAL = 0;
layout(location = 0) in vec3 vWorld;
layout(location = 1) in vec3 vNormal;
layout(location = 2) flat in int vObject;
layout(location = 0) out vec4 outColor;

void main() {
  vec3 toEye = u.camPos.xyz - vWorld;
  float d = length(toEye);
  vec3 v = toEye / d;
  vec3 l = u.lightDir.xyz;
  vec4 c = u.color[vObject];
  vec3 col;
  if (MATERIAL == 1) {
    // Anti-aliased checker: the square wave is smoothed over one pixel's footprint.
    vec2 p = vWorld.xz * u.groundTint.w;
    vec2 w = max(fwidth(p), vec2(1e-4));
    vec2 s = clamp((abs(fract(p) - 0.5) - 0.25) / w + 0.5, 0.0, 1.0);
    vec3 albedo = mix(c.rgb, u.groundTint.rgb, abs(s.x - s.y));
    vec3 ambient = u.lightDir.w * u.skyZenith.rgb;
    col = albedo * (ambient + max(l.y, 0.0) * vec3(1.0, 0.95, 0.85));
  } else {
    vec3 n = normalize(vNormal);
    float diff = max(dot(n, l), 0.0);
    vec3 h = normalize(l + v);
    float spec = diff > 0.0 ? pow(max(dot(n, h), 0.0), c.w) : 0.0;
    vec3 ambient = u.lightDir.w * mix(vec3(0.35, 0.3, 0.25), u.skyZenith.rgb, 0.5 + 0.5 * n.y);
    col = c.rgb * (ambient + diff * vec3(1.0, 0.95, 0.85)) + spec * 0.6;
  }
  // Fog towards the sky's colour in the same direction, so the ground's edge melts into the sky.
  float fog = 1.0 - exp(-d * u.skyHorizon.w);
  vec3 sky = mix(u.skyHorizon.rgb, u.skyZenith.rgb, sqrt(clamp(-v.y, 0.0, 1.0)));
  col = mix(col, sky, fog);
  outColor = vec4(sqrt(clamp(col, 0.0, 1.0)), 1.0);
}
