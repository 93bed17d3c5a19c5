// vkgrad/ops/elementwise.hpp — elementwise arithmetic, comparisons and activations, each
// forward next to its backward. Broadcast gradients are summed back with sum_to.
#pragma once
#include <cmath>
#include <limits>

#include "creation.hpp"
#include "fwd.hpp"

namespace vkgrad {

namespace detail {
inline Tensor binary_raw(const char* op, BinaryOp k, const Tensor& a, const Tensor& b) {
    Backend& be = dispatch_float(op, {a, b});
    broadcast_shapes(a.shape(), b.shape(), op); // names the op in the shape error
    return be.binary(k, a, b);
}
inline Tensor unary_raw(const char* op, UnaryOp k, const Tensor& x, double p0 = 0, double p1 = 0) {
    return dispatch_float(op, {x}).unary(k, x, p0, p1);
}
inline Tensor zero_grad_like(const Tensor& g) { return scalar_like(g, 0.0); }
} // namespace detail

// ---- arithmetic ---------------------------------------------------------------------------

inline Tensor add(const Tensor& a, const Tensor& b) {
    return record(detail::binary_raw("add", BinaryOp::add, a, b), "add", {a, b},
                  [a, b](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      return grads(n[0] ? sum_to(g, a.shape()) : Tensor(), n[1] ? sum_to(g, b.shape()) : Tensor());
                  });
}
inline Tensor sub(const Tensor& a, const Tensor& b) {
    return record(detail::binary_raw("sub", BinaryOp::sub, a, b), "sub", {a, b},
                  [a, b](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      return grads(n[0] ? sum_to(g, a.shape()) : Tensor(),
                                   n[1] ? sum_to(neg(g), b.shape()) : Tensor());
                  });
}
inline Tensor mul(const Tensor& a, const Tensor& b) {
    return record(detail::binary_raw("mul", BinaryOp::mul, a, b), "mul", {a, b},
                  [a, b](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      return grads(n[0] ? sum_to(mul(g, b), a.shape()) : Tensor(),
                                   n[1] ? sum_to(mul(g, a), b.shape()) : Tensor());
                  });
}
inline Tensor div(const Tensor& a, const Tensor& b) {
    return record(detail::binary_raw("div", BinaryOp::div, a, b), "div", {a, b},
                  [a, b](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      return grads(n[0] ? sum_to(div(g, b), a.shape()) : Tensor(),
                                   n[1] ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor());
                  });
}
inline Tensor pow(const Tensor& a, const Tensor& b) {
    return record(detail::binary_raw("pow", BinaryOp::pow, a, b), "pow", {a, b},
                  [a, b](const Tensor& g, const Tensor& y, const std::vector<bool>& n) {
                      Tensor ga, gb;
                      if (n[0]) ga = sum_to(mul(g, mul(b, pow(a, sub(b, scalar_like(b, 1.0))))), a.shape());
                      if (n[1]) {
                          // torch masks the log(0) term where the base is 0 and the exponent >= 0
                          const Tensor zero = detail::zero_grad_like(g);
                          const Tensor mask = mul(eq(a, zero), ge(b, zero));
                          gb = sum_to(where(mask, zero, mul(g, mul(y, log(a)))), b.shape());
                      }
                      return grads(ga, gb);
                  });
}
inline Tensor pow(const Tensor& x, double p) {
    return record(detail::unary_raw("pow", UnaryOp::pow_scalar, x, p), "pow", {x},
                  [x, p](const Tensor& g, const Tensor&, const auto&) {
                      if (p == 0) return grads(zeros_like(g));
                      return grads(mul(g, mul(scalar_like(x, p), pow(x, p - 1))));
                  });
}
namespace detail {
inline Tensor extremum(const char* op, BinaryOp k, const Tensor& a, const Tensor& b) {
    const bool is_max = k == BinaryOp::maximum;
    return record(binary_raw(op, k, a, b), op, {a, b},
                  [a, b, is_max](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      // winner gets g, loser 0, a tie g/2 each (torch's rule)
                      const Tensor half = mul(g, scalar_like(g, 0.5)), zero = zero_grad_like(g);
                      const Tensor tie = eq(a, b);
                      const Tensor a_wins = is_max ? gt(a, b) : lt(a, b), b_wins = is_max ? lt(a, b) : gt(a, b);
                      return grads(n[0] ? sum_to(where(tie, half, where(a_wins, g, zero)), a.shape()) : Tensor(),
                                   n[1] ? sum_to(where(tie, half, where(b_wins, g, zero)), b.shape()) : Tensor());
                  });
}
} // namespace detail
inline Tensor maximum(const Tensor& a, const Tensor& b) { return detail::extremum("maximum", BinaryOp::maximum, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return detail::extremum("minimum", BinaryOp::minimum, a, b); }

inline Tensor eq(const Tensor& a, const Tensor& b) { return detail::binary_raw("eq", BinaryOp::eq, a, b); }
inline Tensor ne(const Tensor& a, const Tensor& b) { return detail::binary_raw("ne", BinaryOp::ne, a, b); }
inline Tensor lt(const Tensor& a, const Tensor& b) { return detail::binary_raw("lt", BinaryOp::lt, a, b); }
inline Tensor le(const Tensor& a, const Tensor& b) { return detail::binary_raw("le", BinaryOp::le, a, b); }
inline Tensor gt(const Tensor& a, const Tensor& b) { return detail::binary_raw("gt", BinaryOp::gt, a, b); }
inline Tensor ge(const Tensor& a, const Tensor& b) { return detail::binary_raw("ge", BinaryOp::ge, a, b); }

inline Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) {
    Backend& be = dispatch_float("where", {c, a, b});
    broadcast_shapes(broadcast_shapes(c.shape(), a.shape(), "where"), b.shape(), "where");
    return record(be.where(c, a, b), "where", {a, b},
                  [c, a, b](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      const Tensor zero = detail::zero_grad_like(g);
                      return grads(n[0] ? sum_to(where(c, g, zero), a.shape()) : Tensor(),
                                   n[1] ? sum_to(where(c, zero, g), b.shape()) : Tensor());
                  });
}

// Scalars mix in as 0-d tensors of the other operand's dtype.
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, scalar_like(a, s)); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, scalar_like(a, s)); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, scalar_like(a, s)); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, scalar_like(a, s)); }
inline Tensor operator+(double s, const Tensor& b) { return add(scalar_like(b, s), b); }
inline Tensor operator-(double s, const Tensor& b) { return sub(scalar_like(b, s), b); }
inline Tensor operator*(double s, const Tensor& b) { return mul(scalar_like(b, s), b); }
inline Tensor operator/(double s, const Tensor& b) { return div(scalar_like(b, s), b); }

