#version 450
// y = a + x s[c] for a, x [N, C, inner] and one scale per channel (ops/layers.hpp's addcmul,
// NAFBlock's residuals scaled by beta and gamma): one pass instead of a product and a sum.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer S { float s[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint C; uint inner; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x)
        y[i] = a[i] + x[i] * s[(i / p.inner) % p.C];
}
