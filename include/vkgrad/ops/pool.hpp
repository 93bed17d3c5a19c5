// vkgrad/ops/pool.hpp — pooling, composed from differentiable ops (so any-order gradients
// come for free): average pooling is a depthwise convolution with a constant kernel, max
// pooling a max over the kernel's shifted views, adaptive average pooling two averaging
// matrices, test-time local pooling running window sums and a replicate pad.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>

#include "conv.hpp"
#include "linalg.hpp"
#include "shape.hpp"

namespace vkgrad {

namespace detail {
inline void check_image(const char* op, const Tensor& x) {
    VKG_CHECK(x.defined() && x.dim() == 4, op, "needs a 4-d tensor [N, C, H, W], got ",
              x.defined() ? to_string(x.shape()) : "undefined");
}
inline void check_pool(const char* op, const Tensor& x, int64_t k, int64_t s, int64_t p) {
    check_image(op, x);
    VKG_CHECK(k >= 1 && s >= 1 && p >= 0 && 2 * p <= k, op, "kernel ", k, " stride ", s, " padding ", p,
              " (need kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2)");
    VKG_CHECK(x.size(2) + 2 * p >= k && x.size(3) + 2 * p >= k, op, "kernel ", k, " is larger than the padded input ",
              to_string(x.shape()));
}
} // namespace detail

/// torch.nn.functional.avg_pool2d(x, k, stride, padding) with count_include_pad=True.
inline Tensor avg_pool2d(const Tensor& x, int64_t k, int64_t stride = 0, int64_t padding = 0) {
    if (stride == 0) stride = k;
    detail::check_pool("avg_pool2d", x, k, stride, padding);
    const int64_t N = x.size(0), C = x.size(1);
    const Tensor w = full({1, 1, k, k}, 1.0 / static_cast<double>(k * k), {x.dtype(), x.device()});
    const Tensor y = conv2d(reshape(x, {N * C, 1, x.size(2), x.size(3)}), w, Tensor(), ConvParams::torch(stride, padding));
    return reshape(y, {N, C, y.size(2), y.size(3)});
}

/// torch.nn.functional.max_pool2d(x, k, stride, padding). Padding never wins the max.
/// Ties share the gradient (torch gives it to one of them); inputs without ties agree exactly.
inline Tensor max_pool2d(const Tensor& x, int64_t k, int64_t stride = 0, int64_t padding = 0) {
    if (stride == 0) stride = k;
    detail::check_pool("max_pool2d", x, k, stride, padding);
    const Tensor xp = padding ? pad(x, {padding, padding, padding, padding}, PadMode::constant, -INFINITY) : x;
    const int64_t Ho = (xp.size(2) - k) / stride + 1, Wo = (xp.size(3) - k) / stride + 1;
    std::vector<Tensor> taps;
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j)
            taps.push_back(unsqueeze(
                slice(slice(xp, 2, i, i + (Ho - 1) * stride + 1, stride), 3, j, j + (Wo - 1) * stride + 1, stride), -1));
    return max(concat(taps, -1), {-1});
}

namespace detail {
/// [out, in] matrix averaging torch's adaptive bins [floor(i*in/out), ceil((i+1)*in/out)).
inline Tensor adaptive_matrix(int64_t in, int64_t out, const Tensor& like) {
    std::vector<double> m(static_cast<size_t>(in * out), 0.0);
    for (int64_t i = 0; i < out; ++i) {
        const int64_t a = (i * in) / out, b = ((i + 1) * in + out - 1) / out;
        for (int64_t j = a; j < b; ++j) m[static_cast<size_t>(i * in + j)] = 1.0 / static_cast<double>(b - a);
    }
    return from_vector(m, {out, in}, {like.dtype(), like.device()});
}
} // namespace detail

/// torch.nn.functional.adaptive_avg_pool2d(x, (Ho, Wo)).
inline Tensor adaptive_avg_pool2d(const Tensor& x, int64_t Ho, int64_t Wo) {
    detail::check_image("adaptive_avg_pool2d", x);
    VKG_CHECK(Ho >= 1 && Wo >= 1, "adaptive_avg_pool2d", "output size ", Ho, "x", Wo, " must be positive");
    const Tensor rows = detail::adaptive_matrix(x.size(2), Ho, x), cols = detail::adaptive_matrix(x.size(3), Wo, x);
    return matmul(matmul(rows, x), transpose(cols, 0, 1));
}

namespace detail {
/// How detail::sliding_mean sums its windows: `running` (a product with an out x (n - k)
/// triangular matrix per line, O(n (n - k)): cheap when the window is most of the line, as for
/// 384 px windows on the 512 px faces NAFNet was trained for) or `prefix` (blocked prefix sums,
/// O(n (b + n / b)): what keeps larger images linear). `best` picks the cheaper by operation count.
enum class SlidingSum { best, running, prefix };
constexpr int64_t kPrefixBlock = 64; ///< the prefix sums' block length b

/// A rows x cols matrix of ones on and below the diagonal (strictly below when !diagonal),
/// zeros above, with like's dtype and device: running and prefix sums as products.
inline Tensor ones_below(int64_t rows, int64_t cols, bool diagonal, const Tensor& like) {
    std::vector<double> v(static_cast<size_t>(rows * cols), 0.0);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < std::min(cols, diagonal ? i + 1 : i); ++j) v[static_cast<size_t>(i * cols + j)] = 1.0;
    return from_vector(v, {rows, cols}, {like.dtype(), like.device()});
}