// ---- unary math ---------------------------------------------------------------------------

inline Tensor neg(const Tensor& x) {
    return record(detail::unary_raw("neg", UnaryOp::neg, x), "neg", {x},
                  [](const Tensor& g, const Tensor&, const auto&) { return grads(neg(g)); });
}
inline Tensor exp(const Tensor& x) {
    return record(detail::unary_raw("exp", UnaryOp::exp, x), "exp", {x},
                  [](const Tensor& g, const Tensor& y, const auto&) { return grads(g * y); });
}
inline Tensor log(const Tensor& x) {
    return record(detail::unary_raw("log", UnaryOp::log, x), "log", {x},
                  [x](const Tensor& g, const Tensor&, const auto&) { return grads(g / x); });
}
inline Tensor sqrt(const Tensor& x) {
    return record(detail::unary_raw("sqrt", UnaryOp::sqrt, x), "sqrt", {x},
                  [](const Tensor& g, const Tensor& y, const auto&) { return grads(g / (y * 2.0)); });
}
inline Tensor rsqrt(const Tensor& x) {
    return record(detail::unary_raw("rsqrt", UnaryOp::rsqrt, x), "rsqrt", {x},
                  [](const Tensor& g, const Tensor& y, const auto&) { return grads(g * pow(y, 3.0) * -0.5); });
}
inline Tensor abs(const Tensor& x) {
    return record(detail::unary_raw("abs", UnaryOp::abs, x), "abs", {x},
                  [x](const Tensor& g, const Tensor&, const auto&) { return grads(g * sign(x)); });
}
inline Tensor sign(const Tensor& x) {
    return record(detail::unary_raw("sign", UnaryOp::sign, x), "sign", {x},
                  [](const Tensor& g, const Tensor&, const auto&) { return grads(zeros_like(g)); });
}
inline Tensor erf(const Tensor& x) {
    return record(detail::unary_raw("erf", UnaryOp::erf, x), "erf", {x},
                  [x](const Tensor& g, const Tensor&, const auto&) {
                      return grads(g * exp(neg(x * x)) * M_2_SQRTPI);
                  });
}
inline Tensor clamp(const Tensor& x, double lo, double hi) {
    VKG_CHECK(!(lo > hi), "clamp", "lower bound ", lo, " exceeds upper bound ", hi);
    return record(detail::unary_raw("clamp", UnaryOp::clamp, x, lo, hi), "clamp", {x},
                  [x, lo, hi](const Tensor& g, const Tensor&, const auto&) {
                      const Tensor inside = mul(ge(x, scalar_like(x, lo)), le(x, scalar_like(x, hi)));
                      return grads(where(inside, g, detail::zero_grad_like(g)));
                  });
}

