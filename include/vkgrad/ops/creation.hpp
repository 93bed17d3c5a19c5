// vkgrad/ops/creation.hpp — making tensors: constants, ranges, random, from host data,
// and moving between dtypes and devices.
#pragma once
#include <cstring>
#include <vector>

#include "../core/random.hpp"
#include "dispatch.hpp"

namespace vkgrad {

/// Options shared by the creation functions: dtype (default float32) and device (default cpu).
struct TensorOptions {
    DType dtype = DType::f32;
    Device device{};
};

inline Tensor full(const Shape& shape, double value, TensorOptions o = {}) {
    if (o.device.type == DeviceType::cpu) {
        Tensor t = empty_cpu(shape, o.dtype);
        cpu::backend().fill(t, value);
        return t;
    }
    Backend& b = backend_of(o.device); // filled on the device: constants never cross the bus
    Tensor t = b.empty(shape, o.dtype);
    b.fill(t, value);
    return t;
}
inline Tensor zeros(const Shape& shape, TensorOptions o = {}) { return full(shape, 0.0, o); }
inline Tensor ones(const Shape& shape, TensorOptions o = {}) { return full(shape, 1.0, o); }
inline Tensor full_like(const Tensor& x, double v) { return full(x.shape(), v, {x.dtype(), x.device()}); }
inline Tensor zeros_like(const Tensor& x) { return full_like(x, 0.0); }
inline Tensor ones_like(const Tensor& x) { return full_like(x, 1.0); }
/// A 0-d tensor holding v with x's dtype and device: how scalars enter binary ops.
inline Tensor scalar_like(const Tensor& x, double v) { return full({}, v, {x.dtype(), x.device()}); }

/// Copies host values into a new tensor of `shape`; requires values.size() == numel(shape).
template <class T> Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions o = {}) {
    VKG_CHECK(static_cast<int64_t>(values.size()) == numel(shape), "from_vector", "got ", values.size(),
              " values for shape ", to_string(shape), " (", numel(shape), " elements)");
    Tensor t = empty_cpu(shape, o.dtype);
    visit_dtype(o.dtype, [&](auto* tag) {
        using S = std::remove_pointer_t<decltype(tag)>;
        S* p = t.data<S>();
        for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<S>(values[i]);
    });
    return o.device.type == DeviceType::cpu ? t : backend_of(o.device).upload(t);
}
/// 1-d tensor from values.
template <class T> Tensor from_vector(const std::vector<T>& values, TensorOptions o = {}) {
    return from_vector(values, Shape{static_cast<int64_t>(values.size())}, o);
}
/// Copies numel(shape) elements of type T from `data` (the tensor gets T's dtype).
template <class T> Tensor from_data(const T* data, const Shape& shape) {
    Tensor t = empty_cpu(shape, dtype_of<T>());
    if (t.numel()) std::memcpy(t.raw_data(), data, sizeof(T) * static_cast<size_t>(t.numel()));
    return t;
}

/// start, start+step, ... below end (as torch.arange).
inline Tensor arange(double start, double end, double step = 1.0, TensorOptions o = {}) {
    VKG_CHECK(step != 0 && (end - start) / step >= 0, "arange", "empty or infinite range start=", start,
              " end=", end, " step=", step);
    const auto n = static_cast<int64_t>(std::ceil((end - start) / step));
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<double>(i) * step;
    return from_vector(v, o);
}
inline Tensor arange(int64_t n, TensorOptions o = {}) { return arange(0.0, static_cast<double>(n), 1.0, o); }

/// Standard normal samples drawn from `gen` in row-major order.
inline Tensor randn(const Shape& shape, Generator& gen, TensorOptions o = {}) {
    std::vector<double> v(static_cast<size_t>(numel(shape)));
    for (auto& x : v) x = gen.normal();
    return from_vector(v, shape, o);
}
/// Uniform samples in [lo, hi) drawn from `gen` in row-major order.
inline Tensor rand(const Shape& shape, Generator& gen, double lo = 0.0, double hi = 1.0, TensorOptions o = {}) {
    std::vector<double> v(static_cast<size_t>(numel(shape)));
    for (auto& x : v) x = lo + (hi - lo) * gen.uniform();
    return from_vector(v, shape, o);
}

/// x converted to dtype (differentiable between floating types).
inline Tensor to(const Tensor& x, DType dtype) {
    if (x.dtype() == dtype) return x;
    Tensor out = dispatch("to", {x}).cast(x, dtype);
    if (!is_floating(dtype) || !is_floating(x.dtype())) return out;
    const DType from = x.dtype();
    return record(out, "to", {x}, [from](const Tensor& g, const Tensor&, const auto&) { return grads(to(g, from)); });
}

/// x copied to `device` (differentiable: the gradient travels back).
inline Tensor to(const Tensor& x, Device device) {
    const Device from = x.device();
    if (from == device) return x;
    Tensor host = from.type == DeviceType::cpu ? x : backend_of(from).download(x);
    Tensor out = device.type == DeviceType::cpu ? host : backend_of(device).upload(host);
    return record(out, "to_device", {x},
                  [from](const Tensor& g, const Tensor&, const auto&) { return grads(to(g, from)); });
}

/// A copy with its own storage (differentiable).
inline Tensor clone(const Tensor& x) {
    Backend& b = dispatch("clone", {x});
    Tensor out = b.empty(x.shape(), x.dtype());
    b.copy(out, x);
    return record(out, "clone", {x}, [](const Tensor& g, const Tensor&, const auto&) { return grads(g); });
}

} // namespace vkgrad
