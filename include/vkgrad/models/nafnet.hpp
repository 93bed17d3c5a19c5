// vkgrad/models/nafnet.hpp — NAFNet (Chen, Chu, Zhang, Sun, "Simple Baselines for Image
// Restoration", ECCV 2022), the paper's regression network.
//
//   NAFBlock(c):  y   = x + beta  * conv3(SCA(SimpleGate(dwconv3x3(conv1(LN(x))))))     "attention" half
//                 out = y + gamma * conv5(SimpleGate(conv4(LN(y))))                        feed-forward half
//   SimpleGate splits the channels in two halves and multiplies them (the only nonlinearity);
//   SCA (simplified channel attention) scales each channel by conv1x1(global average pool), no
//   sigmoid. beta and gamma start at zero, so every block starts as the identity.
//
//   U-Net:  intro 3x3 -> [blocks, 2x2 stride-2 conv doubling channels] per level -> middle blocks
//           -> [1x1 conv + pixel shuffle halving channels, + skip, blocks] per level -> ending 3x3
//           -> + input (the network predicts the residual). Inputs are zero-padded on the right
//           and bottom to a multiple of 2^levels and the output is cropped back.
//
// Parameter names are the official code's (BasicSR), so its released .pth files load key for key.
// Test-time local pooling (TLC, the "NAFNetLocal" of the official code): with config.local_pool
// = B, SCA averages over a window of B >> level pixels around each position instead of the whole
// feature map (local_avg_pool2d), so a network trained on crops keeps crop-sized statistics on a
// larger image. B is the official `base_size` (1.5x the training crop there); the official window
// `feature size at train_size * base_size // train_size` is the same for crops divisible by
// 2^levels. Windows covering the whole map are the global pool, so training on crops <= B is
// unchanged.
#pragma once
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../nn/conv.hpp"
#include "../nn/layers.hpp"
#include "../nn/norm.hpp"
#include "../nn/sequential.hpp"
#include "../ops/layers.hpp"
#include "../ops/pool.hpp"
#include "../ops/shape.hpp"
#include "metadata.hpp"

namespace vkgrad::models {

struct NAFNetConfig {
    int64_t img_channels = 3;
    int64_t width = 32;
    std::vector<int64_t> enc_blocks{1, 1, 1, 28};  ///< blocks per encoder level (GoPro configs)
    int64_t middle_blocks = 1;
    std::vector<int64_t> dec_blocks{1, 1, 1, 1};
    int64_t local_pool = 0; ///< SCA's pooling window at the input's resolution; 0: global (as published)

