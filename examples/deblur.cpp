// deblur — removes camera-shake blur from photos with a regression network (NAFNet or HINet),
// and optionally the paper's whole method on top of it (a GAN prior and a fusion network).
//
//   deblur --in IN.png --out OUT.png [--weights W] [--device cpu|vulkan] [--threads N] [--compare SHEET.png]
//          [--ensemble 1|2|4|8] [--local-pool N] [--tile N] [--no-refine]
//   deblur --in DIR --out DIR [...]                 every PNG/JPEG under DIR, same relative names, as PNG
//   deblur ... --encoder E --generator G --fusion F [--save-intermediates DIR]
//
// Without --weights it uses the small face model trained here (weights/nafnet_faces_small.safetensors,
// see weights/README.md). W may also be a vkgrad safetensors file (NAFNet or HINet, from
// train_restore), or an official release (BasicSR .pth with a "params" key) together with
// --config nafnet-gopro-width32 | nafnet-gopro-width64 | hinet-gopro. Any image size works (the
// network pads internally); gray images stay gray. --compare writes input | output side by side.
// --ensemble N averages the network over N flips/transposes of the input (models::self_ensemble):
// a little sharper (+0.13 dB at 2, +0.18 dB at 4 on the validation faces), N times slower.
// --tile N runs the network on tiles of at most N x N pixels that share 64 pixels with their
// neighbours, blended across them (models::tiled): memory bounded by the tile, not the photo
// (a 2048 px image whole peaks near 11 GB). Seams are not exact: keep N well above the pooling
// window (the default model's 384), say 768.
// After the network, the output is refined with the blur model (data::refine_deblurred): the
// blur kernel is estimated from the network's output and the input (non-negative, summing to 1),
// and the input deconvolved with it towards the network's output. On the default model's
// validation faces this adds about 0.9 dB (weights/README.md) for ~0.2 s at 512 px. It needs
// images over 213 px on each side (smaller ones get the network's output, with a note), and
// assumes one blur for the whole image (camera shake); --no-refine gives the network's output.
// --local-pool N sets NAFNet's test-time local pooling window (TLC: channel attention averages
// N x N pixels around each position instead of the whole image; 0 = global). A vkgrad file may
// carry its own (the default model: its training crop); for the official GoPro NAFNets on large
// images the official setting is 384 (1.5x their 256 px training crops).
//
// With --encoder (train_prior --out-encoder), --generator (a converted StyleGAN2, train_prior
// --out-generator) and --fusion (train_fusion --out) the output is x_hat = F(x_R, x_G): the
// regression output x_R, inverted into the generator (x_G), fused. All three are needed. The
// prior expects FFHQ-aligned faces at the generator's resolution (512x512 for the FFHQ-512
// model); other sizes are refused. --save-intermediates DIR also writes DIR/NAME_xR.png and
// DIR/NAME_xG.png; --compare then shows input | x_R | x_G | x_hat.
#include <vkgrad/data/deconvolution.hpp>
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/module_weights.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/models/prior_pipeline.hpp>
#include <vkgrad/models/regression.hpp>
#include <vkgrad/vkgrad.hpp>
#ifdef VKGRAD_WITH_VULKAN
#include <vkgrad/vulkan.hpp>
#endif

#include "cli.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace vkgrad;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string default_weights() {
    const std::string name = "nafnet_faces_small.safetensors";
    if (const char* w = std::getenv("VKGRAD_WEIGHTS"); w && *w && fs::exists(std::string(w) + "/" + name))
        return std::string(w) + "/" + name;
#ifdef VKGRAD_WEIGHTS_DIR
    return std::string(VKGRAD_WEIGHTS_DIR) + "/" + name;
#else
    return "weights/" + name;
#endif
}


/// Names the default model's absence plainly: a missing weights/ folder is a partial clone.
void check_weights_exist(const std::string& path, const std::string& config) {
    VKG_CHECK(fs::exists(path), "deblur", "weights file '", path, "' does not exist",
              config.empty() && path == default_weights() ? " (the default model ships in weights/; is this a full clone?)" : "");
}

