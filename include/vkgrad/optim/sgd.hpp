// vkgrad/optim/sgd.hpp — stochastic gradient descent with momentum, as torch.optim.SGD.
#pragma once
#include "optimizer.hpp"

namespace vkgrad::optim {

struct SGDOptions {
    double momentum = 0.0;
    double dampening = 0.0;
    bool nesterov = false; ///< requires momentum > 0 and dampening 0
};

/// g <- grad + wd * p;  buf <- g on the first step, else momentum * buf + (1 - dampening) * g;
/// step direction buf, or g + momentum * buf with Nesterov;  p <- p - lr * direction.
class SGD : public Optimizer {
public:
    SGD(std::vector<ParamGroup> groups, SGDOptions o = {}) : Optimizer(std::move(groups), "SGD"), o_(o) {
        VKG_CHECK(o.momentum >= 0, name_, "momentum must be >= 0, got ", o.momentum);
        VKG_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), name_,
                  "Nesterov momentum requires momentum > 0 and zero dampening");
    }
    SGD(std::vector<Tensor> params, double lr, SGDOptions o = {}) : SGD({ParamGroup{std::move(params), lr}}, o) {}

protected:
    void update(const ParamGroup& grp, const Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& st) override {
        Tensor d = grp.weight_decay != 0 ? grad + p * grp.weight_decay : grad;
        if (o_.momentum != 0) {
            auto it = st.find("momentum_buffer");
            if (it == st.end()) {
                it = st.emplace("momentum_buffer", clone(d)).first;
            } else {
                mul_(it->second, o_.momentum);
                add_(it->second, d, 1 - o_.dampening);
            }
            d = o_.nesterov ? d + it->second * o_.momentum : it->second;
        }
        add_(p, d, -grp.lr);
    }
    bool known_key(const std::string& k) const override { return k == "momentum_buffer"; }

private:
    SGDOptions o_;
};

} // namespace vkgrad::optim
