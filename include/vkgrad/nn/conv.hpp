// vkgrad/nn/conv.hpp — torch.nn.Conv2d and ConvTranspose2d with PyTorch's parameter names,
// shapes and default initialisation (kaiming_uniform(a = sqrt 5): U(-1/sqrt(fan_in), +)).
#pragma once
#include <cmath>

#include "../ops/conv.hpp"
#include "init.hpp"
#include "module.hpp"

namespace vkgrad::nn {

class Conv2d : public Module {
public:
    Tensor weight; ///< [out, in/groups, k, k]
    Tensor bias;   ///< [out] or undefined
    ConvParams params;

    /// Requires in and out divisible by groups.
    Conv2d(int64_t in, int64_t out, int64_t kernel, Generator& gen, int64_t stride = 1, int64_t padding = 0,
           int64_t dilation = 1, int64_t groups = 1, bool with_bias = true, DType dtype = DType::f32)
        : params(ConvParams::torch(stride, padding, dilation, groups)) {
        VKG_CHECK(in > 0 && out > 0 && kernel > 0 && groups > 0 && in % groups == 0 && out % groups == 0, "Conv2d",
                  "invalid sizes in ", in, " out ", out, " kernel ", kernel, " groups ", groups);
        weight = register_parameter("weight", zeros({out, in / groups, kernel, kernel}, {dtype}));
        init::kaiming_uniform_(weight, std::sqrt(5.0), gen);
        if (with_bias) {
            bias = register_parameter("bias", zeros({out}, {dtype}));
            const double bound = 1.0 / std::sqrt(static_cast<double>(init::fans(weight).first));
            init::uniform_(bias, -bound, bound, gen);
        }
    }
    Tensor forward(const Tensor& x) override { return conv2d(x, weight, bias, params); }
    std::string name() const override { return "Conv2d"; }
};

class ConvTranspose2d : public Module {
public:
    Tensor weight; ///< [in, out/groups, k, k]
    Tensor bias;   ///< [out] or undefined
    ConvParams params;
    std::array<int64_t, 2> output_padding;

    ConvTranspose2d(int64_t in, int64_t out, int64_t kernel, Generator& gen, int64_t stride = 1, int64_t padding = 0,
                    int64_t output_pad = 0, int64_t groups = 1, bool with_bias = true, int64_t dilation = 1,
                    DType dtype = DType::f32)
        : params(ConvParams::torch(stride, padding, dilation, groups)), output_padding{output_pad, output_pad} {
        VKG_CHECK(in > 0 && out > 0 && kernel > 0 && groups > 0 && in % groups == 0 && out % groups == 0,
                  "ConvTranspose2d", "invalid sizes in ", in, " out ", out, " kernel ", kernel, " groups ", groups);
        weight = register_parameter("weight", zeros({in, out / groups, kernel, kernel}, {dtype}));
        init::kaiming_uniform_(weight, std::sqrt(5.0), gen); // torch's fan_in here is dim 1: out/groups * k * k
        if (with_bias) {
            bias = register_parameter("bias", zeros({out}, {dtype}));
            const double bound = 1.0 / std::sqrt(static_cast<double>(init::fans(weight).first));
            init::uniform_(bias, -bound, bound, gen);
        }
    }
    Tensor forward(const Tensor& x) override { return conv_transpose2d(x, weight, bias, params, output_padding); }
    std::string name() const override { return "ConvTranspose2d"; }
};

} // namespace vkgrad::nn
