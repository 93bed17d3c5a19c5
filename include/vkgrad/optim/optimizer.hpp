// vkgrad/optim/optimizer.hpp — what every optimizer shares: parameter groups and named state.
//
// An optimizer updates its parameters in place from their .grad, as torch.optim does. Each
// parameter group has its own learning rate and weight decay (the paper trains E and G at
// 1e-4 and D at 2.5e-5 in one run); the other hyperparameters belong to the optimizer.
// Updates are written with ordinary tensor ops under NoGradGuard, so they run wherever the
// parameters live and are deterministic like every op.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../core/graph.hpp"
#include "../ops/creation.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/inplace.hpp"

namespace vkgrad::optim {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct ParamGroup {
    std::vector<Tensor> params;
    double lr = 1e-3;
    double weight_decay = 0.0;
};

class Optimizer {
public:
    virtual ~Optimizer() = default;
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    /// One update of every parameter that has a gradient; parameters without one are skipped
    /// (their state does not advance), as in torch.
    void step() {
        NoGradGuard ng;
        for (size_t g = 0; g < groups.size(); ++g)
            for (size_t i = 0; i < groups[g].params.size(); ++i) {
                const Tensor& p = groups[g].params[i];
                if (!p.grad().defined()) continue;
                VKG_CHECK(p.grad().shape() == p.shape(), name_, "gradient of parameter ", i, " in group ", g, " has shape ",
                          to_string(p.grad().shape()), ", the parameter ", to_string(p.shape()));
                update(groups[g], p, p.grad(), state_[g][i]);
            }
    }
    /// Drops every parameter's .grad.
    void zero_grad() {
        for (auto& grp : groups)
            for (auto& p : grp.params) p.set_grad(Tensor());
    }

    /// The state to checkpoint: per-parameter tensors named "<group>.<index>.<key>" and each
    /// group's learning rate as "<group>.lr" (a float64 scalar; schedules change it).
    NamedTensors state_dict() const {
        NamedTensors out;
        for (size_t g = 0; g < groups.size(); ++g) {
            out.emplace_back(std::to_string(g) + ".lr", full({}, groups[g].lr, {DType::f64}));
            for (size_t i = 0; i < state_[g].size(); ++i)
                for (auto& [key, t] : state_[g][i]) out.emplace_back(std::to_string(g) + "." + std::to_string(i) + "." + key, t);
        }
        return out;
    }
    /// Restores a state_dict() of an optimizer built over the same parameters. Every entry must
    /// be known and match the parameter's shape; state absent from `sd` starts afresh. On error
    /// nothing is changed.
    void load_state_dict(const std::map<std::string, Tensor>& sd) {
        auto state = state_;
        for (auto& s : state)
            for (auto& m : s) m.clear();
        std::vector<double> lrs;
        for (auto& grp : groups) lrs.push_back(grp.lr);
        for (auto& [name, t] : sd) {
            const auto dot = name.find('.');
            VKG_CHECK(dot != std::string::npos, name_, "unexpected state entry '", name, "'");
            const size_t g = parse_index(name.substr(0, dot), groups.size(), name);
            const std::string rest = name.substr(dot + 1);
            if (rest == "lr") {
                VKG_CHECK(t.numel() == 1, name_, "'", name, "' must be a scalar");
                lrs[g] = t.item();
                continue;
            }
            const auto dot2 = rest.find('.');
            VKG_CHECK(dot2 != std::string::npos, name_, "unexpected state entry '", name, "'");
            const size_t i = parse_index(rest.substr(0, dot2), groups[g].params.size(), name);
            const std::string key = rest.substr(dot2 + 1);
            VKG_CHECK(known_key(key), name_, "unknown state '", key, "' in '", name, "'");
            const Tensor& p = groups[g].params[i];
            if (key == "step") {
                VKG_CHECK(t.numel() == 1 && !is_floating(t.dtype()), name_, "'", name, "' must be an integer scalar");
                state[g][i][key] = clone(t);
            } else {
                VKG_CHECK(t.shape() == p.shape() && is_floating(t.dtype()), name_, "'", name, "' is ",
                          dtype_name(t.dtype()), " ", to_string(t.shape()), ", its parameter ", to_string(p.shape()));
                state[g][i][key] = clone(to(t, p.dtype()));
            }
        }
        state_ = std::move(state);
        for (size_t g = 0; g < groups.size(); ++g) groups[g].lr = lrs[g];
    }

    std::vector<ParamGroup> groups;

protected:
    Optimizer(std::vector<ParamGroup> gs, const char* name) : groups(std::move(gs)), name_(name) {
        for (auto& grp : groups) {
            VKG_CHECK(grp.lr >= 0 && grp.weight_decay >= 0, name_, "learning rate and weight decay must be >= 0, got ",
                      grp.lr, " and ", grp.weight_decay);
            for (auto& p : grp.params)
                VKG_CHECK(p.defined() && is_floating(p.dtype()), name_, "parameters must be floating tensors");
            state_.emplace_back(grp.params.size());
        }
    }
    /// Updates p in place from its gradient; `state` holds this parameter's buffers by name.
    virtual void update(const ParamGroup& grp, const Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& state) = 0;
    virtual bool known_key(const std::string& key) const = 0;

    /// The number of updates this parameter has had, after counting this one.
    static int64_t next_step(std::map<std::string, Tensor>& state) {
        auto it = state.find("step");
        if (it == state.end()) it = state.emplace("step", zeros({}, {DType::i64})).first;
        const int64_t s = static_cast<int64_t>(it->second.item()) + 1;
        fill_(it->second, static_cast<double>(s));
        return s;
    }

    const char* name_;

private:
    size_t parse_index(const std::string& s, size_t n, const std::string& name) const {
        size_t v = 0;
        bool ok = !s.empty() && s.size() < 10;
        for (char c : s) ok = ok && c >= '0' && c <= '9';
        if (ok) v = std::stoul(s);
        VKG_CHECK(ok && v < n, name_, "state entry '", name, "' does not name a group/parameter of this optimizer");
        return v;
    }
    std::vector<std::vector<std::map<std::string, Tensor>>> state_;
};

} // namespace vkgrad::optim
