// vkgrad/models/stylegan2.hpp — StyleGAN2's generator and residual discriminator (config E/F,
// "skip" generator, "resnet" discriminator), as in Karras et al., "Analyzing and Improving the
// Image Quality of StyleGAN" (2020), Figure 7 and Appendix B.
//
//   z --pixel norm--> mapping MLP --> w --(truncation)--> ws[0..num_ws)
//   const 4x4 --> [conv(ws[0])]                 --toRGB(ws[1])-------------------------> img4
//   block r:  up-conv(ws[i]) --> conv(ws[i+1])  --toRGB(ws[i+2])--> + upsample(img r/2) --> img r
//
//   D: fromRGB(R) --> per r: [conv, blur+down-conv] + blur+down 1x1 skip, sum / sqrt 2
//      --> 4x4: minibatch stddev, conv, fc, fc --> logit
//
// Weights load from files made by build/weights/convert (see stylegan2_config.hpp for the
// names); `load_stylegan2` in stylegan2_import.hpp reads them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stylegan2_layers.hpp"

namespace vkgrad::models {

using sg2::NoiseMode;

/// The mapping network: z -> w, plus the tracked average w_avg used for truncation.
class StyleGAN2Mapping : public nn::Module {
public:
    std::vector<std::shared_ptr<sg2::EqualLinear>> fcs;
    Tensor w_avg; ///< buffer [w_dim]

    StyleGAN2Mapping(const StyleGAN2Config& c, Generator& gen) {
        for (int64_t i = 0; i < c.mapping_layers; ++i)
            fcs.push_back(register_module("fc" + std::to_string(i),
                                          std::make_shared<sg2::EqualLinear>(i == 0 ? c.z_dim : c.w_dim, c.w_dim, gen,
                                                                             true, c.lr_multiplier)));
        w_avg = register_buffer("w_avg", zeros({c.w_dim}));
    }
    /// z [N, z_dim] (float32 or float64; computed in float32) -> w [N, w_dim], untruncated.
    Tensor forward(const Tensor& z) override {
        Tensor x = to(z, DType::f32);
        x = x * rsqrt(mean(x * x, {1}, true) + 1e-8); // normalise the second moment of z
        for (auto& fc : fcs) x = fc->forward(x);
        return x;
    }
    std::string name() const override { return "StyleGAN2Mapping"; }
};

/// One resolution of the synthesis network: (up-conv,) conv, toRGB.
class StyleGAN2SynthesisBlock : public nn::Module {
public:
    int64_t resolution;
    Tensor const_input; ///< [C, 4, 4] at 4x4 only, registered as "const"
    std::shared_ptr<sg2::SynthesisLayer> conv0, conv1; ///< conv0 (upsampling) absent at 4x4
    std::shared_ptr<sg2::ToRGBLayer> torgb;

    StyleGAN2SynthesisBlock(const StyleGAN2Config& c, int64_t res, Generator& gen) : resolution(res) {
        const int64_t out = c.channels(res);
        if (res == 4) {
            const_input = register_parameter("const", randn({out, 4, 4}, gen));
        } else {
            conv0 = register_module("conv0", std::make_shared<sg2::SynthesisLayer>(c.channels(res / 2), out, c.w_dim,
                                                                                    res, true, c.conv_clamp, gen));
        }
        conv1 = register_module("conv1",
                                std::make_shared<sg2::SynthesisLayer>(out, out, c.w_dim, res, false, c.conv_clamp, gen));
        torgb = register_module("torgb", std::make_shared<sg2::ToRGBLayer>(out, c.img_channels, c.w_dim,
                                                                          c.conv_clamp, gen));
    }
    /// Number of ws this block's convolutions consume (its toRGB reuses the next block's first).
    int64_t num_conv() const { return conv0 ? 2 : 1; }
    std::string name() const override { return "StyleGAN2SynthesisBlock"; }
};

class StyleGAN2Synthesis : public nn::Module {
public:
    std::vector<std::shared_ptr<StyleGAN2SynthesisBlock>> blocks; ///< 4, 8, ..., resolution
    StyleGAN2Config config;

