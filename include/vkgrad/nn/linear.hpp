// vkgrad/nn/linear.hpp — torch.nn.Linear: y = x W^T + b.
#pragma once
#include <cmath>

#include "../ops/linalg.hpp"
#include "init.hpp"
#include "module.hpp"

namespace vkgrad::nn {

class Linear : public Module {
public:
    Tensor weight; ///< [out_features, in_features]
    Tensor bias;   ///< [out_features], or undefined when constructed without bias

    /// Initialised as PyTorch does: weight kaiming_uniform(a = sqrt 5), i.e. U(-1/sqrt(in), 1/sqrt(in)),
    /// and bias U(-1/sqrt(in), 1/sqrt(in)). Requires in_features, out_features > 0.
    Linear(int64_t in_features, int64_t out_features, Generator& gen, bool with_bias = true,
           DType dtype = DType::f32) {
        VKG_CHECK(in_features > 0 && out_features > 0, "Linear", "sizes must be positive, got ", in_features, " -> ",
                  out_features);
        weight = register_parameter("weight", zeros({out_features, in_features}, {dtype}));
        init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
        if (with_bias) {
            bias = register_parameter("bias", zeros({out_features}, {dtype}));
            const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
            init::uniform_(bias, -bound, bound, gen);
        }
    }
    Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }
    std::string name() const override { return "Linear"; }
};

} // namespace vkgrad::nn
