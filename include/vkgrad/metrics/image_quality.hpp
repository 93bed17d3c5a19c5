// vkgrad/metrics/image_quality.hpp — PSNR and SSIM as restoration papers report them.
//
// Both work on 8-bit values: float images in [0, 1] are rounded to 0..255 first (what saving
// the result as PNG would give), so numbers match tools that read image files. Arithmetic is
// float64 on the host.
//   PSNR: 10 log10(255^2 / MSE) per image, optionally on BT.601 luma (Y in [16, 235], as
//         BasicSR's test_y_channel) and with a border cropped; infinite for identical images.
//   SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
//         population (co)variances, averaged over the valid region (5 pixels in from each edge)
//         and then over channels — scikit-image's structural_similarity(gaussian_weights=True,
//         sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1).
#pragma once
#include <cmath>
#include <limits>
#include <vector>

#include "../core/tensor.hpp"
#include "../ops/creation.hpp"

namespace vkgrad::metrics {

/// An image as planes of 8-bit values in float64: [C][H*W].
struct Planes {
    int64_t C = 0, H = 0, W = 0;
    std::vector<double> v; ///< c * H * W + y * W + x
    double at(int64_t c, int64_t y, int64_t x) const { return v[static_cast<size_t>((c * H + y) * W + x)]; }
};

/// [3, H, W] or [1, 3, H, W] (or 1 channel) in [0, 1] -> 8-bit planes (clamped, rounded).
inline Planes to_8bit(const Tensor& img, const char* op) {
    VKG_CHECK(img.defined() && (img.dim() == 3 || (img.dim() == 4 && img.size(0) == 1)), op,
              "needs one image [C, H, W] or [1, C, H, W], got ", img.defined() ? to_string(img.shape()) : "undefined");
    Planes p;
    p.C = img.size(-3), p.H = img.size(-2), p.W = img.size(-1);
    p.v = to(img, Device{}).to_vector<double>();
    for (auto& x : p.v) x = std::floor(std::min(std::max(x, 0.0), 1.0) * 255.0 + 0.5);
    return p;
}

/// BT.601 luma of 8-bit RGB planes, in [16, 235] (not rounded, as BasicSR).
inline Planes luma(const Planes& rgb, const char* op) {
    VKG_CHECK(rgb.C == 3, op, "the Y channel needs RGB, got ", rgb.C, " channels");
    Planes y{1, rgb.H, rgb.W, std::vector<double>(static_cast<size_t>(rgb.H * rgb.W))};
    for (int64_t i = 0; i < rgb.H * rgb.W; ++i) {
        const double r = rgb.v[static_cast<size_t>(i)] / 255, g = rgb.v[static_cast<size_t>(rgb.H * rgb.W + i)] / 255,
                     b = rgb.v[static_cast<size_t>(2 * rgb.H * rgb.W + i)] / 255;
        y.v[static_cast<size_t>(i)] = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b;
    }
    return y;
}

struct PsnrOptions {
    bool y_channel = false;
    int64_t crop_border = 0;
};

/// PSNR in dB of one predicted image against its ground truth (same shape).
inline double psnr(const Tensor& pred, const Tensor& gt, PsnrOptions o = {}) {
    VKG_CHECK(pred.defined() && gt.defined() && pred.shape() == gt.shape(), "psnr", "images differ in shape: ",
              pred.defined() ? to_string(pred.shape()) : "undefined", " and ", gt.defined() ? to_string(gt.shape()) : "undefined");
    Planes a = to_8bit(pred, "psnr"), b = to_8bit(gt, "psnr");
    if (o.y_channel) a = luma(a, "psnr"), b = luma(b, "psnr");
    const int64_t k = o.crop_border;
    VKG_CHECK(k >= 0 && 2 * k < a.H && 2 * k < a.W, "psnr", "crop_border ", k, " leaves nothing of ", a.H, "x", a.W);
    double se = 0;
    int64_t n = 0;
    for (int64_t c = 0; c < a.C; ++c)
        for (int64_t y = k; y < a.H - k; ++y)
            for (int64_t x = k; x < a.W - k; ++x, ++n) {
                const double d = a.at(c, y, x) - b.at(c, y, x);
                se += d * d;
            }
    const double mse = se / static_cast<double>(n);
    return mse == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 / mse);
}