    /// The GoPro NAFNet-width32 (17.1 M parameters) and -width64 (67.9 M) configurations.
    static NAFNetConfig gopro(int64_t width) { NAFNetConfig c; c.width = width; return c; }
    int64_t levels() const { return static_cast<int64_t>(enc_blocks.size()); }
    /// The SCA window of the blocks at `level` (0: full resolution), 0 for global pooling.
    int64_t pool_window(int64_t level) const { return local_pool > 0 ? std::max<int64_t>(1, local_pool >> level) : 0; }
    /// The "__metadata__" entries a trained model's safetensors file carries (train_restore
    /// writes them; deblur rebuilds the network from them).
    std::map<std::string, std::string> to_metadata() const {
        std::map<std::string, std::string> m{{"arch", "nafnet"},
                                             {"img_channels", std::to_string(img_channels)},
                                             {"width", std::to_string(width)},
                                             {"enc_blocks", join_ints(enc_blocks)},
                                             {"middle_blocks", std::to_string(middle_blocks)},
                                             {"dec_blocks", join_ints(dec_blocks)}};
        if (local_pool > 0) m["local_pool"] = std::to_string(local_pool); // absent: global, as older files
        return m;
    }
    /// Reads to_metadata()'s entries; `what` names the file in errors. Ensures validate().
    static NAFNetConfig from_metadata(const std::map<std::string, std::string>& m, const std::string& what) {
        const MetadataReader r(m, "NAFNetConfig", what);
        r.expect_arch("nafnet");
        NAFNetConfig c;
        c.img_channels = r.integer("img_channels");
        c.width = r.integer("width");
        c.enc_blocks = r.list("enc_blocks");
        c.middle_blocks = r.integer("middle_blocks");
        c.dec_blocks = r.list("dec_blocks");
        if (r.has("local_pool")) c.local_pool = r.integer("local_pool");
        c.validate();
        return c;
    }
    void validate() const {
        VKG_CHECK(img_channels >= 1 && width >= 1 && middle_blocks >= 0, "NAFNetConfig", "img_channels ", img_channels,
                  ", width ", width, ", middle_blocks ", middle_blocks, " must be positive");
        VKG_CHECK(local_pool >= 0, "NAFNetConfig", "local_pool ", local_pool, " must be 0 (global) or a window in pixels");
        VKG_CHECK(enc_blocks.size() == dec_blocks.size(), "NAFNetConfig", enc_blocks.size(), " encoder levels but ",
                  dec_blocks.size(), " decoder levels");
        for (auto n : enc_blocks) VKG_CHECK(n >= 0, "NAFNetConfig", "negative block count");
        for (auto n : dec_blocks) VKG_CHECK(n >= 0, "NAFNetConfig", "negative block count");
    }
};

class NAFBlock : public nn::Module {
public:
    std::shared_ptr<nn::LayerNorm2d> norm1, norm2;
    std::shared_ptr<nn::Conv2d> conv1, conv2, conv3, conv4, conv5;
    std::shared_ptr<nn::Sequential> sca; ///< "sca.1" is the 1x1 conv after the pool ("sca.0")
    Tensor beta, gamma;                   ///< [1, c, 1, 1], zeros
    int64_t pool_window = 0;              ///< 0: global SCA pooling; w: w x w windows

    /// `pool_window` 0: SCA pools globally; w > 0: over w x w windows (test-time local pooling).
    NAFBlock(int64_t c, Generator& gen, int64_t window = 0) : pool_window(window) {
        const std::shared_ptr<nn::Module> pool =
            window > 0 ? std::shared_ptr<nn::Module>(std::make_shared<nn::LocalAvgPool2d>(window, window))
                       : std::make_shared<nn::AdaptiveAvgPool2d>(1, 1);
        const int64_t dw = 2 * c, ffn = 2 * c;
        conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(c, dw, 1, gen));
        conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(dw, dw, 3, gen, 1, 1, 1, dw));
        conv3 = register_module("conv3", std::make_shared<nn::Conv2d>(dw / 2, c, 1, gen));
        sca = register_module("sca", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
                                         pool,
                                         std::make_shared<nn::Conv2d>(dw / 2, dw / 2, 1, gen)}));
        conv4 = register_module("conv4", std::make_shared<nn::Conv2d>(c, ffn, 1, gen));
        conv5 = register_module("conv5", std::make_shared<nn::Conv2d>(ffn / 2, c, 1, gen));
        norm1 = register_module("norm1", std::make_shared<nn::LayerNorm2d>(c));
        norm2 = register_module("norm2", std::make_shared<nn::LayerNorm2d>(c));
        beta = register_parameter("beta", zeros({1, c, 1, 1}));
        gamma = register_parameter("gamma", zeros({1, c, 1, 1}));
    }
    Tensor forward(const Tensor& inp) override {
        Tensor x = simple_gate(conv2->forward(conv1->forward(norm1->forward(inp))));
        x = conv3->forward(x * attention(x));
        const Tensor y = addcmul(inp, x, beta); // inp + x * beta
        x = conv5->forward(simple_gate(conv4->forward(norm2->forward(y))));
        return addcmul(y, x, gamma); // y + x * gamma
    }
    std::string name() const override { return "NAFBlock"; }