    StyleGAN2Synthesis(const StyleGAN2Config& c, Generator& gen) : config(c) {
        for (int64_t r = 4; r <= c.resolution; r *= 2)
            blocks.push_back(register_module("b" + std::to_string(r), std::make_shared<StyleGAN2SynthesisBlock>(c, r, gen)));
    }

    /// ws [N, num_ws, w_dim] -> images [N, img_channels, R, R] (not clamped; about [-1, 1]).
    /// `rng` is needed for NoiseMode::random.
    Tensor forward(const Tensor& ws, NoiseMode noise = NoiseMode::constant, Generator* rng = nullptr) {
        return run(ws, noise, rng, Tensor(), 0, 0);
    }
    /// The output of block `res`'s upsampling conv (conv0) — the feature map an inversion
    /// encoder predicts (BDInvert's "base code": res 16 gives [N, C(16), 16, 16]).
    /// Requires 8 <= res <= R, a power of two.
    Tensor features_at(const Tensor& ws, int64_t res, NoiseMode noise = NoiseMode::constant, Generator* rng = nullptr) {
        check_block("features_at", res);
        return run(ws, noise, rng, Tensor(), 0, res);
    }
    /// The image rendered from a replacement for features_at(ws, res): blocks below `res` are
    /// skipped and the RGB skip path restarts at block res's toRGB; ws rows before block res's
    /// conv1 are ignored.
    Tensor forward_from(const Tensor& ws, const Tensor& features, int64_t res, NoiseMode noise = NoiseMode::constant,
                        Generator* rng = nullptr) {
        check_block("forward_from", res);
        VKG_CHECK(features.dim() == 4 && features.size(0) == ws.size(0) && features.size(1) == config.channels(res) &&
                      features.size(2) == res && features.size(3) == res,
                  "StyleGAN2Synthesis::forward_from", "features must be [", ws.size(0), ", ", config.channels(res), ", ",
                  res, ", ", res, "], got ", to_string(features.shape()));
        return run(ws, noise, rng, features, res, 0);
    }
    std::string name() const override { return "StyleGAN2Synthesis"; }

private:
    void check_block(const char* op, int64_t res) const {
        VKG_CHECK(res >= 8 && res <= config.resolution && (res & (res - 1)) == 0, op, "res ", res,
                  " is not a block with an upsampling conv (8..", config.resolution, ")");
    }
    /// The blocks in order. start: features replacing block start_res's conv0 output; stop_res:
    /// return block stop_res's conv0 output instead of the image.
    Tensor run(const Tensor& ws, NoiseMode noise, Generator* rng, const Tensor& start, int64_t start_res, int64_t stop_res) {
        const int64_t N = ws.size(0);
        VKG_CHECK(ws.dim() == 3 && ws.size(1) == config.num_ws() && ws.size(2) == config.w_dim, "StyleGAN2Synthesis",
                  "ws must be [N, ", config.num_ws(), ", ", config.w_dim, "], got ", to_string(ws.shape()));
        auto w_at = [&](int64_t i) { return reshape(narrow(ws, 1, i, 1), {N, config.w_dim}); };
        Tensor x, img;
        int64_t wi = 0; // block r = 2^k uses ws[2k-5] (conv0), ws[2k-4] (conv1), ws[2k-3] (toRGB)
        for (auto& b : blocks) {
            if (b->resolution < start_res) {
                wi += b->num_conv();
                continue;
            }
            if (b->resolution == 4) {
                x = expand(unsqueeze(b->const_input, 0), {N, b->const_input.size(0), 4, 4});
            } else {
                x = b->resolution == start_res ? start : b->conv0->forward(x, w_at(wi), noise, rng);
                ++wi;
                if (b->resolution == stop_res) return x;
            }
            x = b->conv1->forward(x, w_at(wi), noise, rng);
            ++wi;
            const Tensor y = b->torgb->forward(x, w_at(wi));
            img = img.defined() ? sg2::upsample2d(img) + y : y;
        }
        return img;
    }
};

/// Truncation and style options of StyleGAN2Generator::mapping.
struct Truncation {
    double psi = 1.0;       ///< w' = w_avg + psi (w - w_avg); 1 = none
    int64_t cutoff = -1;    ///< truncate only ws[:, :cutoff]; -1 = all
};

class StyleGAN2Generator : public nn::Module {
public:
    StyleGAN2Config config;
    std::shared_ptr<StyleGAN2Mapping> mapping_net;
    std::shared_ptr<StyleGAN2Synthesis> synthesis;