/// Whether the three planes of [1, 3, H, W] are equal (how load_image returns a gray file).
bool is_gray(const Tensor& img) {
    const auto v = img.to_vector<float>();
    const size_t plane = v.size() / 3;
    for (size_t i = 0; i < plane; ++i)
        if (v[i] != v[plane + i] || v[i] != v[2 * plane + i]) return false;
    return true;
}

/// Pixels neighbouring tiles share under --tile (blended across them).
constexpr int64_t kTileOverlap = 64;

/// What deblur runs: the regression network alone, or the whole method (prior set).
struct Restorer {
    std::unique_ptr<nn::Module> regression;
    std::optional<models::PriorPipeline> prior;
    int ensemble = 1;  // regression network only
    int64_t tile = 0;  // regression network only; 0: the whole image at once
    bool refine = true; // regression network only: data::refine_deblurred after it
    void move_to(Device dev) {
        if (prior) prior->move_to(dev);
        else regression->move_to(dev);
    }
};

/// Seconds one file took: the networks, and the refinement after them.
struct Timing {
    double network = 0, refine = 0;
};

/// Restores one file. `intermediates`: a folder for x_R and x_G (full method only), or empty.
Timing deblur_file(Restorer& r, Device dev, const fs::path& in, const fs::path& out, const std::string& compare,
                   const std::string& intermediates) {
    const Tensor img = io::load_image(in.string()); // [1, 3, H, W] in [0, 1]; gray files come as three equal planes
    const bool gray = is_gray(img);
    const auto as_saved = [&](const Tensor& t) { return gray ? mean(t, {1}, true) : t; };
    if (r.prior) r.prior->check_input(img, ("'" + in.string() + "'").c_str());
    const auto t0 = Clock::now();
    std::vector<Tensor> stages; // host, clamped to [0, 1]: the output last
    {
        NoGradGuard ng;
        const Tensor x = to(img, dev);
        if (r.prior) {
            const auto o = r.prior->run(x);
            stages = {to(o.x_r, Device{}), to(o.x_g, Device{}), to(o.x_hat, Device{})};
        } else {
            const auto net = [&](const Tensor& t) { return models::self_ensemble(*r.regression, t, r.ensemble); };
            stages = {clamp(to(r.tile > 0 ? models::tiled(net, x, r.tile, kTileOverlap) : net(x), Device{}), 0, 1)};
        }
    }
    Timing secs{since(t0), 0};
    if (!r.prior && r.refine) {
        const auto t1 = Clock::now();
        if (data::can_refine(img.size(2), img.size(3)))
            stages.back() = data::refine_deblurred(img, stages.back());
        else
            std::fprintf(stderr, "deblur: %s: the refinement needs over %d px on each side; the network's output as it is\n",
                         in.string().c_str(), static_cast<int>(3 * data::DeblurRefineOptions{}.kernel_size));
        secs.refine = since(t1);
    }
    io::save_png(out.string(), as_saved(stages.back()));
    if (!intermediates.empty() && r.prior) {
        const std::string stem = (fs::path(intermediates) / out.stem()).string();
        io::save_png(stem + "_xR.png", as_saved(stages[0]));
        io::save_png(stem + "_xG.png", as_saved(stages[1]));
    }
    if (!compare.empty()) {
        std::vector<Tensor> row{as_saved(img)};
        for (const Tensor& t : stages) row.push_back(as_saved(t));
        io::save_grid(compare, concat(row, 0), static_cast<int64_t>(row.size()));
    }
    return secs;
}

const char* const kUsage =
    "usage: deblur --in IN.png|DIR --out OUT.png|DIR [--weights W]\n"
    "              [--config nafnet-gopro-width32|nafnet-gopro-width64|hinet-gopro]\n"
    "              [--device cpu|vulkan] [--threads N] [--compare SHEET.png] [--ensemble 1|2|4|8]\n"
    "              [--local-pool N] [--tile N] [--no-refine]\n"
    "              [--encoder E --generator G --fusion F [--save-intermediates DIR]]\n";

