// vkgrad/nn/sequential.hpp — torch.nn.Sequential and the parameter-free activation modules.
#pragma once
#include "../ops/elementwise.hpp"
#include "module.hpp"

namespace vkgrad::nn {

/// Applies its children in order; they are named "0", "1", ... as in PyTorch.
class Sequential : public Module {
public:
    Sequential() = default;
    explicit Sequential(std::vector<std::shared_ptr<Module>> layers) {
        for (auto& m : layers) push_back(std::move(m));
    }
    void push_back(std::shared_ptr<Module> m) { register_module(std::to_string(children().size()), std::move(m)); }
    size_t size() const { return children().size(); }
    Module& operator[](size_t i) const { return *children().at(i).second; }
    Tensor forward(const Tensor& x) override {
        Tensor h = x;
        for (auto& [n, m] : children()) h = m->forward(h);
        return h;
    }
    std::string name() const override { return "Sequential"; }
};

/// A module wrapping an elementwise function without parameters.
#define VKGRAD_ACTIVATION_MODULE(Name, expr)                                        \
    class Name : public Module {                                                    \
    public:                                                                         \
        Tensor forward(const Tensor& x) override { return expr; }                   \
        std::string name() const override { return #Name; }                        \
    };
VKGRAD_ACTIVATION_MODULE(ReLU, relu(x))
VKGRAD_ACTIVATION_MODULE(Sigmoid, sigmoid(x))
VKGRAD_ACTIVATION_MODULE(Tanh, vkgrad::tanh(x))
VKGRAD_ACTIVATION_MODULE(GELU, gelu(x))
#undef VKGRAD_ACTIVATION_MODULE

class LeakyReLU : public Module {
public:
    explicit LeakyReLU(double negative_slope = 0.01) : slope(negative_slope) {}
    Tensor forward(const Tensor& x) override { return leaky_relu(x, slope); }
    std::string name() const override { return "LeakyReLU"; }
    double slope;
};

class Softplus : public Module {
public:
    explicit Softplus(double beta = 1.0, double threshold = 20.0) : beta(beta), threshold(threshold) {}
    Tensor forward(const Tensor& x) override { return softplus(x, beta, threshold); }
    std::string name() const override { return "Softplus"; }
    double beta, threshold;
};

} // namespace vkgrad::nn
