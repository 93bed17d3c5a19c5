// vkgrad/ops/shape.hpp — reshaping and moving elements. Each backward is the op's adjoint:
// permute <-> inverse permute, slice <-> unslice, pad <-> crop or pad_adjoint, concat <-> slices.
#pragma once
#include <numeric>

#include "elementwise.hpp"
#include "fwd.hpp"

namespace vkgrad {

inline Tensor reshape(const Tensor& x, const Shape& shape_in) {
    VKG_CHECK(x.defined(), "reshape", "got an undefined tensor");
    Shape shape = shape_in;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            VKG_CHECK(infer < 0, "reshape", "only one -1 allowed in ", to_string(shape_in));
            infer = static_cast<int64_t>(i);
        } else {
            VKG_CHECK(shape[i] >= 0, "reshape", "invalid size in ", to_string(shape_in));
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        VKG_CHECK(known > 0 && x.numel() % known == 0, "reshape", "cannot infer -1 in ", to_string(shape_in),
                  " for ", x.numel(), " elements (shape ", to_string(x.shape()), ")");
        shape[static_cast<size_t>(infer)] = x.numel() / known;
    }
    VKG_CHECK(numel(shape) == x.numel(), "reshape", "cannot view shape ", to_string(x.shape()), " as ",
              to_string(shape_in));
    if (shape == x.shape()) return x;
    Tensor out = detach(x); // same storage: a view
    out.impl()->shape = shape;
    const Shape from = x.shape();
    return record(out, "reshape", {x}, [from](const Tensor& g, const Tensor&, const auto&) { return grads(reshape(g, from)); });
}

inline Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
    if (x.dim() == 0) return reshape(x, {1});
    const int s = normalize_axis(start, x.dim(), "flatten"), e = normalize_axis(end, x.dim(), "flatten");
    Shape out(x.shape().begin(), x.shape().begin() + s);
    int64_t n = 1;
    for (int d = s; d <= e; ++d) n *= x.shape()[static_cast<size_t>(d)];
    out.push_back(n);
    out.insert(out.end(), x.shape().begin() + e + 1, x.shape().end());
    return reshape(x, out);
}

inline Tensor unsqueeze(const Tensor& x, int64_t axis) {
    const size_t a = static_cast<size_t>(normalize_axis(axis, x.dim() + 1, "unsqueeze"));
    Shape s;
    s.reserve(x.dim() + 1);
    for (size_t d = 0; d <= x.dim(); ++d) s.push_back(d == a ? 1 : x.shape()[d < a ? d : d - 1]);
    return reshape(x, s);
}

inline Tensor squeeze(const Tensor& x, int64_t axis) {
    const int a = normalize_axis(axis, x.dim(), "squeeze");
    VKG_CHECK(x.shape()[static_cast<size_t>(a)] == 1, "squeeze", "axis ", axis, " of shape ", to_string(x.shape()),
              " is not 1");
    Shape s = x.shape();
    s.erase(s.begin() + a);
    return reshape(x, s);
}

inline Tensor permute(const Tensor& x, const std::vector<int64_t>& perm_in) {
    Backend& be = dispatch("permute", {x});
    VKG_CHECK(perm_in.size() == x.dim(), "permute", "permutation of ", perm_in.size(), " axes for shape ",
              to_string(x.shape()));
    std::vector<int> perm(perm_in.size());
    std::vector<int64_t> inverse(perm_in.size(), -1);
    for (size_t i = 0; i < perm.size(); ++i) {
        perm[i] = normalize_axis(perm_in[i], x.dim(), "permute");
        VKG_CHECK(inverse[static_cast<size_t>(perm[i])] < 0, "permute", "axis ", perm[i], " repeated");
        inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
    }
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int>(i);
    if (identity) return x;
    return record(be.permute(x, perm), "permute", {x},
                  [inverse](const Tensor& g, const Tensor&, const auto&) { return grads(permute(g, inverse)); });
}

inline Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
    std::vector<int64_t> perm(x.dim());
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[static_cast<size_t>(normalize_axis(a, x.dim(), "transpose"))],
              perm[static_cast<size_t>(normalize_axis(b, x.dim(), "transpose"))]);
    return permute(x, perm);
}

inline Tensor expand(const Tensor& x, const Shape& shape) {
    Backend& be = dispatch("expand", {x});
    VKG_CHECK(broadcast_shapes(x.shape(), shape, "expand") == shape, "expand", "cannot expand ",
              to_string(x.shape()), " to ", to_string(shape));
    if (x.shape() == shape) return x;
    const Shape from = x.shape();
    return record(be.expand(x, shape), "expand", {x},
                  [from](const Tensor& g, const Tensor&, const auto&) { return grads(sum_to(g, from)); });
}

inline Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
    Backend& be = dispatch("slice", {x});
    const int a = normalize_axis(axis, x.dim(), "slice");
    VKG_CHECK(step >= 1, "slice", "step must be >= 1, got ", step);
    const int64_t n = x.shape()[static_cast<size_t>(a)];
    auto clampi = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
    start = clampi(start);
    end = clampi(end);
    const int64_t len = end > start ? (end - start + step - 1) / step : 0;
    if (start == 0 && len == n && step == 1) return x;
    const Shape from = x.shape();
    return record(be.slice(x, a, start, len, step), "slice", {x},
                  [from, a, start, step](const Tensor& g, const Tensor&, const auto&) {
                      return grads(unslice(g, from, a, start, step));
                  });
}

inline Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
    const int a = normalize_axis(axis, x.dim(), "narrow");
    const int64_t n = x.shape()[static_cast<size_t>(a)];
    VKG_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow", "range [", start, ", ", start + length,
              ") outside axis ", a, " of shape ", to_string(x.shape()));
    return slice(x, a, start, start + length, 1);
}

