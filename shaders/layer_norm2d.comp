#version 450
// LayerNorm2d's forward (ops/norm.hpp) in one pass over the activation: each invocation owns
// one pixel (n, q) of x [N, C, P] and normalises its C values — neighbouring invocations read
// neighbouring pixels of each channel plane, so the loads coalesce. keep = 1 also writes xhat
// and r = 1 / std [N, P] for the backward (otherwise those bindings are not touched).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) writeonly buffer XHat { float xhat[]; };
layout(std430, binding = 5) writeonly buffer R { float r[]; };
layout(push_constant) uniform P { uint N; uint C; uint P; float eps; uint keep; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.N * p.P; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint base = (i / p.P) * p.C * p.P + i % p.P;
        float m = 0.0;
        for (uint c = 0u; c < p.C; ++c) m += x[base + c * p.P];
        m /= float(p.C);
        float v = 0.0; // two passes: the variance of d = x - m, as the composition computes it
        for (uint c = 0u; c < p.C; ++c) {
            const float d = x[base + c * p.P] - m;
            v += d * d;
        }
        const float rs = inversesqrt(v / float(p.C) + p.eps);
        for (uint c = 0u; c < p.C; ++c) {
            const float h = (x[base + c * p.P] - m) * rs;
            y[base + c * p.P] = h * w[c] + b[c];
            if (p.keep != 0u) xhat[base + c * p.P] = h;
        }
        if (p.keep != 0u) r[i] = rs;
    }
}
