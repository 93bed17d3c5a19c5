#version 450
// SimpleGate (ops/layers.hpp) on x [N, 2c, inner]: the two halves of each image's channels.
// mode 0: y[n, k] = x[n, k] x[n, c + k]                       (k over c * inner; g unused)
// mode 1, its adjoint for g [N, c, inner]: gx[n, k] = g x[n, c + k], gx[n, c + k] = g x[n, k].
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint half_size; uint mode; } p; // n = N * half_size

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint first = (i / p.half_size) * 2u * p.half_size + i % p.half_size, second = first + p.half_size;
        if (p.mode == 0u) {
            y[i] = x[first] * x[second];
        } else {
            y[first] = g[i] * x[second];
            y[second] = g[i] * x[first];
        }
    }
}