namespace detail {
/// The valid part of a separable Gaussian filtering (radius 5, sigma 1.5) of one plane.
inline std::vector<double> gaussian_valid(const std::vector<double>& in, int64_t H, int64_t W) {
    constexpr int R = 5;
    double k[2 * R + 1], total = 0;
    for (int i = -R; i <= R; ++i) total += k[i + R] = std::exp(-0.5 * i * i / (1.5 * 1.5));
    for (double& v : k) v /= total;
    const int64_t Ho = H - 2 * R, Wo = W - 2 * R;
    std::vector<double> rows(static_cast<size_t>(H * Wo)), out(static_cast<size_t>(Ho * Wo));
    for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
            double s = 0;
            for (int i = 0; i <= 2 * R; ++i) s += k[i] * in[static_cast<size_t>(y * W + x + i)];
            rows[static_cast<size_t>(y * Wo + x)] = s;
        }
    for (int64_t y = 0; y < Ho; ++y)
        for (int64_t x = 0; x < Wo; ++x) {
            double s = 0;
            for (int i = 0; i <= 2 * R; ++i) s += k[i] * rows[static_cast<size_t>((y + i) * Wo + x)];
            out[static_cast<size_t>(y * Wo + x)] = s;
        }
    return out;
}
} // namespace detail

/// SSIM of one predicted image against its ground truth (same shape, at least 11x11).
inline double ssim(const Tensor& pred, const Tensor& gt, bool y_channel = false) {
    VKG_CHECK(pred.defined() && gt.defined() && pred.shape() == gt.shape(), "ssim", "images differ in shape: ",
              pred.defined() ? to_string(pred.shape()) : "undefined", " and ", gt.defined() ? to_string(gt.shape()) : "undefined");
    Planes a = to_8bit(pred, "ssim"), b = to_8bit(gt, "ssim");
    if (y_channel) a = luma(a, "ssim"), b = luma(b, "ssim");
    VKG_CHECK(a.H >= 11 && a.W >= 11, "ssim", "needs images of at least 11x11 (the window), got ", a.H, "x", a.W);
    const double C1 = (0.01 * 255) * (0.01 * 255), C2 = (0.03 * 255) * (0.03 * 255);
    const size_t hw = static_cast<size_t>(a.H * a.W);
    double total = 0;
    for (int64_t c = 0; c < a.C; ++c) {
        std::vector<double> x(a.v.begin() + static_cast<std::ptrdiff_t>(c * a.H * a.W),
                              a.v.begin() + static_cast<std::ptrdiff_t>((c + 1) * a.H * a.W));
        std::vector<double> y(b.v.begin() + static_cast<std::ptrdiff_t>(c * a.H * a.W),
                              b.v.begin() + static_cast<std::ptrdiff_t>((c + 1) * a.H * a.W));
        std::vector<double> xx(hw), yy(hw), xy(hw);
        for (size_t i = 0; i < hw; ++i) xx[i] = x[i] * x[i], yy[i] = y[i] * y[i], xy[i] = x[i] * y[i];
        const auto ux = detail::gaussian_valid(x, a.H, a.W), uy = detail::gaussian_valid(y, a.H, a.W);
        const auto uxx = detail::gaussian_valid(xx, a.H, a.W), uyy = detail::gaussian_valid(yy, a.H, a.W),
                   uxy = detail::gaussian_valid(xy, a.H, a.W);
        double s = 0;
        for (size_t i = 0; i < ux.size(); ++i) {
            const double vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i], vxy = uxy[i] - ux[i] * uy[i];
            s += (2 * ux[i] * uy[i] + C1) * (2 * vxy + C2) / ((ux[i] * ux[i] + uy[i] * uy[i] + C1) * (vx + vy + C2));
        }
        total += s / static_cast<double>(ux.size());
    }
    return total / static_cast<double>(a.C);
}

} // namespace vkgrad::metrics
