// stylegan2 — run a converted StyleGAN2 (build/weights/convert makes the .safetensors file).
//
//   stylegan2 generate --weights W.safetensors (--seeds 0-7 | --z Z.npy) [--psi 1] [--cutoff K]
//                      [--noise const|random|none] [--noise-seed S] [--device cpu|vulkan]
//                      [--batch B] (--out grid.png | --outdir DIR) [--out-npy IMG.npy] [--out-w W.npy]
//   stylegan2 discriminate --weights W.safetensors --images X.npy --out LOGITS.npy
//                      [--mbstd-group G] [--device cpu|vulkan]
//   stylegan2 random --out W.safetensors [--resolution 1024] [--z-dim 512] [--w-dim 512]
//                      [--mapping-layers 8] [--channel-base 32768] [--channel-max 512] [--seed 0]
//                      [--noise-strength 0] [--image-std 0]
//
// random writes an untrained G and D in the converted format: for tests and for trying the
// prior's training programs without a pretrained network (the images are not faces). An
// untrained G's images are mostly its lowest resolutions' colour blobs, about 2x too strong:
// half the pixels clip. --image-std S > 0 rescales each toRGB layer (weight and bias; the
// layers are linear) so that over 256 random z every resolution adds the same variance, the
// image has per-channel mean 0 and standard deviation S: a deterministic prior with detail at
// every scale. --noise-strength sets every synthesis layer's noise strength (0 at init, as in
// training): the per-pixel noise is where StyleGAN2's fine detail comes from. The balance is
// measured with the stored constant noise. (scripts/prior_experiment.sh uses both.)
//
// --seeds gives exactly the latents of NVIDIA's generate.py: z = RandomState(seed).randn(1, z_dim)
// of numpy, reimplemented bit for bit (core/numpy_random.hpp). Z.npy is float32 or float64
// [N, z_dim]. IMG.npy is the raw float32 NCHW output (before clamping and 8-bit conversion),
// W.npy the mapped, truncated w [N, w_dim]; grid.png shows every image ((x+1)*127.5, rounded,
// clamped); --outdir also writes each image as DIR/seedNNNN.png (--seeds, as NVIDIA's
// generate.py names them) or DIR/imgNNNN.png (--z, the row index). X.npy for discriminate is
// float32 NCHW in [-1, 1]; LOGITS.npy float32 [N, 1].
#include <vkgrad/core/numpy_random.hpp>
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/npy.hpp>
#include <vkgrad/models/stylegan2.hpp>
#include <vkgrad/models/stylegan2_import.hpp>
#include <vkgrad/models/stylegan2_io.hpp>
#ifdef VKGRAD_WITH_VULKAN
#include <vkgrad/vulkan.hpp>
#endif

#include "cli.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace vkgrad;
using Clock = std::chrono::steady_clock;

