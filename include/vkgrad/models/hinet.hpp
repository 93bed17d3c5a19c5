// vkgrad/models/hinet.hpp — HINet (Chen, Lu, Zhang, Chu, Chen, "HINet: Half Instance
// Normalization Network for Image Restoration", CVPRW 2021), the other regression baseline.
//
//   HIN block (the official UNetConvBlock with use_HIN; without it the norm is skipped):
//
//       x ─ conv_1 3x3 ─┬─ first half of the channels ── InstanceNorm2d(affine) ─┐
//                       └─ second half ───────────────────────────────────────── cat ─ LReLU ─ conv_2 3x3 ─ LReLU ─(+)─ out
//       x ─ identity 1x1 ──────────────────────────────────────────────────────────────────────────────────────────┘
//
//     In stage 2 the encoder blocks also add csff_enc 3x3(stage-1 encoder feature) and csff_dec 3x3
//     (stage-1 decoder output) of their level: cross-stage feature fusion (CSFF). Every encoder block
//     but the deepest ends in `downsample`, a 4x4 stride-2 conv without bias; its input is the skip.
//
//   Two U-Nets of `depth` levels, wf * 2^i channels at level i, HIN in encoder levels left..right:
//
//     stage 1  image ─ conv_01 ─ encoder (down_path_1) ─ decoder (up_path_1) ─ x1
//              decoder level: ConvTranspose2d(k2, s2) up, cat with skip_conv 3x3(skip), plain block
//     SAM      out_1 = conv2(x1) + image                                     (the stage-1 image)
//              feat  = conv1(x1) * sigmoid(conv3(out_1)) + x1                (supervised attention)
//     stage 2  cat12 1x1(cat(conv_02(image), feat)) ─ encoder (down_path_2, + CSFF from stage 1)
//              ─ decoder (up_path_2) ─ last 3x3 ─ + image = out_2            (the final image)
//
// Parameter names are the official code's (BasicSR `HINet` class: down_path_1.0.conv_1.weight,
// sam12.conv3.bias, cat12.weight, last.weight, ...), so its released .pth files load key for
// key (io::load_module_weights). InstanceNorm2d keeps no running statistics (eps 1e-5), so
// training and evaluation compute the same function.
//
// Sizes: the official network needs H and W divisible by 2^(depth-1) (the stride-2 convs floor
// odd sizes and the skips no longer match). Here inputs are zero-padded on the right and bottom
// to that multiple and both outputs cropped back, as NAFNet does; divisible inputs (GoPro's
// 1280x720, 256 crops, 512 faces) are computed exactly as the official code does.
// One generalisation: SAM's image convs use in_chn channels where the official code hard-codes 3
// (identical for RGB; it makes a gray HINet possible).
#pragma once
#include <array>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../nn/conv.hpp"
#include "../nn/norm.hpp"
#include "../nn/sequential.hpp"
#include "../ops/norm.hpp"
#include "../ops/shape.hpp"
#include "metadata.hpp"

namespace vkgrad::models {

struct HINetConfig {
    int64_t in_chn = 3;
    int64_t wf = 64;    ///< channels at the first level; level i has wf * 2^i
    int64_t depth = 5;  ///< levels per U-Net (depth - 1 downsamplings)
    double relu_slope = 0.2;
    int64_t hin_position_left = 0;  ///< HIN at encoder levels left..right (inclusive); the code's default 0..4,
    int64_t hin_position_right = 4; ///< the GoPro training config uses 3..4 (the two deepest of five)

