// vkgrad/models/inception.hpp — the Inception-v3 of FID: pytorch-fid's `pt_inception-2015-12-05`
// network (the TensorFlow FID graph ported to PyTorch), whose 2048-d pool3 features FID uses.
//
// It is torchvision's Inception-v3 with the FID graph's differences: the average pools inside
// the A, C and first E blocks ignore padded positions (count_include_pad = False), and the
// last E block pools with a max instead of an average. Input handling as pytorch-fid: images in
// [0, 1], bilinearly resized to 299x299 (align_corners = False), then scaled to [-1, 1].
// Parameter names follow torchvision ("Mixed_5b.branch1x1.conv.weight", ...), so the
// pytorch-fid .pth loads key for key (load_fid_inception).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "../io/torch_file.hpp"
#include "../nn/norm.hpp"
#include "../ops/image.hpp"

namespace vkgrad::models {

/// conv (no bias) + batch norm (eps 1e-3) + ReLU, torchvision's BasicConv2d; kernel, stride and
/// padding given per axis (Inception factorises 7x7 into 1x7 and 7x1).
class BasicConv2d : public nn::Module {
public:
    Tensor weight;
    std::shared_ptr<nn::BatchNorm2d> bn;
    ConvParams params;
    BasicConv2d(int64_t in, int64_t out, std::array<int64_t, 2> k, Generator& gen, int64_t stride = 1,
                std::array<int64_t, 2> pad = {0, 0}) {
        auto conv = register_module("conv", std::make_shared<ConvHolder>(in, out, k, gen));
        weight = conv->weight;
        bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(out, 0.1, 1e-3));
        params = ConvParams{{stride, stride}, {pad[0], pad[0], pad[1], pad[1]}, {1, 1}, 1};
    }
    BasicConv2d(int64_t in, int64_t out, int64_t k, Generator& gen, int64_t stride = 1, int64_t pad = 0)
        : BasicConv2d(in, out, {k, k}, gen, stride, {pad, pad}) {}
    Tensor forward(const Tensor& x) override { return relu((*bn)(conv2d(x, weight, Tensor(), params))); }
    std::string name() const override { return "BasicConv2d"; }

private:
    struct ConvHolder : nn::Module { // "conv.weight", as torchvision names it
        Tensor weight;
        ConvHolder(int64_t in, int64_t out, std::array<int64_t, 2> k, Generator& gen) {
            const double a = 1 / std::sqrt(static_cast<double>(in * k[0] * k[1]));
            weight = register_parameter("weight", rand({out, in, k[0], k[1]}, gen, -a, a));
        }
    };
};

namespace detail {
/// 3x3, stride 1, padding 1 average that ignores padded positions (count_include_pad = False).
inline Tensor avg3_exclude_pad(const Tensor& x) {
    const Tensor sums = avg_pool2d(x, 3, 1, 1) * 9.0;
    const Tensor counts = avg_pool2d(ones({1, 1, x.size(2), x.size(3)}, {x.dtype(), x.device()}), 3, 1, 1) * 9.0;
    return sums / counts;
}
} // namespace detail

/// The Inception-v3 feature network of FID. forward() returns pool3 features [N, 2048].
class FIDInception : public nn::Module {
public:
    explicit FIDInception(Generator& gen);
    /// Images [N, 3, H, W] in [0, 1] -> pool3 features [N, 2048].
    Tensor forward(const Tensor& images) override;
    std::string name() const override { return "FIDInception"; }

private:
    std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> stem_, mixed_;
};