namespace {

std::string pad4(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04llu", static_cast<unsigned long long>(v));
    return buf;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int usage() {
    std::fprintf(stderr,
                 "usage: stylegan2 generate --weights W.safetensors (--seeds 0-7 | --z Z.npy) [--psi 1] [--cutoff K]\n"
                 "                          [--noise const|random|none] [--noise-seed S] [--device cpu|vulkan]\n"
                 "                          [--batch B] (--out grid.png | --outdir DIR) [--out-npy IMG.npy] [--out-w W.npy]\n"
                 "       stylegan2 discriminate --weights W.safetensors --images X.npy --out LOGITS.npy\n"
                 "                          [--mbstd-group G] [--device cpu|vulkan]\n"
                 "       stylegan2 random --out W.safetensors [--resolution 1024] [--z-dim 512] [--w-dim 512]\n"
                 "                          [--mapping-layers 8] [--channel-base 32768] [--channel-max 512] [--seed 0]\n"
                 "                          [--noise-strength 0] [--image-std 0]\n"
                 "W.safetensors comes from build/weights/convert (NVIDIA TF / ADA pickles, rosinality .pt).\n");
    return 2;
}

/// "0-7", "3", "1,4,9-11" -> the seeds; each must lie in [0, 2^32) as numpy requires.
std::vector<uint32_t> parse_seeds(const std::string& s) {
    std::vector<uint32_t> out;
    size_t pos = 0;
    auto number = [&](const std::string& t) -> uint32_t {
        size_t used = 0;
        long long v = -1;
        try { v = std::stoll(t, &used); } catch (...) { used = 0; }
        VKG_CHECK(used == t.size() && !t.empty() && v >= 0 && v <= 0xffffffffLL, "stylegan2",
                  "--seeds: '", t, "' is not a seed in [0, 2^32)");
        return static_cast<uint32_t>(v);
    };
    while (pos <= s.size()) {
        const size_t comma = std::min(s.find(',', pos), s.size());
        const std::string item = s.substr(pos, comma - pos);
        const size_t dash = item.find('-', 1);
        if (dash == std::string::npos) {
            out.push_back(number(item));
        } else {
            const uint32_t a = number(item.substr(0, dash)), b = number(item.substr(dash + 1));
            VKG_CHECK(a <= b && b - a < 100000, "stylegan2", "--seeds: bad range '", item, "'");
            for (uint64_t v = a; v <= b; ++v) out.push_back(static_cast<uint32_t>(v));
        }
        pos = comma + 1;
    }
    return out;
}

double real_flag(const std::map<std::string, std::string>& a, const char* k, double def) {
    auto it = a.find(k);
    if (it == a.end()) return def;
    size_t used = 0;
    double v = 0;
    try { v = std::stod(it->second, &used); } catch (...) { used = 0; }
    VKG_CHECK(used == it->second.size() && used > 0 && std::isfinite(v), "stylegan2", k, " '", it->second,
              "' is not a number");
    return v;
}
int64_t int_flag(const std::map<std::string, std::string>& a, const char* k, int64_t def) {
    const double v = real_flag(a, k, static_cast<double>(def));
    VKG_CHECK(v == std::floor(v) && std::abs(v) < 1e15, "stylegan2", k, " '", a.at(k), "' is not an integer");
    return static_cast<int64_t>(v);
}
void check_flags(const std::map<std::string, std::string>& a, const std::set<std::string>& known, const char* cmd) {
    for (const auto& [k, v] : a) VKG_CHECK(known.count(k), cmd, "unknown flag ", k, " (see --help)");
}


int generate(const std::map<std::string, std::string>& a) {
    const auto get = [&](const char* k, const std::string& def = "") { auto it = a.find(k); return it == a.end() ? def : it->second; };
    check_flags(a, {"--weights", "--seeds", "--z", "--psi", "--cutoff", "--noise", "--noise-seed", "--device", "--batch",
                    "--out", "--outdir", "--out-npy", "--out-w"}, "generate");
    VKG_CHECK(a.count("--weights"), "generate", "--weights is required");
    VKG_CHECK(a.count("--out") + a.count("--outdir") >= 1, "generate", "--out grid.png or --outdir DIR is required");
    VKG_CHECK(a.count("--seeds") + a.count("--z") == 1, "generate", "give exactly one of --seeds and --z");
    const double psi = real_flag(a, "--psi", 1.0);
    const int64_t cutoff = int_flag(a, "--cutoff", -1);
    const std::string noise_name = get("--noise", "const");
    VKG_CHECK(noise_name == "const" || noise_name == "random" || noise_name == "none", "generate",
              "--noise must be const, random or none, got '", noise_name, "'");
    const models::NoiseMode noise = noise_name == "const" ? models::NoiseMode::constant
                                    : noise_name == "random" ? models::NoiseMode::random : models::NoiseMode::none;
    const int64_t batch = int_flag(a, "--batch", 4);
    VKG_CHECK(batch >= 1, "generate", "--batch must be >= 1");
    const Device dev = cli::pick_device(get("--device", "cpu"), "stylegan2");

    auto t0 = Clock::now();
    const auto weights = models::load_stylegan2(get("--weights"));
    const auto& cfg = weights.config;
    Generator init(0);
    models::StyleGAN2Generator G(cfg, init);
    G.load_state_dict(weights.G);
    G.move_to(dev);
    std::fprintf(stderr, "generate: %lldx%lld generator, z_dim %lld, %lld ws, loaded in %.2f s\n",
                 static_cast<long long>(cfg.resolution), static_cast<long long>(cfg.resolution),
                 static_cast<long long>(cfg.z_dim), static_cast<long long>(cfg.num_ws()), seconds_since(t0));

    Tensor z;
    std::vector<std::string> names; // --outdir file names
    if (a.count("--seeds")) {
        const auto seeds = parse_seeds(get("--seeds"));
        for (uint32_t s : seeds) names.push_back("seed" + pad4(s) + ".png");
        std::vector<double> v;
        for (uint32_t s : seeds) {
            const auto row = NumpyRandomState(s).randn(cfg.z_dim);
            v.insert(v.end(), row.begin(), row.end());
        }
        z = from_vector(v, {static_cast<int64_t>(seeds.size()), cfg.z_dim}, {DType::f64});
    } else {
        z = io::load_npy(get("--z"));
        VKG_CHECK(z.dim() == 2 && z.size(1) == cfg.z_dim && z.size(0) >= 1 && is_floating(z.dtype()), "generate",
                  "--z '", get("--z"), "' must be float32 or float64 [N, ", cfg.z_dim, "] for this network, got ",
                  dtype_name(z.dtype()), " ", to_string(z.shape()));
        for (int64_t i = 0; i < z.size(0); ++i) names.push_back("img" + pad4(static_cast<uint64_t>(i)) + ".png");
    }
    const int64_t N = z.size(0);
    const std::string outdir = get("--outdir");
    if (!outdir.empty()) std::filesystem::create_directories(outdir);
    Generator rng(static_cast<uint64_t>(int_flag(a, "--noise-seed", 0)));
    NoGradGuard ng;
    std::vector<Tensor> imgs, ws;
    const bool keep_images = a.count("--out") || a.count("--out-npy");
    t0 = Clock::now();
    for (int64_t i = 0; i < N; i += batch) {
        const int64_t n = std::min(batch, N - i);
        const Tensor w = G.mapping(to(narrow(z, 0, i, n), dev), models::Truncation{psi, cutoff});
        const Tensor img = to(G.synthesis->forward(w, noise, &rng), Device{});
        if (!outdir.empty())
            for (int64_t j = 0; j < n; ++j)
                io::save_png((std::filesystem::path(outdir) / names[static_cast<size_t>(i + j)]).string(),
                             narrow(img, 0, j, 1), io::Range::symmetric);
        if (keep_images) imgs.push_back(img); // --outdir alone streams: thousands of images need not fit in memory
        ws.push_back(to(reshape(narrow(w, 1, 0, 1), {n, cfg.w_dim}), Device{}));
        std::fprintf(stderr, "\rgenerate: %lld/%lld images, %.2f s per image", static_cast<long long>(i + n),
                     static_cast<long long>(N), seconds_since(t0) / static_cast<double>(i + n));
    }
    std::fprintf(stderr, "\n");
    if (keep_images) {
        const Tensor img = concat(imgs, 0);
        if (a.count("--out")) io::save_grid(get("--out"), img, 0, 2, io::Range::symmetric);
        if (a.count("--out-npy")) io::save_npy(get("--out-npy"), img);
    }
    if (a.count("--out-w")) io::save_npy(get("--out-w"), concat(ws, 0));
    std::fprintf(stderr, "generate: wrote %s\n", a.count("--out") ? get("--out").c_str() : outdir.c_str());
    return 0;
}

int discriminate(const std::map<std::string, std::string>& a) {
    const auto get = [&](const char* k, const std::string& def = "") { auto it = a.find(k); return it == a.end() ? def : it->second; };
    check_flags(a, {"--weights", "--images", "--out", "--mbstd-group", "--device"}, "discriminate");
    VKG_CHECK(a.count("--weights") && a.count("--images") && a.count("--out"), "discriminate",
              "--weights, --images and --out are required");
    const Device dev = cli::pick_device(get("--device", "cpu"), "stylegan2");
    const auto weights = models::load_stylegan2(get("--weights"));
    VKG_CHECK(weights.has_discriminator(), "discriminate", "'", get("--weights"),
              "' holds no discriminator (its source checkpoint had only the generator)");
    Generator init(0);
    models::StyleGAN2Discriminator D(weights.config, init);
    D.load_state_dict(weights.D);
    if (a.count("--mbstd-group")) D.set_mbstd_group(int_flag(a, "--mbstd-group", 4));
    D.move_to(dev);
    const Tensor x = io::load_npy(get("--images"));
    const auto& c = weights.config;
    VKG_CHECK(x.dim() == 4 && x.size(0) >= 1 && x.size(1) == c.img_channels && x.size(2) == c.resolution &&
                  x.size(3) == c.resolution && is_floating(x.dtype()),
              "discriminate", "--images '", get("--images"), "' must be float [N, ", c.img_channels, ", ", c.resolution,
              ", ", c.resolution, "] for this network, got ", dtype_name(x.dtype()), " ", to_string(x.shape()));
    NoGradGuard ng;
    const auto t0 = Clock::now();
    const Tensor logits = to(D.forward(to(to(x, DType::f32), dev)), Device{});
    io::save_npy(get("--out"), logits);
    std::fprintf(stderr, "discriminate: %lld images in %.2f s, wrote %s\n", static_cast<long long>(x.size(0)),
                 seconds_since(t0), get("--out").c_str());
    return 0;
}

/// Rescales every toRGB layer k of G by a_k and gives it the bias -a_k m_k, where m_k (per
/// channel) and s_k are the mean and standard deviation of layer k's contribution to the final
/// image over 256 random z (measured with the other layers zeroed; upsampling is linear), and
/// a_k = std / (s_k sqrt(K)): the K contributions then have mean 0 and equal variance, adding up
/// to about `std` (they are nearly uncorrelated).
void balance_rgb_layers(models::StyleGAN2Generator& G, double std, Generator& gen) {
    NoGradGuard ng;
    const auto& blocks = G.synthesis->blocks;
    const int64_t K = static_cast<int64_t>(blocks.size());
    const Tensor ws = G.mapping(randn({256, G.config.z_dim}, gen), models::Truncation{});
    std::vector<Tensor> weights;
    for (auto& b : blocks) weights.push_back(clone(b->torgb->weight));
    std::vector<double> scale(blocks.size());
    std::vector<Tensor> means(blocks.size());
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t j = 0; j < K; ++j) copy_(blocks[j]->torgb->weight, j == k ? weights[j] : zeros_like(weights[j]));
        const Tensor img = G.synthesis->forward(ws, models::NoiseMode::constant);
        means[k] = mean(img, {0, 2, 3});
        const Tensor centred = img - reshape(means[k], {1, img.size(1), 1, 1});
        const double s = std::sqrt(mean(centred * centred).item());
        VKG_CHECK(s > 0, "random", "toRGB layer of block ", blocks[k]->resolution, " contributes nothing");
        scale[k] = std / (s * std::sqrt(static_cast<double>(K)));
    }
    for (int64_t k = 0; k < K; ++k) {
        copy_(blocks[k]->torgb->weight, weights[k] * scale[k]);
        copy_(blocks[k]->torgb->bias, means[k] * -scale[k]);
    }
}