    /// Random StyleGAN2 initialisation (weights N(0,1) scaled at run time, affine biases 1,
    /// noise strengths 0). Requires config.validate().
    StyleGAN2Generator(const StyleGAN2Config& c, Generator& gen) : config(c) {
        c.validate();
        mapping_net = register_module("mapping", std::make_shared<StyleGAN2Mapping>(c, gen));
        synthesis = register_module("synthesis", std::make_shared<StyleGAN2Synthesis>(c, gen));
    }

    /// z [N, z_dim] -> ws [N, num_ws, w_dim], every row the same truncated w.
    Tensor mapping(const Tensor& z, const Truncation& t = {}) {
        VKG_CHECK(z.dim() == 2 && z.size(1) == config.z_dim, "StyleGAN2Generator",
                  "z must be [N, ", config.z_dim, "], got ", to_string(z.shape()));
        const int64_t N = z.size(0), L = config.num_ws(), D = config.w_dim;
        Tensor w = unsqueeze(mapping_net->forward(z), 1); // [N, 1, D]
        if (t.psi == 1) return expand(w, {N, L, D});
        const Tensor avg = reshape(mapping_net->w_avg, {1, 1, D});
        const Tensor truncated = avg + (w - avg) * t.psi;
        const int64_t cut = t.cutoff < 0 ? L : std::min(t.cutoff, L);
        if (cut == L) return expand(truncated, {N, L, D});
        return concat({expand(truncated, {N, cut, D}), expand(w, {N, L - cut, D})}, 1);
    }
    /// z [N, z_dim] -> images [N, img_channels, R, R].
    Tensor forward(const Tensor& z, const Truncation& t, NoiseMode noise = NoiseMode::constant,
                   Generator* rng = nullptr) {
        return synthesis->forward(mapping(z, t), noise, rng);
    }
    Tensor forward(const Tensor& z) override { return forward(z, Truncation{}); }
    std::string name() const override { return "StyleGAN2Generator"; }
};

/// Style mixing: the first `cutoff` ws of `ws` (coarse layers: pose, shape) followed by the
/// rest of `other` (fine layers: colour, texture). Requires equal shapes [N, num_ws, w_dim] and
/// 0 <= cutoff <= num_ws.
inline Tensor mix_styles(const Tensor& ws, const Tensor& other, int64_t cutoff) {
    VKG_CHECK(ws.dim() == 3 && ws.shape() == other.shape(), "mix_styles", "ws ", to_string(ws.shape()), " and ",
              to_string(other.shape()), " must both be [N, num_ws, w_dim]");
    VKG_CHECK(cutoff >= 0 && cutoff <= ws.size(1), "mix_styles", "cutoff ", cutoff, " outside [0, ", ws.size(1), "]");
    if (cutoff == ws.size(1)) return ws;
    if (cutoff == 0) return other;
    return concat({narrow(ws, 1, 0, cutoff), narrow(other, 1, cutoff, ws.size(1) - cutoff)}, 1);
}

/// One residual discriminator block at resolution r: C(r) -> C(r/2) channels, r -> r/2.
class StyleGAN2DBlock : public nn::Module {
public:
    int64_t resolution;
    std::shared_ptr<sg2::EqualConv2d> fromrgb; ///< only in the first (highest-resolution) block
    std::shared_ptr<sg2::EqualConv2d> conv0, conv1, skip;

