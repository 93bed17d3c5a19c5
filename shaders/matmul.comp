#version 450
// C[b] = op(A[b]) op(B[b]) for every batch index b; A, B and C row-major, op a transpose when
// ta / tb. Batch axes (up to 4) broadcast through per-axis strides (0 = broadcast).
// Each workgroup computes a TILE x TILE block of C from TILE x TILE tiles of A and B staged in
// shared memory; each thread accumulates one element in fp32.
#include "common.glsl"
layout(constant_id = 1) const uint TILE = 16;
layout(std430, binding = 0) readonly buffer MA { float a[]; };
layout(std430, binding = 1) readonly buffer MB { float b[]; };
layout(std430, binding = 2) writeonly buffer MC { float c[]; };
layout(push_constant) uniform P {
    uint M; uint N; uint K; uint ta; uint tb; uint nb; uint bshape[4]; uint sa[4]; uint sb[4];
} p;
shared float ta_[TILE][TILE];
shared float tb_[TILE][TILE];

void main() {
    const uint tx = gl_LocalInvocationID.x % TILE, ty = gl_LocalInvocationID.x / TILE;
    const uint tiles_n = (p.N + TILE - 1u) / TILE, tiles_m = (p.M + TILE - 1u) / TILE;
    const uint per_batch = tiles_m * tiles_n;
    uint batches = 1u;
    for (uint d = 0u; d < p.nb; ++d) batches *= p.bshape[d];
    for (uint w = gl_WorkGroupID.x; w < per_batch * batches; w += gl_NumWorkGroups.x) {
        const uint bi = w / per_batch, tile = w % per_batch;
        const uint row = (tile / tiles_n) * TILE + ty, col = (tile % tiles_n) * TILE + tx;
        uint oa = 0u, ob = 0u, rest = bi;
        for (int d = int(p.nb) - 1; d >= 0; --d) {
            uint k = rest % p.bshape[d];
            rest /= p.bshape[d];
            oa += k * p.sa[d];
            ob += k * p.sb[d];
        }
        float acc = 0.0;
        for (uint k0 = 0u; k0 < p.K; k0 += TILE) {
            const uint ka = k0 + tx, kb = k0 + ty; // A tile element (row, ka), B tile element (kb, col)
            ta_[ty][tx] = row < p.M && ka < p.K ? a[oa + (p.ta != 0u ? ka * p.M + row : row * p.K + ka)] : 0.0;
            tb_[ty][tx] = kb < p.K && col < p.N ? b[ob + (p.tb != 0u ? col * p.K + kb : kb * p.N + col)] : 0.0;
            barrier();
            for (uint k = 0u; k < TILE; ++k) acc += ta_[ty][k] * tb_[k][tx];
            barrier();
        }
        if (row < p.M && col < p.N) c[bi * p.M * p.N + row * p.N + col] = acc;
    }
}
