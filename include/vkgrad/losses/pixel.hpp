// vkgrad/losses/pixel.hpp — pixel losses between a prediction and a target of the same shape.
//
// All return a scalar (mean over every element unless stated) and are composed of
// differentiable ops, so they have gradients of any order.
#pragma once
#include <cmath>

#include "../ops/elementwise.hpp"
#include "../ops/reduce.hpp"

namespace vkgrad::losses {

namespace detail {
inline void check_pair(const char* op, const Tensor& pred, const Tensor& target) {
    VKG_CHECK(pred.shape() == target.shape(), op, "prediction ", to_string(pred.shape()), " and target ",
              to_string(target.shape()), " differ in shape");
}
} // namespace detail

/// mean |pred - target| (torch.nn.functional.l1_loss).
inline Tensor l1_loss(const Tensor& pred, const Tensor& target) {
    detail::check_pair("l1_loss", pred, target);
    return mean(abs(pred - target));
}

/// mean (pred - target)^2 (torch.nn.functional.mse_loss).
inline Tensor mse_loss(const Tensor& pred, const Tensor& target) {
    detail::check_pair("mse_loss", pred, target);
    return mean(pow(pred - target, 2.0));
}

/// mean sqrt((pred - target)^2 + eps^2): L1 with a smooth minimum, so the gradient does not
/// flip sign at every pixel near convergence. eps = 1e-3 as in MPRNet/HINet's training.
inline Tensor charbonnier_loss(const Tensor& pred, const Tensor& target, double eps = 1e-3) {
    detail::check_pair("charbonnier_loss", pred, target);
    return mean(sqrt(pow(pred - target, 2.0) + eps * eps));
}

/// NAFNet's PSNR loss: (10 / ln 10) * mean over the batch of ln(MSE_n + 1e-8), MSE_n over
/// each image's [C, H, W]. Minimising it maximises the mean PSNR (it is -PSNR for range 1).
/// Requires 4-d inputs.
inline Tensor psnr_loss(const Tensor& pred, const Tensor& target) {
    detail::check_pair("psnr_loss", pred, target);
    VKG_CHECK(pred.dim() == 4, "psnr_loss", "needs [N, C, H, W] images, got ", to_string(pred.shape()));
    return mean(log(mean(pow(pred - target, 2.0), {1, 2, 3}) + 1e-8)) * (10.0 / std::log(10.0));
}

} // namespace vkgrad::losses
