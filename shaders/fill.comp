#version 450
// out[i] = value (the 32-bit pattern of the value; float32 tensors)
#include "common.glsl"
layout(std430, binding = 0) writeonly buffer Out { uint y[]; };
layout(push_constant) uniform P { uint n; uint bits; } p;
void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) y[i] = p.bits;
}