    /// The configuration of the official GoPro training file (HINet.yml): wf 64, depth 5, HIN at 3..4.
    static HINetConfig gopro() {
        HINetConfig c;
        c.hin_position_left = 3;
        return c;
    }
    /// The "__metadata__" entries of a vkgrad HINet file (arch "hinet").
    std::map<std::string, std::string> to_metadata() const {
        std::ostringstream slope;
        slope.precision(17);
        slope << relu_slope;
        return {{"arch", "hinet"},
                {"in_chn", std::to_string(in_chn)},
                {"wf", std::to_string(wf)},
                {"depth", std::to_string(depth)},
                {"relu_slope", slope.str()},
                {"hin_position_left", std::to_string(hin_position_left)},
                {"hin_position_right", std::to_string(hin_position_right)}};
    }
    /// Reads to_metadata()'s entries; `what` names the file in errors. Ensures validate().
    static HINetConfig from_metadata(const std::map<std::string, std::string>& m, const std::string& what) {
        const MetadataReader r(m, "HINetConfig", what);
        r.expect_arch("hinet");
        HINetConfig c;
        c.in_chn = r.integer("in_chn");
        c.wf = r.integer("wf");
        c.depth = r.integer("depth");
        c.relu_slope = r.real("relu_slope");
        c.hin_position_left = r.integer("hin_position_left");
        c.hin_position_right = r.integer("hin_position_right");
        c.validate();
        return c;
    }
    bool use_hin(int64_t level) const { return hin_position_left <= level && level <= hin_position_right; }
    /// Inputs are padded to a multiple of this.
    int64_t multiple() const { return int64_t{1} << (depth - 1); }
    void validate() const {
        VKG_CHECK(in_chn >= 1 && depth >= 1 && depth <= 16, "HINetConfig", "in_chn ", in_chn, " and depth ", depth,
                  " must be positive (depth at most 16)");
        VKG_CHECK(wf >= 2 && wf % 2 == 0, "HINetConfig", "wf ", wf, " must be even (HIN halves the channels)");
        VKG_CHECK(relu_slope >= 0, "HINetConfig", "negative relu_slope ", relu_slope);
    }
};

/// The official UNetConvBlock: used as HIN block (use_hin), stage-2 encoder block with CSFF
/// (use_csff, only together with downsample) and, plain, as the decoder's block.
class UNetConvBlock : public nn::Module {
public:
    std::shared_ptr<nn::Conv2d> identity, conv_1, conv_2, csff_enc, csff_dec, downsample; ///< the last three may be null
    std::shared_ptr<nn::InstanceNorm2d> norm;                                             ///< null without HIN
    double slope;

    /// Registration order follows the official module, so state_dict() lists keys in its order.
    UNetConvBlock(int64_t in, int64_t out, bool down, double relu_slope, Generator& gen, bool use_csff = false,
                  bool use_hin = false)
        : slope(relu_slope) {
        identity = register_module("identity", std::make_shared<nn::Conv2d>(in, out, 1, gen));
        conv_1 = register_module("conv_1", std::make_shared<nn::Conv2d>(in, out, 3, gen, 1, 1));
        conv_2 = register_module("conv_2", std::make_shared<nn::Conv2d>(out, out, 3, gen, 1, 1));
        if (down && use_csff) {
            csff_enc = register_module("csff_enc", std::make_shared<nn::Conv2d>(out, out, 3, gen, 1, 1));
            csff_dec = register_module("csff_dec", std::make_shared<nn::Conv2d>(out, out, 3, gen, 1, 1));
        }
        if (use_hin) norm = register_module("norm", std::make_shared<nn::InstanceNorm2d>(out / 2, true));
        if (down)
            downsample =
                register_module("downsample", std::make_shared<nn::Conv2d>(out, out, 4, gen, 2, 1, 1, 1, false));
    }

