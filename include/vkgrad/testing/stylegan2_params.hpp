// vkgrad/testing/stylegan2_params.hpp — the deterministic StyleGAN2 parameters of
// tests/reference/make_stylegan2_fixtures.py (its manifest.json "params"), shared by the tests
// and bench/bench_stylegan2 so both run exactly the network the fixtures describe.
#pragma once
#include <cmath>
#include <string>

#include "detparam.hpp"

namespace vkgrad::testing {

/// detparam seed 11 over every parameter and buffer: weights uniform with unit variance
/// (a = sqrt 3, like NVIDIA's N(0, 1) init; the mapping's 100x that, its N(0, 1/lr_mul^2)),
/// w_avg a = 0.5, everything else a = 1; affine biases get +1 so styles sit around 1 as in a
/// trained network. Smaller weights would shrink every layer's signal and leave the first
/// layers of a deep network untested.
inline void det_fill_stylegan2(nn::Module& m) {
    NoGradGuard ng;
    const auto ends_with = [](const std::string& s, const std::string& t) {
        return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
    };
    for (auto& [name, t] : m.state_dict()) {
        const double a = ends_with(name, ".weight") ? (name.rfind("mapping.fc", 0) == 0 ? 100.0 : 1.0) * std::sqrt(3.0)
                         : name == "mapping.w_avg" ? 0.5 : 1.0;
        Tensor v = det_tensor(t.shape(), 11, name, a);
        if (ends_with(name, ".affine.bias")) v = v + 1.0;
        copy_(t, v);
    }
}

} // namespace vkgrad::testing
