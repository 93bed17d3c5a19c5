// vkgrad/models/lpips.hpp — LPIPS v0.1 (Zhang et al. 2018), a learned perceptual distance.
//
//   z      = (x - shift) / scale                    images in [-1, 1], LPIPS's scaling layer
//   f_l    = backbone activations at tap l, unit-normalised over channels at each pixel
//   d(x,y) = sum_l mean_{h,w} sum_c w_{l,c} (f_l(x) - f_l(y))_c^2
//
// with the learned non-negative heads w_l (weights/lpips/<net>.pth, BSD-2, shipped) and an
// ImageNet backbone the user supplies (torchvision's alexnet / vgg16 / squeezenet1_1 .pth).
// It is differentiable, so it serves as a loss (the paper's 10 x LPIPS, VGG variant) and as a
// metric (AlexNet is the usual choice there). Parameters are frozen: gradients reach only the
// images.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backbones.hpp"

namespace vkgrad::models {

enum class LpipsNet { alex, vgg, squeeze };

inline const char* lpips_net_name(LpipsNet n) { return n == LpipsNet::alex ? "alex" : n == LpipsNet::vgg ? "vgg" : "squeeze"; }

class LPIPS : public nn::Module {
public:
    /// Heads "lin<i>.model.1.weight" [1, C_i, 1, 1], as in the reference files.
    struct Head : nn::Module {
        std::shared_ptr<nn::Sequential> model;
        Head(int64_t c, Generator& gen) {
            model = register_module("model", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
                                                 std::make_shared<nn::Dropout>(0.0), // eval-only in LPIPS
                                                 std::make_shared<nn::Conv2d>(c, 1, 1, gen, 1, 0, 1, 1, false)}));
        }
    };

    std::shared_ptr<FeatureExtractor> net;
    std::vector<std::shared_ptr<Head>> lins;

    /// Random parameters until load() is called (tests fill them deterministically).
    explicit LPIPS(LpipsNet which, Generator& gen) : which_(which) {
        std::vector<int64_t> widths;
        if (which == LpipsNet::alex) {
            net = register_module("net", std::make_shared<AlexNet>(gen));
            taps_ = {1, 4, 7, 9, 11}, widths = {64, 192, 384, 256, 256};
        } else if (which == LpipsNet::vgg) {
            net = register_module("net", std::make_shared<VGG>(16, gen));
            taps_ = {3, 8, 15, 22, 29}, widths = {64, 128, 256, 512, 512};
        } else {
            net = register_module("net", std::make_shared<SqueezeNet>(gen));
            taps_ = {1, 4, 7, 9, 10, 11, 12}, widths = {64, 128, 256, 384, 384, 512, 512};
        }
        for (size_t i = 0; i < widths.size(); ++i)
            lins.push_back(register_module("lin" + std::to_string(i), std::make_shared<Head>(widths[i], gen)));
        for (auto& p : parameters()) p.requires_grad_(false);
        eval();
    }

    /// Loads the backbone from a torchvision .pth and the heads from LPIPS's <net>.pth.
    void load(const std::string& backbone_path, const std::string& heads_path) {
        load_torchvision_features(*net, backbone_path);
        load_heads(heads_path);
    }
    /// The learned heads only (weights/lpips/<net>.pth).
    void load_heads(const std::string& heads_path) {
        const auto tensors = io::flatten_tensors(io::load_torch(heads_path));
        std::map<std::string, Tensor> sd;
        for (auto& [k, t] : tensors) sd[k] = t;
        auto weight = [&](size_t i) -> Tensor& { return static_cast<nn::Conv2d&>((*lins[i]->model)[1]).weight; };
        auto key = [](size_t i) { return "lin" + std::to_string(i) + ".model.1.weight"; };
        for (size_t i = 0; i < lins.size(); ++i) // all checked before any is changed
            VKG_CHECK(sd.count(key(i)) && sd[key(i)].shape() == weight(i).shape(), "LPIPS", "'", heads_path, "' has no '",
                      key(i), "' of shape ", to_string(weight(i).shape()), " (is it the ", lpips_net_name(which_),
                      " head file?)");
        NoGradGuard ng;
        for (size_t i = 0; i < lins.size(); ++i) copy_(weight(i), sd[key(i)]);
    }

    /// Distance per image, [N, 1, 1, 1], between x and y of one shape [N, 3, H, W] in [-1, 1]
    /// (normalize = true: inputs in [0, 1]).
    Tensor distance(const Tensor& x, const Tensor& y, bool normalize = false) const {
        VKG_CHECK(x.defined() && y.defined() && x.shape() == y.shape() && x.dim() == 4 && x.size(1) == 3, "LPIPS",
                  "needs two RGB batches [N, 3, H, W] of one shape, got ", x.defined() ? to_string(x.shape()) : "undefined",
                  " and ", y.defined() ? to_string(y.shape()) : "undefined");
        auto scaled = [&](const Tensor& t) {
            const Tensor u = normalize ? t * 2.0 - 1.0 : t;
            const Tensor shift = to(to(from_vector(std::vector<float>{-.030f, -.088f, -.188f}, {1, 3, 1, 1}), u.dtype()), u.device());
            const Tensor scale = to(to(from_vector(std::vector<float>{.458f, .448f, .450f}, {1, 3, 1, 1}), u.dtype()), u.device());
            return (u - shift) / scale;
        };
        const auto fx = net->taps(scaled(x), taps_), fy = net->taps(scaled(y), taps_);
        Tensor total;
        for (size_t l = 0; l < fx.size(); ++l) {
            auto unit = [](const Tensor& f) { return f / (sqrt(sum(pow(f, 2.0), {1}, true)) + 1e-10); };
            const Tensor d = pow(unit(fx[l]) - unit(fy[l]), 2.0);
            const Tensor r = mean((*lins[l]->model)(d), {2, 3}, true);
            total = total.defined() ? total + r : r;
        }
        return total;
    }
    std::string name() const override { return std::string("LPIPS(") + lpips_net_name(which_) + ")"; }

private:
    LpipsNet which_;
    std::vector<size_t> taps_;
};

} // namespace vkgrad::models