// ---- activations --------------------------------------------------------------------------

inline Tensor relu(const Tensor& x) {
    return record(detail::unary_raw("relu", UnaryOp::relu, x), "relu", {x},
                  [](const Tensor& g, const Tensor& y, const auto&) {
                      return grads(where(gt(y, scalar_like(y, 0.0)), g, detail::zero_grad_like(g)));
                  });
}
inline Tensor leaky_relu(const Tensor& x, double slope) {
    return record(detail::unary_raw("leaky_relu", UnaryOp::leaky_relu, x, slope), "leaky_relu", {x},
                  [x, slope](const Tensor& g, const Tensor&, const auto&) {
                      return grads(where(gt(x, scalar_like(x, 0.0)), g, g * slope));
                  });
}
inline Tensor sigmoid(const Tensor& x) {
    return record(detail::unary_raw("sigmoid", UnaryOp::sigmoid, x), "sigmoid", {x},
                  [](const Tensor& g, const Tensor& y, const auto&) { return grads(g * y * (1.0 - y)); });
}
inline Tensor tanh(const Tensor& x) {
    return record(detail::unary_raw("tanh", UnaryOp::tanh, x), "tanh", {x},
                  [](const Tensor& g, const Tensor& y, const auto&) { return grads(g * (1.0 - y * y)); });
}
inline Tensor gelu(const Tensor& x) {
    return record(detail::unary_raw("gelu", UnaryOp::gelu, x), "gelu", {x},
                  [x](const Tensor& g, const Tensor&, const auto&) {
                      // d/dx x*Phi(x) = Phi(x) + x*phi(x)
                      const Tensor cdf = (erf(x * M_SQRT1_2) + 1.0) * 0.5;
                      const Tensor pdf = exp(x * x * -0.5) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
                      return grads(g * (cdf + x * pdf));
                  });
}
inline Tensor softplus(const Tensor& x, double beta, double threshold) {
    VKG_CHECK(beta > 0, "softplus", "beta must be positive, got ", beta);
    return record(detail::unary_raw("softplus", UnaryOp::softplus, x, beta, threshold), "softplus", {x},
                  [x, beta, threshold](const Tensor& g, const Tensor&, const auto&) {
                      const Tensor bx = x * beta;
                      return grads(where(gt(bx, scalar_like(bx, threshold)), g, g * sigmoid(bx)));
                  });
}

} // namespace vkgrad
