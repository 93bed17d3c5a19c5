// vkgrad/cpu/fused.hpp — the CPU's fused kernels (Backend's optional hooks): composites that
// dominate NAFNet's time done in one pass. Their compositions in ops/ stay the definitions,
// which other backends run and the tests hold these kernels against.
//
// LayerNorm2d: the composition makes eight passes over the whole activation and allocates seven
// maps of its size; on a 512 px image they were about a sixth of deblur's time. Here a block of
// pixels, all its channels, stays in cache while it is read three times (the mean, the
// variance, the output). The arithmetic is the composition's — sums over channels in float64,
// the mean and variance rounded to T before they are used — so the two agree to a rounding or
// two. Each pixel is computed alone, so the result does not depend on the thread count. Its
// backward (the closed form of ops/norm.hpp) likewise reads a block's g and x^ while they are in
// cache, where the composition made about eleven passes and four reductions; the weight's and
// bias's sums over pixels are kept per block and added in block order, again independent of the
// thread count.
//
// SimpleGate: the composition copies both halves out (slices) before multiplying them, and its
// backward multiplies into two halves and copies them into one (concat); here each is one pass.
//
// addcmul with a scale per channel (NAFNet's residuals inp + x * beta): one pass, not two.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/parallel.hpp"
#include "elementwise.hpp"

namespace vkgrad::cpu {

/// Pixels per block of the LayerNorm2d kernels (forward and backward): the block's C rows take
/// about 128 KiB, inside L2 at any width.
inline int64_t layer_norm_block(int64_t C) {
    return std::clamp<int64_t>((int64_t{1} << 15) / std::max<int64_t>(C, 1) / 16 * 16, 16, 2048);
}

/// x [N, C, P] (P = H W) -> y = (x - mean_c x) / sqrt(var_c x + eps) * w[c] + b[c], with the
/// population variance over channels. When xhat and r are not null they receive the normalised
/// input [N, C, P] and 1/std [N, P], which the backward needs.
template <class T>
void layer_norm2d_forward(const T* x, const T* w, const T* b, T eps, int64_t N, int64_t C, int64_t P, T* y, T* xhat,
                          T* r) {
    const int64_t block = layer_norm_block(C);
    const int64_t blocks = (P + block - 1) / block;
    const T count = T(C);
    parallel_for(N * blocks, 1, [&](int64_t lo, int64_t hi) {
        std::vector<double> acc(static_cast<size_t>(block));
        std::vector<T> mu(static_cast<size_t>(block)), rs(static_cast<size_t>(block));
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t n = u / blocks, p0 = (u % blocks) * block, np = std::min(block, P - p0);
            const T* xb = x + n * C * P + p0;
            std::fill(acc.begin(), acc.begin() + np, 0.0);
            for (int64_t c = 0; c < C; ++c)
                for (int64_t p = 0; p < np; ++p) acc[p] += static_cast<double>(xb[c * P + p]);
            for (int64_t p = 0; p < np; ++p) mu[p] = static_cast<T>(acc[p]) / count;
            std::fill(acc.begin(), acc.begin() + np, 0.0);
            for (int64_t c = 0; c < C; ++c)
                for (int64_t p = 0; p < np; ++p) {
                    const T d = xb[c * P + p] - mu[p];
                    acc[p] += static_cast<double>(d * d);
                }
            for (int64_t p = 0; p < np; ++p) rs[p] = T(1) / std::sqrt(static_cast<T>(acc[p]) / count + eps);
            for (int64_t c = 0; c < C; ++c) {
                const int64_t at = n * C * P + c * P + p0;
                for (int64_t p = 0; p < np; ++p) {
                    const T xh = (xb[c * P + p] - mu[p]) * rs[p];
                    if (xhat) xhat[at + p] = xh;
                    y[at + p] = xh * w[c] + b[c];
                }
            }
            if (r) std::copy(rs.begin(), rs.begin() + np, r + n * P + p0);
        }
    });
}

