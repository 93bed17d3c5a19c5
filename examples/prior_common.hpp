// prior_common.hpp — what train_prior and train_fusion share: flags, the face data (sharp
// FFHQ-aligned faces blurred on the fly), the perceptual networks, loss summaries, Ctrl-C.
//
// The two programs train the two stages of one method on the same data with the same
// conventions, so these pieces live once here instead of drifting apart in two copies.
#pragma once
#include "cli.hpp"

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
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
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

using cli::Args;
using cli::image_files;
using cli::parse_args;
using cli::pick_device;

inline void set_trainable(nn::Module& m, bool on) {
    for (auto& p : m.parameters()) p.requires_grad_(on);
}

inline double host_value(const Tensor& t) { return to(detach(t), Device{}).item(); }

// --- data ---


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

/// The bookkeeping around both stages' steps: images/s of this run (not of resumed steps), a
/// checkpoint every ckpt_every steps and on Ctrl-C, validation every val_every steps and once at
/// the end (unless the last step just validated).
struct StepLoop {
    const char* prog;
    int64_t batch, ckpt_every, val_every;
    std::function<void()> save, validate;
    int64_t start_step = 0;
    std::chrono::steady_clock::time_point t_start = std::chrono::steady_clock::now();

    void begin(int64_t step) {
        start_step = step;
        t_start = std::chrono::steady_clock::now();
    }
    double images_per_second(int64_t step) const {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        return secs > 0 ? static_cast<double>(batch * (step - start_step)) / secs : 0;
    }
    void after_step(int64_t step) const {
        if (step % ckpt_every == 0) save();
        if (val_every > 0 && step % val_every == 0) validate();
    }
    /// After the loop: saves; true (with the hint to resume) when Ctrl-C ended it, else the
    /// final validation.
    bool finish_interrupted(int64_t step, const std::string& ckpt) const {
        save();
        if (g_interrupted) {
            std::fprintf(stderr, "%s: interrupted at step %lld; checkpoint saved to %s (continue with --resume)\n", prog,
                         static_cast<long long>(step), ckpt.c_str());
            return true;
        }
        if (val_every <= 0 || step % val_every != 0) validate();
        return false;
    }
};

} // namespace prior