inline Tensor unslice(const Tensor& g, const Shape& shape, int64_t axis, int64_t start, int64_t step) {
    Backend& be = dispatch("unslice", {g});
    const int a = normalize_axis(axis, shape.size(), "unslice");
    Shape expect = shape;
    const int64_t n = shape[static_cast<size_t>(a)], len = g.dim() == shape.size() ? g.shape()[static_cast<size_t>(a)] : -1;
    expect[static_cast<size_t>(a)] = len;
    VKG_CHECK(g.shape() == expect && start >= 0 && step >= 1 && (len == 0 || start + (len - 1) * step < n), "unslice",
              "cannot place ", to_string(g.shape()), " into ", to_string(shape), " at axis ", a, " start ", start,
              " step ", step);
    return record(be.unslice(g, shape, a, start, step), "unslice", {g},
                  [a, start, len, step](const Tensor& gg, const Tensor&, const auto&) {
                      return grads(slice(gg, a, start, start + (len - 1) * step + 1, step));
                  });
}

inline Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
    VKG_CHECK(!xs.empty(), "concat", "needs at least one tensor");
    const int a = normalize_axis(axis, xs[0].dim(), "concat");
    std::vector<int64_t> sizes;
    for (const auto& x : xs) {
        dispatch("concat", {xs[0], x});
        Shape s0 = xs[0].shape(), s = x.shape();
        VKG_CHECK(s.size() == s0.size(), "concat", "shapes ", to_string(s0), " and ", to_string(s),
                  " differ in rank");
        s0[static_cast<size_t>(a)] = s[static_cast<size_t>(a)];
        VKG_CHECK(s == s0, "concat", "shapes ", to_string(xs[0].shape()), " and ", to_string(x.shape()),
                  " differ outside axis ", a);
        sizes.push_back(s[static_cast<size_t>(a)]);
    }
    if (xs.size() == 1) return xs[0];
    return record(backend_of(xs[0].device()).concat(xs, a), "concat", xs,
                  [sizes, a](const Tensor& g, const Tensor&, const auto&) { return split(g, sizes, a); });
}

inline std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
    const int a = normalize_axis(axis, x.dim(), "split");
    int64_t total = 0;
    for (auto s : sizes) {
        VKG_CHECK(s >= 0, "split", "negative size");
        total += s;
    }
    VKG_CHECK(total == x.shape()[static_cast<size_t>(a)], "split", "sizes add up to ", total, " but axis ", a,
              " of shape ", to_string(x.shape()), " has ", x.shape()[static_cast<size_t>(a)]);
    std::vector<Tensor> out;
    int64_t at = 0;
    for (auto s : sizes) {
        out.push_back(narrow(x, a, at, s));
        at += s;
    }
    return out;
}

inline std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t axis) {
    VKG_CHECK(size > 0, "split", "size must be positive, got ", size);
    const int64_t n = x.size(axis);
    std::vector<int64_t> sizes;
    for (int64_t at = 0; at < n; at += size) sizes.push_back(std::min(size, n - at));
    return split(x, sizes, axis);
}

inline Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, PadMode mode, double value) {
    Backend& be = dispatch("pad", {x});
    VKG_CHECK(pads.size() % 2 == 0 && pads.size() / 2 <= x.dim(), "pad", pads.size(),
              " pad values for shape ", to_string(x.shape()), " (need pairs, at most two per axis)");
    for (size_t k = 0; k < pads.size() / 2; ++k) {
        const int64_t n = x.shape()[x.dim() - 1 - k], lo = pads[2 * k], hi = pads[2 * k + 1];
        VKG_CHECK(n + lo + hi >= 0, "pad", "pads (", lo, ", ", hi, ") leave a negative size on shape ",
                  to_string(x.shape()));
        if (mode == PadMode::reflect)
            VKG_CHECK(lo >= 0 && hi >= 0 && lo < n && hi < n, "pad", "reflect pads (", lo, ", ", hi,
                      ") must be non-negative and smaller than the axis (", n, ") of shape ", to_string(x.shape()));
        if (mode == PadMode::replicate)
            VKG_CHECK(lo >= 0 && hi >= 0 && (n > 0 || lo + hi == 0), "pad", "replicate pads (", lo, ", ", hi,
                      ") need non-negative pads and a non-empty axis, shape ", to_string(x.shape()));
    }
    const Shape from = x.shape();
    return record(be.pad(x, pads, mode, value), "pad", {x},
                  [from, pads, mode](const Tensor& g, const Tensor&, const auto&) {
                      if (mode != PadMode::constant) return grads(pad_adjoint(g, from, pads, mode));
                      std::vector<int64_t> crop(pads.size()); // zero padding's adjoint is cropping
                      for (size_t i = 0; i < pads.size(); ++i) crop[i] = -pads[i];
                      return grads(pad(g, crop, PadMode::constant, 0.0));
                  });
}

inline Tensor pad_adjoint(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& pads, PadMode mode) {
    Backend& be = dispatch_float("pad_adjoint", {g});
    return record(be.pad_adjoint(g, in_shape, pads, mode), "pad_adjoint", {g},
                  [pads, mode](const Tensor& gg, const Tensor&, const auto&) { return grads(pad(gg, pads, mode, 0.0)); });
}

inline Tensor flip(const Tensor& x, const std::vector<int64_t>& axes) {
    Backend& be = dispatch("flip", {x});
    std::vector<int> dims;
    for (auto a : axes) dims.push_back(normalize_axis(a, x.dim(), "flip"));
    return record(be.flip(x, dims), "flip", {x},
                  [axes](const Tensor& g, const Tensor&, const auto&) { return grads(flip(g, axes)); });
}

} // namespace vkgrad
