#version 450
// out[a, b] = reduce over r of x[a, r, b] (the input viewed as [A, R, B]); one workgroup per
// output element, threads stride over r, then a tree in shared memory. op: 0 sum, 1 max, 2 min.
#include "common.glsl"
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform P { uint A; uint R; uint B; uint op; } p;
shared float part[gl_WorkGroupSize.x];

float combine(float u, float v) { return p.op == 0u ? u + v : p.op == 1u ? max(u, v) : min(u, v); }

void main() {
    const uint t = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    const float identity = p.op == 0u ? 0.0 : p.op == 1u ? -1.0 / 0.0 : 1.0 / 0.0;
    for (uint o = gl_WorkGroupID.x; o < p.A * p.B; o += gl_NumWorkGroups.x) {
        const uint a = o / p.B, b = o % p.B;
        float acc = identity;
        for (uint r = t; r < p.R; r += nt) {
            float v = x[(a * p.R + r) * p.B + b];
            acc = combine(acc, v);
            if (p.op != 0u && isnan(v)) acc = v; // NaN wins, as on the CPU
        }
        part[t] = acc;
        barrier();
        for (uint s = nt / 2u; s > 0u; s >>= 1u) {
            if (t < s) part[t] = isnan(part[t + s]) ? part[t + s] : combine(part[t], part[t + s]);
            barrier();
        }
        if (t == 0u) y[o] = part[0];
        barrier();
    }
}
