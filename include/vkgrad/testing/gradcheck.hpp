// vkgrad/testing/gradcheck.hpp — finite-difference checks of first and second derivatives.
//
// Everything runs in float64. The scalar L = sum(f(x) * P) with a random projection P is
// differentiated analytically (autograd) and by central differences
//   dL/dx_j ~ (L(x + h e_j) - L(x - h e_j)) / 2h,   h = 1e-6,
// whose truncation error (h^2 |L'''| / 6 ~ 1e-12) and rounding error (1e-16 |L| / h ~ 1e-10)
// sit far below the tolerance relerr <= 1e-6 (vkgrad/testing/relerr.hpp).
// The second-order check applies the same test to x, v -> sum_i <dL/dx_i (with grad_output v), W_i>,
// computed with create_graph, so it exercises the backward of every backward rule.
#pragma once
#include <functional>
#include <sstream>

#include "../autograd/engine.hpp"
#include "relerr.hpp"

namespace vkgrad::testing {

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
    double eps = 1e-6;
    double tol = kGradcheckTol;
    uint64_t seed = 1234;
};

struct GradcheckResult {
    bool ok = true;
    double worst = 0;    ///< largest relerr(analytic, numeric) over the inputs
    std::string message; ///< which input failed, for test output
};

namespace detail {
inline std::vector<Tensor> as_f64_leaves(const std::vector<Tensor>& xs) {
    std::vector<Tensor> out;
    for (const auto& x : xs) {
        if (!is_floating(x.dtype())) { // index tensors pass through untouched
            out.push_back(x);
            continue;
        }
        NoGradGuard ng;
        Tensor c = clone(to(detach(x), DType::f64));
        c.requires_grad_(true);
        out.push_back(c);
    }
    return out;
}
} // namespace detail

/// Checks autograd's gradient of f against central differences for every floating input.
inline GradcheckResult gradcheck(const Function& f, const std::vector<Tensor>& inputs_in, GradcheckOptions o = {}) {
    std::vector<Tensor> xs = detail::as_f64_leaves(inputs_in);
    Generator gen(o.seed);
    Tensor out = f(xs);
    VKG_CHECK(out.dtype() == DType::f64, "gradcheck", "function must keep float64, returned ", dtype_name(out.dtype()));
    const Tensor proj = randn(out.shape(), gen, {DType::f64});
    std::vector<Tensor> wrt;
    for (const auto& x : xs)
        if (x.requires_grad()) wrt.push_back(x);
    std::vector<Tensor> analytic;
    if (out.requires_grad()) analytic = grad({sum(out * proj)}, wrt, {}, false, true);
    else analytic.resize(wrt.size());

    // Grad mode stays on: a second-order `f` differentiates inside itself.
    auto loss = [&] { return sum(f(xs) * proj).item(); };
    GradcheckResult r;
    for (size_t k = 0; k < wrt.size(); ++k) {
        Tensor num = zeros(wrt[k].shape(), {DType::f64});
        double* p = wrt[k].data<double>();
        double* q = num.data<double>();
        for (int64_t j = 0; j < wrt[k].numel(); ++j) {
            const double keep = p[j];
            p[j] = keep + o.eps;
            const double lp = loss();
            p[j] = keep - o.eps;
            const double lm = loss();
            p[j] = keep;
            q[j] = (lp - lm) / (2 * o.eps);
        }
        const Tensor a = analytic[k].defined() ? analytic[k] : zeros_like(num);
        const double e = relerr(a, num);
        r.worst = std::max(r.worst, e);
        if (!(e <= o.tol)) {
            r.ok = false;
            std::ostringstream s;
            s << "input " << k << " " << to_string(wrt[k].shape()) << ": relerr " << e << " > " << o.tol;
            r.message += s.str() + "; ";
        }
    }
    return r;
}

/// Second order: gradcheck of (x, v) -> sum_i <grad_i, W_i> where grad_i = d<f(x), v>/dx_i is
/// computed with create_graph (so through the backward rules' own backward).
inline GradcheckResult gradgradcheck(const Function& f, const std::vector<Tensor>& inputs, GradcheckOptions o = {}) {
    Tensor probe;
    {
        NoGradGuard ng;
        std::vector<Tensor> xs = detail::as_f64_leaves(inputs);
        probe = f(xs);
    }
    Generator gen(o.seed + 1);
    std::vector<Tensor> with_v = inputs;
    with_v.push_back(randn(probe.shape(), gen, {DType::f64}));
    std::vector<Tensor> weights;
    for (const auto& x : inputs)
        if (is_floating(x.dtype())) weights.push_back(randn(x.shape(), gen, {DType::f64}));
    const size_t n = inputs.size();
    auto second = [f, weights, n](const std::vector<Tensor>& xv) {
        std::vector<Tensor> xs(xv.begin(), xv.begin() + static_cast<long>(n));
        std::vector<Tensor> wrt;
        for (const auto& x : xs)
            if (x.requires_grad()) wrt.push_back(x);
        Tensor out = f(xs);
        Tensor total = zeros({}, {DType::f64});
        if (!out.requires_grad()) return total;
        const auto g = grad({out}, wrt, {xv[n]}, true, true);
        for (size_t i = 0; i < g.size(); ++i)
            if (g[i].defined()) total = total + sum(g[i] * weights[i]);
        return total;
    };
    return gradcheck(second, with_v, o);
}

} // namespace vkgrad::testing
