// vkgrad/ops/layers.hpp — the small functional pieces of the paper's networks: PReLU,
// dropout, SimpleGate, StyleGAN2's bias_act and minibatch standard deviation.
#pragma once
#include <cmath>

#include "norm.hpp"

namespace vkgrad {

/// torch.nn.functional.prelu: weight [1] (shared) or [C] (per channel of axis 1).
inline Tensor prelu(const Tensor& x, const Tensor& weight) {
    VKG_CHECK(x.defined() && weight.defined() && weight.dim() == 1 &&
                  (weight.size(0) == 1 || (x.dim() >= 2 && weight.size(0) == x.size(1))),
              "prelu", "weight ", weight.defined() ? to_string(weight.shape()) : "undefined", " does not fit input ",
              x.defined() ? to_string(x.shape()) : "undefined");
    Shape s(std::max<size_t>(x.dim(), 1), 1);
    if (x.dim() >= 2) s[1] = weight.size(0);
    const Tensor a = weight.size(0) == 1 ? reshape(weight, {}) : reshape(weight, s);
    return where(gt(x, scalar_like(x, 0.0)), x, x * a);
}

/// Inverted dropout: zeroes each element with probability p, scales the rest by 1/(1-p).
/// Identity when not training or p == 0. The mask comes from `gen`.
inline Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
    VKG_CHECK(p >= 0 && p < 1, "dropout", "probability ", p, " outside [0, 1)");
    if (!training || p == 0) return x;
    const Tensor keep = to(gt(rand(x.shape(), gen, 0.0, 1.0, {x.dtype()}), full({}, p, {x.dtype()})), x.device());
    return x * keep * (1.0 / (1.0 - p));
}

/// NAFNet's SimpleGate: split the channels in two halves and multiply them.
/// Its backward is its own, though made of ordinary ops (so it differentiates again): the two
/// halves' gradients side by side in one concat. Composed of two slices and a mul, the backward
/// would place each half's gradient in a zero-filled full-size tensor and add the two: three
/// passes over 2C channels more, on one of NAFNet's largest activations. Where the backend has
/// fused kernels (cpu/fused.hpp, shaders/simple_gate.comp) the forward, and a backward that is not itself
/// recorded, are one pass each.
inline Tensor simple_gate(const Tensor& x) {
    VKG_CHECK(x.defined() && x.dim() >= 2 && x.size(1) % 2 == 0, "simple_gate", "needs an even channel count, got ",
              x.defined() ? to_string(x.shape()) : "undefined");
    const int64_t c = x.size(1) / 2;
    Tensor y;
    {
        NoGradGuard ng; // the halves are not recorded: the backward below stands for them
        if (!dispatch("simple_gate", {x}).fused_simple_gate(x, y)) y = narrow(x, 1, 0, c) * narrow(x, 1, c, c);
    }
    return record(y, "simple_gate", {x}, [x, c](const Tensor& g, const Tensor&, const auto&) {
        Tensor gx;
        if (!grad_enabled() && dispatch("simple_gate", {x, g}).fused_simple_gate_grad(x, g, gx)) return grads(gx);
        return grads(concat({g * narrow(x, 1, c, c), g * narrow(x, 1, 0, c)}, 1));
    });
}

/// torch.addcmul(a, x, s): a + x * s, broadcast. NAFNet's scaled residuals (inp + x * beta, beta
/// [1, C, 1, 1]) go through it: when a and x share a shape and s holds one value per channel,
/// a backend with the fused kernel (cpu/fused.hpp, shaders/addcmul_channel.comp) makes the forward one pass, not
/// two (within a rounding). The backward is ordinary ops, as the composition's would be.
inline Tensor addcmul(const Tensor& a, const Tensor& x, const Tensor& s) {
    const auto per_channel = [&] {
        if (!a.defined() || !x.defined() || !s.defined() || a.shape() != x.shape() || a.dim() < 2 || s.dim() != a.dim())
            return false;
        for (size_t d = 0; d < s.dim(); ++d)
            if (s.shape()[d] != (d == 1 ? a.shape()[1] : 1)) return false;
        return true;
    };
    if (!per_channel()) return a + x * s;
    Tensor y;
    {
        NoGradGuard ng; // recorded as one node below
        if (!dispatch("addcmul", {a, x, s}).fused_addcmul_channel(a, x, s, y)) y = a + x * s;
    }
    return record(y, "addcmul", {a, x, s}, [x, s](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
        Tensor ga, gx, gs;
        if (n[0]) ga = g;
        if (n[1]) gx = g * s;
        if (n[2]) gs = sum_to(g * x, s.shape());
        return grads(ga, gx, gs);
    });
}

/// StyleGAN2's bias_act with the leaky-ReLU: leaky_relu(x + bias, slope) * gain, then clamped
/// to [-clamp, clamp] when clamp >= 0. bias [C] along axis 1 (may be undefined).
inline Tensor bias_leaky_relu(const Tensor& x, const Tensor& bias, double slope = 0.2, double gain = std::sqrt(2.0),
                              double clamp_to = -1) {
    Tensor y = x;
    if (bias.defined()) {
        VKG_CHECK(x.dim() >= 2 && bias.shape() == Shape{x.size(1)}, "bias_act", "bias ", to_string(bias.shape()),
                  " does not fit ", to_string(x.shape()));
        Shape s(x.dim(), 1);
        s[1] = x.size(1);
        y = y + reshape(bias, s);
    }
    y = leaky_relu(y, slope);
    if (gain != 1) y = y * gain;
    if (clamp_to >= 0) y = clamp(y, -clamp_to, clamp_to);
    return y;
}

/// StyleGAN2's minibatch standard deviation layer: for groups of `group_size` images (image n
/// is in group column n mod (N/G)), the population std over the group of each feature, averaged
/// over features (split into num_channels parts), appended as extra channels. N must be
/// divisible by the group size (after taking min(group_size, N)).
inline Tensor minibatch_stddev(const Tensor& x, int64_t group_size, int64_t num_channels = 1) {
    detail::check_image("minibatch_stddev", x);
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t G = std::min(group_size, N), F = num_channels;
    VKG_CHECK(G >= 1 && N % G == 0, "minibatch_stddev", "batch ", N, " is not divisible by the group size ", G);
    VKG_CHECK(F >= 1 && C % F == 0, "minibatch_stddev", "channels ", C, " not divisible by ", F);
    Tensor y = reshape(x, {G, N / G, F, C / F, H, W});   // [G, M, F, c, H, W]
    y = y - mean(y, {0}, true);
    y = sqrt(mean(y * y, {0}) + 1e-8);                    // [M, F, c, H, W]
    y = mean(y, {2, 3, 4});                               // [M, F]
    y = reshape(y, {-1, F, 1, 1});
    y = reshape(expand(unsqueeze(y, 0), {G, N / G, F, H, W}), {N, F, H, W}); // image n gets row n mod M
    return concat({x, y}, 1);
}

} // namespace vkgrad
