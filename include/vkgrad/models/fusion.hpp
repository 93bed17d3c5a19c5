// vkgrad/models/fusion.hpp — the fusion network F of "Image restoration using a regression
// network together with a GAN": it merges the regression network's output x_R (faithful but
// smooth) with the generator's x_G (sharp, realistic, less faithful) into the final x̂, trained
// with L_F = L1 + 10 LPIPS + 0.01 CX(x_R, x̂) + 0.05 CX(x_G, x̂).
//
//   x_R ─ conv_r 3x3 ─┐
//                     (+) ─ res: blocks x [ h + conv2 3x3(ReLU(conv1 3x3(h))) ] ─ conv_out 3x3 ─ x̂
//   x_G ─ conv_g 3x3 ─┘
//
// A plain EDSR-style residual body (Lim et al., CVPRW 2017: no normalisation, one ReLU per
// block) at full resolution: the task is a per-pixel choice between two aligned images, so no
// downsampling is needed and no statistics couple the images of a batch. Each input has its own
// first conv (summing two convs equals one conv over the concatenated channels, but the two
// names say which weights read which image). Every conv has a bias and padding 1, so any H x W
// works and the output has the inputs' size. The network works in whatever range the caller
// feeds it; the programs feed [0, 1] (x_G mapped from the generator's [-1, 1]).
//
// Parameter names: conv_r.*, conv_g.*, res.B.conv1.*, res.B.conv2.*, conv_out.* (weight, bias).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "../nn/conv.hpp"
#include "../nn/sequential.hpp"
#include "metadata.hpp"

namespace vkgrad::models {

struct FusionConfig {
    int64_t img_channels = 3;
    int64_t width = 64;  ///< channels of the residual body
    int64_t blocks = 8;  ///< residual blocks
    /// The "__metadata__" entries of a saved fusion network (arch "fusion").
    std::map<std::string, std::string> to_metadata() const {
        return {{"arch", "fusion"},
                {"img_channels", std::to_string(img_channels)},
                {"width", std::to_string(width)},
                {"blocks", std::to_string(blocks)}};
    }
    /// Reads to_metadata()'s entries; `what` names the file in errors. Ensures validate().
    static FusionConfig from_metadata(const std::map<std::string, std::string>& m, const std::string& what) {
        const MetadataReader r(m, "FusionConfig", what);
        r.expect_arch("fusion");
        FusionConfig c;
        c.img_channels = r.integer("img_channels");
        c.width = r.integer("width");
        c.blocks = r.integer("blocks");
        c.validate();
        return c;
    }
    /// Requires nothing; throws an Error naming the bad field.
    void validate() const {
        VKG_CHECK(img_channels >= 1 && width >= 1 && blocks >= 0, "FusionConfig", "img_channels ", img_channels,
                  " and width ", width, " must be positive, blocks ", blocks, " not negative");
    }
};

/// x + conv2(relu(conv1(x))), both 3x3 with bias, no normalisation.
class FusionResBlock : public nn::Module {
public:
    std::shared_ptr<nn::Conv2d> conv1, conv2;
    FusionResBlock(int64_t c, Generator& gen) {
        conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(c, c, 3, gen, 1, 1));
        conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(c, c, 3, gen, 1, 1));
    }
    Tensor forward(const Tensor& x) override { return x + conv2->forward(relu(conv1->forward(x))); }
    std::string name() const override { return "FusionResBlock"; }
};

class FusionNet : public nn::Module {
public:
    FusionConfig config;
    std::shared_ptr<nn::Conv2d> conv_r, conv_g, conv_out;
    std::shared_ptr<nn::Sequential> res;

    /// PyTorch's default initialisation. Requires c.validate().
    FusionNet(const FusionConfig& c, Generator& gen) : config(c) {
        c.validate();
        conv_r = register_module("conv_r", std::make_shared<nn::Conv2d>(c.img_channels, c.width, 3, gen, 1, 1));
        conv_g = register_module("conv_g", std::make_shared<nn::Conv2d>(c.img_channels, c.width, 3, gen, 1, 1));
        res = register_module("res", std::make_shared<nn::Sequential>());
        for (int64_t i = 0; i < c.blocks; ++i) res->push_back(std::make_shared<FusionResBlock>(c.width, gen));
        conv_out = register_module("conv_out", std::make_shared<nn::Conv2d>(c.width, c.img_channels, 3, gen, 1, 1));
    }

    /// x_r, x_g [N, img_channels, H, W], the same shape, any H and W -> x̂ of that shape.
    Tensor forward(const Tensor& x_r, const Tensor& x_g) {
        VKG_CHECK(x_r.dim() == 4 && x_r.size(1) == config.img_channels, "FusionNet", "x_r must be [N, ",
                  config.img_channels, ", H, W], got ", to_string(x_r.shape()));
        VKG_CHECK(x_g.shape() == x_r.shape(), "FusionNet", "x_g must have x_r's shape ", to_string(x_r.shape()), ", got ",
                  to_string(x_g.shape()));
        return conv_out->forward(res->forward(conv_r->forward(x_r) + conv_g->forward(x_g)));
    }
    std::string name() const override { return "FusionNet"; }
};

} // namespace vkgrad::models
