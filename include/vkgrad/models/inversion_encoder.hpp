// vkgrad/models/inversion_encoder.hpp — the inversion encoder E of "Image restoration using a
// regression network together with a GAN": it maps the regression network's output x_R into a
// StyleGAN2 generator, as the generator's 16x16 feature map (the "base code" of BDInvert, Kang,
// Kim, Cho, ICCV 2021) together with the w vectors of the layers after it (pSp's map2style
// heads, Richardson et al., CVPR 2021). The generator then renders x_G = G.forward_from(ws,
// features, 16) (models/stylegan2.hpp).
//
//   x_R [N,3,S,S], S = 16 * 2^k, in [-1, 1]
//    │
//    │ trunk (BDInvert's encoder_simple, adapted): k stages, stage i at r = S / 2^i,
//    │   convs_per_stage x [Conv3x3 -> BatchNorm2d -> LReLU(0.2)] of ch(r) channels, then AvgPool 2x2;
//    │   ch(r) = clamp(128 * 128 / r, min_channels, max_channels)   (S = 256: 64, 128, 256, 512)
//    │   c64, c32 = the stage outputs at 64x64 and 32x32, before their pooling
//    │
//    └─ at 16x16: tail Conv3x3 -> BN -> LReLU(0.2), max_channels wide = c16
//         ├─ to_features Conv3x3 (no norm, no activation) ──────────> features [N, F, 16, 16]
//         │
//         └─ FPN (pSp's GradualStyleEncoder):  p16 = c16   (lat0(c16), a 1x1 conv, when max_channels != w_dim)
//                                              p32 = up(p16) + latlayer1(c32)     up = bilinear, align_corners
//                                              p64 = up(p32) + latlayer2(c64)     latlayers: 1x1 conv -> w_dim
//            heads: for w index i = 4 .. num_ws-1 (head K = i - 4):
//                   styles.K = log2(s) x [Conv3x3 stride 2 -> LReLU(0.01)] -> flatten -> EqualLinear
//                   on p32 (s = 32) for i < 7 (pSp's "medium" group), on p64 (s = 64) for i >= 7 ("fine")
//                   ws[:, K] = styles.K(p) + w_avg ────────> ws [N, num_ws - 4, w_dim]
//
// Why only w[4:]: the generator's 16x16 feature map is replaced at the output of its first 16x16
// conv (conv0 of block 16, which used w3), so only w4 (its conv1) and later are still read;
// pSp's coarse heads (w0..w2, on p16) and its w3 are not built. Why + w_avg: the heads predict
// offsets from the generator's average w (pSp's --start_from_latent_avg), so a barely trained
// encoder starts at the average face instead of at w = 0, far outside the generator's domain.
//
// Departures from the two sources, all deliberate: the trunk's widths follow ch(r) above rather
// than BDInvert's fixed [128, 256, 512] at a 128 px input (here S defaults to pSp's 256, one
// more stage); pSp's taps come from an IR-SE50 backbone, here from the trunk; lat0 exists only
// when the trunk's width at 16x16 differs from w_dim (never for the 512-channel defaults).
//
// Parameter names: trunk.N.conv.{weight,bias}, trunk.N.bn.{weight,bias,running_mean,running_var,
// num_batches_tracked} (N counts the conv blocks of all stages in order, the 16x16 tail last),
// to_features.*, lat0.* (when built), latlayer1.*, latlayer2.* (when a fine head exists),
// styles.K.convs.J.{weight,bias} (J = 0, 2, 4, ...: the LeakyReLUs sit at the odd indices, as in
// pSp's nn.Sequential) and styles.K.linear.{weight,bias}.
#pragma once
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../nn/conv.hpp"
#include "../nn/norm.hpp"
#include "../nn/sequential.hpp"
#include "../ops/pool.hpp"
#include "../ops/resample.hpp"
#include "../ops/shape.hpp"
#include "metadata.hpp"
#include "stylegan2_config.hpp"
#include "stylegan2_layers.hpp"

