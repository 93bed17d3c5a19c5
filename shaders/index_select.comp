#version 450
// out[a, j, b] = x[a, idx[j], b] (x viewed as [A, D, B]); idx holds int64 values, read as
// their low 32-bit word (indices are checked to be in range on the host side by the op).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer I { uint idx[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint A; uint D; uint B; uint J; } p;

void main() {
    const uint total = p.A * p.J * p.B;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint b = i % p.B, j = (i / p.B) % p.J, a = i / (p.B * p.J);
        y[i] = x[(a * p.D + idx[2u * j]) * p.B + b];
    }
}
