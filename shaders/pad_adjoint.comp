#version 450
// The adjoint of padding (constant, reflect, replicate): each input element sums the output elements that
// were copied from it. Along each axis an input index k has up to three sources in reflect
// mode (itself and two mirror images) and a range at the edges in replicate mode; the kernel
// visits every combination (an odometer over the axes).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer G { float g[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint ndim; uint mode; uint pad_; uint out_shape[6]; uint in_shape[6]; int before[6]; } p;

// Sources of input index k along axis d: up to 3 ranges [lo[r], hi[r]] of output indices.
void sources(uint d, int k, out int lo[3], out int hi[3], out int count) {
    const int b = p.before[d], len = int(p.in_shape[d]), outl = int(p.out_shape[d]);
    count = 0;
    if (p.mode == 1u) { // reflect: j = k + b, and the mirrors b - k and b + 2(len-1) - k
        int js[3] = int[3](k + b, b - k, b + 2 * (len - 1) - k);
        for (int r = 0; r < 3; ++r) {
            if (r > 0 && (js[r] == js[0] || (r == 2 && js[2] == js[1]))) continue;
            if (js[r] >= 0 && js[r] < outl) { lo[count] = js[r]; hi[count] = js[r]; ++count; }
        }
    } else if (p.mode == 0u) { // constant: only the position itself (pads may be negative: crops)
        if (k + b >= 0 && k + b < outl) { lo[0] = k + b; hi[0] = k + b; count = 1; }
    } else { // replicate: the edges collect every position beyond them
        int l = k + b, h = k + b;
        if (k == 0) l = 0;
        if (k == len - 1) h = outl - 1;
        l = max(l, 0);
        h = min(h, outl - 1);
        if (l <= h) { lo[0] = l; hi[0] = h; count = 1; }
    }
}

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        int lo[6][3], hi[6][3], cnt[6], k[6];
        uint rest = i;
        bool empty = false;
        for (int d = int(p.ndim) - 1; d >= 0; --d) {
            k[d] = int(rest % p.in_shape[d]);
            rest /= p.in_shape[d];
            int l[3], h[3], c;
            sources(uint(d), k[d], l, h, c);
            for (int r = 0; r < 3; ++r) { lo[d][r] = r < c ? l[r] : 0; hi[d][r] = r < c ? h[r] : -1; }
            cnt[d] = c;
            if (c == 0) empty = true;
        }
        float acc = 0.0;
        if (!empty) {
            int r[6], j[6];
            for (int d = 0; d < int(p.ndim); ++d) { r[d] = 0; j[d] = lo[d][0]; }
            while (true) {
                uint idx = 0u;
                for (int d = 0; d < int(p.ndim); ++d) idx = idx * p.out_shape[d] + uint(j[d]);
                acc += g[idx];
                int d = int(p.ndim) - 1; // advance the odometer: j within its range, then the next range
                for (; d >= 0; --d) {
                    if (j[d] < hi[d][r[d]]) { ++j[d]; break; }
                    if (r[d] + 1 < cnt[d]) { ++r[d]; j[d] = lo[d][r[d]]; break; }
                    r[d] = 0;
                    j[d] = lo[d][0];
                }
                if (d < 0) break;
            }
        }
        y[i] = acc;
    }
}
