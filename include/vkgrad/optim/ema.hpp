// vkgrad/optim/ema.hpp — an exponential moving average of a module's weights (StyleGAN2's
// G_ema), kept in a second module of the same architecture.
#pragma once
#include <algorithm>
#include <cmath>
#include <map>

#include "../core/graph.hpp"
#include "../nn/module.hpp"
#include "../ops/elementwise.hpp"

namespace vkgrad::optim {

/// ema <- beta * ema + (1 - beta) * model for every parameter, by name; buffers (running
/// statistics, noise constants) are copied. Requires identical names and shapes. The
/// arithmetic follows torch.lerp (StyleGAN2-ADA's `p.lerp(p_ema, beta)`).
inline void ema_update(nn::Module& ema, const nn::Module& model, double beta) {
    VKG_CHECK(beta >= 0 && beta <= 1, "ema_update", "beta must be in [0, 1], got ", beta);
    NoGradGuard ng;
    std::map<std::string, Tensor> src;
    for (auto& [n, t] : model.named_parameters()) src[n] = t;
    const auto mine = ema.named_parameters();
    VKG_CHECK(mine.size() == src.size(), "ema_update", "the EMA module has ", mine.size(), " parameters, the model ",
              src.size());
    for (auto& [n, e] : mine) {
        auto it = src.find(n);
        VKG_CHECK(it != src.end() && it->second.shape() == e.shape(), "ema_update", "parameter '", n,
                  "' is missing from the model or differs in shape");
        const Tensor& p = it->second;
        // torch.lerp(start=p, end=e, w): start + w (end - start) for w < 0.5, else end - (end - start)(1 - w)
        copy_(e, beta < 0.5 ? p + (e - p) * beta : e - (e - p) * (1 - beta));
    }
    std::map<std::string, Tensor> bufs;
    for (auto& [n, t] : model.named_buffers()) bufs[n] = t;
    for (auto& [n, b] : ema.named_buffers()) {
        auto it = bufs.find(n);
        VKG_CHECK(it != bufs.end(), "ema_update", "buffer '", n, "' is missing from the model");
        copy_(b, it->second);
    }
}

/// StyleGAN2's beta for a half-life of `half_life_images` images at `batch` images per step:
/// 0.5^(batch / half_life).
inline double ema_beta(double batch, double half_life_images) { return std::pow(0.5, batch / std::max(half_life_images, 1e-8)); }

} // namespace vkgrad::optim
