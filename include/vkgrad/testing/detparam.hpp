// vkgrad/testing/detparam.hpp — deterministic parameters shared with the Python references.
//
// A full-size network (VGG, StyleGAN2 at 1024, NAFNet width 64) can be checked against
// PyTorch without committing its weights: both sides fill every parameter from the same tiny
// generator, so only the input and a summary of the output need to be stored. The Python twin
// is tests/reference/detparam.py; tests hold the two equal bit for bit.
//
//   key   = splitmix64(seed ^ fnv1a64(name))
//   u_i   = (splitmix64(key + i) >> 11) * 2^-53            in [0, 1)
//   value = a * (2 u_i - 1)                                in [-a, a), rounded to the dtype
#pragma once
#include <string_view>

#include "../core/random.hpp"
#include "../nn/module.hpp"

namespace vkgrad::testing {

inline uint64_t fnv1a64(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

/// The per-tensor key, splitmix64(seed ^ fnv1a64(name)).
inline uint64_t det_key(uint64_t seed, std::string_view name) { return splitmix64(seed ^ fnv1a64(name)); }
/// Element i of the tensor with that key, uniform in [-a, a).
inline double det_value_at(uint64_t key, uint64_t i, double a) {
    const double u = static_cast<double>(splitmix64(key + i) >> 11) * 0x1.0p-53;
    return a * (2.0 * u - 1.0);
}
/// Element i of the parameter `name`, uniform in [-a, a).
inline double det_value(uint64_t seed, std::string_view name, uint64_t i, double a) {
    return det_value_at(det_key(seed, name), i, a);
}

inline Tensor det_tensor(const Shape& shape, uint64_t seed, std::string_view name, double a,
                         DType dtype = DType::f32) {
    std::vector<double> v(static_cast<size_t>(numel(shape)));
    const uint64_t key = det_key(seed, name); // hashed once, not per element
    for (size_t i = 0; i < v.size(); ++i) v[i] = det_value_at(key, i, a);
    return from_vector(v, shape, {dtype});
}

/// Overwrites every parameter of m (buffers are left to the caller) with det_tensor(shape, seed, dotted name, a).
inline void det_init(nn::Module& m, uint64_t seed, double a) {
    NoGradGuard ng;
    for (auto& [name, t] : m.named_parameters()) copy_(t, det_tensor(t.shape(), seed, name, a, t.dtype()));
}

} // namespace vkgrad::testing
