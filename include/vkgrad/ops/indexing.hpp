// vkgrad/ops/indexing.hpp — index_select and gather with their scatter-add adjoints.
// Each pair is the other's backward, so both are differentiable to any order.
#pragma once
#include "fwd.hpp"
#include "shape.hpp"

namespace vkgrad {

namespace detail {
inline void check_index(const char* op, const Tensor& idx) {
    VKG_CHECK(idx.defined() && idx.dtype() == DType::i64, op, "index tensor must be int64, got ",
              idx.defined() ? dtype_name(idx.dtype()) : "undefined");
}
} // namespace detail

inline Tensor index_select(const Tensor& x, int64_t axis, const Tensor& idx) {
    Backend& be = dispatch("index_select", {x, idx}, false);
    detail::check_index("index_select", idx);
    VKG_CHECK(idx.dim() == 1, "index_select", "index must be 1-d, got shape ", to_string(idx.shape()));
    const int a = normalize_axis(axis, x.dim(), "index_select");
    const Shape from = x.shape();
    return record(be.index_select(x, a, idx), "index_select", {x},
                  [from, a, idx](const Tensor& g, const Tensor&, const auto&) { return grads(index_add(from, a, idx, g)); });
}

inline Tensor index_add(const Shape& shape, int64_t axis, const Tensor& idx, const Tensor& src) {
    Backend& be = dispatch("index_add", {src, idx}, false);
    detail::check_index("index_add", idx);
    const int a = normalize_axis(axis, shape.size(), "index_add");
    Shape expect = shape;
    expect[static_cast<size_t>(a)] = idx.numel();
    VKG_CHECK(idx.dim() == 1 && src.shape() == expect, "index_add", "source ", to_string(src.shape()),
              " does not fit shape ", to_string(shape), " with ", idx.numel(), " indices along axis ", a);
    return record(be.index_add(shape, a, idx, src), "index_add", {src},
                  [a, idx](const Tensor& g, const Tensor&, const auto&) { return grads(index_select(g, a, idx)); });
}

namespace detail {
inline void check_gather(const char* op, const Shape& data, int a, const Tensor& index) {
    check_index(op, index);
    bool ok = index.dim() == data.size();
    for (size_t d = 0; ok && d < data.size(); ++d)
        ok = static_cast<int>(d) == a || index.shape()[d] <= data[d];
    VKG_CHECK(ok, op, "index shape ", to_string(index.shape()), " does not fit data shape ", to_string(data),
              " along axis ", a);
}
} // namespace detail

inline Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
    Backend& be = dispatch("gather", {x, index}, false);
    const int a = normalize_axis(axis, x.dim(), "gather");
    detail::check_gather("gather", x.shape(), a, index);
    const Shape from = x.shape();
    return record(be.gather(x, a, index), "gather", {x}, [from, a, index](const Tensor& g, const Tensor&, const auto&) {
        return grads(scatter_add(from, a, index, g));
    });
}

inline Tensor scatter_add(const Shape& shape, int64_t axis, const Tensor& index, const Tensor& src) {
    Backend& be = dispatch("scatter_add", {src, index}, false);
    const int a = normalize_axis(axis, shape.size(), "scatter_add");
    detail::check_gather("scatter_add", shape, a, index);
    VKG_CHECK(src.shape() == index.shape(), "scatter_add", "source ", to_string(src.shape()), " and index ",
              to_string(index.shape()), " differ");
    return record(be.scatter_add(shape, a, index, src), "scatter_add", {src},
                  [a, index](const Tensor& g, const Tensor&, const auto&) { return grads(gather(g, a, index)); });
}

} // namespace vkgrad
