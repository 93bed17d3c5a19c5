// vkgrad/nn/norm.hpp — normalisation modules with PyTorch's names and initial values.
#pragma once
#include "../ops/norm.hpp"
#include "module.hpp"

namespace vkgrad::nn {

/// NAFNet's LayerNorm2d (weight ones, bias zeros, eps 1e-6).
class LayerNorm2d : public Module {
public:
    Tensor weight, bias;
    double eps;
    explicit LayerNorm2d(int64_t channels, double eps = 1e-6, DType dtype = DType::f32) : eps(eps) {
        weight = register_parameter("weight", ones({channels}, {dtype}));
        bias = register_parameter("bias", zeros({channels}, {dtype}));
    }
    Tensor forward(const Tensor& x) override { return layer_norm2d(x, weight, bias, eps); }
    std::string name() const override { return "LayerNorm2d"; }
};

/// torch.nn.InstanceNorm2d without running statistics; affine adds weight (ones) and bias (zeros).
class InstanceNorm2d : public Module {
public:
    Tensor weight, bias;
    double eps;
    explicit InstanceNorm2d(int64_t channels, bool affine = false, double eps = 1e-5, DType dtype = DType::f32)
        : eps(eps) {
        if (affine) {
            weight = register_parameter("weight", ones({channels}, {dtype}));
            bias = register_parameter("bias", zeros({channels}, {dtype}));
        }
    }
    Tensor forward(const Tensor& x) override { return instance_norm(x, weight, bias, eps); }
    std::string name() const override { return "InstanceNorm2d"; }
};

/// torch.nn.BatchNorm2d: weight, bias, and buffers running_mean, running_var,
/// num_batches_tracked (int64), updated in training mode.
class BatchNorm2d : public Module {
public:
    Tensor weight, bias, running_mean, running_var, num_batches_tracked;
    double momentum, eps;
    explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5, DType dtype = DType::f32)
        : momentum(momentum), eps(eps) {
        weight = register_parameter("weight", ones({channels}, {dtype}));
        bias = register_parameter("bias", zeros({channels}, {dtype}));
        running_mean = register_buffer("running_mean", zeros({channels}, {dtype}));
        running_var = register_buffer("running_var", ones({channels}, {dtype}));
        num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {DType::i64}));
    }
    Tensor forward(const Tensor& x) override {
        if (is_training()) count_batch();
        return batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
    }
    std::string name() const override { return "BatchNorm2d"; }

private:
    /// num_batches_tracked += 1. A device has no int64 arithmetic, and reading the count back
    /// on every call would stall its queue, so there the count is kept here and uploaded; it is
    /// read back only when someone else has written the buffer since (a load, a move).
    void count_batch() {
        NoGradGuard ng;
        if (num_batches_tracked.device() == Device{}) {
            fill_(num_batches_tracked, num_batches_tracked.item() + 1);
            return;
        }
        const auto& st = num_batches_tracked.impl()->storage;
        if (seen_storage_.lock() != st || seen_version_ != st->version)
            count_ = static_cast<int64_t>(to(num_batches_tracked, Device{}).item());
        ++count_;
        copy_(num_batches_tracked, full({}, static_cast<double>(count_), {DType::i64}));
        seen_storage_ = st;
        seen_version_ = st->version;
    }
    int64_t count_ = 0;
    std::weak_ptr<Storage> seen_storage_;
    uint64_t seen_version_ = 0;
};

} // namespace vkgrad::nn
