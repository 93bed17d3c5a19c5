// vkgrad/nn/init.hpp — parameter initialisers with torch.nn.init's formulas (the values come
// from vkgrad's own Generator, so they match PyTorch in distribution, not bit for bit).
#pragma once
#include <cmath>
#include <utility>

#include "../ops/inplace.hpp"

namespace vkgrad::init {

/// (fan_in, fan_out) as torch computes them: weight [out, in, *kernel].
inline std::pair<int64_t, int64_t> fans(const Tensor& w) {
    VKG_CHECK(w.dim() >= 2, "init::fans", "needs a weight of at least 2 dimensions, got ", to_string(w.shape()));
    int64_t receptive = 1;
    for (size_t d = 2; d < w.dim(); ++d) receptive *= w.shape()[d];
    return {w.shape()[1] * receptive, w.shape()[0] * receptive};
}

inline void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
    NoGradGuard ng;
    copy_(t, rand(t.shape(), gen, lo, hi, {t.dtype()}));
}
inline void normal_(const Tensor& t, double mean, double std, Generator& gen) {
    NoGradGuard ng;
    copy_(t, randn(t.shape(), gen, {t.dtype()}) * std + mean);
}
inline void constant_(const Tensor& t, double v) {
    NoGradGuard ng;
    fill_(t, v);
}
/// torch.nn.init.kaiming_uniform_ with leaky-ReLU gain sqrt(2 / (1 + a^2)) on fan_in.
inline void kaiming_uniform_(const Tensor& t, double a, Generator& gen) {
    const double gain = std::sqrt(2.0 / (1.0 + a * a)), bound = gain * std::sqrt(3.0 / fans(t).first);
    uniform_(t, -bound, bound, gen);
}
/// torch.nn.init.xavier_uniform_
inline void xavier_uniform_(const Tensor& t, double gain, Generator& gen) {
    const auto [fi, fo] = fans(t);
    const double bound = gain * std::sqrt(6.0 / static_cast<double>(fi + fo));
    uniform_(t, -bound, bound, gen);
}

} // namespace vkgrad::init
