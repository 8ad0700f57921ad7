#version 450
#include "scene.glsl"
layout(location = 0) in vec3 inPos;
layout(location = 1) in vec3 inNormal;
layout(location = 0) out vec3 vWorld;
layout(location = 1) out vec3 vNormal;
layout(location = 2) flat out int vObject;
void main() {
  // The draw's firstInstance selects the object: gl_InstanceIndex includes it.
  mat4 m = u.model[gl_InstanceIndex];
  vec4 world = m * vec4(inPos, 1.0);
  vWorld = world.xyz;
  vNormal = mat3(m) * inNormal; // rotations and uniform scales only
  vObject = gl_InstanceIndex;
  gl_Position = u.viewProj * world;
}
