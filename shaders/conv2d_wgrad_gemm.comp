#version 450
// conv2d's weight gradient as an implicit GEMM, per group: GW[o, k] = sum_q GY[o, q] X[k, q]
// with k = (c, ki, kj) and the reduction over every output pixel q = (n, oh, ow) of the batch;
// X gathered from x on the fly as in conv2d_gemm.comp. Each thread's sum runs over q in a
// fixed order, so results do not depend on the device's scheduling.
#include "common.glsl"
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
const uint TM = 4, TN = 4; // BM / TM * BN / TN must equal the workgroup size
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer GY { float gy[]; };
layout(std430, binding = 2) writeonly buffer GW { float gw[]; };
layout(push_constant) uniform P {
    uint N, C, H, W, O, kh, kw, Ho, Wo, G, sh, sw, pt, pl, dh, dw;
} p;
shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
    const uint Cg = p.C / p.G, Og = p.O / p.G, K = Cg * p.kh * p.kw, Q = p.N * p.Ho * p.Wo, kk = p.kh * p.kw;
    const uint tiles_m = (Og + BM - 1u) / BM, tiles_n = (K + BN - 1u) / BN;
    const uint t = gl_LocalInvocationID.x, nthreads = gl_WorkGroupSize.x;
    const uint tr = t / (BN / TN), tc = t % (BN / TN); // this thread's TM x TN block
    for (uint wg = gl_WorkGroupID.x; wg < p.G * tiles_m * tiles_n; wg += gl_NumWorkGroups.x) {
        const uint g = wg / (tiles_m * tiles_n), m0 = ((wg / tiles_n) % tiles_m) * BM, n0 = (wg % tiles_n) * BN;
        float acc[TM][TN];
        for (uint i = 0u; i < TM; ++i)
            for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;
        for (uint q0 = 0u; q0 < Q; q0 += BK) {
            for (uint e = t; e < BM * BK; e += nthreads) { // GY tile, q fastest (neighbouring pixels)
                const uint m = e / BK, k = e % BK, o = m0 + m, q = q0 + k;
                float v = 0.0;
                if (o < Og && q < Q) {
                    const uint ow = q % p.Wo, oh = (q / p.Wo) % p.Ho, b = q / (p.Wo * p.Ho);
                    v = gy[((b * p.O + g * Og + o) * p.Ho + oh) * p.Wo + ow];
                }
                As[k][m] = v;
            }
            for (uint e = t; e < BK * BN; e += nthreads) { // X tile: row q, column k
                const uint k = e / BN, n = e % BN, q = q0 + k, kg = n0 + n;
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
                const uint kg = n0 + tc * TN + j;
                if (kg < K) gw[(g * Og + o) * K + kg] = acc[i][j];
            }
        }
    }
}
