// vkgrad/ops/dispatch.hpp — the single place where an op picks the backend for its inputs.
#pragma once
#include <initializer_list>

#include "../core/backend.hpp"
#include "../core/graph.hpp"
#include "../cpu/backend.hpp"

namespace vkgrad {

/// The backend of a device; throws if that device's backend has not been set up.
inline Backend& backend_of(Device d) {
    if (d.type == DeviceType::cpu) return cpu::backend();
    Backend* b = backend_slot(d.type);
    VKG_CHECK(b != nullptr, "dispatch", "no backend for device ", to_string(d),
              " (include vkgrad/vulkan.hpp and create a vulkan context first)");
    return *b;
}

/// Checks that the inputs of `op` are defined and share a device (and, if `same_dtype`, a
/// dtype), and returns that device's backend.
inline Backend& dispatch(const char* op, std::initializer_list<Tensor> xs, bool same_dtype = true) {
    const Tensor* first = nullptr;
    for (const auto& x : xs) {
        VKG_CHECK(x.defined(), op, "got an undefined tensor");
        if (!first) {
            first = &x;
            continue;
        }
        VKG_CHECK(x.device() == first->device(), op, "tensors on different devices: ", to_string(first->device()),
                  " and ", to_string(x.device()));
        VKG_CHECK(!same_dtype || x.dtype() == first->dtype(), op, "dtypes differ: ", dtype_name(first->dtype()),
                  " and ", dtype_name(x.dtype()), " (convert one with to(x, dtype))");
    }
    return backend_of(first->device());
}

/// Like dispatch, and requires a floating dtype (arithmetic is not defined on int64).
inline Backend& dispatch_float(const char* op, std::initializer_list<Tensor> xs) {
    Backend& b = dispatch(op, xs);
    const DType t = xs.begin()->dtype();
    VKG_CHECK(is_floating(t), op, "needs float32 or float64 tensors, got ", dtype_name(t));
    return b;
}

/// Shorthand for a backward rule's result.
template <class... T> std::vector<Tensor> grads(T&&... g) { return {std::forward<T>(g)...}; }

} // namespace vkgrad