namespace vkgrad::models {

struct InversionEncoderConfig {
    int64_t input_size = 256;       ///< S: x_R is [N, 3, S, S]; 16 * 2^k with k >= 2 (the FPN needs 64x64)
    int64_t convs_per_stage = 3;    ///< conv blocks per trunk stage (BDInvert: 3)
    int64_t max_channels = 512;     ///< trunk widths are clamped to [min_channels, max_channels];
    int64_t min_channels = 32;      ///< the 16x16 tail is max_channels wide
    int64_t feature_channels = 512; ///< the generator's channels at 16x16 (512 for the 512/1024 px FFHQ models)
    int64_t w_dim = 512;            ///< the generator's w size
    int64_t num_ws = 16;            ///< the generator's num_ws (16 at 512 px, 18 at 1024, 10 at 64)

    /// The first w index the generator still reads after its 16x16 feature map is replaced.
    static constexpr int64_t first_w = 4;
    /// pSp's first "fine" index: heads for i >= 7 read the 64x64 level, earlier ones the 32x32.
    static constexpr int64_t first_fine_w = 7;

    /// The configuration matching generator g (w_dim, num_ws, its width at 16x16).
    static InversionEncoderConfig for_generator(const StyleGAN2Config& g, int64_t input_size = 256) {
        InversionEncoderConfig c;
        c.input_size = input_size;
        c.feature_channels = g.channels(16);
        c.w_dim = g.w_dim;
        c.num_ws = g.num_ws();
        return c;
    }
    /// The "__metadata__" entries of a saved encoder (arch "inversion_encoder").
    std::map<std::string, std::string> to_metadata() const {
        return {{"arch", "inversion_encoder"},
                {"input_size", std::to_string(input_size)},
                {"convs_per_stage", std::to_string(convs_per_stage)},
                {"max_channels", std::to_string(max_channels)},
                {"min_channels", std::to_string(min_channels)},
                {"feature_channels", std::to_string(feature_channels)},
                {"w_dim", std::to_string(w_dim)},
                {"num_ws", std::to_string(num_ws)}};
    }
    /// Reads to_metadata()'s entries; `what` names the file in errors. Ensures validate().
    static InversionEncoderConfig from_metadata(const std::map<std::string, std::string>& m, const std::string& what) {
        const MetadataReader r(m, "InversionEncoderConfig", what);
        r.expect_arch("inversion_encoder");
        InversionEncoderConfig c;
        c.input_size = r.integer("input_size");
        c.convs_per_stage = r.integer("convs_per_stage");
        c.max_channels = r.integer("max_channels");
        c.min_channels = r.integer("min_channels");
        c.feature_channels = r.integer("feature_channels");
        c.w_dim = r.integer("w_dim");
        c.num_ws = r.integer("num_ws");
        c.validate();
        return c;
    }
    /// k, the number of trunk stages (each halves the size): S = 16 * 2^k.
    int64_t stages() const {
        int64_t k = 0;
        while ((int64_t{16} << k) < input_size) ++k;
        return k;
    }
    /// The trunk's width at resolution r.
    int64_t channels(int64_t r) const {
        return std::max(min_channels, std::min(max_channels, int64_t{128} * 128 / r));
    }
    /// How many w vectors the encoder predicts (one head each).
    int64_t predicted_ws() const { return num_ws - first_w; }
    bool has_fine_heads() const { return num_ws > first_fine_w; }
    /// Requires nothing; throws an Error naming the bad field.
    void validate() const {
        const char* op = "InversionEncoderConfig";
        VKG_CHECK(input_size >= 64 && input_size <= (int64_t{16} << 20) && (int64_t{16} << stages()) == input_size,
                  op, "input_size ", input_size, " must be 16 * 2^k with k >= 2 (64, 128, 256, 512, ...)");
        VKG_CHECK(convs_per_stage >= 1, op, "convs_per_stage ", convs_per_stage, " must be at least 1");
        VKG_CHECK(min_channels >= 1 && max_channels >= min_channels, op, "need 1 <= min_channels <= max_channels, got ",
                  min_channels, " and ", max_channels);
        VKG_CHECK(feature_channels >= 1 && w_dim >= 1, op, "feature_channels ", feature_channels, " and w_dim ", w_dim,
                  " must be positive");
        VKG_CHECK(num_ws > first_w, op, "num_ws ", num_ws, " leaves no w to predict (the generator reads w", first_w,
                  " and later after the 16x16 replacement)");
    }
};

/// Conv3x3 (pad 1, bias) -> BatchNorm2d -> LeakyReLU(0.2): one block of the trunk.
class EncoderConvBlock : public nn::Module {
public:
    std::shared_ptr<nn::Conv2d> conv;
    std::shared_ptr<nn::BatchNorm2d> bn;
    EncoderConvBlock(int64_t in, int64_t out, Generator& gen) {
        conv = register_module("conv", std::make_shared<nn::Conv2d>(in, out, 3, gen, 1, 1));
        bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(out));
    }
    Tensor forward(const Tensor& x) override { return leaky_relu(bn->forward(conv->forward(x)), 0.2); }
    std::string name() const override { return "EncoderConvBlock"; }
};

