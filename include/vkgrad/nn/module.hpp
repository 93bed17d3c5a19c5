// vkgrad/nn/module.hpp — the Module base: named parameters, buffers and submodules.
//
// Names follow PyTorch's dotted convention ("layers.0.weight"), so a state dict saved by
// PyTorch maps onto a vkgrad model key for key. A module keeps handles to its tensors; the
// subclass's members are the same tensors, so loading and optimizer steps update in place.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../ops/inplace.hpp"

namespace vkgrad::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
public:
    virtual ~Module() = default;
    Module() = default;
    Module(const Module&) = delete; // handles are shared with the registry: copying would alias
    Module& operator=(const Module&) = delete;

    /// Single-input forward, used by Sequential. Modules with other signatures keep this
    /// default, which throws.
    virtual Tensor forward(const Tensor& x) {
        (void)x;
        ::vkgrad::detail::fail(name().c_str(), "this module has no single-tensor forward");
    }
    Tensor operator()(const Tensor& x) { return forward(x); }
    /// Short type name for messages, e.g. "Linear".
    virtual std::string name() const { return "Module"; }

    /// Parameters in registration order, submodules' after the module's own, dotted names.
    NamedTensors named_parameters() const {
        NamedTensors out;
        collect(out, "", true);
        return out;
    }
    NamedTensors named_buffers() const {
        NamedTensors out;
        collect(out, "", false);
        return out;
    }
    std::vector<Tensor> parameters() const {
        std::vector<Tensor> out;
        for (auto& [n, t] : named_parameters()) out.push_back(t);
        return out;
    }
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

    /// Parameters then buffers, the keys of a PyTorch state_dict (order may differ).
    NamedTensors state_dict() const {
        NamedTensors out = named_parameters(), b = named_buffers();
        out.insert(out.end(), b.begin(), b.end());
        return out;
    }
    /// Copies values into this module's tensors (converting dtype). With strict, every key
    /// must match in both directions; shapes must always match.
    void load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true) {
        NoGradGuard ng;
        size_t used = 0;
        for (auto& [key, t] : state_dict()) {
            auto it = sd.find(key);
            if (it == sd.end()) {
                VKG_CHECK(!strict, "load_state_dict", "missing key '", key, "'");
                continue;
            }
            VKG_CHECK(it->second.shape() == t.shape(), "load_state_dict", "'", key, "' has shape ",
                      to_string(it->second.shape()), ", the module expects ", to_string(t.shape()));
            copy_(t, it->second);
            ++used;
        }
        if (strict && used != sd.size()) {
            const auto mine = state_dict();
            for (auto& [key, t] : sd) {
                bool found = false;
                for (auto& kv : mine) found = found || kv.first == key;
                VKG_CHECK(found, "load_state_dict", "unexpected key '", key, "'");
            }
        }
    }

    void train(bool on = true) {
        training_ = on;
        for (auto& [n, m] : children_) m->train(on);
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }
    /// Moves every parameter and buffer to `device` in place (named move_to, not to, so it does
    /// not hide the free function to() inside subclasses): the handles held by the module,
    /// its subclass members and optimizers stay valid and now refer to device memory. Drops .grad.
    void move_to(Device device) {
        NoGradGuard ng;
        for (auto& [n, t] : state_dict()) {
            t.set_grad(Tensor());
            if (t.device() == device) continue;
            t.impl()->storage = ::vkgrad::to(detach(t), device).impl()->storage;
        }
    }
    /// Drops every parameter's .grad.
    void zero_grad() {
        for (auto& p : parameters()) p.set_grad(Tensor());
    }

protected:
    /// Registers a trainable tensor (marks it requires_grad) and returns it.
    Tensor register_parameter(const std::string& n, Tensor t) {
        check_name(n);
        t.requires_grad_(true);
        params_.emplace_back(n, t);
        return t;
    }
    /// Registers a non-trainable tensor saved with the state (running statistics, ...).
    Tensor register_buffer(const std::string& n, Tensor t) {
        check_name(n);
        buffers_.emplace_back(n, t);
        return t;
    }
    template <class M> std::shared_ptr<M> register_module(const std::string& n, std::shared_ptr<M> m) {
        check_name(n);
        children_.emplace_back(n, m);
        return m;
    }

private:
    void check_name(const std::string& n) const {
        VKG_CHECK(!n.empty() && n.find('.') == std::string::npos, "Module", "invalid name '", n, "'");
        for (auto& p : params_) VKG_CHECK(p.first != n, "Module", "name '", n, "' already registered");
        for (auto& p : buffers_) VKG_CHECK(p.first != n, "Module", "name '", n, "' already registered");
        for (auto& p : children_) VKG_CHECK(p.first != n, "Module", "name '", n, "' already registered");
    }
    void collect(NamedTensors& out, const std::string& prefix, bool params) const {
        for (auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
        for (auto& [n, m] : children_) m->collect(out, prefix + n + ".", params);
    }

    NamedTensors params_, buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    bool training_ = true;
};

} // namespace vkgrad::nn
