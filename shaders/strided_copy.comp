#version 450
// dst[dbase + sum_d k_d * ds_d] = src[sbase + sum_d k_d * ss_d] over an index space of up to 6
// axes: permute, expand (stride 0), slice (offset, step), flip (negative stride), concat and
// unslice (strided writes) are all this one kernel. Elements are 32-bit words.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer Src { uint s[]; };
layout(std430, binding = 1) buffer Dst { uint d[]; };
layout(push_constant) uniform P { uint n; uint ndim; int sbase; int dbase; uint shape[6]; int ss[6]; int ds[6]; } p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) {
        uint rest = i;
        int si = p.sbase, di = p.dbase;
        for (int k = int(p.ndim) - 1; k >= 0; --k) {
            int q = int(rest % p.shape[k]);
            rest /= p.shape[k];
            si += q * p.ss[k];
            di += q * p.ds[k];
        }
        d[di] = s[si];
    }
}
