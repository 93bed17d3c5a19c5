// vkgrad/models/backbones.hpp — torchvision's ImageNet feature extractors, as LPIPS, the
// contextual loss and perceptual losses use them: VGG16, VGG19, AlexNet and SqueezeNet 1.1.
//
// Each is a `features` Sequential numbered exactly as torchvision numbers it, so a torchvision
// state dict ("features.0.weight", ...) loads key for key (load_torchvision_features), and
// taps(x, {i, j, ...}) returns the activations after layers i, j, ... (e.g. VGG19 relu3_2 is
// layer 13, relu4_2 layer 22). Inputs are what torchvision expects: RGB normalised with the
// ImageNet mean and std (imagenet_normalize), which LPIPS replaces by its own scaling layer.
// The pretrained weights cannot be shipped; see weights/README.md for the files to fetch.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../io/torch_file.hpp"
#include "../nn/conv.hpp"
#include "../nn/layers.hpp"
#include "../nn/sequential.hpp"

namespace vkgrad::models {

/// A torchvision-style network: parameters under "features.<index>.".
class FeatureExtractor : public nn::Module {
public:
    std::shared_ptr<nn::Sequential> features;
    FeatureExtractor() { features = register_module("features", std::make_shared<nn::Sequential>()); }

    /// The activations after the layers numbered in `after` (increasing), running no further
    /// than the last of them.
    std::vector<Tensor> taps(const Tensor& x, const std::vector<size_t>& after) const {
        VKG_CHECK(!after.empty() && after.back() < features->size(), name().c_str(), "tap ",
                  after.empty() ? 0 : after.back(), " is beyond the ", features->size(), " layers");
        std::vector<Tensor> out;
        Tensor h = x;
        size_t next = 0;
        for (size_t i = 0; i <= after.back(); ++i) {
            h = (*features)[i].forward(h);
            if (i == after[next]) {
                out.push_back(h);
                ++next;
            }
        }
        return out;
    }
    Tensor forward(const Tensor& x) override { return (*features)(x); }
};

namespace detail {
inline void add(nn::Sequential& s, std::shared_ptr<nn::Module> m) { s.push_back(std::move(m)); }
/// torchvision's VGG feature stack: numbers are conv widths, 0 a 2x2 max pool.
inline void vgg_features(nn::Sequential& f, const std::vector<int>& cfg, Generator& gen) {
    int64_t in = 3;
    for (int c : cfg) {
        if (c == 0) {
            add(f, std::make_shared<nn::MaxPool2d>(2, 2));
            continue;
        }
        add(f, std::make_shared<nn::Conv2d>(in, c, 3, gen, 1, 1));
        add(f, std::make_shared<nn::ReLU>());
        in = c;
    }
}
} // namespace detail

class VGG : public FeatureExtractor {
public:
    /// depth 16 or 19 (configurations D and E). Random initialisation until weights are loaded.
    VGG(int depth, Generator& gen) : depth_(depth) {
        VKG_CHECK(depth == 16 || depth == 19, "VGG", "depth must be 16 or 19, got ", depth);
        if (depth == 16) detail::vgg_features(*features, {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}, gen);
        else
            detail::vgg_features(*features, {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0},
                                 gen);
    }
    std::string name() const override { return "VGG" + std::to_string(depth_); }

private:
    int depth_;
};

class AlexNet : public FeatureExtractor {
public:
    explicit AlexNet(Generator& gen) {
        using detail::add;
        auto& f = *features;
        add(f, std::make_shared<nn::Conv2d>(3, 64, 11, gen, 4, 2));
        add(f, std::make_shared<nn::ReLU>());
        add(f, std::make_shared<nn::MaxPool2d>(3, 2));
        add(f, std::make_shared<nn::Conv2d>(64, 192, 5, gen, 1, 2));
        add(f, std::make_shared<nn::ReLU>());
        add(f, std::make_shared<nn::MaxPool2d>(3, 2));
        add(f, std::make_shared<nn::Conv2d>(192, 384, 3, gen, 1, 1));
        add(f, std::make_shared<nn::ReLU>());
        add(f, std::make_shared<nn::Conv2d>(384, 256, 3, gen, 1, 1));
        add(f, std::make_shared<nn::ReLU>());
        add(f, std::make_shared<nn::Conv2d>(256, 256, 3, gen, 1, 1));
        add(f, std::make_shared<nn::ReLU>());
        add(f, std::make_shared<nn::MaxPool2d>(3, 2));
    }
    std::string name() const override { return "AlexNet"; }
};

/// SqueezeNet's Fire module: a 1x1 squeeze, then 1x1 and 3x3 expansions side by side.
class Fire : public nn::Module {
public:
    std::shared_ptr<nn::Conv2d> squeeze, expand1x1, expand3x3;
    Fire(int64_t in, int64_t s, int64_t e1, int64_t e3, Generator& gen) {
        squeeze = register_module("squeeze", std::make_shared<nn::Conv2d>(in, s, 1, gen));
        expand1x1 = register_module("expand1x1", std::make_shared<nn::Conv2d>(s, e1, 1, gen));
        expand3x3 = register_module("expand3x3", std::make_shared<nn::Conv2d>(s, e3, 3, gen, 1, 1));
    }
    Tensor forward(const Tensor& x) override {
        const Tensor s = relu((*squeeze)(x));
        return concat({relu((*expand1x1)(s)), relu((*expand3x3)(s))}, 1);
    }
    std::string name() const override { return "Fire"; }
};

class SqueezeNet : public FeatureExtractor {
public:
    /// Version 1.1 (the one LPIPS uses).
    explicit SqueezeNet(Generator& gen) {
        using detail::add;
        auto& f = *features;
        add(f, std::make_shared<nn::Conv2d>(3, 64, 3, gen, 2));
        add(f, std::make_shared<nn::ReLU>());
        add(f, std::make_shared<nn::MaxPool2d>(3, 2, 0, true));
        add(f, std::make_shared<Fire>(64, 16, 64, 64, gen));
        add(f, std::make_shared<Fire>(128, 16, 64, 64, gen));
        add(f, std::make_shared<nn::MaxPool2d>(3, 2, 0, true));
        add(f, std::make_shared<Fire>(128, 32, 128, 128, gen));
        add(f, std::make_shared<Fire>(256, 32, 128, 128, gen));
        add(f, std::make_shared<nn::MaxPool2d>(3, 2, 0, true));
        add(f, std::make_shared<Fire>(256, 48, 192, 192, gen));
        add(f, std::make_shared<Fire>(384, 48, 192, 192, gen));
        add(f, std::make_shared<Fire>(384, 64, 256, 256, gen));
        add(f, std::make_shared<Fire>(512, 64, 256, 256, gen));
    }
    std::string name() const override { return "SqueezeNet1_1"; }
};

/// (x - mean) / std per RGB channel with ImageNet's statistics; x in [0, 1], [N, 3, H, W].
inline Tensor imagenet_normalize(const Tensor& x) {
    const Tensor mean = to(from_vector(std::vector<float>{0.485f, 0.456f, 0.406f}, {1, 3, 1, 1}), x.dtype());
    const Tensor std = to(from_vector(std::vector<float>{0.229f, 0.224f, 0.225f}, {1, 3, 1, 1}), x.dtype());
    return (x - to(mean, x.device())) / to(std, x.device());
}

/// Loads a torchvision .pth (a state dict, or a whole pickled model's state) into m's
/// "features." parameters; other keys (the classifier) are ignored. Every features key must be
/// present with its shape; errors name the file and the key.
inline void load_torchvision_features(FeatureExtractor& m, const std::string& path) {
    const auto tensors = io::flatten_tensors(io::load_torch(path));
    std::map<std::string, Tensor> sd;
    for (auto& [k, t] : tensors) sd[k] = t;
    NoGradGuard ng;
    for (auto& [key, t] : m.state_dict()) {
        auto it = sd.find(key);
        VKG_CHECK(it != sd.end(), "load_torchvision_features", "'", path, "' has no '", key, "' (is it a ",
                  m.name(), " checkpoint?)");
        VKG_CHECK(it->second.shape() == t.shape(), "load_torchvision_features", "'", path, "': '", key, "' has shape ",
                  to_string(it->second.shape()), ", ", m.name(), " expects ", to_string(t.shape()));
    }
    for (auto& [key, t] : m.state_dict()) copy_(t, sd.at(key));
}

} // namespace vkgrad::models