/// Inclusive prefix sums along `axis` (2 or 3) of a 4-d x: the line cut into blocks of b, the
/// sums within each block one product with a b x b triangular matrix of ones, then each block
/// offset by the total of the blocks before it (a product with an (n / b) x (n / b) one).
inline Tensor prefix_sum(const Tensor& x, int64_t axis, int64_t b) {
    const int64_t n = x.size(axis), nb = (n + b - 1) / b;
    const Tensor within_block = ones_below(b, b, true, x), before_block = ones_below(nb, nb, false, x);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    std::vector<int64_t> pads(4, 0);
    pads[axis == 3 ? 1 : 3] = nb * b - n; // zeros after the line's end
    const Tensor xp = nb * b == n ? x : pad(x, pads, PadMode::constant, 0.0);
    if (axis == 3) { // [N, C, H, nb, b] times the transposed triangle, from the right
        const Tensor within = matmul(reshape(xp, {N, C, H, nb, b}), transpose(within_block, 0, 1));
        const Tensor totals = reshape(narrow(within, 4, b - 1, 1), {N, C, H, nb});
        const Tensor offsets = matmul(totals, transpose(before_block, 0, 1));
        return narrow(reshape(within + unsqueeze(offsets, 4), {N, C, H, nb * b}), 3, 0, n);
    }
    const Tensor within = matmul(within_block, reshape(xp, {N, C, nb, b, W})); // [N, C, nb, b, W]
    const Tensor totals = reshape(narrow(within, 3, b - 1, 1), {N, C, nb, W});
    const Tensor offsets = matmul(before_block, totals);
    return narrow(reshape(within + unsqueeze(offsets, 3), {N, C, nb * b, W}), 2, 0, n);
}

/// The valid sliding means of window k along `axis` (2 or 3) of a 4-d x, n - k + 1 of them.
/// running: m_i = (sum_{j<k} x_j + sum_{j<i} (x_{j+k} - x_j)) / k — the first window's sum,
/// then each next one as the last plus what enters minus what leaves, the running sums one
/// product with a lower-triangular matrix of ones (a banded averaging matrix would take
/// O(n^2): 4x more for 384 windows on 512 px). prefix: m_i = (P_{i+k-1} - P_{i-1}) / k with P
/// the inclusive prefix sums (prefix_sum), P_{-1} = 0.
inline Tensor sliding_mean(const Tensor& x, int64_t axis, int64_t k, SlidingSum how = SlidingSum::best) {
    const int64_t n = x.size(axis), out = n - k + 1;
    if (how == SlidingSum::best)
        how = out > 1 && out * (n - k) > 2 * n * kPrefixBlock ? SlidingSum::prefix : SlidingSum::running;
    if (how == SlidingSum::prefix) {
        const Tensor P = prefix_sum(x, axis, kPrefixBlock);
        std::vector<int64_t> one_before(4, 0);
        one_before[axis == 3 ? 0 : 2] = 1;
        const Tensor hi = narrow(P, axis, k - 1, out);
        const Tensor lo = out == 1 ? zeros_like(hi) : pad(narrow(P, axis, 0, out - 1), one_before, PadMode::constant, 0.0);
        return (hi - lo) * (1.0 / static_cast<double>(k));
    }
    const Tensor first = sum(narrow(x, axis, 0, k), {axis}, true);
    if (out == 1) return first * (1.0 / static_cast<double>(k));
    const Tensor diff = narrow(x, axis, k, n - k) - narrow(x, axis, 0, n - k);
    const Tensor L = ones_below(out, n - k, false, x);
    const Tensor running = axis == 2 ? matmul(L, diff) : matmul(diff, transpose(L, 0, 1));
    return (first + running) * (1.0 / static_cast<double>(k));
}
} // namespace detail

/// Test-time local pooling (Chu et al., "Improving Image Restoration by Revisiting Global
/// Information Aggregation", ECCV 2022; NAFNet's `local_arch.AvgPool2d`): each position gets the
/// mean of the kh x kw window around it instead of the whole image's, so a network trained on
/// crops sees crop-sized statistics on a larger image. Windows are clipped to the image; the
/// valid (H-kh+1) x (W-kw+1) means are replicated outwards (floor half before, the rest after).
/// A window covering the whole image is the global mean, returned as [N, C, 1, 1].
/// `then`, if given, is applied to the means before they are replicated: it must treat each
/// position alone (a 1x1 convolution, say), so it commutes with the replication and runs on the
/// few valid positions instead of all H x W (16x fewer for a 384 window on 512 px).
/// Requires a 4-d x and kh, kw >= 1. Ensures [N, C', H, W] (or [N, C', 1, 1]); differentiable.
inline Tensor local_avg_pool2d(const Tensor& x, int64_t kh, int64_t kw,
                               const std::function<Tensor(const Tensor&)>& then = {}) {
    detail::check_image("local_avg_pool2d", x);
    VKG_CHECK(kh >= 1 && kw >= 1, "local_avg_pool2d", "window ", kh, "x", kw, " must be positive");
    const int64_t H = x.size(2), W = x.size(3);
    if (kh >= H && kw >= W) return then ? then(adaptive_avg_pool2d(x, 1, 1)) : adaptive_avg_pool2d(x, 1, 1);
    const int64_t k1 = std::min(H, kh), k2 = std::min(W, kw), Ho = H - k1 + 1, Wo = W - k2 + 1;
    // A separable box filter, each direction running or prefix sums (detail::sliding_mean); a
    // k1 x k2 depthwise convolution would cost k1 k2 per position for the large windows used here.
    Tensor valid = detail::sliding_mean(detail::sliding_mean(x, 3, k2), 2, k1);
    if (then) valid = then(valid);
    return pad(valid, {(W - Wo) / 2, (W - Wo + 1) / 2, (H - Ho) / 2, (H - Ho + 1) / 2}, PadMode::replicate, 0.0);
}

} // namespace vkgrad
