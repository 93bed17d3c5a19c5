// vkgrad/models/nafnet_widen.hpp — grow a trained NAFNet's width without changing what it
// computes, so a wider network continues from a narrow one's training instead of from scratch
// (function-preserving widening, Net2WiderNet: Chen, Goodfellow, Shlens, ICLR 2016).
//
// Every channel of every feature map is repeated k times: channel n of the wide map is channel
// n mod C of the narrow one. That keeps NAFNet exact because each of its pieces commutes with the
// repetition:
//   * LayerNorm2d averages over channels; the mean and variance of k copies of a set are the set's.
//   * A layer reading repeated channels gives each copy 1/k of the narrow weight, so the sum over
//     the copies is the narrow sum. The k shares are made unequal, w/k (1 + s z_i) with the z_i
//     summing to zero over the copies: still exact, but the copies then receive different
//     gradients and can grow apart (equal shares would keep them equal forever).
//   * Depthwise convolutions, biases, norms' affine parameters, beta and gamma are repeated.
//   * The 2c-channel tensors that SimpleGate splits into halves repeat each half, so the wide
//     gate multiplies the same pairs. (PixelShuffle needs nothing: it reads groups of four
//     consecutive channels, so a repeated block of 4q channels shuffles to a repeated block of q.)
#pragma once
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace vkgrad::models {

namespace detail {

/// How one dimension of a NAFNet tensor maps to the narrow network's: given the wide index n
/// and the narrow size, the narrow index.
enum class WidenLayout { keep, plain, gated };

inline int64_t narrow_index(WidenLayout l, int64_t n, int64_t old_size, int64_t k) {
    switch (l) {
    case WidenLayout::keep: return n;
    case WidenLayout::plain: return n % old_size;
    case WidenLayout::gated: { // [a | b] -> [a a .. | b b ..]: each half repeated k times
        const int64_t half = old_size / 2, h = n / (k * half), r = n % (k * half);
        return h * half + r % half;
    }
    }
    return n;
}

inline bool widen_ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

} // namespace detail

/// Widens the state dict of a NAFNet with BasicSR parameter names (as NAFNet::state_dict()
/// gives) from width c to width k*c.
/// Requires: float32 CPU tensors of one NAFNet; k >= 1; split_noise >= 0 (the relative spread of
/// the copies' shares, 0 for equal shares).
/// Ensures: the same keys with the shapes of NAFNet(width k*c, same block counts), computing the
/// same function up to float rounding; reproducible from `gen`'s state.
inline std::map<std::string, Tensor> widen_nafnet(const std::map<std::string, Tensor>& narrow, int64_t k,
                                                  double split_noise, Generator& gen) {
    using detail::WidenLayout;
    const char* op = "widen_nafnet";
    VKG_CHECK(k >= 1, op, "the factor must be at least 1, got ", k);
    VKG_CHECK(split_noise >= 0 && std::isfinite(split_noise), op, "split_noise must be >= 0, got ", split_noise);
    std::map<std::string, Tensor> wide;
    for (const auto& [key, t] : narrow) {
        VKG_CHECK(t.defined() && t.dtype() == DType::f32 && t.device().type == DeviceType::cpu, op, "'", key,
                  "' must be a float32 CPU tensor");
        const auto is = [&](const char* tail) { return detail::widen_ends_with(key, tail); };
        // The layouts of dims 0 and 1 (beta and gamma are [1, c, 1, 1]).
        WidenLayout out = WidenLayout::keep, in = WidenLayout::keep;
        const bool gated = is(".conv1.weight") || is(".conv1.bias") || is(".conv2.weight") || is(".conv2.bias") ||
                           is(".conv4.weight") || is(".conv4.bias");
        if (key == "intro.weight" || key == "intro.bias") out = WidenLayout::plain;
        else if (key == "ending.weight") in = WidenLayout::plain;
        else if (key == "ending.bias") {}
        else if (gated) { out = WidenLayout::gated; in = is(".conv2.weight") ? WidenLayout::keep : WidenLayout::plain; }
        else if (is(".conv3.weight") || is(".conv3.bias") || is(".conv5.weight") || is(".conv5.bias") ||
                 is(".sca.1.weight") || is(".sca.1.bias") || is(".norm1.weight") || is(".norm1.bias") ||
                 is(".norm2.weight") || is(".norm2.bias") || key.rfind("downs.", 0) == 0 ||
                 (key.rfind("ups.", 0) == 0 && is(".0.weight")))
            out = in = WidenLayout::plain;
        else if (is(".beta") || is(".gamma")) in = WidenLayout::plain; // [1, c, 1, 1]
        else VKG_CHECK(false, op, "'", key, "' is not a NAFNet parameter this function knows");
        VKG_CHECK(t.dim() == 1 || t.dim() == 4, op, "'", key, "' has ", t.dim(), " dimensions, expected 1 or 4");
        VKG_CHECK(t.numel() > 0, op, "'", key, "' is empty, ", to_string(t.shape()));
        if (t.dim() == 1) in = WidenLayout::keep; // biases and norms: channels along dim 0 only
        const bool weight = t.dim() == 4 && !is(".beta") && !is(".gamma");

        Shape shape = t.shape();
        if (out != WidenLayout::keep) shape[0] *= k;
        if (in != WidenLayout::keep) shape[1] *= k;
        Tensor w = empty_cpu(shape, DType::f32);
        const float* src = t.data<float>();
        float* dst = w.data<float>();
        const int64_t o_old = t.size(0), i_old = t.dim() == 4 ? t.size(1) : 1, inner = t.numel() / (o_old * i_old);
        const int64_t o_new = shape[0], i_new = t.dim() == 4 ? shape[1] : 1;
        // A layer that reads repeated channels (a real weight whose dim 1 is widened) splits each
        // narrow weight into k shares; everything else is copied.
        const bool split = weight && in != WidenLayout::keep && k > 1;
        std::vector<double> z(static_cast<size_t>(k), 0.0);
        for (int64_t o = 0; o < o_new; ++o) {
            const int64_t oo = detail::narrow_index(out, o, o_old, k);
            for (int64_t i = 0; i < i_new; ++i) {
                const int64_t io = detail::narrow_index(in, i, i_old, k);
                for (int64_t e = 0; e < inner; ++e)
                    dst[(o * i_new + i) * inner + e] = src[(oo * i_old + io) * inner + e];
            }
            if (!split) continue;
            // The k copies of narrow input channel j are wide channels j + m*i_old, m = 0..k-1.
            for (int64_t j = 0; j < i_old; ++j)
                for (int64_t e = 0; e < inner; ++e) {
                    double mean = 0;
                    for (auto& v : z) mean += (v = gen.normal()) / static_cast<double>(k);
                    for (int64_t m = 0; m < k; ++m) {
                        float& d = dst[(o * i_new + j + m * i_old) * inner + e];
                        d = static_cast<float>(d / static_cast<double>(k) * (1 + split_noise * (z[m] - mean)));
                    }
                }
        }
        wide.emplace(key, w);
    }
    return wide;
}

} // namespace vkgrad::models