/// The adjoint of layer_norm2d_forward for an upstream g [N, C, P], from its xhat [N, C, P] and
/// r [N, P]: with gw = g w[c] and means over channels,
///   gx = (gw - mean(gw) - xhat mean(gw xhat)) r,  gweight[c] = sum g xhat,  gbias[c] = sum g
/// (sums over images and pixels). A null output is not computed.
template <class T>
void layer_norm2d_backward(const T* g, const T* w, const T* xhat, const T* r, int64_t N, int64_t C, int64_t P, T* gx,
                           T* gweight, T* gbias) {
    const int64_t block = layer_norm_block(C);
    const int64_t blocks = (P + block - 1) / block;
    const bool sums = gweight || gbias;
    std::vector<double> part(sums ? static_cast<size_t>(N * blocks * C * 2) : 0); // [block][C][weight, bias]
    const T count = T(C);
    parallel_for(N * blocks, 1, [&](int64_t lo, int64_t hi) {
        std::vector<double> s1(static_cast<size_t>(block)), s2(static_cast<size_t>(block));
        std::vector<T> m1(static_cast<size_t>(block)), m2(static_cast<size_t>(block));
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t n = u / blocks, p0 = (u % blocks) * block, np = std::min(block, P - p0);
            const int64_t base = n * C * P + p0;
            if (sums)
                for (int64_t c = 0; c < C; ++c) {
                    double sw = 0, sb = 0;
                    for (int64_t p = 0; p < np; ++p) {
                        const T gv = g[base + c * P + p];
                        sw += static_cast<double>(gv * xhat[base + c * P + p]);
                        sb += static_cast<double>(gv);
                    }
                    part[static_cast<size_t>((u * C + c) * 2)] = sw;
                    part[static_cast<size_t>((u * C + c) * 2 + 1)] = sb;
                }
            if (!gx) continue;
            std::fill(s1.begin(), s1.begin() + np, 0.0);
            std::fill(s2.begin(), s2.begin() + np, 0.0);
            // gw goes through memory (gx) so that it is rounded before the subtraction below: a
            // fused multiply-add there would leave g w's rounding error in gx, times r, where the
            // exact answer may be 0 (one channel: x^ = 0 and gw = mean(gw)).
            for (int64_t c = 0; c < C; ++c)
                for (int64_t p = 0; p < np; ++p) {
                    const T gw = g[base + c * P + p] * w[c];
                    gx[base + c * P + p] = gw;
                    s1[p] += static_cast<double>(gw);
                    s2[p] += static_cast<double>(gw * xhat[base + c * P + p]);
                }
            for (int64_t p = 0; p < np; ++p) {
                m1[p] = static_cast<T>(s1[p]) / count;
                m2[p] = static_cast<T>(s2[p]) / count;
            }
            const T* rb = r + n * P + p0;
            for (int64_t c = 0; c < C; ++c)
                for (int64_t p = 0; p < np; ++p) {
                    const int64_t at = base + c * P + p;
                    gx[at] = (gx[at] - m1[p] - xhat[at] * m2[p]) * rb[p];
                }
        }
    });
    for (int64_t c = 0; c < C && sums; ++c) {
        double sw = 0, sb = 0;
        for (int64_t u = 0; u < N * blocks; ++u) {
            sw += part[static_cast<size_t>((u * C + c) * 2)];
            sb += part[static_cast<size_t>((u * C + c) * 2 + 1)];
        }
        if (gweight) gweight[c] = static_cast<T>(sw);
        if (gbias) gbias[c] = static_cast<T>(sb);
    }
}

/// Calls f(plane, i0, i1) for each chunk [i0, i1) of at most kElementwiseGrain elements of
/// `planes` runs of `len` elements each, on the thread pool. The kernels below compute every
/// element alone, so the cut does not change their results.
template <class F> void for_each_chunk(int64_t planes, int64_t len, F&& f) {
    const int64_t chunks = (len + kElementwiseGrain - 1) / kElementwiseGrain;
    parallel_for(planes * chunks, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t u = lo; u < hi; ++u) {
            const int64_t i0 = (u % chunks) * kElementwiseGrain;
            f(u / chunks, i0, std::min(len, i0 + kElementwiseGrain));
        }
    });
}

/// x [N, 2c, inner] -> y [N, c, inner] = x[:, :c] * x[:, c:]; half = c * inner.
template <class T> void simple_gate_forward(const T* x, T* y, int64_t N, int64_t half) {
    for_each_chunk(N, half, [&](int64_t n, int64_t i0, int64_t i1) {
        const T* a = x + 2 * n * half;
        const T* b = a + half;
        T* o = y + n * half;
        for (int64_t i = i0; i < i1; ++i) o[i] = a[i] * b[i];
    });
}

/// The adjoint: g [N, c, inner] -> gx [N, 2c, inner] = [g * x[:, c:], g * x[:, :c]].
template <class T> void simple_gate_backward(const T* x, const T* g, T* gx, int64_t N, int64_t half) {
    for_each_chunk(N, half, [&](int64_t n, int64_t i0, int64_t i1) {
        const T* a = x + 2 * n * half;
        const T* b = a + half;
        const T* gn = g + n * half;
        T* ga = gx + 2 * n * half;
        T* gb = ga + half;
        for (int64_t i = i0; i < i1; ++i) {
            ga[i] = gn[i] * b[i];
            gb[i] = gn[i] * a[i];
        }
    });
}

/// y[n, c, i] = a[n, c, i] + x[n, c, i] * s[c] for a, x, y [N, C, inner]. The compiler may form
/// it with a fused multiply-add (GCC contracts by default in C++): one rounding where the
/// composition has two.
template <class T> void addcmul_channel(const T* a, const T* x, const T* s, T* y, int64_t N, int64_t C, int64_t inner) {
    for_each_chunk(N * C, inner, [&](int64_t plane, int64_t i0, int64_t i1) {
        const int64_t at = plane * inner;
        const T sc = s[plane % C];
        for (int64_t i = i0; i < i1; ++i) y[at + i] = a[at + i] + x[at + i] * sc;
    });
}

} // namespace vkgrad::cpu
