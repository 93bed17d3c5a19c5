// vkgrad/models/stylegan2_config.hpp — the numbers that define a StyleGAN2 pair (G and D), and
// how they travel in a converted checkpoint's safetensors "__metadata__".
//
// vkgrad's StyleGAN2 file (written by build/weights/convert) holds:
//   G.<name>  the averaged generator (G_ema / g_ema / Gs), under NVIDIA stylegan2-ada-pytorch's
//             flat names: G.mapping.fc{i}.{weight,bias}, G.mapping.w_avg,
//             G.synthesis.b{r}.const, G.synthesis.b{r}.conv{0,1}.{weight, bias, noise_strength,
//             noise_const, affine.weight, affine.bias}, G.synthesis.b{r}.torgb.{weight, bias,
//             affine.weight, affine.bias} — in ADA's layouts (conv [O, I, k, k], up-conv weights
//             as ADA stores them, affine bias including its +1, noise_strength 0-d, const [C, 4, 4]).
//   D.<name>  the discriminator when the source had one: D.b{r}.fromrgb.*, D.b{r}.conv{0,1}.*,
//             D.b{r}.skip.weight, D.b4.conv.*, D.b4.fc.*, D.b4.out.*.
// The FIR filters ([1,3,3,1]) are constants of the architecture, not stored.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>

#include "../core/error.hpp"
#include "metadata.hpp"

namespace vkgrad::models {

struct StyleGAN2Config {
    int64_t resolution = 1024;     ///< output size, a power of two 4..1024 (larger works but is untested)
    int64_t img_channels = 3;
    int64_t z_dim = 512;
    int64_t w_dim = 512;
    int64_t mapping_layers = 8;
    double lr_multiplier = 0.01;   ///< of the mapping network's layers
    int64_t channel_base = 32768;  ///< C(r) = min(channel_base / r, channel_max); config-f 32768, config-e 16384
    int64_t channel_max = 512;
    double conv_clamp = 0;         ///< 0: no clamping; natively trained ADA networks use 256
    int64_t mbstd_group = 4;       ///< minibatch-stddev group size; 0 = the whole batch
    int64_t mbstd_channels = 1;

    int64_t log2_resolution() const {
        int64_t l = 0;
        while ((int64_t{1} << l) < resolution) ++l;
        return l;
    }
    /// Channels of the feature maps at resolution r.
    int64_t channels(int64_t r) const { return std::min(channel_base / r, channel_max); }
    /// How many w vectors the synthesis network consumes: 2 log2(R) - 2 (18 at 1024).
    int64_t num_ws() const { return 2 * log2_resolution() - 2; }

    /// Requires nothing; throws an Error naming the bad field.
    void validate() const {
        const char* op = "StyleGAN2Config";
        VKG_CHECK(resolution >= 4 && (resolution & (resolution - 1)) == 0, op, "resolution ", resolution,
                  " is not a power of two >= 4");
        VKG_CHECK(img_channels >= 1 && z_dim >= 1 && w_dim >= 1 && mapping_layers >= 1, op,
                  "img_channels, z_dim, w_dim and mapping_layers must be positive (got ", img_channels, ", ", z_dim,
                  ", ", w_dim, ", ", mapping_layers, ")");
        VKG_CHECK(lr_multiplier > 0 && std::isfinite(lr_multiplier), op, "lr_multiplier ", lr_multiplier,
                  " must be positive");
        VKG_CHECK(channel_base >= 1 && channel_max >= 1 && channels(resolution) >= 1, op, "channel_base ",
                  channel_base, " / channel_max ", channel_max, " give no channels at ", resolution, " px");
        VKG_CHECK(conv_clamp >= 0 && std::isfinite(conv_clamp), op, "conv_clamp ", conv_clamp, " must be >= 0");
        VKG_CHECK(mbstd_group >= 0 && mbstd_channels >= 1, op, "mbstd_group ", mbstd_group, " / mbstd_channels ",
                  mbstd_channels, " invalid");
    }

    /// The "__metadata__" entries of a converted file (all strings, as safetensors requires).
    std::map<std::string, std::string> to_metadata() const {
        auto num = [](double v) {
            std::ostringstream s;
            s.precision(17);
            s << v;
            return s.str();
        };
        return {{"format", "vkgrad.stylegan2"},
                {"resolution", std::to_string(resolution)},
                {"img_channels", std::to_string(img_channels)},
                {"z_dim", std::to_string(z_dim)},
                {"w_dim", std::to_string(w_dim)},
                {"mapping_layers", std::to_string(mapping_layers)},
                {"lr_multiplier", num(lr_multiplier)},
                {"channel_base", std::to_string(channel_base)},
                {"channel_max", std::to_string(channel_max)},
                {"conv_clamp", num(conv_clamp)},
                {"mbstd_group", std::to_string(mbstd_group)},
                {"mbstd_channels", std::to_string(mbstd_channels)}};
    }

    /// Reads to_metadata()'s entries back; `what` names the file in errors. Ensures validate().
    static StyleGAN2Config from_metadata(const std::map<std::string, std::string>& m, const std::string& what) {
        const char* op = "StyleGAN2Config";
        auto it = m.find("format");
        VKG_CHECK(it != m.end() && it->second == "vkgrad.stylegan2", op, "'", what,
                  "' is not a converted StyleGAN2 file (no __metadata__ format 'vkgrad.stylegan2'); convert the "
                  "checkpoint with build/weights/convert first");
        const MetadataReader r(m, op, what);
        StyleGAN2Config c;
        c.resolution = r.integer("resolution");
        c.img_channels = r.integer("img_channels");
        c.z_dim = r.integer("z_dim");
        c.w_dim = r.integer("w_dim");
        c.mapping_layers = r.integer("mapping_layers");
        c.lr_multiplier = r.real("lr_multiplier");
        c.channel_base = r.integer("channel_base");
        c.channel_max = r.integer("channel_max");
        c.conv_clamp = r.real("conv_clamp");
        c.mbstd_group = r.integer("mbstd_group");
        c.mbstd_channels = r.integer("mbstd_channels");
        c.validate();
        return c;
    }
};

} // namespace vkgrad::models
