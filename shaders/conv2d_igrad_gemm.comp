#version 450
// conv2d's input gradient as an implicit GEMM, per group: GX[c, r] = sum_k W'[c, k] GY'[k, r]
// with r = (n, ih, iw) over every input pixel, k = (o, ki, kj) over the group's outputs and
// taps, W'[c, (o, ki, kj)] = w[o, c, ki, kj], and GY'[(o, ki, kj), (n, ih, iw)] = gy[n, o, oh, ow]
// where oh sh - pt + ki dh = ih (zero when no such output pixel exists). Gathering per input
// pixel avoids the write conflicts of a scatter; tiling as in conv2d_gemm.comp.
#include "common.glsl"
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
const uint TM = 4, TN = 4; // BM / TM * BN / TN must equal the workgroup size
layout(std430, binding = 0) readonly buffer GY { float gy[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer GX { float gx[]; };
layout(push_constant) uniform P {
    uint N, C, H, W, O, kh, kw, Ho, Wo, G, sh, sw, pt, pl, dh, dw;
} p;
shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
    const uint Cg = p.C / p.G, Og = p.O / p.G, K = Og * p.kh * p.kw, Q = p.N * p.H * p.W, kk = p.kh * p.kw;
    const uint tiles_m = (Cg + BM - 1u) / BM, tiles_n = (Q + BN - 1u) / BN;
    const uint t = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint tr = t / (BN / TN), tc = t % (BN / TN); // this thread's TM x TN block
    for (uint wg = gl_WorkGroupID.x; wg < p.G * tiles_m * tiles_n; wg += gl_NumWorkGroups.x) {
        const uint g = wg / (tiles_m * tiles_n), m0 = ((wg / tiles_n) % tiles_m) * BM, n0 = (wg % tiles_n) * BN;
        float acc[TM][TN];
        for (uint i = 0u; i < TM; ++i)
            for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;
        for (uint k0 = 0u; k0 < K; k0 += BK) {
            for (uint e = t; e < BM * BK; e += nthreads) { // W tile, k fastest (coalesced rows of w)
                const uint m = e / BK, k = e % BK, c = m0 + m, kg = k0 + k;
                float v = 0.0;
                if (c < Cg && kg < K) {
                    const uint o = kg / kk, tap = kg % kk;
                    v = w[((g * Og + o) * Cg + c) * kk + tap];
                }
                As[k][m] = v;
            }
            for (uint e = t; e < BK * BN; e += nthreads) { // X tile, q fastest (neighbouring pixels)
                const uint k = e / BN, n = e % BN, q = n0 + n, kg = k0 + k;
                float v = 0.0;
                if (q < Q && kg < K) {
                    const uint o = kg / kk, ki = (kg / p.kw) % p.kh, kj = kg % p.kw;
                    const uint iw = q % p.W, ih = (q / p.W) % p.H, b = q / (p.W * p.H);
                    const int th = int(ih + p.pt) - int(ki * p.dh), tw = int(iw + p.pl) - int(kj * p.dw);
                    if (th >= 0 && tw >= 0 && th % int(p.sh) == 0 && tw % int(p.sw) == 0) {
                        const uint oh = uint(th) / p.sh, ow = uint(tw) / p.sw;
                        if (oh < p.Ho && ow < p.Wo) v = gy[((b * p.O + g * Og + o) * p.Ho + oh) * p.Wo + ow];
                    }
                }
                Bs[k][n] = v;
            }
            barrier();
            for (uint k = 0u; k < BK; ++k) {
                float a[TM], bb[TN];
                for (uint i = 0u; i < TM; ++i) a[i] = As[k][tr * TM + i];
                for (uint j = 0u; j < TN; ++j) bb[j] = Bs[k][tc * TN + j];
                for (uint i = 0u; i < TM; ++i)
                    for (uint j = 0u; j < TN; ++j) acc[i][j] += a[i] * bb[j];
            }
            barrier();
        }
        for (uint i = 0u; i < TM; ++i) {
            const uint c = m0 + tr * TM + i;
            if (c >= Cg) continue;
            for (uint j = 0u; j < TN; ++j) {
                const uint q = n0 + tc * TN + j;
                if (q >= Q) continue;
                const uint iw = q % p.W, ih = (q / p.W) % p.H, b = q / (p.W * p.H);
                gx[((b * p.C + g * Cg + c) * p.H + ih) * p.W + iw] = acc[i][j];
            }
        }
    }
}
