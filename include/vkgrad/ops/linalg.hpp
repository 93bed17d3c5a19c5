// vkgrad/ops/linalg.hpp — matrix products on the backend's GEMM.
#pragma once
#include "elementwise.hpp"
#include "fwd.hpp"
#include "reduce.hpp"

namespace vkgrad {

inline Tensor matmul_t(const Tensor& a, const Tensor& b, bool ta, bool tb) {
    Backend& be = dispatch_float("matmul", {a, b});
    VKG_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul", "needs operands of at least 2 dimensions, got ",
              to_string(a.shape()), " and ", to_string(b.shape()));
    const int64_t ka = ta ? a.size(-2) : a.size(-1), kb = tb ? b.size(-1) : b.size(-2);
    VKG_CHECK(ka == kb, "matmul", "inner dimensions differ: ", to_string(a.shape()), (ta ? "^T" : ""), " @ ",
              to_string(b.shape()), (tb ? "^T" : ""));
    broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2), Shape(b.shape().begin(), b.shape().end() - 2),
                     "matmul");
    // With A' = op(A), B' = op(B): dA' = G B'^T and dB' = A'^T G, transposed back where op did.
    return record(be.matmul(a, b, ta, tb), "matmul", {a, b},
                  [a, b, ta, tb](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      Tensor ga, gb;
                      if (n[0]) ga = sum_to(ta ? matmul_t(b, g, tb, true) : matmul_t(g, b, false, !tb), a.shape());
                      if (n[1]) gb = sum_to(tb ? matmul_t(g, a, true, ta) : matmul_t(a, g, !ta, false), b.shape());
                      return grads(ga, gb);
                  });
}

inline Tensor matmul(const Tensor& a, const Tensor& b) {
    VKG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "0-d operands: ", to_string(a.shape()), " and ",
              to_string(b.shape()));
    if (a.dim() == 1 && b.dim() == 1) return sum(a * b); // dot product, as torch
    const Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a, b2 = b.dim() == 1 ? unsqueeze(b, -1) : b;
    Tensor out = matmul_t(a2, b2, false, false);
    if (a.dim() == 1) out = squeeze(out, -2);
    if (b.dim() == 1) out = squeeze(out, -1);
    return out;
}

inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    VKG_CHECK(weight.defined() && weight.dim() == 2 && x.defined() && x.dim() >= 1 && x.size(-1) == weight.size(1),
              "linear", "input ", x.defined() ? to_string(x.shape()) : "undefined", " does not match weight ",
              weight.defined() ? to_string(weight.shape()) : "undefined", " ([out, in])");
    VKG_CHECK(!bias.defined() || bias.shape() == Shape{weight.size(0)}, "linear", "bias ", to_string(bias.shape()),
              " does not match weight ", to_string(weight.shape()));
    // Flatten leading axes into one matrix so the whole batch is a single GEMM.
    Shape os = x.shape();
    os.back() = weight.size(0);
    Tensor y = matmul_t(reshape(x, {-1, x.size(-1)}), weight, false, true);
    if (bias.defined()) y = y + bias;
    return reshape(y, os);
}

} // namespace vkgrad
