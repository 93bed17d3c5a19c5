// vkgrad/ops/norm.hpp — normalisations, composed from mean/var and elementwise ops.
#pragma once
#include <tuple>
#include <utility>

#include "inplace.hpp"
#include "pool.hpp"
#include "reduce.hpp"
#include "shape.hpp"

namespace vkgrad {

namespace detail {
/// v [C] viewed as [1, C, 1, ...] to broadcast over x's axis 1 (x of any rank >= 2).
inline Tensor per_channel(const Tensor& v, const Tensor& x, const char* op) {
    const int64_t C = x.size(1);
    VKG_CHECK(v.shape() == Shape{C}, op, "parameter ", to_string(v.shape()), " does not match ", C, " channels");
    Shape s(x.dim(), 1);
    s[1] = C;
    return reshape(v, s);
}
} // namespace detail

/// NAFNet's LayerNorm2d: each pixel normalised over its channels (population variance),
/// then scaled by weight[C] and shifted by bias[C].
/// The forward is the composition below (one kernel where the backend has one, as the CPU
/// and the Vulkan device do: cpu/fused.hpp, shaders/layer_norm2d.comp); the backward is the closed form, still ordinary ops
/// (with x^ the normalised input, r = 1/std, gw = g * weight, means over channels):
///   dx = r (gw - mean(gw) - x^ mean(gw x^)),  dweight = sum(g x^),  dbias = sum(g)
/// about half the passes over the activation that differentiating the composition takes
/// (a single pass, in one kernel, where the backend has one: the CPU and Vulkan do).
/// When the backward is itself recorded (a second derivative), x^ and r are recomputed from x
/// with recorded ops so that they, too, are differentiated.
inline Tensor layer_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-6) {
    detail::check_image("layer_norm2d", x);
    const Tensor w = detail::per_channel(weight, x, "layer_norm2d"), b = detail::per_channel(bias, x, "layer_norm2d");
    const auto normalise = [eps](const Tensor& v) {
        const Tensor d = v - mean(v, {1}, true);
        const Tensor r = rsqrt(mean(d * d, {1}, true) + eps);
        return std::pair{d * r, r};
    };
    const bool keep = grad_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
    Tensor xhat, r, y;
    {
        NoGradGuard ng; // recorded as one node below
        Backend& be = dispatch_float("layer_norm2d", {x, weight, bias});
        if (!be.fused_layer_norm2d(x, weight, bias, eps, keep, y, xhat, r)) { // one kernel where the backend has it
            std::tie(xhat, r) = normalise(x);
            y = xhat * w + b;
        }
    }
    return record(y, "layer_norm2d", {x, weight, bias},
                  [x, w, xhat, r, normalise, weight](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      Tensor gx, gweight, gbias;
                      if (!grad_enabled() && dispatch("layer_norm2d", {g, xhat}).fused_layer_norm2d_grad(
                                                 g, weight, xhat, r, {n[0], n[1], n[2]}, gx, gweight, gbias))
                          return grads(gx, gweight, gbias);
                      auto [xh, rs] = grad_enabled() ? normalise(x) : std::pair{xhat, r};
                      if (n[0]) {
                          const Tensor gw = g * w;
                          gx = (gw - mean(gw, {1}, true) - xh * mean(gw * xh, {1}, true)) * rs;
                      }
                      if (n[1]) gweight = reshape(sum_to(g * xh, w.shape()), weight.shape());
                      if (n[2]) gbias = reshape(sum_to(g, w.shape()), weight.shape());
                      return grads(gx, gweight, gbias);
                  });
}

/// torch.nn.functional.instance_norm without running statistics: each (image, channel)
/// normalised over H and W; weight/bias [C] may be undefined (no affine).
inline Tensor instance_norm(const Tensor& x, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                            double eps = 1e-5) {
    detail::check_image("instance_norm", x);
    const Tensor d = x - mean(x, {2, 3}, true);
    Tensor y = d * rsqrt(mean(d * d, {2, 3}, true) + eps);
    if (weight.defined()) y = y * detail::per_channel(weight, x, "instance_norm");
    if (bias.defined()) y = y + detail::per_channel(bias, x, "instance_norm");
    return y;
}

/// HINet's half instance normalisation: instance_norm on the first `channels` channels
/// (weight/bias sized for them), the rest passed through.
inline Tensor half_instance_norm(const Tensor& x, int64_t channels, const Tensor& weight, const Tensor& bias,
                                 double eps = 1e-5) {
    detail::check_image("half_instance_norm", x);
    VKG_CHECK(channels >= 0 && channels <= x.size(1), "half_instance_norm", "channels ", channels, " out of range for ",
              to_string(x.shape()));
    auto parts = split(x, std::vector<int64_t>{channels, x.size(1) - channels}, 1);
    return concat({instance_norm(parts[0], weight, bias, eps), parts[1]}, 1);
}

/// torch.nn.functional.batch_norm. In training, normalises with the batch statistics
/// (population variance) and, if running_mean/var are given, updates them in place with
/// momentum (unbiased variance, as torch). In evaluation, uses the running statistics.
inline Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                         const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
    VKG_CHECK(x.defined() && x.dim() >= 2, "batch_norm", "needs at least [N, C], got ",
              x.defined() ? to_string(x.shape()) : "undefined");
    const int64_t C = x.size(1);
    std::vector<int64_t> axes{0};
    for (int64_t d = 2; d < static_cast<int64_t>(x.dim()); ++d) axes.push_back(d);
    auto bc = [&](const Tensor& v) { return detail::per_channel(v, x, "batch_norm"); };
    Tensor y;
    if (training) {
        const int64_t n = x.numel() / C;
        VKG_CHECK(n > 1, "batch_norm", "training needs more than one value per channel, got ", to_string(x.shape()));
        const Tensor mu = mean(x, axes, true);
        const Tensor d = x - mu;
        const Tensor v = mean(d * d, axes, true);
        y = d * rsqrt(v + eps);
        if (running_mean.defined() && running_var.defined()) {
            NoGradGuard ng;
            copy_(running_mean, running_mean * (1 - momentum) + reshape(mu, {C}) * momentum);
            copy_(running_var, running_var * (1 - momentum) + reshape(v, {C}) * (momentum * n / (n - 1.0)));
        }
    } else {
        VKG_CHECK(running_mean.defined() && running_var.defined(), "batch_norm", "evaluation needs running statistics");
        y = (x - bc(running_mean)) * rsqrt(bc(running_var) + eps);
    }
    if (weight.defined()) y = y * bc(weight);
    if (bias.defined()) y = y + bc(bias);
    return y;
}

/// StyleGAN2's pixel norm: x / sqrt(mean over axis of x^2 + eps).
inline Tensor pixel_norm(const Tensor& x, int64_t axis = 1, double eps = 1e-8) {
    return x * rsqrt(mean(x * x, {axis}, true) + eps);
}

} // namespace vkgrad
