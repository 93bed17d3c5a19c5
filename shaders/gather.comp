#version 450
// torch.gather: out[q] = x[q with axis `dim` replaced by index[q]] (up to 6 axes; out and
// index share a shape, x may be larger along the other axes).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer I { uint idx[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint ndim; uint dim; uint pad_; uint shape[6]; uint xstride[6]; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint rest = i, src = 0u;
        for (int d = int(p.ndim) - 1; d >= 0; --d) {
            uint k = rest % p.shape[d];
            rest /= p.shape[d];
            src += (uint(d) == p.dim ? idx[2u * i] : k) * p.xstride[d];
        }
        y[i] = x[src];
    }
}
