#version 450
// y = f(x) elementwise; the function is chosen by a push constant (the order of UnaryOp).
#include "common.glsl"
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform P { uint n; uint op; float a; float b; } p;

float erf_approx(float v) { // Numerical Recipes' erfc Chebyshev fit: relative error < 1.2e-7
    float t = 1.0 / (1.0 + 0.5 * abs(v));
    float r = t * exp(-v * v - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
              t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return v >= 0.0 ? 1.0 - r : r - 1.0;
}

// pow with C's rules for a negative base and an integer exponent (GLSL leaves it undefined)
float powf(float v, float e) {
    if (e == 0.0) return 1.0;
    if (v >= 0.0) return pow(v, e);
    if (floor(e) != e) return 0.0 / 0.0;
    float r = pow(-v, e);
    return mod(e, 2.0) == 1.0 ? -r : r;
}

float f(float v) {
    switch (p.op) {
    case 0u: return -v;
    case 1u: return exp(v);
    case 2u: return log(v);
    case 3u: return sqrt(v);
    case 4u: return inversesqrt(v);
    case 5u: return abs(v);
    case 6u: return sign(v);
    case 7u: return 1.0 / (1.0 + exp(-v));
    case 8u: { float t = exp(-2.0 * abs(v)); return sign(v) * (1.0 - t) / (1.0 + t); } // no overflow for large |v|
    case 9u: return erf_approx(v);
    case 10u: return max(v, 0.0);
    case 11u: return v >= 0.0 ? v : v * p.a;
    case 12u: return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752));
    case 13u: { float z = v * p.a; return z > p.b ? v : log(1.0 + exp(z)) / p.a; }
    case 14u: return min(max(v, p.a), p.b);
    case 15u: return powf(v, p.a);
    }
    return v;
}

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * gl_WorkGroupSize.x) y[i] = f(x[i]);
}
