// vkgrad/testing/relerr.hpp — the one error measure used by every vkgrad test.
//
//   relerr(a, b) = max|a - b| / max(max|b|, 1e-6)        (b is the reference)
//
// Limits used across the project: single ops forward 1e-5, single-op gradients 1e-4,
// deep networks (more than ~10 layers) 1e-4, finite-difference checks in float64 1e-6.
#pragma once
#include <algorithm>
#include <cmath>

#include "../core/tensor.hpp"
#include "../ops/creation.hpp"

namespace vkgrad::testing {

inline constexpr double kForwardTol = 1e-5;  ///< one op, float32, against PyTorch
inline constexpr double kGradTol = 1e-4;     ///< one op's gradients, float32, against PyTorch
inline constexpr double kDeepTol = 1e-4;     ///< networks deeper than ~10 layers
inline constexpr double kGradcheckTol = 1e-6; ///< finite differences in float64

/// relerr(a, b) as above; requires equal shapes. NaN anywhere gives +infinity (never passes).
inline double relerr(const Tensor& a, const Tensor& b) {
    VKG_CHECK(a.defined() && b.defined(), "relerr", "undefined tensor");
    VKG_CHECK(a.shape() == b.shape(), "relerr", "shapes differ: ", to_string(a.shape()), " vs ", to_string(b.shape()));
    const auto va = to(a, Device{}).to_vector<double>(), vb = to(b, Device{}).to_vector<double>();
    double diff = 0, ref = 0;
    for (size_t i = 0; i < va.size(); ++i) {
        const double d = std::abs(va[i] - vb[i]);
        if (std::isnan(d)) return INFINITY;
        diff = std::max(diff, d);
        ref = std::max(ref, std::abs(vb[i]));
    }
    return diff / std::max(ref, 1e-6);
}

} // namespace vkgrad::testing
