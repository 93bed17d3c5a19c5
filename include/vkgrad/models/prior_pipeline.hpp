// vkgrad/models/prior_pipeline.hpp — the whole restoration method of "Image restoration using a
// regression network together with a GAN", one stage per method:
//
//   blurred [N,3,S,S] in [0,1], S = the generator's resolution (FFHQ-aligned faces)
//     restore:  x_R = clamp(R(blurred), 0, 1)                      R: NAFNet / HINet, always frozen
//     invert:   E(resize(x_R, E.input_size) * 2 - 1) -> 16x16 features + ws
//     render:   x_G = (G.synthesis.forward_from(full ws, features, 16) + 1) / 2     not clamped
//     fuse:     x_hat = F(x_R, clamp(x_G, 0, 1))
//
// The stages are separate so that training can put the graph where it needs it: stage 1
// (train_prior) backpropagates from x_G into E (and G), stage 2 (train_fusion) only into F.
// x_G is left unclamped for training because a clamp would zero the gradient wherever the
// generator overshoots, which is exactly where the reconstruction loss should pull it back;
// F always sees the clamped x_G, in training and at inference, so it learns on what it is given.
//
// The synthesis network runs with its stored constant noise (NoiseMode::constant): the same
// blurred image always gives the same x_G, so validation numbers and sheets are comparable
// from one evaluation to the next.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "../io/module_weights.hpp"
#include "../io/safetensors.hpp"
#include "../ops/pool.hpp"
#include "../ops/resample.hpp"
#include "fusion.hpp"
#include "inversion_encoder.hpp"
#include "regression.hpp"
#include "stylegan2_io.hpp"

namespace vkgrad::models {

/// requires: `path` is a safetensors file written with InversionEncoderConfig::to_metadata()
///           (train_prior --out-encoder). ensures: the encoder, weights loaded, eval mode, host.
inline std::shared_ptr<InversionEncoder> load_inversion_encoder(const std::string& path) {
    VKG_CHECK(std::filesystem::exists(path), "load_inversion_encoder", "encoder file '", path,
              "' does not exist (train_prior --out-encoder writes one)");
    const auto cfg = InversionEncoderConfig::from_metadata(io::load_safetensors(path).metadata, path);
    Generator init(0); // overwritten by the file
    auto E = std::make_shared<InversionEncoder>(cfg, init);
    io::load_module_weights(*E, path);
    E->eval();
    return E;
}

/// requires: `path` is a safetensors file written with FusionConfig::to_metadata()
///           (train_fusion --out). ensures: the fusion network, weights loaded, eval mode, host.
inline std::shared_ptr<FusionNet> load_fusion_network(const std::string& path) {
    VKG_CHECK(std::filesystem::exists(path), "load_fusion_network", "fusion file '", path,
              "' does not exist (train_fusion --out writes one)");
    const auto cfg = FusionConfig::from_metadata(io::load_safetensors(path).metadata, path);
    Generator init(0);
    auto F = std::make_shared<FusionNet>(cfg, init);
    io::load_module_weights(*F, path);
    F->eval();
    return F;
}

class PriorPipeline {
public:
    std::shared_ptr<nn::Module> regression;        ///< R
    std::shared_ptr<InversionEncoder> encoder;     ///< E
    std::shared_ptr<StyleGAN2Generator> generator; ///< G
    std::shared_ptr<FusionNet> fusion;             ///< F; null until stage 2 has one

    /// The resolution at which the generator replaces its feature map by E's.
    static constexpr int64_t feature_res = 16;

    /// requires: R, E, G non-null; E built for G (InversionEncoderConfig::for_generator) and G at
    ///           least 16 px. ensures: R's parameters no longer require gradients (it is frozen in
    ///           both stages). Throws naming the mismatch otherwise.
    PriorPipeline(std::shared_ptr<nn::Module> r, std::shared_ptr<InversionEncoder> e,
                  std::shared_ptr<StyleGAN2Generator> g, std::shared_ptr<FusionNet> f = nullptr)
        : regression(std::move(r)), encoder(std::move(e)), generator(std::move(g)), fusion(std::move(f)) {
        const char* op = "PriorPipeline";
        VKG_CHECK(regression && encoder && generator, op, "needs the regression network, the encoder and the generator");
        const auto& gc = generator->config;
        const auto& ec = encoder->config;
        VKG_CHECK(gc.resolution >= feature_res, op, "the generator is ", gc.resolution, " px; the prior needs at least ",
                  feature_res, " px");
        VKG_CHECK(ec.feature_channels == gc.channels(feature_res) && ec.w_dim == gc.w_dim && ec.num_ws == gc.num_ws(), op,
                  "the encoder (", ec.feature_channels, " feature channels, w_dim ", ec.w_dim, ", ", ec.num_ws,
                  " ws) was not made for this generator (", gc.channels(feature_res), ", ", gc.w_dim, ", ", gc.num_ws(),
                  ")");
        VKG_CHECK(!fusion || fusion->config.img_channels == 3, op, "the fusion network must take RGB images");
        for (auto& p : regression->parameters()) p.requires_grad_(false);
        regression->eval();
    }