int random_networks(const std::map<std::string, std::string>& a) {
    check_flags(a, {"--out", "--resolution", "--z-dim", "--w-dim", "--mapping-layers", "--channel-base",
                    "--channel-max", "--seed", "--noise-strength", "--image-std"}, "random");
    VKG_CHECK(a.count("--out"), "random", "--out W.safetensors is required");
    models::StyleGAN2Config c;
    c.resolution = int_flag(a, "--resolution", c.resolution);
    c.z_dim = int_flag(a, "--z-dim", c.z_dim);
    c.w_dim = int_flag(a, "--w-dim", c.w_dim);
    c.mapping_layers = int_flag(a, "--mapping-layers", c.mapping_layers);
    c.channel_base = int_flag(a, "--channel-base", c.channel_base);
    c.channel_max = int_flag(a, "--channel-max", c.channel_max);
    c.validate();
    Generator init(static_cast<uint64_t>(int_flag(a, "--seed", 0)));
    models::StyleGAN2Generator G(c, init);
    models::StyleGAN2Discriminator D(c, init);
    {
        // A trained network's w_avg tracks the mean mapped w; an all-zero one would sit far from
        // every w the mapping produces, and truncation and the prior's encoder start from it.
        NoGradGuard ng;
        copy_(G.mapping_net->w_avg, mean(G.mapping_net->forward(randn({1000, c.z_dim}, init)), {0}));
    }
    const double noise_strength = real_flag(a, "--noise-strength", 0.0);
    {
        NoGradGuard ng;
        for (auto& b : G.synthesis->blocks)
            for (auto& layer : {b->conv0, b->conv1})
                if (layer) fill_(layer->noise_strength, noise_strength);
    }
    const double image_std = real_flag(a, "--image-std", 0.0);
    VKG_CHECK(image_std >= 0, "random", "--image-std must be >= 0, got ", image_std);
    if (image_std > 0) balance_rgb_layers(G, image_std, init);
    models::save_stylegan2_modules(G, &D, a.at("--out"), "vkgrad-random", "stylegan2 random");
    std::fprintf(stderr, "random: wrote %s (%s)\n", a.at("--out").c_str(), models::describe(c).c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") return usage();
    const std::string cmd = argv[1];
    std::map<std::string, std::string> args;
    for (int i = 2; i < argc; ++i) {
        const std::string k = argv[i];
        if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
            std::fprintf(stderr, "stylegan2: expected '--flag value', got '%s'\n", k.c_str());
            return usage();
        }
        args[k] = argv[++i];
    }
    try {
        if (cmd == "generate") return generate(args);
        if (cmd == "discriminate") return discriminate(args);
        if (cmd == "random") return random_networks(args);
        std::fprintf(stderr, "stylegan2: unknown command '%s'\n", cmd.c_str());
        return usage();
    } catch (const std::exception& e) {
        return cli::report_error("stylegan2", e);
    }
}
