// Shared uniform block of the orbit scene. The layout (std140) is packed by src/vulkan/scene.ts
// (packSceneUniforms); keep both in step.
#define MAX_OBJECTS 16
layout(std140, set = 0, binding = 0) uniform Scene {
  mat4 viewProj;
  mat4 invViewProj;
  vec4 camPos;     // xyz: eye, w: time in seconds
  vec4 lightDir;   // xyz: unit vector towards the sun, w: ambient strength
  vec4 skyZenith;  // rgb
  vec4 skyHorizon; // rgb, w: fog density
  vec4 groundTint; // rgb: checker colour A, w: checker scale
  mat4 model[MAX_OBJECTS];
  vec4 color[MAX_OBJECTS]; // rgb: albedo, w: specular exponent
} u;
