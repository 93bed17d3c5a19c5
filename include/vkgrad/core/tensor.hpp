// vkgrad/core/tensor.hpp — the Tensor handle.
//
// A Tensor is a cheap shared handle (like torch.Tensor) to a TensorImpl: a shape, a dtype and
// a Storage, always contiguous in row-major order, plus the autograd fields. Copying a Tensor
// copies the handle, not the data. Operations are free functions in vkgrad/ops/; this file
// only holds metadata accessors, so it needs nothing but the standard library.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "shape.hpp"
#include "storage.hpp"

namespace vkgrad {

struct GradFn; // autograd node, vkgrad/core/graph.hpp

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    Shape shape;
    DType dtype = DType::f32;

    // --- autograd ---
    bool requires_grad = false;           // true for leaves the user marked and for results of tracked ops
    bool retains_grad = false;            // non-leaf that keeps its .grad (Tensor::retain_grad)
    std::shared_ptr<GradFn> grad_fn;      // the op that produced this tensor; null for leaves
    std::shared_ptr<TensorImpl> grad;     // accumulated gradient (leaves, or retains_grad)

    ~TensorImpl(); // defined in graph.hpp: frees long graphs without recursion
};

class Tensor {
public:
    Tensor() = default; ///< an undefined tensor (no storage); `defined()` is false
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const { return checked().shape; }
    size_t dim() const { return shape().size(); }
    /// Size of one axis; negative axes count from the end.
    int64_t size(int64_t axis) const { return shape()[normalize_axis(axis, dim(), "size")]; }
    int64_t numel() const { return vkgrad::numel(shape()); }
    DType dtype() const { return checked().dtype; }
    Device device() const { return checked().storage->device(); }

    // --- autograd ---
    bool requires_grad() const { return checked().requires_grad; }
    /// Marks a leaf as needing gradients. Requires a floating dtype and a leaf (no grad_fn).
    Tensor& requires_grad_(bool on = true) {
        VKG_CHECK(!on || is_floating(dtype()), "requires_grad_", "only floating tensors can require gradients, got ",
                  dtype_name(dtype()));
        VKG_CHECK(is_leaf(), "requires_grad_", "can only be changed on leaf tensors (this one comes from an op)");
        impl_->requires_grad = on;
        return *this;
    }
    bool is_leaf() const { return checked().grad_fn == nullptr; }
    const std::shared_ptr<GradFn>& grad_fn() const { return checked().grad_fn; }
    /// The accumulated gradient, or an undefined tensor before any backward pass.
    Tensor grad() const { return Tensor(checked().grad); }
    void set_grad(const Tensor& g) { checked().grad = g.impl_; }
    /// Keep .grad on a non-leaf tensor during backward (as torch's retain_grad).
    void retain_grad() { checked().retains_grad = true; }
    /// Reverse-mode differentiation from this tensor; see vkgrad/autograd/engine.hpp.
    void backward(const Tensor& grad_output = Tensor(), bool create_graph = false) const;

    // --- raw data (host tensors only) ---
    /// Typed pointer to the elements. Requires a host-visible storage and T matching dtype().
    template <class T> T* data() const {
        VKG_CHECK(dtype_of<T>() == dtype(), "data", "tensor has dtype ", dtype_name(dtype()), ", not ",
                  dtype_name(dtype_of<T>()));
        void* p = impl_->storage->host_data();
        VKG_CHECK(p != nullptr || numel() == 0, "data", "tensor on ", to_string(device()),
                  " is not host-visible; copy it with to(t, cpu) first");
        return static_cast<T*>(p);
    }
    void* raw_data() const { return checked().storage->host_data(); }
    /// The single element of a one-element tensor, as double.
    double item() const;
    /// All elements converted to T, in row-major order.
    template <class T> std::vector<T> to_vector() const;

    const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
    bool same(const Tensor& o) const { return impl_ == o.impl_; }

private:
    TensorImpl& checked() const {
        VKG_CHECK(impl_ != nullptr, "Tensor", "use of an undefined tensor");
        return *impl_;
    }
    std::shared_ptr<TensorImpl> impl_;
};

/// A new tensor of the given shape and dtype on the host, uninitialised.
inline Tensor empty_cpu(const Shape& shape, DType dtype) {
    for (auto d : shape) VKG_CHECK(d >= 0, "empty", "negative dimension in shape ", to_string(shape));
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<CpuStorage>(static_cast<size_t>(vkgrad::numel(shape)) * dtype_size(dtype));
    impl->shape = shape;
    impl->dtype = dtype;
    return Tensor(std::move(impl));
}

/// Calls f with a null pointer of the element type of `t` (float, double or int64_t).
template <class F> decltype(auto) visit_dtype(DType t, F&& f) {
    switch (t) {
    case DType::f32: return f(static_cast<float*>(nullptr));
    case DType::f64: return f(static_cast<double*>(nullptr));
    default: return f(static_cast<int64_t*>(nullptr));
    }
}

template <class T> std::vector<T> Tensor::to_vector() const {
    VKG_CHECK(raw_data() != nullptr || numel() == 0, "to_vector", "tensor on ", to_string(device()),
              " is not host-visible");
    std::vector<T> out(static_cast<size_t>(numel()));
    visit_dtype(dtype(), [&](auto* tag) {
        using S = std::remove_pointer_t<decltype(tag)>;
        const S* p = static_cast<const S*>(raw_data());
        for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
    });
    return out;
}

inline double Tensor::item() const {
    VKG_CHECK(numel() == 1, "item", "needs a tensor with one element, got shape ", to_string(shape()));
    return to_vector<double>()[0];
}

} // namespace vkgrad
