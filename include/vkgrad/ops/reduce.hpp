// vkgrad/ops/reduce.hpp — sum, mean, max, min and var over any axes.
// sum is the primitive; mean and var are composed from it, so their gradients come free.
#pragma once
#include <algorithm>

#include "elementwise.hpp"
#include "fwd.hpp"

namespace vkgrad {

namespace detail {
/// Sorted unique non-negative axes; empty input means all axes.
inline std::vector<int> reduce_axes(const Tensor& x, const std::vector<int64_t>& axes, const char* op) {
    std::vector<int> out;
    if (axes.empty())
        for (int d = 0; d < static_cast<int>(x.dim()); ++d) out.push_back(d);
    for (auto a : axes) out.push_back(normalize_axis(a, x.dim(), op));
    std::sort(out.begin(), out.end());
    VKG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, "repeated axis in reduction of shape ",
              to_string(x.shape()));
    return out;
}
inline Shape reduced_shape(const Shape& s, const std::vector<int>& axes, bool keepdim) {
    Shape out;
    for (int d = 0; d < static_cast<int>(s.size()); ++d) {
        const bool r = std::binary_search(axes.begin(), axes.end(), d);
        if (!r) out.push_back(s[static_cast<size_t>(d)]);
        else if (keepdim) out.push_back(1);
    }
    return out;
}
inline int64_t reduced_count(const Shape& s, const std::vector<int>& axes) {
    int64_t n = 1;
    for (int a : axes) n *= s[static_cast<size_t>(a)];
    return n;
}

/// max/min; the gradient goes to every position equal to the extremum, split evenly.
inline Tensor extreme(const char* op, ReduceOp k, const Tensor& x, const std::vector<int64_t>& axes_in,
                      bool keepdim) {
    Backend& be = dispatch_float(op, {x});
    const auto axes = reduce_axes(x, axes_in, op);
    VKG_CHECK(reduced_count(x.shape(), axes) > 0, op, "reduction over an empty axis of shape ",
              to_string(x.shape()));
    const Shape keep = reduced_shape(x.shape(), axes, true);
    Tensor out = reshape(be.reduce(k, x, axes), reduced_shape(x.shape(), axes, keepdim));
    return record(out, op, {x}, [x, axes, keep](const Tensor& g, const Tensor& y, const auto&) {
        const Tensor mask = eq(x, reshape(detach(y), keep));
        const Tensor count = sum(mask, std::vector<int64_t>(axes.begin(), axes.end()), true);
        return grads(reshape(g, keep) * (mask / count));
    });
}
} // namespace detail

inline Tensor sum(const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdim) {
    Backend& be = dispatch_float("sum", {x});
    const auto axes = detail::reduce_axes(x, axes_in, "sum");
    const Shape keep = detail::reduced_shape(x.shape(), axes, true);
    Tensor out = reshape(be.reduce(ReduceOp::sum, x, axes), detail::reduced_shape(x.shape(), axes, keepdim));
    return record(out, "sum", {x},
                  [x, keep](const Tensor& g, const Tensor&, const auto&) { return grads(expand(reshape(g, keep), x.shape())); });
}

inline Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    const auto n = detail::reduced_count(x.shape(), detail::reduce_axes(x, axes, "mean"));
    return sum(x, axes, keepdim) / static_cast<double>(n);
}

inline Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    return detail::extreme("max", ReduceOp::max, x, axes, keepdim);
}
inline Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    return detail::extreme("min", ReduceOp::min, x, axes, keepdim);
}

inline Tensor var(const Tensor& x, const std::vector<int64_t>& axes, int64_t correction, bool keepdim) {
    const auto n = detail::reduced_count(x.shape(), detail::reduce_axes(x, axes, "var"));
    VKG_CHECK(n - correction > 0, "var", "needs more than ", correction, " elements per reduction, shape ",
              to_string(x.shape()));
    const Tensor d = x - mean(x, axes, true);
    return sum(d * d, axes, keepdim) / static_cast<double>(n - correction);
}

inline Tensor sum_to(const Tensor& g, const Shape& shape) {
    if (g.shape() == shape) return g;
    const Shape& gs = g.shape();
    VKG_CHECK(gs.size() >= shape.size(), "sum_to", "cannot sum ", to_string(gs), " down to ", to_string(shape));
    const size_t lead = gs.size() - shape.size();
    std::vector<int64_t> axes;
    for (size_t d = 0; d < gs.size(); ++d) {
        if (d < lead) axes.push_back(static_cast<int64_t>(d));
        else if (shape[d - lead] == 1 && gs[d] != 1) axes.push_back(static_cast<int64_t>(d));
        else
            VKG_CHECK(shape[d - lead] == gs[d], "sum_to", "cannot sum ", to_string(gs), " down to ", to_string(shape));
    }
    return reshape(axes.empty() ? g : sum(g, axes, true), shape);
}

} // namespace vkgrad