/// pSp's map2style head: log2(spatial) x [Conv3x3 stride 2 (pad 1, bias) -> LeakyReLU(0.01)]
/// brings a [N, in, spatial, spatial] map to [N, out, 1, 1]; an equalised linear layer (no
/// activation) gives the w vector [N, out].
class GradualStyleBlock : public nn::Module {
public:
    std::shared_ptr<nn::Sequential> convs;
    std::shared_ptr<sg2::EqualLinear> linear;
    int64_t out_channels, spatial;

    /// Requires spatial a power of two >= 2.
    GradualStyleBlock(int64_t in, int64_t out, int64_t spatial_size, Generator& gen)
        : out_channels(out), spatial(spatial_size) {
        VKG_CHECK(spatial >= 2 && (spatial & (spatial - 1)) == 0, "GradualStyleBlock", "spatial ", spatial,
                  " must be a power of two >= 2");
        convs = register_module("convs", std::make_shared<nn::Sequential>());
        for (int64_t s = spatial, c = in; s > 1; s /= 2, c = out) {
            convs->push_back(std::make_shared<nn::Conv2d>(c, out, 3, gen, 2, 1));
            convs->push_back(std::make_shared<nn::LeakyReLU>(0.01)); // torch's default slope, as pSp uses
        }
        linear = register_module("linear", std::make_shared<sg2::EqualLinear>(out, out, gen, false));
    }
    /// x [N, in, spatial, spatial] -> [N, out]. Other sizes are refused: pSp's view(-1, 512)
    /// would silently turn a larger map into extra batch rows.
    Tensor forward(const Tensor& x) override {
        VKG_CHECK(x.dim() == 4 && x.size(2) == spatial && x.size(3) == spatial, "GradualStyleBlock",
                  "input must be [N, C, ", spatial, ", ", spatial, "], got ", to_string(x.shape()));
        const Tensor h = convs->forward(x);
        return linear->forward(reshape(h, {h.size(0), out_channels}));
    }
    std::string name() const override { return "GradualStyleBlock"; }
};

class InversionEncoder : public nn::Module {
public:
    InversionEncoderConfig config;
    std::shared_ptr<nn::Sequential> trunk;               ///< EncoderConvBlocks, stage by stage, the 16x16 tail last
    std::shared_ptr<nn::Conv2d> to_features;             ///< the predicted feature map (no norm, no activation)
    std::shared_ptr<nn::Conv2d> lat0;                    ///< null when max_channels == w_dim
    std::shared_ptr<nn::Conv2d> latlayer1, latlayer2;    ///< latlayer2 null without fine heads (num_ws <= 7)
    std::shared_ptr<nn::Sequential> styles;              ///< GradualStyleBlocks, head K predicts w index 4 + K

    struct Output {
        Tensor features; ///< [N, feature_channels, 16, 16], replaces the generator's first 16x16 conv output
        Tensor ws;       ///< [N, num_ws - 4, w_dim]: w4 .. w(num_ws-1), including + w_avg
    };

    /// PyTorch's default initialisation for the convs and BN (weight 1, bias 0, running stats
    /// 0 / 1), EqualLinear weights N(0, 1) and zero biases. Requires c.validate().
    InversionEncoder(const InversionEncoderConfig& c, Generator& gen) : config(c) {
        c.validate();
        trunk = register_module("trunk", std::make_shared<nn::Sequential>());
        int64_t in = 3;
        for (int64_t i = 0; i < c.stages(); ++i) {
            const int64_t ch = c.channels(c.input_size >> i);
            for (int64_t j = 0; j < c.convs_per_stage; ++j, in = ch)
                trunk->push_back(std::make_shared<EncoderConvBlock>(in, ch, gen));
        }
        trunk->push_back(std::make_shared<EncoderConvBlock>(in, c.max_channels, gen));
        to_features = register_module(
            "to_features", std::make_shared<nn::Conv2d>(c.max_channels, c.feature_channels, 3, gen, 1, 1));
        if (c.max_channels != c.w_dim)
            lat0 = register_module("lat0", std::make_shared<nn::Conv2d>(c.max_channels, c.w_dim, 1, gen));
        latlayer1 = register_module("latlayer1", std::make_shared<nn::Conv2d>(c.channels(32), c.w_dim, 1, gen));
        if (c.has_fine_heads())
            latlayer2 = register_module("latlayer2", std::make_shared<nn::Conv2d>(c.channels(64), c.w_dim, 1, gen));
        styles = register_module("styles", std::make_shared<nn::Sequential>());
        for (int64_t i = c.first_w; i < c.num_ws; ++i)
            styles->push_back(std::make_shared<GradualStyleBlock>(c.w_dim, c.w_dim, i < c.first_fine_w ? 32 : 64, gen));
    }