    struct Output {
        Tensor out;  ///< the block's output at full resolution (the skip; the result without downsample)
        Tensor down; ///< downsample(out), undefined without downsample
    };
    /// x [N, in, H, W]; enc and dec [N, out, H, W] (the stage-1 features of CSFF) or both undefined.
    Output run(const Tensor& x, const Tensor& enc = Tensor(), const Tensor& dec = Tensor()) {
        Tensor h = conv_1->forward(x);
        if (norm) h = half_instance_norm(h, h.size(1) / 2, norm->weight, norm->bias, norm->eps);
        h = leaky_relu(conv_2->forward(leaky_relu(h, slope)), slope) + identity->forward(x);
        if (enc.defined() || dec.defined()) {
            VKG_CHECK(csff_enc && enc.defined() && dec.defined(), "UNetConvBlock",
                      "cross-stage features need a block built with use_csff and downsample, and both enc and dec");
            h = h + csff_enc->forward(enc) + csff_dec->forward(dec);
        }
        return {h, downsample ? downsample->forward(h) : Tensor()};
    }
    Tensor forward(const Tensor& x) override { return run(x).out; }
    std::string name() const override { return "UNetConvBlock"; }
};

/// Decoder level: ConvTranspose2d(k2, s2) up, concatenated with the (skip_conv'd) bridge, plain block.
class UNetUpBlock : public nn::Module {
public:
    std::shared_ptr<nn::ConvTranspose2d> up;
    std::shared_ptr<UNetConvBlock> conv_block;
    UNetUpBlock(int64_t in, int64_t out, double relu_slope, Generator& gen) {
        up = register_module("up", std::make_shared<nn::ConvTranspose2d>(in, out, 2, gen, 2));
        conv_block = register_module("conv_block", std::make_shared<UNetConvBlock>(in, out, false, relu_slope, gen));
    }
    Tensor run(const Tensor& x, const Tensor& bridge) {
        return conv_block->forward(concat({up->forward(x), bridge}, 1));
    }
    std::string name() const override { return "UNetUpBlock"; }
};

/// Supervised attention module between the stages.
class SAM : public nn::Module {
public:
    std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
    SAM(int64_t c, int64_t img_channels, Generator& gen) {
        conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(c, c, 3, gen, 1, 1));
        conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(c, img_channels, 3, gen, 1, 1));
        conv3 = register_module("conv3", std::make_shared<nn::Conv2d>(img_channels, c, 3, gen, 1, 1));
    }
    /// Returns {features for stage 2, the stage-1 image}.
    std::array<Tensor, 2> run(const Tensor& x, const Tensor& image) {
        const Tensor img = conv2->forward(x) + image;
        return {conv1->forward(x) * sigmoid(conv3->forward(img)) + x, img};
    }
    std::string name() const override { return "SAM"; }
};

class HINet : public nn::Module {
public:
    HINetConfig config;
    std::shared_ptr<nn::Sequential> down_path_1, down_path_2, up_path_1, up_path_2, skip_conv_1, skip_conv_2;
    std::shared_ptr<nn::Conv2d> conv_01, conv_02, cat12, last;
    std::shared_ptr<SAM> sam12;

    /// PyTorch's default initialisation (the official `_initialize`, orthogonal, is never
    /// called by the official code either). Requires c.validate().
    HINet(const HINetConfig& c, Generator& gen) : config(c) {
        c.validate();
        const int64_t wf = c.wf;
        down_path_1 = register_module("down_path_1", std::make_shared<nn::Sequential>());
        down_path_2 = register_module("down_path_2", std::make_shared<nn::Sequential>());
        conv_01 = register_module("conv_01", std::make_shared<nn::Conv2d>(c.in_chn, wf, 3, gen, 1, 1));
        conv_02 = register_module("conv_02", std::make_shared<nn::Conv2d>(c.in_chn, wf, 3, gen, 1, 1));
        int64_t prev = wf;
        for (int64_t i = 0; i < c.depth; ++i) {
            const bool down = i + 1 < c.depth;
            const int64_t ch = wf << i;
            down_path_1->push_back(std::make_shared<UNetConvBlock>(prev, ch, down, c.relu_slope, gen, false, c.use_hin(i)));
            down_path_2->push_back(std::make_shared<UNetConvBlock>(prev, ch, down, c.relu_slope, gen, down, c.use_hin(i)));
            prev = ch;
        }
        up_path_1 = register_module("up_path_1", std::make_shared<nn::Sequential>());
        up_path_2 = register_module("up_path_2", std::make_shared<nn::Sequential>());
        skip_conv_1 = register_module("skip_conv_1", std::make_shared<nn::Sequential>());
        skip_conv_2 = register_module("skip_conv_2", std::make_shared<nn::Sequential>());
        for (int64_t i = c.depth - 2; i >= 0; --i) {
            const int64_t ch = wf << i;
            up_path_1->push_back(std::make_shared<UNetUpBlock>(prev, ch, c.relu_slope, gen));
            up_path_2->push_back(std::make_shared<UNetUpBlock>(prev, ch, c.relu_slope, gen));
            skip_conv_1->push_back(std::make_shared<nn::Conv2d>(ch, ch, 3, gen, 1, 1));
            skip_conv_2->push_back(std::make_shared<nn::Conv2d>(ch, ch, 3, gen, 1, 1));
            prev = ch;
        }
        sam12 = register_module("sam12", std::make_shared<SAM>(prev, c.in_chn, gen));
        cat12 = register_module("cat12", std::make_shared<nn::Conv2d>(2 * prev, prev, 1, gen));
        last = register_module("last", std::make_shared<nn::Conv2d>(prev, c.in_chn, 3, gen, 1, 1));
    }

