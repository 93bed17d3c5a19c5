// vkgrad/losses/gan.hpp — StyleGAN2's adversarial losses and regularisers.
//
// Logits are the discriminator's raw outputs (any shape; the losses average over them).
// The regularisers differentiate through a gradient, so they need create_graph and the
// double backward of every op on the path (which every vkgrad op has).
#pragma once
#include <cmath>

#include "../autograd/engine.hpp"
#include "../core/random.hpp"
#include "../ops/creation.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/inplace.hpp"
#include "../ops/reduce.hpp"

namespace vkgrad::losses {

/// Generator, non-saturating: mean softplus(-D(G(z))) = -log sigmoid(D(G(z))).
inline Tensor g_nonsaturating_loss(const Tensor& fake_logits) { return mean(softplus(-fake_logits)); }

/// Discriminator, logistic: mean softplus(D(fake)) + mean softplus(-D(real)).
inline Tensor d_logistic_loss(const Tensor& real_logits, const Tensor& fake_logits) {
    return mean(softplus(fake_logits)) + mean(softplus(-real_logits));
}

/// R1: gamma/2 * mean over the batch of ||d sum(D(x)) / dx_n||^2, the penalty on the
/// discriminator's gradient at real images. `real_logits` must come from `real_images`
/// (which must require grad); the result is differentiable in D's parameters.
/// StyleGAN2 applies it every k steps with gamma multiplied by k (lazy regularisation).
inline Tensor r1_penalty(const Tensor& real_logits, const Tensor& real_images, double gamma) {
    VKG_CHECK(real_images.requires_grad(), "r1_penalty",
              "real_images must require grad (call requires_grad_() before running D on them)");
    const Tensor g = grad({sum(real_logits)}, {real_images}, {}, /*create_graph=*/true)[0];
    std::vector<int64_t> per_image;
    for (size_t a = 1; a < g.dim(); ++a) per_image.push_back(static_cast<int64_t>(a));
    return mean(sum(pow(g, 2.0), per_image)) * (gamma / 2);
}

/// Path-length regularisation (StyleGAN2, Karras et al. 2020, sec. 3.2): images should change
/// by the same amount for any unit step in w. For images y [N, C, H, W] generated from
/// ws [N, L, w_dim], with Gaussian noise u / sqrt(H W):
///   length_n = sqrt(mean_l || d sum(y u) / d ws[n, l] ||^2)
///   mean <- mean + decay * (mean_n length_n - mean)      (a running average, kept here)
///   penalty = mean_n (length_n - mean)^2
/// The updated mean enters the penalty differentiably, as in both reference implementations.
struct PathLengthPenalty {
    double decay = 0.01;
    Tensor running_mean = zeros({}); ///< float32 scalar; save it with checkpoints

    /// Noise drawn from `gen`.
    Tensor operator()(const Tensor& images, const Tensor& ws, Generator& gen) {
        return (*this)(images, ws, randn(images.shape(), gen, {images.dtype(), images.device()}));
    }
    /// With the caller's standard-normal noise (of images' shape): for tests and replays.
    Tensor operator()(const Tensor& images, const Tensor& ws, const Tensor& noise) {
        VKG_CHECK(images.dim() == 4 && ws.dim() == 3 && images.size(0) == ws.size(0), "path_length_penalty",
                  "needs images [N, C, H, W] and ws [N, L, w_dim], got ", to_string(images.shape()), " and ",
                  to_string(ws.shape()));
        VKG_CHECK(noise.shape() == images.shape(), "path_length_penalty", "noise ", to_string(noise.shape()),
                  " must have the images' shape ", to_string(images.shape()));
        const Tensor u = noise / std::sqrt(static_cast<double>(images.size(2) * images.size(3)));
        const Tensor g = grad({sum(images * u)}, {ws}, {}, /*create_graph=*/true)[0];
        const Tensor lengths = sqrt(mean(sum(pow(g, 2.0), {2}), {1}));
        const Tensor old = clone(to(running_mean, lengths.dtype())); // a copy: running_mean is written below
        const Tensor updated = old + (mean(lengths) - old) * decay;
        {
            NoGradGuard ng;
            copy_(running_mean, updated);
        }
        return mean(pow(lengths - updated, 2.0));
    }
};

} // namespace vkgrad::losses