    /// x [N, 3, S, S] (S = config.input_size, values in [-1, 1] as the generator's images);
    /// w_avg [w_dim], the generator's average w (StyleGAN2Generator::mapping_net->w_avg).
    /// Ensures features [N, feature_channels, 16, 16] and ws [N, num_ws - 4, w_dim]. In training
    /// mode every BatchNorm uses the batch's statistics and updates its running ones (so N = 1
    /// works, but a larger batch gives steadier statistics); in eval mode the running ones.
    Output forward(const Tensor& x, const Tensor& w_avg) {
        const auto& c = config;
        VKG_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == c.input_size && x.size(3) == c.input_size,
                  "InversionEncoder", "input must be [N, 3, ", c.input_size, ", ", c.input_size,
                  "] (config.input_size), got ", to_string(x.shape()));
        VKG_CHECK(w_avg.defined() && w_avg.dim() == 1 && w_avg.size(0) == c.w_dim, "InversionEncoder",
                  "w_avg must be [", c.w_dim, "] (w_dim), got ",
                  w_avg.defined() ? to_string(w_avg.shape()) : "undefined");
        Tensor h = x, c64, c32;
        size_t block = 0;
        for (int64_t i = 0; i < c.stages(); ++i) {
            for (int64_t j = 0; j < c.convs_per_stage; ++j) h = (*trunk)[block++].forward(h);
            const int64_t r = c.input_size >> i;
            if (r == 64) c64 = h;
            if (r == 32) c32 = h;
            h = avg_pool2d(h, 2);
        }
        const Tensor c16 = (*trunk)[block].forward(h);
        Output out;
        out.features = to_features->forward(c16);

        const Tensor p16 = lat0 ? lat0->forward(c16) : c16;
        const Tensor p32 = interpolate(p16, 32, 32, Interp::bilinear, true) + latlayer1->forward(c32);
        const Tensor p64 =
            latlayer2 ? interpolate(p32, 64, 64, Interp::bilinear, true) + latlayer2->forward(c64) : Tensor();
        std::vector<Tensor> ws;
        for (int64_t k = 0; k < c.predicted_ws(); ++k) {
            const Tensor& p = k + c.first_w < c.first_fine_w ? p32 : p64;
            ws.push_back(unsqueeze((*styles)[static_cast<size_t>(k)].forward(p), 1));
        }
        out.ws = concat(ws, 1) + reshape(w_avg, {1, 1, c.w_dim});
        return out;
    }

    /// The [N, num_ws, w_dim] ws a generator's synthesis network takes: rows 0..3, which it
    /// ignores once its 16x16 features are replaced, filled with w_avg, then `ws`.
    /// Requires ws [N, num_ws - 4, w_dim] and w_avg [w_dim].
    Tensor full_ws(const Tensor& ws, const Tensor& w_avg) const {
        const auto& c = config;
        VKG_CHECK(ws.dim() == 3 && ws.size(1) == c.predicted_ws() && ws.size(2) == c.w_dim && w_avg.dim() == 1 &&
                      w_avg.size(0) == c.w_dim,
                  "InversionEncoder::full_ws", "need ws [N, ", c.predicted_ws(), ", ", c.w_dim, "] and w_avg [", c.w_dim,
                  "], got ", to_string(ws.shape()), " and ", to_string(w_avg.shape()));
        const Tensor head = expand(reshape(w_avg, {1, 1, c.w_dim}), {ws.size(0), c.first_w, c.w_dim});
        return concat({head, ws}, 1);
    }
    std::string name() const override { return "InversionEncoder"; }
};

} // namespace vkgrad::models