    /// S: the only input size the prior accepts.
    int64_t resolution() const { return generator->config.resolution; }

    /// requires nothing; throws unless img is [N, 3, S, S].
    void check_input(const Tensor& img, const char* what = "input") const {
        const int64_t S = resolution();
        VKG_CHECK(img.defined() && img.dim() == 4 && img.size(1) == 3, "PriorPipeline", what,
                  " must be RGB images [N, 3, H, W], got ", img.defined() ? to_string(img.shape()) : "undefined");
        VKG_CHECK(img.size(2) == S && img.size(3) == S, "PriorPipeline", what, " is ", img.size(3), "x", img.size(2),
                  ": the prior expects FFHQ-aligned faces at ", S, "x", S,
                  " (the generator's resolution); align and resize the faces first");
    }

    /// x_R = clamp(R(blurred), 0, 1). requires: check_input(blurred). ensures: [N, 3, S, S], no
    /// graph (R is frozen in both stages, so nothing upstream of x_R is ever trained).
    Tensor restore(const Tensor& blurred) {
        check_input(blurred, "the blurred batch");
        NoGradGuard ng;
        return clamp(regression->forward(blurred), 0, 1);
    }

    /// E's prediction for x_R [N, 3, S, S] in [0, 1], differentiable in E's parameters.
    /// Downscaling by an integer factor averages blocks (antialiased, as the area resize of the
    /// data pipeline); any other factor is bilinear.
    InversionEncoder::Output invert(const Tensor& x_r) {
        check_input(x_r, "x_R");
        const int64_t in = encoder->config.input_size, S = resolution();
        Tensor x = x_r;
        if (S > in && S % in == 0) x = avg_pool2d(x, S / in);
        else if (S != in) x = interpolate(x, in, in, Interp::bilinear, false);
        return encoder->forward(x * 2.0 - 1.0, generator->mapping_net->w_avg);
    }

    /// x_G = (G from E's features and ws + 1) / 2, not clamped; differentiable in E's outputs
    /// and G's synthesis parameters.
    Tensor render(const InversionEncoder::Output& e) {
        const Tensor ws = encoder->full_ws(e.ws, generator->mapping_net->w_avg);
        const Tensor img = generator->synthesis->forward_from(ws, e.features, feature_res, NoiseMode::constant);
        return (img + 1.0) * 0.5;
    }
    /// render(invert(x_r)).
    Tensor generate(const Tensor& x_r) { return render(invert(x_r)); }

    /// x_hat = F(x_R, clamp(x_G, 0, 1)). requires: a fusion network; x_r and x_g [N, 3, S, S].
    Tensor fuse(const Tensor& x_r, const Tensor& x_g) {
        VKG_CHECK(fusion, "PriorPipeline", "no fusion network (train one with train_fusion)");
        check_input(x_g, "x_G");
        return fusion->forward(x_r, clamp(x_g, 0, 1));
    }

    struct Output {
        Tensor x_r, x_g, x_hat; ///< all clamped to [0, 1]; x_hat undefined without a fusion network
    };
    /// Every stage for inference (no graph, the modules' current train/eval mode).
    /// requires: check_input(blurred).
    Output run(const Tensor& blurred) {
        NoGradGuard ng;
        Output o;
        o.x_r = restore(blurred);
        o.x_g = clamp(generate(o.x_r), 0, 1);
        if (fusion) o.x_hat = clamp(fusion->forward(o.x_r, o.x_g), 0, 1);
        return o;
    }

    void eval() {
        regression->eval();
        encoder->eval();
        generator->eval();
        if (fusion) fusion->eval();
    }
    /// Moves every network to `device` in place.
    void move_to(Device device) {
        regression->move_to(device);
        encoder->move_to(device);
        generator->move_to(device);
        if (fusion) fusion->move_to(device);
    }
};

/// The pipeline from its files: R (load_regression_network; `regression_config` for an official
/// .pth), E (load_inversion_encoder), G (a converted StyleGAN2 file), F when `fusion_path` is
/// given. requires: the files exist and fit together. ensures: every network in eval mode, on
/// the host; errors name the missing or mismatched file.
inline PriorPipeline load_prior_pipeline(const std::string& regression_path, const std::string& encoder_path,
                                         const std::string& generator_path, const std::string& fusion_path = "",
                                         const std::string& regression_config = "") {
    auto R = load_regression_network(regression_path, regression_config);
    auto E = load_inversion_encoder(encoder_path);
    auto G = make_stylegan2_generator(load_stylegan2_file(generator_path));
    auto F = fusion_path.empty() ? nullptr : load_fusion_network(fusion_path);
    try {
        return PriorPipeline(std::shared_ptr<nn::Module>(std::move(R)), E, G, F);
    } catch (const Error& e) {
        ::vkgrad::detail::fail("load_prior_pipeline", "'", encoder_path, "' and '", generator_path, "': ", e.what());
    }
}

} // namespace vkgrad::models