private:
    /// SCA, sca.1(sca.0(x)). With local pooling the 1x1 conv runs on the window means before
    /// they are replicated to the map's size (local_avg_pool2d's `then`): the same values.
    Tensor attention(const Tensor& x) {
        if (pool_window == 0) return sca->forward(x);
        return local_avg_pool2d(x, pool_window, pool_window, [&](const Tensor& m) { return (*sca)[1].forward(m); });
    }
};

class NAFNet : public nn::Module {
public:
    NAFNetConfig config;
    std::shared_ptr<nn::Conv2d> intro, ending;
    std::shared_ptr<nn::Sequential> encoders, decoders, middle_blks, ups, downs;

    /// PyTorch's default initialisation (beta, gamma zero). Requires config.validate().
    NAFNet(const NAFNetConfig& c, Generator& gen) : config(c) {
        c.validate();
        const auto blocks = [&](int64_t n, int64_t ch, int64_t level) {
            auto s = std::make_shared<nn::Sequential>();
            for (int64_t i = 0; i < n; ++i) s->push_back(std::make_shared<NAFBlock>(ch, gen, c.pool_window(level)));
            return s;
        };
        intro = register_module("intro", std::make_shared<nn::Conv2d>(c.img_channels, c.width, 3, gen, 1, 1));
        ending = register_module("ending", std::make_shared<nn::Conv2d>(c.width, c.img_channels, 3, gen, 1, 1));
        encoders = register_module("encoders", std::make_shared<nn::Sequential>());
        decoders = register_module("decoders", std::make_shared<nn::Sequential>());
        middle_blks = register_module("middle_blks", std::make_shared<nn::Sequential>());
        ups = register_module("ups", std::make_shared<nn::Sequential>());
        downs = register_module("downs", std::make_shared<nn::Sequential>());
        int64_t ch = c.width, level = 0;
        for (int64_t n : c.enc_blocks) {
            encoders->push_back(blocks(n, ch, level++));
            downs->push_back(std::make_shared<nn::Conv2d>(ch, 2 * ch, 2, gen, 2));
            ch *= 2;
        }
        for (int64_t i = 0; i < c.middle_blocks; ++i)
            middle_blks->push_back(std::make_shared<NAFBlock>(ch, gen, c.pool_window(level)));
        for (int64_t n : c.dec_blocks) {
            ups->push_back(std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
                std::make_shared<nn::Conv2d>(ch, 2 * ch, 1, gen, 1, 0, 1, 1, false), std::make_shared<nn::PixelShuffle>(2)}));
            ch /= 2;
            decoders->push_back(blocks(n, ch, --level));
        }
    }

    /// x [N, img_channels, H, W], any H and W -> the restored image, same shape.
    Tensor forward(const Tensor& inp) override {
        VKG_CHECK(inp.dim() == 4 && inp.size(1) == config.img_channels, "NAFNet", "input must be [N, ",
                  config.img_channels, ", H, W], got ", to_string(inp.shape()));
        const int64_t H = inp.size(2), W = inp.size(3), m = int64_t{1} << config.levels();
        const int64_t ph = (m - H % m) % m, pw = (m - W % m) % m;
        const Tensor xin = ph || pw ? pad(inp, {0, pw, 0, ph}) : inp;
        Tensor x = intro->forward(xin);
        std::vector<Tensor> skips;
        for (size_t i = 0; i < encoders->size(); ++i) {
            x = (*encoders)[i].forward(x);
            skips.push_back(x);
            x = (*downs)[i].forward(x);
        }
        x = middle_blks->forward(x);
        for (size_t i = 0; i < decoders->size(); ++i) {
            x = (*ups)[i].forward(x) + skips[skips.size() - 1 - i];
            x = (*decoders)[i].forward(x);
        }
        x = ending->forward(x) + xin;
        return ph || pw ? narrow(narrow(x, 2, 0, H), 3, 0, W) : x;
    }
    std::string name() const override { return "NAFNet"; }
};

} // namespace vkgrad::models
