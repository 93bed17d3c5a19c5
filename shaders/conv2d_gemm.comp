#version 450
// conv2d as an implicit GEMM, per group: Y[o, q] = sum_k W[o, k] X[k, q] with k = (c, ki, kj)
// over the group's input channels and taps, and q = (n, oh, ow) over every output pixel of the
// batch. X is never materialised: each BK x BN tile of it is gathered from x (zeros outside
// the padded image) into shared memory next to a BM x BK tile of W, and each of the 256
// threads accumulates a TM x TN block of Y in registers, in fp32. With has_bias, bias[o] is
// added as each sum is stored (the fused conv2d + bias: the bits of a separate add).
#include "common.glsl"
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
const uint TM = 4, TN = 4; // BM / TM * BN / TN must equal the workgroup size
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(push_constant) uniform P {
    uint N, C, H, W, O, kh, kw, Ho, Wo, G, sh, sw, pt, pl, dh, dw, has_bias;
} p;
shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
    const uint Cg = p.C / p.G, Og = p.O / p.G, K = Cg * p.kh * p.kw, Q = p.N * p.Ho * p.Wo, kk = p.kh * p.kw;
    const uint tiles_m = (Og + BM - 1u) / BM, tiles_n = (Q + BN - 1u) / BN;
    const uint t = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint tr = t / (BN / TN), tc = t % (BN / TN); // this thread's TM x TN block
    for (uint wg = gl_WorkGroupID.x; wg < p.G * tiles_m * tiles_n; wg += gl_NumWorkGroups.x) {
        const uint g = wg / (tiles_m * tiles_n), m0 = ((wg / tiles_n) % tiles_m) * BM, n0 = (wg % tiles_n) * BN;
        float acc[TM][TN];
        for (uint i = 0u; i < TM; ++i)
            for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;
        for (uint k0 = 0u; k0 < K; k0 += BK) {
            for (uint e = t; e < BM * BK; e += nthreads) { // W tile, k fastest (coalesced rows of w)
                const uint m = e / BK, k = e % BK, o = m0 + m, kg = k0 + k;
                As[k][m] = o < Og && kg < K ? w[(g * Og + o) * K + kg] : 0.0;
            }
            for (uint e = t; e < BK * BN; e += nthreads) { // X tile, q fastest (neighbouring pixels)
                const uint k = e / BN, n = e % BN, q = n0 + n, kg = k0 + k;
                float v = 0.0;
                if (q < Q && kg < K) {
                    const uint c = kg / kk, ki = (kg / p.kw) % p.kh, kj = kg % p.kw;
                    const uint ow = q % p.Wo, oh = (q / p.Wo) % p.Ho, b = q / (p.Wo * p.Ho);
                    const int ih = int(oh * p.sh + ki * p.dh) - int(p.pt), iw = int(ow * p.sw + kj * p.dw) - int(p.pl);
                    if (ih >= 0 && ih < int(p.H) && iw >= 0 && iw < int(p.W))
                        v = x[((b * p.C + g * Cg + c) * p.H + uint(ih)) * p.W + uint(iw)];
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
            const uint o = m0 + tr * TM + i;
            if (o >= Og) continue;
            for (uint j = 0u; j < TN; ++j) {
                const uint q = n0 + tc * TN + j;
                if (q >= Q) continue;
                const uint ow = q % p.Wo, oh = (q / p.Wo) % p.Ho, b = q / (p.Wo * p.Ho);
                const float v = acc[i][j];
                y[((b * p.O + g * Og + o) * p.Ho + oh) * p.Wo + ow] = p.has_bias != 0u ? v + bias[g * Og + o] : v;
            }
        }
    }
}