int run(const cli::Args& a) {
    VKG_CHECK(a.has("--in") && a.has("--out"), "deblur", "--in and --out are required");
    const auto t0 = Clock::now();
    if (a.has("--threads")) {
        const int64_t n = a.integer("--threads", 0);
        VKG_CHECK(n >= 1, "deblur", "--threads must be at least 1, not ", n);
        set_num_threads(static_cast<int>(n));
    }
    const Device dev = cli::pick_device(a.str("--device", "cpu"), "deblur");
    const std::string weights = a.str("--weights", default_weights()), config = a.str("--config");
    Restorer r;
    if (a.has("--ensemble")) {
        const std::string e = a.str("--ensemble");
        VKG_CHECK(e == "1" || e == "2" || e == "4" || e == "8", "deblur", "--ensemble must be 1, 2, 4 or 8, not '", e, "'");
        r.ensemble = std::stoi(e);
    }
    r.refine = !a.flags.count("--no-refine");
    if (a.has("--tile")) {
        r.tile = a.integer("--tile", 0);
        VKG_CHECK(r.tile > kTileOverlap, "deblur", "--tile must be more than the ", kTileOverlap,
                  " pixels neighbouring tiles share, not '", a.str("--tile"), "'");
    }
    if (a.has("--encoder") || a.has("--generator") || a.has("--fusion")) {
        std::string missing;
        for (const char* k : {"--encoder", "--generator", "--fusion"})
            if (!a.has(k)) missing += std::string(missing.empty() ? "" : ", ") + k;
        VKG_CHECK(missing.empty(), "deblur", "the full method needs --encoder, --generator and --fusion; missing ", missing);
        VKG_CHECK(r.ensemble == 1, "deblur", "--ensemble applies to the regression network alone, not the full method");
        VKG_CHECK(!a.flags.count("--no-refine"), "deblur",
                  "--no-refine applies to the regression network alone (the full method never refines x_R)");
        VKG_CHECK(!a.has("--tile"), "deblur", "--tile applies to the regression network alone, not the full method");
        VKG_CHECK(!a.has("--local-pool"), "deblur", "--local-pool applies to the regression network alone, not the full method");
        check_weights_exist(weights, config);
        r.prior.emplace(models::load_prior_pipeline(weights, a.str("--encoder"), a.str("--generator"), a.str("--fusion"), config));
    } else {
        VKG_CHECK(!a.has("--save-intermediates"), "deblur",
                  "--save-intermediates needs the full method (--encoder, --generator, --fusion)");
        check_weights_exist(weights, config);
        const int64_t local_pool = a.integer("--local-pool", -1); // -1: the file's own
        VKG_CHECK(!a.has("--local-pool") || local_pool >= 0, "deblur",
                  "--local-pool must be a window in pixels (0: global pooling), not '", a.str("--local-pool"), "'");
        r.regression = models::load_regression_network(weights, config, local_pool); // models/regression.hpp
    }
    r.move_to(dev);
    const std::string inter = a.str("--save-intermediates");
    if (!inter.empty()) fs::create_directories(inter);
    const fs::path in = a.str("--in"), out = a.str("--out");
    if (fs::is_directory(in)) {
        // Subfolders are mirrored (female/x.jpg -> OUT/female/x.png), as blur apply writes them.
        const auto files = cli::images_under(in.string(), "--in", "deblur");
        const auto names = cli::png_names(files, "deblur");
        io::Progress progress(static_cast<int64_t>(files.size()), 0.0, stderr, "image");
        int64_t done = 0;
        for (const auto& [rel, src] : files) {
            const fs::path o = names.at(rel), dst = out / o;
            fs::create_directories(dst.parent_path());
            const std::string sub_inter = inter.empty() ? "" : (fs::path(inter) / o.parent_path()).string();
            if (!sub_inter.empty()) fs::create_directories(sub_inter);
            deblur_file(r, dev, src, dst, "", sub_inter);
            progress.update(++done);
        }
    } else {
        VKG_CHECK(fs::exists(in), "deblur", "input image '", in.string(), "' does not exist");
        const Timing t = deblur_file(r, dev, in, out, a.str("--compare"), inter);
        std::fprintf(stderr, "deblur: wrote %s (network %.2f s, refinement %.2f s, total %.2f s)\n", out.string().c_str(),
                     t.network, t.refine, since(t0));
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 1) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    return cli::main_with_flags(argc, argv, "deblur",
                                {"--in", "--out", "--weights", "--config", "--device", "--threads", "--compare", "--encoder",
                                 "--generator", "--fusion", "--save-intermediates", "--ensemble", "--local-pool", "--tile"},
                                {"--no-refine"}, run, kUsage);
}
