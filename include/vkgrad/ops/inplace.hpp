// vkgrad/ops/inplace.hpp — in-place updates for optimizers, initialisers and checkpoints.
//
// They are not recorded by autograd. Each bumps the storage's version, so a backward pass
// that still needs the old values fails loudly instead of returning wrong gradients.
#pragma once
#include "elementwise.hpp"

namespace vkgrad {

namespace detail {
inline void check_inplace(const char* op, const Tensor& x) {
    VKG_CHECK(x.defined(), op, "got an undefined tensor");
    VKG_CHECK(!(grad_enabled() && x.requires_grad()), op, "in-place write to a tensor that requires grad (shape ",
              to_string(x.shape()), "); do it inside a NoGradGuard scope");
}
} // namespace detail

/// dst <- src (same shape; src is converted to dst's dtype and device).
inline void copy_(const Tensor& dst, const Tensor& src) {
    detail::check_inplace("copy_", dst);
    VKG_CHECK(src.defined() && src.shape() == dst.shape(), "copy_", "source ",
              src.defined() ? to_string(src.shape()) : "undefined", " does not match destination ",
              to_string(dst.shape()));
    const Tensor s = to(to(detach(src), dst.dtype()), dst.device());
    backend_of(dst.device()).copy(dst, s);
    ++dst.impl()->storage->version;
}
inline void fill_(const Tensor& x, double v) {
    detail::check_inplace("fill_", x);
    backend_of(x.device()).fill(x, v);
    ++x.impl()->storage->version;
}
inline void zero_(const Tensor& x) { fill_(x, 0.0); }
/// x <- x + alpha * y (y broadcast to x's shape).
inline void add_(const Tensor& x, const Tensor& y, double alpha = 1.0) {
    detail::check_inplace("add_", x);
    NoGradGuard ng;
    const Tensor yy = to(to(y, x.dtype()), x.device());
    copy_(x, expand(alpha == 1.0 ? x + yy : x + yy * alpha, x.shape()));
}
/// x <- x * s
inline void mul_(const Tensor& x, double s) {
    detail::check_inplace("mul_", x);
    NoGradGuard ng;
    copy_(x, x * s);
}

} // namespace vkgrad
