#version 450
// gw[o, c, ki, kj] = sum over n, oh, ow of gy[n, o, oh, ow] * x[n, g Cg + c, ih, iw]: one
// workgroup per weight element, threads striding over (n, oh, ow), then a tree in shared memory.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer GY { float gy[]; };
layout(std430, binding = 2) writeonly buffer GW { float gw[]; };
layout(push_constant) uniform P {
    uint N, C, H, W, O, kh, kw, Ho, Wo, G, sh, sw, pt, pl, dh, dw;
} p;
shared float part[gl_WorkGroupSize.x];

void main() {
    const uint Cg = p.C / p.G, Og = p.O / p.G, total = p.O * Cg * p.kh * p.kw, t = gl_LocalInvocationID.x;
    const uint P = p.N * p.Ho * p.Wo;
    for (uint e = gl_WorkGroupID.x; e < total; e += gl_NumWorkGroups.x) {
        const uint kj = e % p.kw, ki = (e / p.kw) % p.kh, c = (e / (p.kw * p.kh)) % Cg, o = e / (p.kw * p.kh * Cg);
        const uint cx = (o / Og) * Cg + c;
        float acc = 0.0;
        for (uint q = t; q < P; q += gl_WorkGroupSize.x) {
            const uint ow = q % p.Wo, oh = (q / p.Wo) % p.Ho, n = q / (p.Wo * p.Ho);
            const int ih = int(oh * p.sh + ki * p.dh) - int(p.pt), iw = int(ow * p.sw + kj * p.dw) - int(p.pl);
            if (ih < 0 || ih >= int(p.H) || iw < 0 || iw >= int(p.W)) continue;
            acc += gy[((n * p.O + o) * p.Ho + oh) * p.Wo + ow] * x[((n * p.C + cx) * p.H + uint(ih)) * p.W + uint(iw)];
        }
        part[t] = acc;
        barrier();
        for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
            if (t < s) part[t] += part[t + s];
            barrier();
        }
        if (t == 0u) gw[e] = part[0];
        barrier();
    }
}
