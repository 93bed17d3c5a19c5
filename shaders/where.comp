#version 450
// out = cond != 0 ? a : b, all three broadcast to the output (strides 0 along broadcast axes).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer C { float c[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) writeonly buffer Out { float y[]; };
layout(push_constant) uniform P { uint n; uint ndim; uint shape[6]; uint sc[6]; uint sa[6]; uint sb[6]; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint rest = i, ic = 0u, ia = 0u, ib = 0u;
        for (int d = int(p.ndim) - 1; d >= 0; --d) {
            uint k = rest % p.shape[d];
            rest /= p.shape[d];
            ic += k * p.sc[d];
            ia += k * p.sa[d];
            ib += k * p.sb[d];
        }
        y[i] = c[ic] != 0.0 ? a[ia] : b[ib];
    }
}