    /// x [N, in_chn, H, W], any H and W -> {stage-1 image, stage-2 image}, both x's shape (the
    /// training loss is applied to both; the official GoPro recipe weighs each PSNR loss by 0.5).
    std::array<Tensor, 2> forward_both(const Tensor& inp) {
        VKG_CHECK(inp.dim() == 4 && inp.size(1) == config.in_chn, "HINet", "input must be [N, ", config.in_chn,
                  ", H, W], got ", to_string(inp.shape()));
        const int64_t H = inp.size(2), W = inp.size(3), m = config.multiple();
        const int64_t ph = (m - H % m) % m, pw = (m - W % m) % m;
        const Tensor image = ph || pw ? pad(inp, {0, pw, 0, ph}) : inp;
        const auto crop = [&](const Tensor& t) { return ph || pw ? narrow(narrow(t, 2, 0, H), 3, 0, W) : t; };
        const size_t levels = static_cast<size_t>(config.depth);

        // stage 1: encoder features (the skips) and decoder outputs are kept for CSFF
        std::vector<Tensor> encs, decs;
        Tensor x = conv_01->forward(image);
        for (size_t i = 0; i < levels; ++i) {
            auto o = block(*down_path_1, i).run(x);
            if (i + 1 < levels) encs.push_back(o.out);
            x = i + 1 < levels ? o.down : o.out;
        }
        for (size_t i = 0; i + 1 < levels; ++i) {
            x = up(*up_path_1, i).run(x, (*skip_conv_1)[i].forward(encs[encs.size() - 1 - i]));
            decs.push_back(x);
        }
        const auto [feat, out_1] = sam12->run(x, image);

        // stage 2: the image again, fused with SAM's features; stage 1 enters every encoder level
        x = cat12->forward(concat({conv_02->forward(image), feat}, 1));
        std::vector<Tensor> skips;
        for (size_t i = 0; i < levels; ++i) {
            if (i + 1 < levels) {
                auto o = block(*down_path_2, i).run(x, encs[i], decs[decs.size() - 1 - i]);
                skips.push_back(o.out);
                x = o.down;
            } else {
                x = block(*down_path_2, i).run(x).out;
            }
        }
        for (size_t i = 0; i + 1 < levels; ++i)
            x = up(*up_path_2, i).run(x, (*skip_conv_2)[i].forward(skips[skips.size() - 1 - i]));
        return {crop(out_1), crop(last->forward(x) + image)};
    }
    /// The final (stage-2) image.
    Tensor forward(const Tensor& x) override { return forward_both(x)[1]; }
    std::string name() const override { return "HINet"; }

private:
    static UNetConvBlock& block(const nn::Sequential& s, size_t i) { return static_cast<UNetConvBlock&>(s[i]); }
    static UNetUpBlock& up(const nn::Sequential& s, size_t i) { return static_cast<UNetUpBlock&>(s[i]); }
};

} // namespace vkgrad::models
