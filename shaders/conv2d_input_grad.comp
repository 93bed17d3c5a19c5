#version 450
// gx[n, c, ih, iw] = sum over o (in c's group), ki, kj of gy[n, o, oh, ow] * w[o, c - g Cg, ki, kj]
// for the (oh, ow) with oh sh - pt + ki dh = ih (and likewise for w): the adjoint of conv2d,
// gathered per input element so no two threads write the same place.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer GY { float gy[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer GX { float gx[]; };
layout(push_constant) uniform P {
    uint N, C, H, W, O, kh, kw, Ho, Wo, G, sh, sw, pt, pl, dh, dw;
} p;

void main() {
    const uint total = p.N * p.C * p.H * p.W, Cg = p.C / p.G, Og = p.O / p.G;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        const uint iw = i % p.W, ih = (i / p.W) % p.H, c = (i / (p.W * p.H)) % p.C, n = i / (p.W * p.H * p.C);
        const uint g = c / Cg, cl = c % Cg;
        float acc = 0.0;
        for (uint ki = 0u; ki < p.kh; ++ki) {
            const int th = int(ih + p.pt) - int(ki * p.dh);
            if (th < 0 || th % int(p.sh) != 0) continue;
            const uint oh = uint(th) / p.sh;
            if (oh >= p.Ho) continue;
            for (uint kj = 0u; kj < p.kw; ++kj) {
                const int tw = int(iw + p.pl) - int(kj * p.dw);
                if (tw < 0 || tw % int(p.sw) != 0) continue;
                const uint ow = uint(tw) / p.sw;
                if (ow >= p.Wo) continue;
                for (uint ol = 0u; ol < Og; ++ol) {
                    const uint o = g * Og + ol;
                    acc += gy[((n * p.O + o) * p.Ho + oh) * p.Wo + ow] * w[((o * Cg + cl) * p.kh + ki) * p.kw + kj];
                }
            }
        }
        gx[i] = acc;
    }
}
