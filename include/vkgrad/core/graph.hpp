// vkgrad/core/graph.hpp — the autograd tape: one GradFn node per op result.
//
// Define-by-run: every op that sees an input requiring gradients records a GradFn on its
// result holding the inputs and a backward closure. The closure is written with ordinary
// differentiable ops, so running it with grad mode on (create_graph) records a graph of the
// backward pass itself — that is all higher-order gradients need.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "tensor.hpp"

namespace vkgrad {

/// Backward rule of one op: given dL/d(out) and `out` itself, return dL/d(input_i) for each
/// input (an undefined Tensor where needs[i] is false or the gradient is zero).
using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad, const Tensor& out, const std::vector<bool>& needs)>;

struct GradFn {
    const char* name = "";                           // op name, for error messages
    std::vector<std::shared_ptr<TensorImpl>> inputs; // graph edges
    std::vector<uint64_t> versions;                  // storage versions of the inputs when recorded
    BackwardFn backward;
};

// ---- grad mode -----------------------------------------------------------------------------

/// Per-thread switch: when false, ops record nothing (inference, optimizer updates).
inline bool& grad_mode_flag() {
    thread_local bool enabled = true;
    return enabled;
}
inline bool grad_enabled() { return grad_mode_flag(); }

/// RAII scope that sets grad mode and restores the previous one.
class GradModeGuard {
public:
    explicit GradModeGuard(bool enabled) : prev_(grad_mode_flag()) { grad_mode_flag() = enabled; }
    ~GradModeGuard() { grad_mode_flag() = prev_; }
    GradModeGuard(const GradModeGuard&) = delete;
    GradModeGuard& operator=(const GradModeGuard&) = delete;

private:
    bool prev_;
};

/// `{ NoGradGuard g; ... }` — nothing inside the scope is recorded for autograd.
struct NoGradGuard : GradModeGuard {
    NoGradGuard() : GradModeGuard(false) {}
};

/// Records `fn` as the backward of `out` = op(inputs) when grad mode is on and some input
/// requires gradients; otherwise returns `out` untouched. Every differentiable op ends here.
/// (A template, so that ops run without grad never pay for building the closure.)
template <class Inputs, class F> Tensor record_impl(Tensor out, const char* name, const Inputs& inputs, F&& fn) {
    if (!grad_enabled()) return out;
    bool any = false;
    for (const auto& t : inputs) any = any || (t.defined() && t.requires_grad());
    if (!any) return out;
    auto node = std::make_shared<GradFn>();
    node->name = name;
    for (const auto& t : inputs) {
        node->inputs.push_back(t.impl());
        node->versions.push_back(t.defined() ? t.impl()->storage->version : 0);
    }
    node->backward = BackwardFn(std::forward<F>(fn));
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = true;
    return out;
}
template <class F> Tensor record(Tensor out, const char* name, std::initializer_list<Tensor> inputs, F&& fn) {
    return record_impl(std::move(out), name, inputs, std::forward<F>(fn));
}
template <class F> Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, F&& fn) {
    return record_impl(std::move(out), name, inputs, std::forward<F>(fn));
}

/// A tensor sharing `t`'s storage but cut from the graph.
inline Tensor detach(const Tensor& t) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = t.impl()->storage;
    impl->shape = t.shape();
    impl->dtype = t.dtype();
    return Tensor(std::move(impl));
}

// A chain of a million ops would, with plain shared_ptr destruction, free itself recursively
// and overflow the stack. Instead the destructor unlinks nodes that nothing else holds and
// frees them from an explicit work list.
inline TensorImpl::~TensorImpl() {
    if (!grad_fn || grad_fn.use_count() != 1) return;
    std::vector<std::shared_ptr<GradFn>> work;
    work.push_back(std::move(grad_fn));
    while (!work.empty()) {
        std::shared_ptr<GradFn> fn = std::move(work.back());
        work.pop_back();
        fn->backward = nullptr; // drop captured tensors; the edges below still hold the inputs
        for (auto& in : fn->inputs)
            if (in && in.use_count() == 1 && in->grad_fn && in->grad_fn.use_count() == 1)
                work.push_back(std::move(in->grad_fn));
    } // each fn dies here, and with it inputs whose own grad_fn was already moved out
}

} // namespace vkgrad