namespace detail {
using Conv = std::shared_ptr<BasicConv2d>;

struct InceptionA : nn::Module { // Mixed_5b..5d
    Conv b1, b5_1, b5_2, b3_1, b3_2, b3_3, bp;
    InceptionA(int64_t in, int64_t pool, Generator& g) {
        b1 = register_module("branch1x1", std::make_shared<BasicConv2d>(in, 64, 1, g));
        b5_1 = register_module("branch5x5_1", std::make_shared<BasicConv2d>(in, 48, 1, g));
        b5_2 = register_module("branch5x5_2", std::make_shared<BasicConv2d>(48, 64, 5, g, 1, 2));
        b3_1 = register_module("branch3x3dbl_1", std::make_shared<BasicConv2d>(in, 64, 1, g));
        b3_2 = register_module("branch3x3dbl_2", std::make_shared<BasicConv2d>(64, 96, 3, g, 1, 1));
        b3_3 = register_module("branch3x3dbl_3", std::make_shared<BasicConv2d>(96, 96, 3, g, 1, 1));
        bp = register_module("branch_pool", std::make_shared<BasicConv2d>(in, pool, 1, g));
    }
    Tensor forward(const Tensor& x) override {
        return concat({(*b1)(x), (*b5_2)((*b5_1)(x)), (*b3_3)((*b3_2)((*b3_1)(x))), (*bp)(avg3_exclude_pad(x))}, 1);
    }
};

struct InceptionB : nn::Module { // Mixed_6a: a stride-2 reduction
    Conv b3, bd_1, bd_2, bd_3;
    InceptionB(int64_t in, Generator& g) {
        b3 = register_module("branch3x3", std::make_shared<BasicConv2d>(in, 384, 3, g, 2));
        bd_1 = register_module("branch3x3dbl_1", std::make_shared<BasicConv2d>(in, 64, 1, g));
        bd_2 = register_module("branch3x3dbl_2", std::make_shared<BasicConv2d>(64, 96, 3, g, 1, 1));
        bd_3 = register_module("branch3x3dbl_3", std::make_shared<BasicConv2d>(96, 96, 3, g, 2));
    }
    Tensor forward(const Tensor& x) override {
        return concat({(*b3)(x), (*bd_3)((*bd_2)((*bd_1)(x))), max_pool2d(x, 3, 2)}, 1);
    }
};

struct InceptionC : nn::Module { // Mixed_6b..6e: 7x7 factorised into 1x7 and 7x1
    Conv b1, b7_1, b7_2, b7_3, bd_1, bd_2, bd_3, bd_4, bd_5, bp;
    InceptionC(int64_t in, int64_t c7, Generator& g) {
        auto c = [&](const char* n, int64_t i, int64_t o, std::array<int64_t, 2> k, std::array<int64_t, 2> p) {
            return register_module(n, std::make_shared<BasicConv2d>(i, o, k, g, 1, p));
        };
        b1 = c("branch1x1", in, 192, {1, 1}, {0, 0});
        b7_1 = c("branch7x7_1", in, c7, {1, 1}, {0, 0});
        b7_2 = c("branch7x7_2", c7, c7, {1, 7}, {0, 3});
        b7_3 = c("branch7x7_3", c7, 192, {7, 1}, {3, 0});
        bd_1 = c("branch7x7dbl_1", in, c7, {1, 1}, {0, 0});
        bd_2 = c("branch7x7dbl_2", c7, c7, {7, 1}, {3, 0});
        bd_3 = c("branch7x7dbl_3", c7, c7, {1, 7}, {0, 3});
        bd_4 = c("branch7x7dbl_4", c7, c7, {7, 1}, {3, 0});
        bd_5 = c("branch7x7dbl_5", c7, 192, {1, 7}, {0, 3});
        bp = c("branch_pool", in, 192, {1, 1}, {0, 0});
    }
    Tensor forward(const Tensor& x) override {
        return concat({(*b1)(x), (*b7_3)((*b7_2)((*b7_1)(x))), (*bd_5)((*bd_4)((*bd_3)((*bd_2)((*bd_1)(x))))),
                       (*bp)(avg3_exclude_pad(x))},
                      1);
    }
};

struct InceptionD : nn::Module { // Mixed_7a: a stride-2 reduction
    Conv b3_1, b3_2, b7_1, b7_2, b7_3, b7_4;
    InceptionD(int64_t in, Generator& g) {
        b3_1 = register_module("branch3x3_1", std::make_shared<BasicConv2d>(in, 192, 1, g));
        b3_2 = register_module("branch3x3_2", std::make_shared<BasicConv2d>(192, 320, 3, g, 2));
        b7_1 = register_module("branch7x7x3_1", std::make_shared<BasicConv2d>(in, 192, 1, g));
        b7_2 = register_module("branch7x7x3_2", std::make_shared<BasicConv2d>(192, 192, std::array<int64_t, 2>{1, 7}, g, 1,
                                                                              std::array<int64_t, 2>{0, 3}));
        b7_3 = register_module("branch7x7x3_3", std::make_shared<BasicConv2d>(192, 192, std::array<int64_t, 2>{7, 1}, g, 1,
                                                                              std::array<int64_t, 2>{3, 0}));
        b7_4 = register_module("branch7x7x3_4", std::make_shared<BasicConv2d>(192, 192, 3, g, 2));
    }
    Tensor forward(const Tensor& x) override {
        return concat({(*b3_2)((*b3_1)(x)), (*b7_4)((*b7_3)((*b7_2)((*b7_1)(x)))), max_pool2d(x, 3, 2)}, 1);
    }
};

struct InceptionE : nn::Module { // Mixed_7b (average pool, padding excluded), Mixed_7c (max pool)
    Conv b1, b3_1, b3_2a, b3_2b, bd_1, bd_2, bd_3a, bd_3b, bp;
    bool max_pool;
    InceptionE(int64_t in, bool use_max, Generator& g) : max_pool(use_max) {
        auto c = [&](const char* n, int64_t i, int64_t o, std::array<int64_t, 2> k, std::array<int64_t, 2> p) {
            return register_module(n, std::make_shared<BasicConv2d>(i, o, k, g, 1, p));
        };
        b1 = c("branch1x1", in, 320, {1, 1}, {0, 0});
        b3_1 = c("branch3x3_1", in, 384, {1, 1}, {0, 0});
        b3_2a = c("branch3x3_2a", 384, 384, {1, 3}, {0, 1});
        b3_2b = c("branch3x3_2b", 384, 384, {3, 1}, {1, 0});
        bd_1 = c("branch3x3dbl_1", in, 448, {1, 1}, {0, 0});
        bd_2 = c("branch3x3dbl_2", 448, 384, {3, 3}, {1, 1});
        bd_3a = c("branch3x3dbl_3a", 384, 384, {1, 3}, {0, 1});
        bd_3b = c("branch3x3dbl_3b", 384, 384, {3, 1}, {1, 0});
        bp = c("branch_pool", in, 192, {1, 1}, {0, 0});
    }
    Tensor forward(const Tensor& x) override {
        const Tensor t = (*b3_1)(x), d = (*bd_2)((*bd_1)(x));
        const Tensor pool = max_pool ? max_pool2d(x, 3, 1, 1) : avg3_exclude_pad(x);
        return concat({(*b1)(x), (*b3_2a)(t), (*b3_2b)(t), (*bd_3a)(d), (*bd_3b)(d), (*bp)(pool)}, 1);
    }
};
} // namespace detail