    StyleGAN2DBlock(const StyleGAN2Config& c, int64_t res, Generator& gen) : resolution(res) {
        const int64_t tmp = c.channels(res), out = c.channels(res / 2);
        const double half = std::sqrt(0.5);
        if (res == c.resolution)
            fromrgb = register_module("fromrgb", std::make_shared<sg2::EqualConv2d>(c.img_channels, tmp, 1, gen, false,
                                                                                    true, true, 1.0, c.conv_clamp));
        conv0 = register_module("conv0",
                                std::make_shared<sg2::EqualConv2d>(tmp, tmp, 3, gen, false, true, true, 1.0, c.conv_clamp));
        conv1 = register_module("conv1",
                                std::make_shared<sg2::EqualConv2d>(tmp, out, 3, gen, true, true, true, half, c.conv_clamp));
        skip = register_module("skip", std::make_shared<sg2::EqualConv2d>(tmp, out, 1, gen, true, false, false, half));
    }
    /// (skip(x) + conv1(conv0(x))) with both halves scaled by sqrt(1/2): the sum keeps unit variance.
    Tensor forward(const Tensor& in) override {
        const Tensor x = fromrgb ? fromrgb->forward(in) : in;
        return skip->forward(x) + conv1->forward(conv0->forward(x));
    }
    std::string name() const override { return "StyleGAN2DBlock"; }
};

/// The 4x4 epilogue: minibatch stddev, conv, fc, output logit.
class StyleGAN2DEpilogue : public nn::Module {
public:
    std::shared_ptr<sg2::EqualConv2d> conv;
    std::shared_ptr<sg2::EqualLinear> fc, out;
    int64_t mbstd_group, mbstd_channels;

    StyleGAN2DEpilogue(const StyleGAN2Config& c, Generator& gen)
        : mbstd_group(c.mbstd_group), mbstd_channels(c.mbstd_channels) {
        const int64_t C = c.channels(4);
        conv = register_module("conv", std::make_shared<sg2::EqualConv2d>(C + c.mbstd_channels, C, 3, gen, false, true,
                                                                          true, 1.0, c.conv_clamp));
        fc = register_module("fc", std::make_shared<sg2::EqualLinear>(C * 16, C, gen, true));
        out = register_module("out", std::make_shared<sg2::EqualLinear>(C, 1, gen, false));
    }
    Tensor forward(const Tensor& x) override {
        Tensor y = conv->forward(sg2::minibatch_stddev(x, mbstd_group, mbstd_channels));
        return out->forward(fc->forward(flatten(y, 1)));
    }
    std::string name() const override { return "StyleGAN2DEpilogue"; }
};

class StyleGAN2Discriminator : public nn::Module {
public:
    StyleGAN2Config config;
    std::vector<std::shared_ptr<StyleGAN2DBlock>> blocks; ///< R, R/2, ..., 8
    std::shared_ptr<StyleGAN2DEpilogue> b4;

    /// Random StyleGAN2 initialisation. Requires config.validate() and resolution >= 8.
    StyleGAN2Discriminator(const StyleGAN2Config& c, Generator& gen) : config(c) {
        c.validate();
        VKG_CHECK(c.resolution >= 8, "StyleGAN2Discriminator", "resolution ", c.resolution, " must be at least 8");
        for (int64_t r = c.resolution; r >= 8; r /= 2)
            blocks.push_back(register_module("b" + std::to_string(r), std::make_shared<StyleGAN2DBlock>(c, r, gen)));
        b4 = register_module("b4", std::make_shared<StyleGAN2DEpilogue>(c, gen));
    }
    /// Minibatch-stddev group size used from now on (0: the whole batch).
    void set_mbstd_group(int64_t g) {
        VKG_CHECK(g >= 0, "StyleGAN2Discriminator", "group size ", g, " must be >= 0");
        b4->mbstd_group = g;
    }
    /// img [N, img_channels, R, R] in about [-1, 1] -> logits [N, 1]. Requires N divisible by
    /// min(group, N).
    Tensor forward(const Tensor& img) override {
        VKG_CHECK(img.dim() == 4 && img.size(1) == config.img_channels && img.size(2) == config.resolution &&
                      img.size(3) == config.resolution,
                  "StyleGAN2Discriminator", "images must be [N, ", config.img_channels, ", ", config.resolution, ", ",
                  config.resolution, "], got ", to_string(img.shape()));
        Tensor x = img;
        for (auto& b : blocks) x = b->forward(x);
        return b4->forward(x);
    }
    std::string name() const override { return "StyleGAN2Discriminator"; }
};

} // namespace vkgrad::models
