#version 450
// gather's adjoint: out (of `shape`) at position q sums src[r] over the positions r of index
// that equal q except along `dim`, where index[r] == q[dim]. Gathered per output element.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) readonly buffer I { uint idx[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint ndim; uint dim; uint pad_; uint shape[6]; uint ishape[6]; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint rest = i, base = 0u, istride = 1u, dstride = 0u, target = 0u;
        bool inside = true;
        for (int d = int(p.ndim) - 1; d >= 0; --d) {
            uint k = rest % p.shape[d];
            rest /= p.shape[d];
            if (uint(d) == p.dim) { target = k; dstride = istride; }
            else if (k >= p.ishape[d]) inside = false;
            else base += k * istride;
            istride *= p.ishape[d];
        }
        float acc = 0.0;
        if (inside)
            for (uint j = 0u; j < p.ishape[p.dim]; ++j) {
                const uint r = base + j * dstride;
                if (idx[2u * r] == target) acc += src[r];
            }
        y[i] = acc;
    }
}