inline FIDInception::FIDInception(Generator& g) {
    auto add = [&](auto& list, const std::string& n, std::shared_ptr<nn::Module> m) {
        list.emplace_back(n, register_module(n, std::move(m)));
    };
    add(stem_, "Conv2d_1a_3x3", std::make_shared<BasicConv2d>(3, 32, 3, g, 2));
    add(stem_, "Conv2d_2a_3x3", std::make_shared<BasicConv2d>(32, 32, 3, g));
    add(stem_, "Conv2d_2b_3x3", std::make_shared<BasicConv2d>(32, 64, 3, g, 1, 1));
    add(stem_, "Conv2d_3b_1x1", std::make_shared<BasicConv2d>(64, 80, 1, g));
    add(stem_, "Conv2d_4a_3x3", std::make_shared<BasicConv2d>(80, 192, 3, g));
    add(mixed_, "Mixed_5b", std::make_shared<detail::InceptionA>(192, 32, g));
    add(mixed_, "Mixed_5c", std::make_shared<detail::InceptionA>(256, 64, g));
    add(mixed_, "Mixed_5d", std::make_shared<detail::InceptionA>(288, 64, g));
    add(mixed_, "Mixed_6a", std::make_shared<detail::InceptionB>(288, g));
    add(mixed_, "Mixed_6b", std::make_shared<detail::InceptionC>(768, 128, g));
    add(mixed_, "Mixed_6c", std::make_shared<detail::InceptionC>(768, 160, g));
    add(mixed_, "Mixed_6d", std::make_shared<detail::InceptionC>(768, 160, g));
    add(mixed_, "Mixed_6e", std::make_shared<detail::InceptionC>(768, 192, g));
    add(mixed_, "Mixed_7a", std::make_shared<detail::InceptionD>(768, g));
    add(mixed_, "Mixed_7b", std::make_shared<detail::InceptionE>(1280, false, g));
    add(mixed_, "Mixed_7c", std::make_shared<detail::InceptionE>(2048, true, g));
    eval();
}

inline Tensor FIDInception::forward(const Tensor& images) {
    VKG_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 3, "FIDInception",
              "needs RGB images [N, 3, H, W] in [0, 1], got ", images.defined() ? to_string(images.shape()) : "undefined");
    Tensor x = interpolate(images, 299, 299, Interp::bilinear, false) * 2.0 - 1.0;
    for (size_t i = 0; i < stem_.size(); ++i) {
        x = stem_[i].second->forward(x);
        if (i == 2 || i == 4) x = max_pool2d(x, 3, 2); // after Conv2d_2b and Conv2d_4a
    }
    for (auto& [n, m] : mixed_) x = m->forward(x);
    return reshape(mean(x, {2, 3}), {x.size(0), x.size(1)});
}

/// Loads pytorch-fid's pt_inception-2015-12-05-6726825d.pth (the classifier is ignored).
inline void load_fid_inception(FIDInception& m, const std::string& path) {
    std::map<std::string, Tensor> sd;
    for (auto& [k, t] : io::flatten_tensors(io::load_torch(path))) sd[k] = t;
    // files converted before torch 0.4.1 have no num_batches_tracked; it does not affect eval
    auto optional = [](const std::string& k) { return k.size() > 19 && k.compare(k.size() - 19, 19, "num_batches_tracked") == 0; };
    for (auto& [key, t] : m.state_dict()) {
        auto it = sd.find(key);
        if (it == sd.end() && optional(key)) continue;
        VKG_CHECK(it != sd.end() && it->second.shape() == t.shape(), "load_fid_inception", "'", path, "' has no '", key,
                  "' of shape ", to_string(t.shape()), " (is it pytorch-fid's pt_inception-2015-12-05 file?)");
    }
    NoGradGuard ng;
    for (auto& [key, t] : m.state_dict())
        if (sd.count(key)) copy_(t, sd.at(key));
}

} // namespace vkgrad::models
