// vkgrad/nn/layers.hpp — PReLU, Dropout, PixelShuffle and pooling as modules.
#pragma once
#include <algorithm>
#include <cmath>

#include "../ops/image.hpp"
#include "module.hpp"

namespace vkgrad::nn {

/// torch.nn.PReLU: weight [num_parameters] initialised to 0.25.
class PReLU : public Module {
public:
    Tensor weight;
    explicit PReLU(int64_t num_parameters = 1, double init = 0.25, DType dtype = DType::f32) {
        weight = register_parameter("weight", full({num_parameters}, init, {dtype}));
    }
    Tensor forward(const Tensor& x) override { return prelu(x, weight); }
    std::string name() const override { return "PReLU"; }
};

/// torch.nn.Dropout with its own seeded generator (active in training mode only).
class Dropout : public Module {
public:
    double p;
    Generator gen;
    explicit Dropout(double p = 0.5, uint64_t seed = 0) : p(p), gen(seed) {}
    Tensor forward(const Tensor& x) override { return dropout(x, p, is_training(), gen); }
    std::string name() const override { return "Dropout"; }
};

class PixelShuffle : public Module {
public:
    int64_t factor;
    explicit PixelShuffle(int64_t r) : factor(r) {}
    Tensor forward(const Tensor& x) override { return pixel_shuffle(x, factor); }
    std::string name() const override { return "PixelShuffle"; }
};

class AvgPool2d : public Module {
public:
    int64_t kernel, stride, padding;
    explicit AvgPool2d(int64_t k, int64_t s = 0, int64_t p = 0) : kernel(k), stride(s ? s : k), padding(p) {}
    Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel, stride, padding); }
    std::string name() const override { return "AvgPool2d"; }
};

class MaxPool2d : public Module {
public:
    int64_t kernel, stride, padding;
    bool ceil_mode; ///< torch's ceil_mode: a last, partial window when the stride leaves one over
    explicit MaxPool2d(int64_t k, int64_t s = 0, int64_t p = 0, bool ceil = false)
        : kernel(k), stride(s ? s : k), padding(p), ceil_mode(ceil) {}
    Tensor forward(const Tensor& x) override {
        if (!ceil_mode) return max_pool2d(x, kernel, stride, padding);
        // extra -inf on the bottom/right so the floor formula gives torch's ceil-mode size
        auto extra = [&](int64_t n) {
            int64_t out = (n + 2 * padding - kernel + stride - 1) / stride + 1;
            if ((out - 1) * stride >= n + padding) --out; // the last window must start inside
            return std::max<int64_t>(0, (out - 1) * stride + kernel - (n + 2 * padding));
        };
        const int64_t eh = extra(x.size(2)), ew = extra(x.size(3));
        const Tensor xp = eh || ew ? pad(x, {0, ew, 0, eh}, PadMode::constant, -INFINITY) : x;
        return max_pool2d(xp, kernel, stride, padding);
    }
    std::string name() const override { return "MaxPool2d"; }
};

class AdaptiveAvgPool2d : public Module {
public:
    int64_t height, width;
    AdaptiveAvgPool2d(int64_t h, int64_t w) : height(h), width(w) {}
    Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, height, width); }
    std::string name() const override { return "AdaptiveAvgPool2d"; }
};

/// local_avg_pool2d with a fixed window (NAFNet's test-time local pooling).
class LocalAvgPool2d : public Module {
public:
    int64_t height, width;
    LocalAvgPool2d(int64_t h, int64_t w) : height(h), width(w) {}
    Tensor forward(const Tensor& x) override { return local_avg_pool2d(x, height, width); }
    std::string name() const override { return "LocalAvgPool2d"; }
};

} // namespace vkgrad::nn
