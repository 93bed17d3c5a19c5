#version 450
// y[n, o, oh, ow] = sum over c (in o's group), ki, kj of w[o, c, ki, kj] * x[n, g Cg + c, ih, iw]
// with ih = oh sh - pt + ki dh, iw = ow sw - pl + kj dw (zero outside), plus bias[o] when
// has_bias (the fused conv2d + bias: the same sum, one rounding of it, then the add). One
// thread per output.
// A direct kernel: correct for every geometry; the tiled implicit-GEMM version is future work.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(push_constant) uniform P {
    uint N, C, H, W, O, kh, kw, Ho, Wo, G, sh, sw, pt, pl, dh, dw, has_bias;
} p;

void main() {
    const uint total = p.N * p.O * p.Ho * p.Wo, Cg = p.C / p.G, Og = p.O / p.G;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint ow = i % p.Wo, oh = (i / p.Wo) % p.Ho, o = (i / (p.Wo * p.Ho)) % p.O, n = i / (p.Wo * p.Ho * p.O);
        const uint c0 = (o / Og) * Cg;
        float acc = 0.0;
        for (uint c = 0u; c < Cg; ++c)
            for (uint ki = 0u; ki < p.kh; ++ki) {
                const int ih = int(oh * p.sh + ki * p.dh) - int(p.pt);
                if (ih < 0 || ih >= int(p.H)) continue;
                for (uint kj = 0u; kj < p.kw; ++kj) {
                    const int iw = int(ow * p.sw + kj * p.dw) - int(p.pl);
                    if (iw < 0 || iw >= int(p.W)) continue;
                    acc += w[((o * Cg + c) * p.kh + ki) * p.kw + kj] * x[((n * p.C + c0 + c) * p.H + uint(ih)) * p.W + uint(iw)];
                }
            }
        y[i] = p.has_bias != 0u ? acc + bias[o] : acc;
    }
}
