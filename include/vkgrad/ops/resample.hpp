// vkgrad/ops/resample.hpp — changing resolution: interpolation, pixel (un)shuffle and
// StyleGAN2's upfirdn2d. All composed from differentiable ops. Interpolation is separable:
// y = R_h x R_w^T with small [out, in] weight matrices built on the host, so bilinear and
// bicubic share one code path and their gradients are matrix products too.
#pragma once
#include <cmath>

#include "conv.hpp"
#include "linalg.hpp"
#include "pool.hpp"

namespace vkgrad {

enum class Interp { nearest, bilinear, bicubic };

namespace detail {

/// torch's source coordinate of output index i.
inline double source_coord(int64_t i, int64_t in, int64_t out, bool align_corners, bool cubic) {
    if (align_corners) return out > 1 ? static_cast<double>(i) * (in - 1) / (out - 1) : 0.0;
    const double s = (static_cast<double>(i) + 0.5) * in / out - 0.5;
    return (!cubic && s < 0) ? 0.0 : s; // linear clamps negative coordinates, cubic does not
}

/// Keys' cubic convolution weights with A = -0.75, as torch's bicubic.
inline void cubic_weights(double t, double w[4]) {
    const double A = -0.75;
    auto near = [A](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };       // |x| <= 1
    auto far = [A](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }; // 1 < |x| < 2
    w[0] = far(t + 1);
    w[1] = near(t);
    w[2] = near(1 - t);
    w[3] = far(2 - t);
}

inline Tensor interp_matrix(int64_t in, int64_t out, Interp mode, bool align_corners, const Tensor& like) {
    std::vector<double> m(static_cast<size_t>(in * out), 0.0);
    auto at = [&](int64_t i, int64_t j) -> double& {
        return m[static_cast<size_t>(i * in + std::clamp<int64_t>(j, 0, in - 1))];
    };
    for (int64_t i = 0; i < out; ++i) {
        if (mode == Interp::nearest) {
            // torch's legacy 'nearest': floor(i * in / out)
            at(i, std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<double>(i) * in / out)), in - 1)) = 1;
            continue;
        }
        const bool cubic = mode == Interp::bicubic;
        const double s = source_coord(i, in, out, align_corners, cubic);
        const int64_t i0 = static_cast<int64_t>(std::floor(s));
        const double t = s - static_cast<double>(i0);
        if (!cubic) {
            at(i, i0) += 1 - t;
            at(i, std::min(i0 + 1, in - 1)) += t;
        } else {
            double w[4];
            cubic_weights(t, w);
            for (int k = 0; k < 4; ++k) at(i, i0 - 1 + k) += w[k]; // borders replicate
        }
    }
    return from_vector(m, {out, in}, {like.dtype(), like.device()});
}

} // namespace detail

/// torch.nn.functional.interpolate(x, size=(Ho, Wo), mode, align_corners) for 4-d x.
/// align_corners is ignored for nearest (as in torch).
inline Tensor interpolate(const Tensor& x, int64_t Ho, int64_t Wo, Interp mode, bool align_corners = false) {
    detail::check_image("interpolate", x);
    VKG_CHECK(Ho >= 1 && Wo >= 1, "interpolate", "output size ", Ho, "x", Wo, " must be positive");
    const Tensor rows = detail::interp_matrix(x.size(2), Ho, mode, align_corners, x);
    const Tensor cols = detail::interp_matrix(x.size(3), Wo, mode, align_corners, x);
    return matmul(matmul(rows, x), transpose(cols, 0, 1));
}

/// torch.nn.functional.pixel_shuffle: [N, C*r*r, H, W] -> [N, C, H*r, W*r].
inline Tensor pixel_shuffle(const Tensor& x, int64_t r) {
    detail::check_image("pixel_shuffle", x);
    VKG_CHECK(r >= 1 && x.size(1) % (r * r) == 0, "pixel_shuffle", "channels ", x.size(1),
              " not divisible by factor^2 = ", r * r);
    const int64_t N = x.size(0), C = x.size(1) / (r * r), H = x.size(2), W = x.size(3);
    return reshape(permute(reshape(x, {N, C, r, r, H, W}), {0, 1, 4, 2, 5, 3}), {N, C, H * r, W * r});
}

/// torch.nn.functional.pixel_unshuffle: [N, C, H*r, W*r] -> [N, C*r*r, H, W].
inline Tensor pixel_unshuffle(const Tensor& x, int64_t r) {
    detail::check_image("pixel_unshuffle", x);
    VKG_CHECK(r >= 1 && x.size(2) % r == 0 && x.size(3) % r == 0, "pixel_unshuffle", "size ", to_string(x.shape()),
              " not divisible by factor ", r);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2) / r, W = x.size(3) / r;
    return reshape(permute(reshape(x, {N, C, H, r, W, r}), {0, 1, 3, 5, 2, 4}), {N, C * r * r, H, W});
}

/// StyleGAN2-ADA's upfirdn2d with flip_filter=False: upsample by zero insertion, pad
/// (x0, x1, y0, y1; negative crops), convolve with the FIR filter f (a true convolution;
/// 2-d [fh, fw] or separable 1-d [k], applied along both axes), then keep every down-th pixel.
/// The filter is multiplied by gain (per axis: gain^(1/2) for a separable filter).
inline Tensor upfirdn2d(const Tensor& x, const Tensor& f, int64_t up = 1, int64_t down = 1,
                        std::array<int64_t, 4> pads = {0, 0, 0, 0}, double gain = 1.0) {
    detail::check_image("upfirdn2d", x);
    VKG_CHECK(up >= 1 && down >= 1, "upfirdn2d", "up ", up, " and down ", down, " must be >= 1");
    VKG_CHECK(f.defined() && (f.dim() == 1 || f.dim() == 2), "upfirdn2d", "filter must be 1-d or 2-d, got ",
              f.defined() ? to_string(f.shape()) : "undefined");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Tensor y = x;
    if (up > 1) { // zero insertion: every pixel followed by up-1 zeros along each axis
        y = pad(reshape(y, {N, C, H, 1, W, 1}), {0, up - 1, 0, 0, 0, up - 1});
        y = reshape(y, {N, C, H * up, W * up});
    }
    y = pad(y, {pads[0], pads[1], pads[2], pads[3]});
    // conv2d correlates, so the flipped filter gives the true convolution.
    const int64_t fh = f.dim() == 2 ? f.size(0) : f.size(0), fw = f.dim() == 2 ? f.size(1) : f.size(0);
    VKG_CHECK(y.size(2) >= fh && y.size(3) >= fw, "upfirdn2d", "filter ", to_string(f.shape()),
              " is larger than the padded input ", to_string(y.shape()));
    const int64_t Hp = y.size(2), Wp = y.size(3);
    y = reshape(y, {N * C, 1, Hp, Wp});
    if (f.dim() == 2) {
        y = conv2d(y, reshape(flip(f * gain, {0, 1}), {1, 1, fh, fw}));
    } else {
        const Tensor fs = flip(f * std::sqrt(gain), {0});
        y = conv2d(conv2d(y, reshape(fs, {1, 1, 1, fw})), reshape(fs, {1, 1, fh, 1}));
    }
    y = reshape(y, {N, C, y.size(2), y.size(3)});
    if (down > 1) y = slice(slice(y, 2, 0, y.size(2), down), 3, 0, y.size(3), down);
    return y;
}

} // namespace vkgrad
