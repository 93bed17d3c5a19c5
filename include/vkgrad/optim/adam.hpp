// vkgrad/optim/adam.hpp — Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), with
// torch.optim's exact order of operations.
#pragma once
#include <cmath>

#include "optimizer.hpp"

namespace vkgrad::optim {

struct AdamOptions {
    double beta1 = 0.9, beta2 = 0.999;
    double eps = 1e-8;
};

/// Per parameter, at step t (counted per parameter):
///   g <- grad + wd * p                          (Adam: L2 penalty folded into the gradient)
///   p <- p * (1 - lr * wd)                      (AdamW instead: decoupled decay, g = grad)
///   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
///   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// eps is added after the bias correction of sqrt(v), as torch does (not inside the sqrt).
class Adam : public Optimizer {
public:
    Adam(std::vector<ParamGroup> groups, AdamOptions o = {}) : Adam(std::move(groups), o, false, "Adam") {}
    Adam(std::vector<Tensor> params, double lr, AdamOptions o = {}) : Adam({ParamGroup{std::move(params), lr}}, o) {}

protected:
    Adam(std::vector<ParamGroup> groups, AdamOptions o, bool decoupled, const char* name)
        : Optimizer(std::move(groups), name), o_(o), decoupled_(decoupled) {
        VKG_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, name_, "betas must be in [0, 1), got (",
                  o.beta1, ", ", o.beta2, ")");
        VKG_CHECK(o.eps >= 0, name_, "eps must be >= 0, got ", o.eps);
    }
    void update(const ParamGroup& grp, const Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& st) override {
        const int64_t t = next_step(st);
        Tensor g = grad;
        if (grp.weight_decay != 0) {
            if (decoupled_) mul_(p, 1 - grp.lr * grp.weight_decay);
            else g = grad + p * grp.weight_decay;
        }
        auto buffer = [&](const char* key) -> Tensor& {
            auto it = st.find(key);
            if (it == st.end()) it = st.emplace(key, zeros_like(p)).first;
            return it->second;
        };
        Tensor& m = buffer("exp_avg");
        Tensor& v = buffer("exp_avg_sq");
        mul_(m, o_.beta1);
        add_(m, g, 1 - o_.beta1);
        mul_(v, o_.beta2);
        add_(v, g * g, 1 - o_.beta2);
        const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(t));
        const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(t));
        add_(p, m / (sqrt(v) / std::sqrt(bc2) + o_.eps), -grp.lr / bc1);
    }
    bool known_key(const std::string& k) const override { return k == "step" || k == "exp_avg" || k == "exp_avg_sq"; }

private:
    AdamOptions o_;
    bool decoupled_;
};

/// Adam with decoupled weight decay; torch's AdamW default decay is 1e-2 (set it per group).
class AdamW : public Adam {
public:
    AdamW(std::vector<ParamGroup> groups, AdamOptions o = {}) : Adam(std::move(groups), o, true, "AdamW") {}
    AdamW(std::vector<Tensor> params, double lr, double weight_decay = 1e-2, AdamOptions o = {})
        : AdamW({ParamGroup{std::move(params), lr, weight_decay}}, o) {}
};

} // namespace vkgrad::optim
