#version 450
// out = x padded (or cropped, for negative pads) along up to 6 axes; mode 0 constant (value),
// 1 reflect (the edge not repeated), 2 replicate (the edge repeated).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint ndim; uint mode; float value; uint out_shape[6]; uint in_shape[6]; int before[6]; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint rest = i, src = 0u, stride = 1u;
        bool inside = true;
        for (int d = int(p.ndim) - 1; d >= 0; --d) {
            int k = int(rest % p.out_shape[d]) - p.before[d];
            rest /= p.out_shape[d];
            const int len = int(p.in_shape[d]);
            if (k < 0 || k >= len) {
                if (p.mode == 0u) inside = false;
                else if (p.mode == 1u) k = k < 0 ? -k : 2 * (len - 1) - k;
                else k = clamp(k, 0, len - 1);
            }
            src += uint(max(k, 0)) * stride;
            stride *= p.in_shape[d];
        }
        y[i] = inside ? x[src] : p.value;
    }
}
