#version 450
// LayerNorm2d's input gradient (the closed form in ops/norm.hpp) per pixel, from the forward's
// xhat and r: with gw = g w[c] and means over the C channels of the pixel,
//   gx = (gw - mean(gw) - xhat mean(gw xhat)) r.
// The weight and bias gradients are per-channel sums over all pixels: the backend takes them
// with its reduce kernel.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer G { float g[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer XHat { float xhat[]; };
layout(std430, binding = 3) readonly buffer R { float r[]; };
layout(std430, binding = 4) writeonly buffer GX { float gx[]; };
layout(push_constant) uniform P { uint N; uint C; uint P; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.N * p.P; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint base = (i / p.P) * p.C * p.P + i % p.P;
        float s1 = 0.0, s2 = 0.0;
        for (uint c = 0u; c < p.C; ++c) {
            const float gw = g[base + c * p.P] * w[c];
            s1 += gw;
            s2 += gw * xhat[base + c * p.P];
        }
        s1 /= float(p.C);
        s2 /= float(p.C);
        const float rs = r[i];
        for (uint c = 0u; c < p.C; ++c) {
            const uint k = base + c * p.P;
            gx[k] = (g[k] * w[c] - s1 - xhat[k] * s2) * rs;
        }
    }
}
