// prior_common.hpp — what train_prior and train_fusion share: flags, the face data (sharp
// FFHQ-aligned faces blurred on the fly), the perceptual networks, loss summaries, Ctrl-C.
//
// The two programs train the two stages of one method on the same data with the same
// conventions, so these pieces live once here instead of drifting apart in two copies.
#pragma once
#include <vkgrad/data/motion_blur.hpp>
#include <vkgrad/io/image.hpp>
#include <vkgrad/metrics.hpp>
#include <vkgrad/models/lpips.hpp>
#include <vkgrad/vkgrad.hpp>
#ifdef VKGRAD_WITH_VULKAN
#include <vkgrad/vulkan.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace prior {

using namespace vkgrad;
namespace fs = std::filesystem;

inline std::atomic<bool> g_interrupted{false};
extern "C" inline void on_sigint(int) { g_interrupted = true; }

struct Args {
    const char* prog = "";
    std::map<std::string, std::string> v;
    std::set<std::string> flags;

    bool has(const char* k) const { return v.count(k) > 0; }
    bool flag(const char* k) const { return flags.count(k) > 0; }
    std::string str(const char* k, const std::string& def = "") const {
        auto it = v.find(k);
        return it == v.end() ? def : it->second;
    }
    double num(const char* k, double def) const {
        auto it = v.find(k);
        if (it == v.end()) return def;
        size_t used = 0;
        double x = 0;
        try { x = std::stod(it->second, &used); } catch (...) { used = 0; }
        VKG_CHECK(used == it->second.size() && used > 0 && std::isfinite(x), prog, k, " '", it->second,
                  "' is not a number");
        return x;
    }
    int64_t integer(const char* k, int64_t def) const {
        const double x = num(k, static_cast<double>(def));
        VKG_CHECK(x == std::floor(x) && std::abs(x) < 1e15, prog, k, " '", str(k), "' is not an integer");
        return static_cast<int64_t>(x);
    }
    /// requires: the flag is given. ensures: its value names an existing file.
    std::string file(const char* k, const char* hint = "") const {
        VKG_CHECK(has(k), prog, k, " is required", *hint ? " (" : "", hint, *hint ? ")" : "");
        const std::string p = str(k);
        VKG_CHECK(fs::is_regular_file(p), prog, k, " '", p, "' does not exist", *hint ? " (" : "", hint, *hint ? ")" : "");
        return p;
    }
};

/// "--flag value" pairs and the bare `switches`; anything else unknown is refused.
/// ensures: returns 0 with `a` filled, or the exit code (2) after printing why.
inline int parse_args(int argc, char** argv, const char* prog, const std::set<std::string>& known,
                      const std::set<std::string>& switches, Args& a) {
    a.prog = prog;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::fprintf(stderr, "see the comment at the top of examples/%s.cpp for the flags\n", prog);
            return 2;
        }
        if (switches.count(k)) {
            a.flags.insert(k);
            continue;
        }
        if (!known.count(k)) {
            std::fprintf(stderr, "%s: unknown flag %s (see --help)\n", prog, k.c_str());
            return 2;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "%s: %s needs a value\n", prog, k.c_str());
            return 2;
        }
        a.v[k] = argv[++i];
    }
    return 0;
}

inline Device pick_device(const std::string& name, const char* prog) {
    if (name == "cpu") return Device{};
#ifdef VKGRAD_WITH_VULKAN
    if (name == "vulkan") return vulkan::device(); // throws, saying why, without a device
#else
    VKG_CHECK(name != "vulkan", prog, "this build has no Vulkan support (install libvulkan-dev, rebuild)");
#endif
    ::vkgrad::detail::fail(prog, "--device must be cpu or vulkan, got '", name, "'");
}

inline void set_trainable(nn::Module& m, bool on) {
    for (auto& p : m.parameters()) p.requires_grad_(on);
}

inline double host_value(const Tensor& t) { return to(detach(t), Device{}).item(); }

// --- data ---

inline std::vector<fs::path> image_files(const std::string& dir, const char* flag, const char* prog) {
    VKG_CHECK(fs::is_directory(dir), prog, flag, " '", dir, "' is not a directory");
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    VKG_CHECK(!out.empty(), prog, flag, " '", dir, "' holds no PNG or JPEG images");
    return out;
}

/// [3, size, size] in [0, 1]: centre square, resized. The prior works on whole aligned faces,
/// so images are resized, never cropped to a random window.
inline Tensor load_square(const fs::path& p, int64_t size) {
    Tensor img = io::load_image(p.string());
    const int64_t H = img.size(2), W = img.size(3), s = std::min(H, W);
    if (H != W) img = io::center_crop(img, s, s);
    if (s != size) img = io::resize(img, size, size, s > size ? io::Resize::area : io::Resize::bicubic);
    return reshape(clamp(img, 0, 1), {3, size, size});
}

inline Tensor load_kernels(const std::string& path, const char* flag, const char* prog) {
    VKG_CHECK(fs::is_regular_file(path), prog, flag, " '", path, "' does not exist (make one with `blur kernels`)");
    Tensor k = io::load_npy(path);
    VKG_CHECK(k.dim() == 3 && k.size(1) == k.size(2) && k.size(1) % 2 == 1 && k.size(0) >= 1 && is_floating(k.dtype()),
              prog, "kernel file '", path, "' must hold float [N, k, k] with odd k, got ", dtype_name(k.dtype()), " ",
              to_string(k.shape()));
    return to(k, DType::f32);
}

inline Tensor kernel_at(const Tensor& kernels, int64_t i) {
    return reshape(narrow(kernels, 0, i % kernels.size(0), 1), {kernels.size(1), kernels.size(2)});
}

