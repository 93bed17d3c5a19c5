// vkgrad/models/stylegan2_io.hpp — StyleGAN2 modules from and to vkgrad's converted StyleGAN2
// file (stylegan2_config.hpp describes it; build/weights/convert writes it from published
// checkpoints).
//
// A generator that was fine-tuned here (train_prior) is written back in exactly the converted
// format, so every reader of converted files (load_stylegan2, the stylegan2 program, the prior's
// programs) takes it unchanged; its "source_format" metadata says where it came from.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stylegan2.hpp"
#include "stylegan2_import.hpp"

namespace vkgrad::models {

/// requires: `path` names a file written by save_stylegan2 or save_stylegan2_modules.
/// ensures: its contents, checked as load_stylegan2 checks them; a missing file is reported by
///          name with how such files are made.
inline StyleGAN2Weights load_stylegan2_file(const std::string& path) {
    VKG_CHECK(std::filesystem::exists(path), "load_stylegan2", "StyleGAN2 file '", path,
              "' does not exist (convert a published checkpoint with build/weights/convert)");
    return load_stylegan2(path);
}

/// requires: w from load_stylegan2. ensures: a generator with w's weights, on the host, eval mode.
inline std::shared_ptr<StyleGAN2Generator> make_stylegan2_generator(const StyleGAN2Weights& w) {
    Generator init(0); // every tensor is overwritten below
    auto G = std::make_shared<StyleGAN2Generator>(w.config, init);
    G->load_state_dict(w.G);
    G->eval();
    return G;
}

/// requires: w from load_stylegan2 with a discriminator (`what` names the file for the error).
/// ensures: the discriminator with w's weights, on the host, eval mode.
inline std::shared_ptr<StyleGAN2Discriminator> make_stylegan2_discriminator(const StyleGAN2Weights& w,
                                                                            const std::string& what) {
    VKG_CHECK(w.has_discriminator(), "load_stylegan2", "'", what,
              "' holds no discriminator (D.*): convert a checkpoint that includes D");
    Generator init(0);
    auto D = std::make_shared<StyleGAN2Discriminator>(w.config, init);
    D->load_state_dict(w.D);
    D->eval();
    return D;
}

/// Writes G (and D when given) as a converted StyleGAN2 file.
/// requires: D, when given, built from G's config; `source_format` / `source` describe the
///           origin ("vkgrad-random", "vkgrad-finetuned" and a file name, ...).
/// ensures: load_stylegan2(path) returns G's and D's current values (moved to the host) and
///          G.config; atomic like save_stylegan2.
inline void save_stylegan2_modules(const StyleGAN2Generator& G, const StyleGAN2Discriminator* D, const std::string& path,
                                   const std::string& source_format, const std::string& source) {
    VKG_CHECK(!D || D->config.resolution == G.config.resolution, "save_stylegan2_modules",
              "the discriminator is for ", D ? D->config.resolution : 0, " px, the generator for ",
              G.config.resolution, " px");
    NoGradGuard ng;
    std::map<std::string, Tensor> all;
    for (auto& [k, t] : G.state_dict()) all["G." + k] = t;
    if (D)
        for (auto& [k, t] : D->state_dict()) all["D." + k] = t;
    StyleGAN2Checkpoint ck;
    ck.config = G.config;
    ck.source_format = source_format;
    ck.source = source;
    ck.has_discriminator = D != nullptr;
    // The canonical order, so a written file is laid out like one from build/weights/convert.
    for (const auto& [name, shape] : stylegan2_layout(G.config, D != nullptr)) {
        auto it = all.find(name);
        VKG_CHECK(it != all.end() && it->second.shape() == shape, "save_stylegan2_modules", "'", path,
                  "': the modules have no '", name, "' of shape ", to_string(shape));
        ck.tensors.emplace_back(name, to(to(detach(it->second), Device{}), DType::f32));
    }
    save_stylegan2(ck, path);
}

} // namespace vkgrad::models
