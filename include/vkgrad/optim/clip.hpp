// vkgrad/optim/clip.hpp — gradient-norm clipping, as torch.nn.utils.clip_grad_norm_.
#pragma once
#include <cmath>
#include <vector>

#include "../core/graph.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/inplace.hpp"
#include "../ops/reduce.hpp"

namespace vkgrad::optim {

/// Scales the .grad of `params` in place so their joint L2 norm is at most max_norm: by
/// max_norm / (norm + 1e-6) when that is below 1. Parameters without .grad are ignored.
/// Returns the norm before clipping (computed in float64); a non-finite norm is an error,
/// since scaling would turn every gradient into NaN.
inline double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
    VKG_CHECK(max_norm > 0, "clip_grad_norm_", "max_norm must be positive, got ", max_norm);
    NoGradGuard ng;
    double sq = 0;
    Tensor device_sq; // on a device (no float64 there): one float32 sum, read back once
    for (auto& p : params) {
        const Tensor& g = p.grad();
        if (!g.defined()) continue;
        if (g.device().type == DeviceType::cpu) sq += sum(pow(to(g, DType::f64), 2.0)).item();
        else device_sq = device_sq.defined() ? device_sq + sum(g * g) : sum(g * g);
    }
    if (device_sq.defined()) sq += to(device_sq, Device{}).item();
    const double norm = std::sqrt(sq);
    VKG_CHECK(std::isfinite(norm), "clip_grad_norm_", "the gradient norm is ", norm, " (a NaN or infinite gradient)");
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1)
        for (auto& p : params)
            if (p.grad().defined()) mul_(p.grad(), coef);
    return norm;
}

} // namespace vkgrad::optim