/// Sharp training faces and a fixed validation set, all at the generator's resolution.
struct FaceData {
    std::vector<Tensor> train;                 ///< [3, S, S]
    Tensor kernels;                            ///< [K, k, k]
    std::vector<Tensor> val_blurred, val_sharp; ///< [1, 3, S, S]; image i blurred with kernel i

    /// --data, --kernels, optional --val-data and --val-kernels (default: --kernels).
    FaceData(const Args& a, int64_t size) {
        kernels = load_kernels(a.str("--kernels"), "--kernels", a.prog);
        for (const auto& p : image_files(a.str("--data"), "--data", a.prog)) train.push_back(load_square(p, size));
        if (a.has("--val-data")) {
            const Tensor vk = load_kernels(a.str("--val-kernels", a.str("--kernels")), "--val-kernels", a.prog);
            const auto files = image_files(a.str("--val-data"), "--val-data", a.prog);
            for (size_t i = 0; i < files.size(); ++i) {
                const Tensor sharp = load_square(files[i], size);
                val_sharp.push_back(unsqueeze(sharp, 0));
                val_blurred.push_back(unsqueeze(clamp(data::blur_image(sharp, kernel_at(vk, static_cast<int64_t>(i))), 0, 1), 0));
            }
        }
    }

    /// A training batch (blurred, sharp), each [B, 3, S, S] on the host: random face, random
    /// left-right flip, random kernel over the whole face with reflected borders. No vertical
    /// flips: an upside-down face is outside what the generator can produce.
    std::pair<Tensor, Tensor> batch(int64_t n, Generator& gen) const {
        std::vector<Tensor> bs, ss;
        for (int64_t i = 0; i < n; ++i) {
            Tensor img = train[static_cast<size_t>(gen.uniform() * static_cast<double>(train.size())) % train.size()];
            if (gen.uniform() < 0.5) img = io::hflip(img);
            const int64_t ki = static_cast<int64_t>(gen.uniform() * static_cast<double>(kernels.size(0)));
            bs.push_back(unsqueeze(clamp(data::blur_image(img, kernel_at(kernels, ki)), 0, 1), 0));
            ss.push_back(unsqueeze(img, 0));
        }
        return {concat(bs, 0), concat(ss, 0)};
    }
    /// Validation images [first, first + n) as one batch, on the host.
    std::pair<Tensor, Tensor> val_batch(size_t first, size_t n) const {
        std::vector<Tensor> bs(val_blurred.begin() + first, val_blurred.begin() + first + n);
        std::vector<Tensor> ss(val_sharp.begin() + first, val_sharp.begin() + first + n);
        return {concat(bs, 0), concat(ss, 0)};
    }
};

/// Mean PSNR / SSIM of a list of predictions (host [N,3,H,W] batches) against the sharp set.
struct Quality {
    double psnr = 0, ssim = 0;
    void add(const Tensor& pred, const Tensor& gt, size_t total) {
        for (int64_t i = 0; i < pred.size(0); ++i) {
            const Tensor p = narrow(pred, 0, i, 1), g = narrow(gt, 0, i, 1);
            psnr += metrics::psnr(p, g) / static_cast<double>(total);
            ssim += metrics::ssim(p, g) / static_cast<double>(total);
        }
    }
};

// --- perceptual networks ---

/// LPIPS (VGG) for a loss of weight `w`: null when w == 0; otherwise --vgg and --lpips-heads
/// must name existing files, and the error says how to switch the term off instead.
inline std::unique_ptr<models::LPIPS> make_lpips(const Args& a, double w) {
    if (w == 0) return nullptr;
    VKG_CHECK(w > 0, a.prog, "--lpips-weight must be >= 0");
    const std::string off = " (or --lpips-weight 0 to train without the LPIPS term)";
    VKG_CHECK(a.has("--vgg"), a.prog, "--lpips-weight ", w, " needs --vgg VGG16.pth (torchvision's vgg16-397923af.pth)", off);
    VKG_CHECK(fs::is_regular_file(a.str("--vgg")), a.prog, "--vgg '", a.str("--vgg"), "' does not exist", off);
    VKG_CHECK(a.has("--lpips-heads"), a.prog, "--lpips-weight ", w,
              " needs --lpips-heads vgg.pth (shipped as weights/lpips/vgg.pth)", off);
    VKG_CHECK(fs::is_regular_file(a.str("--lpips-heads")), a.prog, "--lpips-heads '", a.str("--lpips-heads"),
              "' does not exist", off);
    Generator init(0);
    auto l = std::make_unique<models::LPIPS>(models::LpipsNet::vgg, init);
    l->load(a.str("--vgg"), a.str("--lpips-heads"));
    return l;
}

// --- reporting ---

/// Keeps a loss per step for the summary line the CI check reads: the mean of the first and of
/// the last k steps (a single noisy step would make "the loss fell" a coin toss).
struct LossLog {
    std::vector<double> values;
    void add(double v) { values.push_back(v); }
    void print(const char* name) const {
        const size_t k = std::min<size_t>(5, values.size());
        if (k == 0) return;
        double first = 0, last = 0;
        for (size_t i = 0; i < k; ++i) {
            first += values[i] / static_cast<double>(k);
            last += values[values.size() - 1 - i] / static_cast<double>(k);
        }
        std::printf("%s: mean of the first %zu steps %.4f and of the last %zu steps %.4f\n", name, k, first, k, last);
    }
};

inline void check_finite(double v, const char* what, int64_t step, const char* prog) {
    VKG_CHECK(std::isfinite(v), prog, "the ", what, " is not finite at step ", step);
}

} // namespace prior
