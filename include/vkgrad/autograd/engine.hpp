// vkgrad/autograd/engine.hpp — reverse-mode differentiation over the recorded graph.
//
// The engine sorts the graph topologically with an explicit stack (a 100,000-op chain must
// not overflow the C++ stack), then walks it from the outputs, calling each node's backward
// rule and summing gradients per tensor. With create_graph the walk itself runs with grad
// mode on, so the gradients it returns are differentiable again (R1, path-length reg.).
#pragma once
#include <unordered_map>
#include <unordered_set>

#include "../ops/elementwise.hpp"

namespace vkgrad {

namespace detail {

/// Tensors reachable from `roots` through requires_grad edges, inputs before users.
inline std::vector<std::shared_ptr<TensorImpl>> topo_order(const std::vector<Tensor>& roots) {
    std::vector<std::shared_ptr<TensorImpl>> order;
    std::unordered_set<TensorImpl*> seen;
    std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack; // (tensor, next input to visit)
    for (const auto& r : roots) {
        if (!seen.insert(r.impl().get()).second) continue;
        stack.emplace_back(r.impl(), 0);
        while (!stack.empty()) {
            auto& [t, next] = stack.back();
            const auto* fn = t->grad_fn.get();
            if (fn && next < fn->inputs.size()) {
                const auto& in = fn->inputs[next++];
                if (in && in->requires_grad && seen.insert(in.get()).second) stack.emplace_back(in, 0);
            } else {
                order.push_back(t);
                stack.pop_back();
            }
        }
    }
    return order;
}

/// Runs backward from roots (seeded with root_grads). If `wanted` is given, returns the
/// gradients of those tensors and leaves .grad alone; otherwise accumulates into the .grad
/// of leaves (and of tensors marked retain_grad) and returns nothing.
inline std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& root_grads,
                                        bool create_graph, const std::vector<Tensor>* wanted) {
    std::unordered_map<TensorImpl*, Tensor> grad;
    for (size_t i = 0; i < roots.size(); ++i) {
        const Tensor& r = roots[i];
        VKG_CHECK(r.defined() && r.requires_grad(), "backward",
                  "output ", i, " does not require grad (no input of the computation requires grad, or it ran under "
                  "no_grad)");
        Tensor g = root_grads.size() > i ? root_grads[i] : Tensor();
        if (!g.defined()) {
            VKG_CHECK(r.numel() == 1, "backward", "grad_output must be given for a non-scalar output of shape ",
                      to_string(r.shape()));
            g = ones_like(r);
        }
        VKG_CHECK(g.shape() == r.shape() && g.dtype() == r.dtype(), "backward", "grad_output ", to_string(g.shape()),
                  " ", dtype_name(g.dtype()), " does not match output ", to_string(r.shape()), " ",
                  dtype_name(r.dtype()));
        auto& slot = grad[r.impl().get()];
        slot = slot.defined() ? add(slot, g) : g;
    }
    std::unordered_set<TensorImpl*> want;
    if (wanted)
        for (const auto& w : *wanted) want.insert(w.impl().get());

    const auto order = topo_order(roots);
    GradModeGuard mode(create_graph);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        TensorImpl* t = it->get();
        auto found = grad.find(t);
        if (found == grad.end()) continue;
        const Tensor g = found->second;
        if (!wanted && (t->grad_fn == nullptr || t->retains_grad)) {
            Tensor acc = t->grad ? Tensor(t->grad) + g : g;
            t->grad = (create_graph ? acc : detach(acc)).impl();
        }
        const GradFn* fn = t->grad_fn.get();
        if (!fn) continue;
        VKG_CHECK(fn->backward != nullptr, "backward", "the graph of '", fn->name, "' was already freed");
        std::vector<bool> needs(fn->inputs.size());
        for (size_t i = 0; i < needs.size(); ++i) {
            const auto& in = fn->inputs[i];
            needs[i] = in && in->requires_grad;
            VKG_CHECK(!in || in->storage->version == fn->versions[i], "backward", "an input of '", fn->name,
                      "' (shape ", to_string(in->shape), ") was modified in place after it was used; "
                      "its gradient would be wrong");
        }
        // `out` is handed to the rule so it never has to capture its own result (a cycle).
        const Tensor out(*it);
        std::vector<Tensor> in_grads = fn->backward(g, out, needs);
        if (!wanted || !want.count(t)) grad.erase(found); // free memory as we go
        VKG_CHECK(in_grads.size() == fn->inputs.size(), "backward", "rule of '", fn->name, "' returned ",
                  in_grads.size(), " gradients for ", fn->inputs.size(), " inputs");
        for (size_t i = 0; i < in_grads.size(); ++i) {
            if (!needs[i] || !in_grads[i].defined()) continue;
            const auto& in = fn->inputs[i];
            VKG_CHECK(in_grads[i].shape() == in->shape, "backward", "rule of '", fn->name, "' gave a gradient of shape ",
                      to_string(in_grads[i].shape()), " for input ", i, " of shape ", to_string(in->shape));
            auto& slot = grad[in.get()];
            slot = slot.defined() ? add(slot, in_grads[i]) : in_grads[i];
        }
    }
    std::vector<Tensor> result;
    if (wanted)
        for (const auto& w : *wanted) {
            auto f = grad.find(w.impl().get());
            result.push_back(f == grad.end() ? Tensor() : f->second);
        }
    return result;
}
} // namespace detail

/// Accumulates d(sum(grad_output * root))/d(leaf) into every reachable leaf's .grad.
/// grad_output may be omitted for one-element roots. With create_graph the gradients are
/// themselves differentiable.
inline void backward(const Tensor& root, const Tensor& grad_output = Tensor(), bool create_graph = false) {
    detail::run_backward({root}, {grad_output}, create_graph, nullptr);
}

/// torch.autograd.grad: gradients of sum_i <grad_outputs[i], outputs[i]> with respect to each
/// of `inputs`, without touching .grad. An input the outputs do not depend on is an error,
/// or, with allow_unused, gets an undefined Tensor (as in torch).
inline std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                                const std::vector<Tensor>& grad_outputs = {}, bool create_graph = false,
                                bool allow_unused = false) {
    for (const auto& in : inputs)
        VKG_CHECK(in.defined() && in.requires_grad(), "grad", "every input must require grad");
    auto g = detail::run_backward(outputs, grad_outputs, create_graph, &inputs);
    for (size_t i = 0; i < g.size(); ++i)
        VKG_CHECK(allow_unused || g[i].defined(), "grad", "input ", i, " (shape ", to_string(inputs[i].shape()),
                  ") is not used by the outputs; pass allow_unused=true to get an undefined gradient");
    return g;
}

inline void Tensor::backward(const Tensor& grad_output, bool create_graph) const {
    vkgrad::backward(*this, grad_output, create_graph);
}

} // namespace vkgrad
