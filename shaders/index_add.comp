#version 450
// out[a, d, b] = sum over j with idx[j] == d of src[a, j, b]: index_select's adjoint, gathered
// per output element (deterministic, no atomics).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) readonly buffer I { uint idx[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint A; uint D; uint B; uint J; } p;

void main() {
    const uint total = p.A * p.D * p.B;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint b = i % p.B, d = (i / p.B) % p.D, a = i / (p.B * p.D);
        float acc = 0.0;
        for (uint j = 0u; j < p.J; ++j)
            if (idx[2u * j] == d) acc += src[(a * p.J + j) * p.B + b];
        y[i] = acc;
    }
}
