#version 450
// out = a (op) b with numpy broadcasting: the output index is split over up to 6 axes, and
// a and b read with their own strides (0 along broadcast axes). The order of ops is BinaryOp's.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Out { float y[]; };
layout(push_constant) uniform P { uint n; uint op; uint ndim; uint shape[6]; uint sa[6]; uint sb[6]; } p;

float powf(float v, float e) {
    if (e == 0.0) return 1.0;
    if (v >= 0.0) return pow(v, e);
    if (floor(e) != e) return 0.0 / 0.0;
    float r = pow(-v, e);
    return mod(e, 2.0) == 1.0 ? -r : r;
}

float apply(float u, float v) {
    switch (p.op) {
    case 0u: return u + v;
    case 1u: return u - v;
    case 2u: return u * v;
    case 3u: return u / v;
    case 4u: return powf(u, v);
    case 5u: return max(u, v);
    case 6u: return min(u, v);
    case 7u: return u == v ? 1.0 : 0.0;
    case 8u: return u != v ? 1.0 : 0.0;
    case 9u: return u < v ? 1.0 : 0.0;
    case 10u: return u <= v ? 1.0 : 0.0;
    case 11u: return u > v ? 1.0 : 0.0;
    case 12u: return u >= v ? 1.0 : 0.0;
    }
    return 0.0;
}

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint rest = i, ia = 0u, ib = 0u;
        for (int d = int(p.ndim) - 1; d >= 0; --d) {
            uint k = rest % p.shape[d];
            rest /= p.shape[d];
            ia += k * p.sa[d];
            ib += k * p.sb[d];
        }
        y[i] = apply(a[ia], b[ib]);
    }
}
