// train_restore — trains a regression network (NAFNet) to remove camera-shake blur.
//
//   train_restore --data DIR --kernels KERNELS.npy --val-data DIR --val-kernels KERNELS.npy
//                 --out MODEL.safetensors [--ckpt RUN.ckpt] [--resume] [--samples SHEET.png]
//                 [--steps 20000] [--batch 8] [--crop 128] [--size 512] [--lr 1e-3] [--wd 1e-3]
//                 [--beta2 0.9] [--clip 0.01] [--ema 0] [--noise 0] [--val-every 500]
//                 [--ckpt-every 200] [--width 32] [--enc 1,1,1,28] [--middle 1] [--dec 1,1,1,1]
//                 [--seed 0] [--device cpu|vulkan] [--threads N] [--overfit] [--until STEP]
//                 [--init WEIGHTS.safetensors] [--warmup 0] [--f16] [--local-pool 0]
//
// Data: every PNG/JPEG under --data (recursively) is resized to --size; each training pair is
// made on the fly — a random crop (with a margin the kernel needs), random flips, a random
// kernel of --kernels (from `blur kernels`; files joined by commas are one set, say strong and
// mild blur), the blur computed on the margin and cut away, so there are no border artefacts —
// optional Gaussian noise. Validation: every image of --val-data at --size, blurred once with
// kernel i of --val-kernels (reflected borders, as `blur apply` does); PSNR/SSIM of the
// restored images are reported next to the blurred ones', and so are those of the restored
// images refined with the blur model as deblur refines them by default (data::refine_deblurred).
//
// NAFNet's GoPro recipe by default: PSNR loss, AdamW (betas 0.9/0.9, weight decay 1e-3),
// cosine schedule to 1e-7, gradient-norm clipping at 0.01; --warmup N ramps the rate up
// linearly over the first N steps (for --init: fresh Adam moments jolt a trained network).
// Checkpoints (model, optimizer, EMA, generators, step) every --ckpt-every steps and when
// interrupted (Ctrl-C); --resume continues from one. --overfit trains on one fixed batch (the CI check that losses fall).
// --until S stops after step S of the --steps schedule, saves the checkpoint and writes --out
// with the weights of that step: a run in stages (say, larger crops from step S on: Restormer's
// progressive patches) is `--until S`, then `--resume` with the new flags, and gives the same
// weights as one uninterrupted run of the same stages.
// --init W starts a new run from trained weights W of a network with at most these blocks and a
// width that divides --width: NAFBlocks W lacks start as identities (beta = gamma = 0) and a
// narrower W is widened by repeating its channels (models::widen_nafnet), so a trained model can
// be deepened or widened and trained on from exactly where it was (the step-0 validation shows it).
// --f16 writes --out's weights as float16 (half the file; checkpoints stay float32).
// --local-pool N: NAFNet's test-time local pooling window (models::NAFNetConfig::local_pool),
// used by the validation and written into --out, so deblur uses it too; crops of at most N
// pixels train exactly as with global pooling. The training crop is the natural choice.
#include <vkgrad/data/deconvolution.hpp>
#include <vkgrad/data/motion_blur.hpp>
#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/module_weights.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/metrics.hpp>
#include <vkgrad/models/nafnet.hpp>
#include <vkgrad/models/nafnet_widen.hpp>
#include <vkgrad/vkgrad.hpp>

#include "cli.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace vkgrad;
using cli::Args;
using cli::image_files;
using cli::pick_device;
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

/// An image file as [3, size, size] in [0, 1]: the shorter side resized to size, centre-cropped.
Tensor load_square(const fs::path& p, int64_t size) {
    Tensor img = io::load_image(p.string()); // [1, 3, H, W]
    const int64_t H = img.size(2), W = img.size(3), s = std::min(H, W);
    if (H != W) img = io::center_crop(img, s, s);
    if (s != size) img = io::resize(img, size, size, s > size ? io::Resize::area : io::Resize::bicubic);
    return reshape(clamp(img, 0, 1), {3, size, size});
}

/// `paths`: one .npy file or several joined by commas (say, strong and mild blur), one after
/// the other; all must have kernels of one size.
Tensor load_kernels(const std::string& paths) {
    std::vector<Tensor> parts;
    for (const std::string& path : cli::split_commas(paths)) {
        const Tensor k = io::load_npy(path);
        VKG_CHECK(k.dim() == 3 && k.size(1) == k.size(2) && k.size(1) % 2 == 1 && k.size(0) >= 1 && is_floating(k.dtype()),
                  "train_restore", "kernel file '", path, "' must hold float [N, k, k] with odd k, got ",
                  dtype_name(k.dtype()), " ", to_string(k.shape()));
        VKG_CHECK(parts.empty() || k.size(1) == parts[0].size(1), "train_restore", "kernel file '", path, "' has ",
                  k.size(1), "x", k.size(1), " kernels but the one before it ", parts[0].size(1), "x", parts[0].size(1));
        parts.push_back(to(k, DType::f32));
    }
    return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

/// One training pair: blurred and sharp crops [3, crop, crop].
std::pair<Tensor, Tensor> make_pair(const std::vector<Tensor>& images, const Tensor& kernels, int64_t crop,
                                    double noise, Generator& gen) {
    const Tensor& img = images[static_cast<size_t>(gen.uniform() * static_cast<double>(images.size())) % images.size()];
    const int64_t ks = kernels.size(1), m = ks / 2, big = crop + 2 * m;
    Tensor region = io::random_crop(unsqueeze(img, 0), big, big, gen);
    if (gen.uniform() < 0.5) region = io::hflip(region);
    if (gen.uniform() < 0.5) region = io::vflip(region);
    const int64_t ki = static_cast<int64_t>(gen.uniform() * static_cast<double>(kernels.size(0))) % kernels.size(0);
    const Tensor kernel = reshape(narrow(kernels, 0, ki, 1), {ks, ks});
    Tensor blurred = data::blur_image(reshape(region, {3, big, big}), kernel);
    blurred = narrow(narrow(blurred, 1, m, crop), 2, m, crop);
    if (noise > 0) blurred = blurred + randn(blurred.shape(), gen) * noise;
    const Tensor sharp = narrow(narrow(reshape(region, {3, big, big}), 1, m, crop), 2, m, crop);
    return {clamp(blurred, 0, 1), sharp};
}

/// The NAFBlock a state-dict key belongs to ("encoders.3.5." for "encoders.3.5.conv1.weight",
/// "middle_blks.1." for "middle_blks.1.beta"), or "" for a tensor outside the blocks.
std::string block_of(const std::string& key) {
    const bool level = key.rfind("encoders.", 0) == 0 || key.rfind("decoders.", 0) == 0;
    if (!level && key.rfind("middle_blks.", 0) != 0) return "";
    size_t at = 0;
    for (int dots = level ? 3 : 2; dots > 0; --dots) {
        at = key.find('.', at);
        if (at == std::string::npos) return "";
        ++at;
    }
    return key.substr(0, at);
}

/// --init: loads `path` into `model`. Every tensor of the file must be one of the model's, with
/// its shape; every tensor the file lacks must lie in a NAFBlock the file has nothing of, so
/// the new blocks (beta = gamma = 0) are identities and the model computes what the file's did.
/// A file of a narrower network whose width divides the model's is widened first (`gen` makes
/// the copies' unequal shares).
void init_from(models::NAFNet& model, const std::string& path, Generator& gen) {
    auto sd = io::read_state_dict(path);
    const auto intro = sd.find("intro.weight");
    VKG_CHECK(intro != sd.end(), "train_restore", "--init: '", path, "' has no 'intro.weight': not a NAFNet");
    const int64_t file_width = intro->second.size(0), width = model.config.width;
    if (file_width != width) {
        VKG_CHECK(file_width >= 1 && file_width < width && width % file_width == 0, "train_restore", "--init: '", path, "' is a width-",
                  file_width, " NAFNet; --width ", width, " must be the same or a multiple of it");
        sd = models::widen_nafnet(sd, width / file_width, 0.5, gen);
        std::fprintf(stderr, "train_restore: widened %s from width %lld to %lld (channels repeated, same function)\n",
                     path.c_str(), static_cast<long long>(file_width), static_cast<long long>(width));
    }
    std::map<std::string, Tensor> mine;
    for (auto& [k, t] : model.state_dict()) mine[k] = t;
    std::set<std::string> blocks_in_file;
    for (auto& [k, t] : sd) {
        const auto it = mine.find(k);
        VKG_CHECK(it != mine.end(), "train_restore", "--init: '", path, "' holds '", k,
                  "', which this network does not have (are --width, --enc, --middle and --dec at least the file's?)");
        VKG_CHECK(it->second.shape() == t.shape(), "train_restore", "--init: '", k, "' in '", path, "' is ",
                  to_string(t.shape()), " but this network's is ", to_string(it->second.shape()),
                  " (are --width, --enc, --middle and --dec at least the file's?)");
        blocks_in_file.insert(block_of(k));
    }
    std::set<std::string> new_blocks;
    for (auto& [k, t] : mine) {
        if (sd.count(k)) continue;
        const std::string b = block_of(k);
        VKG_CHECK(!b.empty() && !blocks_in_file.count(b), "train_restore", "--init: '", path, "' lacks '", k,
                  "'; only whole NAFBlocks may be new, so that they start as identities");
        new_blocks.insert(b);
    }
    model.load_state_dict(sd, false);
    std::fprintf(stderr, "train_restore: initialised from %s: %zu tensors loaded, %zu new NAFBlocks (identities at the start)\n",
                 path.c_str(), sd.size(), new_blocks.size());
}

int run(const Args& a) {
    const int64_t steps = a.integer("--steps", 20000), batch = a.integer("--batch", 8), crop = a.integer("--crop", 128);
    const int64_t size = a.integer("--size", 512), val_every = a.integer("--val-every", 500);
    const int64_t ckpt_every = a.integer("--ckpt-every", 200), until = a.integer("--until", steps);
    const int64_t warmup = a.integer("--warmup", 0);
    const double lr = a.num("--lr", 1e-3), wd = a.num("--wd", 1e-3), beta2 = a.num("--beta2", 0.9);
    const double clip = a.num("--clip", 0.01), ema_decay = a.num("--ema", 0), noise = a.num("--noise", 0);
    const uint64_t seed = static_cast<uint64_t>(a.integer("--seed", 0));
    const bool overfit = a.flags.count("--overfit") > 0;
    VKG_CHECK(steps >= 1 && batch >= 1 && crop >= 16 && size >= crop, "train_restore",
              "need --steps >= 1, --batch >= 1, --crop >= 16 and --size >= --crop");
    VKG_CHECK(until >= 1 && until <= steps, "train_restore", "--until must be in [1, --steps], got ", until);
    VKG_CHECK(ema_decay >= 0 && ema_decay < 1, "train_restore", "--ema must be in [0, 1)");
    VKG_CHECK(warmup >= 0 && warmup <= steps, "train_restore", "--warmup must be in [0, --steps], got ", warmup);
    VKG_CHECK(a.v.count("--data") && a.v.count("--kernels") && a.v.count("--out"), "train_restore",
              "--data, --kernels and --out are required (see --help)");
    if (a.v.count("--threads")) set_num_threads(static_cast<int>(a.integer("--threads", 0)));
    const Device dev = pick_device(a.str("--device", "cpu"), "train_restore");

    models::NAFNetConfig cfg;
    cfg.width = a.integer("--width", 32);
    cfg.enc_blocks = a.list("--enc", {1, 1, 1, 28});
    cfg.middle_blocks = a.integer("--middle", 1);
    cfg.dec_blocks = a.list("--dec", {1, 1, 1, 1});
    cfg.local_pool = a.integer("--local-pool", 0);
    cfg.validate();

    // --- data ---
    const Tensor kernels = load_kernels(a.str("--kernels"));
    VKG_CHECK(size >= crop + kernels.size(1) - 1, "train_restore", "--size ", size, " is too small for crops of ", crop,
              " plus the kernel margin ", kernels.size(1) - 1);
    std::vector<Tensor> train_images;
    for (const auto& p : image_files(a.str("--data"), "--data", "train_restore")) train_images.push_back(load_square(p, size));
    std::vector<Tensor> val_blurred, val_sharp;
    if (a.v.count("--val-data")) {
        const Tensor vk = load_kernels(a.str("--val-kernels", a.str("--kernels")));
        const auto files = image_files(a.str("--val-data"), "--val-data", "train_restore");
        for (size_t i = 0; i < files.size(); ++i) {
            const Tensor sharp = load_square(files[i], size);
            const int64_t ki = static_cast<int64_t>(i) % vk.size(0);
            val_sharp.push_back(unsqueeze(sharp, 0));
            val_blurred.push_back(unsqueeze(clamp(data::blur_image(sharp, reshape(narrow(vk, 0, ki, 1), {vk.size(1), vk.size(2)})), 0, 1), 0));
        }
    }
    std::fprintf(stderr, "train_restore: %zu training images, %lld kernels %lldx%lld, %zu validation images\n",
                 train_images.size(), static_cast<long long>(kernels.size(0)), static_cast<long long>(kernels.size(1)),
                 static_cast<long long>(kernels.size(2)), val_sharp.size());

    // --- model, optimizer, schedule ---
    Generator init(seed), data_gen(seed + 1);
    models::NAFNet model(cfg, init);
    VKG_CHECK(!(a.v.count("--init") && a.flags.count("--resume")), "train_restore",
              "--init starts a new run from weights and --resume continues one from its checkpoint: give one of them");
    Generator widen_gen(seed + 2);
    if (a.v.count("--init")) init_from(model, a.str("--init"), widen_gen);
    const auto ema_from_model = [&](models::NAFNet& e) {
        std::map<std::string, Tensor> m;
        for (auto& [k, t] : model.state_dict()) m[k] = t;
        e.load_state_dict(m);
    };
    std::unique_ptr<models::NAFNet> ema;
    if (ema_decay > 0) {
        ema = std::make_unique<models::NAFNet>(cfg, init);
        ema_from_model(*ema);
    }
    int64_t params = 0;
    for (auto& p : model.parameters()) params += p.numel();
    std::fprintf(stderr, "train_restore: NAFNet width %lld, %lld parameters, device %s\n",
                 static_cast<long long>(cfg.width), static_cast<long long>(params), a.str("--device", "cpu").c_str());
    model.move_to(dev);
    if (ema) ema->move_to(dev);
    optim::AdamW opt(model.parameters(), lr, wd, {0.9, beta2});
    std::unique_ptr<optim::LRSchedule> schedule = std::make_unique<optim::CosineAnnealingLR>(opt, steps, 1e-7);
    if (warmup > 0) schedule = std::make_unique<optim::LinearWarmup>(opt, std::move(schedule), warmup);
    int64_t step = 0;
    const std::string ckpt = a.str("--ckpt", a.str("--out") + ".ckpt");
    const auto save_ckpt = [&] {
        io::Checkpoint c;
        c.add("model", model);
        if (ema) c.add("ema", *ema);
        c.add("opt", opt);
        c.add("rng.data", data_gen);
        c.metadata = cfg.to_metadata();
        c.metadata["step"] = std::to_string(step);
        c.save(ckpt);
    };
    if (a.flags.count("--resume")) {
        VKG_CHECK(fs::exists(ckpt), "train_restore", "--resume: no checkpoint at '", ckpt, "'");
        const auto c = io::Checkpoint::load(ckpt);
        c.restore("model", model);
        // --ema first given on a resume: the average starts from the checkpoint's weights.
        if (ema && c.contains("ema.intro.weight")) c.restore("ema", *ema);
        else if (ema) {
            ema_from_model(*ema);
            std::fprintf(stderr, "train_restore: %s has no EMA; --ema starts from its model weights\n", ckpt.c_str());
        }
        c.restore("opt", opt);
        c.restore("rng.data", data_gen);
        step = std::stoll(c.metadata.at("step"));
        schedule->set_step(step);
        VKG_CHECK(step <= until, "train_restore", "--resume: the checkpoint is at step ", step, ", past --until ", until);
        std::fprintf(stderr, "train_restore: resumed from %s at step %lld\n", ckpt.c_str(), static_cast<long long>(step));
    }

    // --- validation ---
    double blurred_psnr = 0, blurred_ssim = 0;
    for (size_t i = 0; i < val_sharp.size(); ++i) {
        blurred_psnr += metrics::psnr(val_blurred[i], val_sharp[i]) / static_cast<double>(val_sharp.size());
        blurred_ssim += metrics::ssim(val_blurred[i], val_sharp[i]) / static_cast<double>(val_sharp.size());
    }
    double last_val = 0;
    const auto validate = [&] {
        if (val_sharp.empty()) return;
        NoGradGuard ng;
        models::NAFNet& net = ema ? *ema : model;
        double p = 0, s = 0, rp = 0, rs = 0; // rp, rs: refined as deblur does by default
        bool refined = true;
        std::vector<Tensor> sheet;
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t i = 0; i < val_sharp.size(); ++i) {
            const Tensor out = clamp(to(net.forward(to(val_blurred[i], dev)), Device{}), 0, 1);
            p += metrics::psnr(out, val_sharp[i]) / static_cast<double>(val_sharp.size());
            s += metrics::ssim(out, val_sharp[i]) / static_cast<double>(val_sharp.size());
            if (i < 3) sheet.insert(sheet.end(), {val_blurred[i], out, val_sharp[i]});
            refined = refined && data::can_refine(out.size(2), out.size(3));
            if (refined) {
                const Tensor r = data::refine_deblurred(val_blurred[i], out);
                rp += metrics::psnr(r, val_sharp[i]) / static_cast<double>(val_sharp.size());
                rs += metrics::ssim(r, val_sharp[i]) / static_cast<double>(val_sharp.size());
            }
        }
        last_val = p;
        char with_refinement[96] = "";
        if (refined) std::snprintf(with_refinement, sizeof with_refinement, "; refined as deblur does: %.2f dB, %.4f", rp, rs);
        std::fprintf(stderr, "validation at step %lld: PSNR %.2f dB, SSIM %.4f (blurred input %.2f dB, %.4f%s) in %.1f s\n",
                     static_cast<long long>(step), p, s, blurred_psnr, blurred_ssim, with_refinement,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (a.v.count("--samples")) io::save_grid(a.str("--samples"), concat(sheet, 0), 3);
    };

    if (a.v.count("--init")) validate(); // where the grown network starts: the file's own numbers

    // --- training ---
    std::signal(SIGINT, on_sigint);
    std::vector<Tensor> fixed_b, fixed_s;
    if (overfit) {
        Generator g(seed + 7);
        for (int64_t i = 0; i < batch; ++i) {
            auto [b, s] = make_pair(train_images, kernels, crop, noise, g);
            fixed_b.push_back(unsqueeze(b, 0));
            fixed_s.push_back(unsqueeze(s, 0));
        }
    }
    io::Progress progress(steps);
    double loss_avg = 0;
    std::vector<double> losses_seen; // for the summary line: mean of the first and of the last 5
    const auto t_start = std::chrono::steady_clock::now();
    const int64_t start_step = step; // images/s counts this run's steps, not resumed ones
    while (step < until && !g_interrupted) {
        std::vector<Tensor> bs, ss;
        if (overfit) {
            bs = fixed_b;
            ss = fixed_s;
        } else {
            for (int64_t i = 0; i < batch; ++i) {
                auto [b, s] = make_pair(train_images, kernels, crop, noise, data_gen);
                bs.push_back(unsqueeze(b, 0));
                ss.push_back(unsqueeze(s, 0));
            }
        }
        const Tensor xb = to(concat(bs, 0), dev), xs = to(concat(ss, 0), dev);
        opt.zero_grad();
        const Tensor loss = losses::psnr_loss(model.forward(xb), xs);
        loss.backward();
        if (clip > 0) optim::clip_grad_norm_(model.parameters(), clip);
        opt.step();
        schedule->step();
        if (ema) optim::ema_update(*ema, model, ema_decay);
        ++step;
        const double l = to(detach(loss), Device{}).item();
        VKG_CHECK(std::isfinite(l), "train_restore", "the loss is not finite at step ", step);
        losses_seen.push_back(l);
        loss_avg = loss_avg == 0 ? l : 0.98 * loss_avg + 0.02 * l;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        progress.update(step, {{"loss", l}, {"loss_avg", loss_avg}, {"lr", opt.groups[0].lr},
                               {"val_psnr", last_val}, {"img/s", secs > 0 ? static_cast<double>(batch * (step - start_step)) / secs : 0}});
        if (step % ckpt_every == 0) save_ckpt();
        if (val_every > 0 && step % val_every == 0) validate();
    }
    save_ckpt();
    if (g_interrupted) {
        std::fprintf(stderr, "train_restore: interrupted at step %lld; checkpoint saved to %s (continue with --resume)\n",
                     static_cast<long long>(step), ckpt.c_str());
        return 130;
    }
    if (step < steps)
        std::fprintf(stderr, "train_restore: stopped at step %lld of %lld (--until); checkpoint saved to %s (continue with --resume)\n",
                     static_cast<long long>(step), static_cast<long long>(steps), ckpt.c_str());
    if (val_every <= 0 || step % val_every != 0) validate();
    const size_t k = std::min<size_t>(5, losses_seen.size());
    double first = 0, last = 0;
    for (size_t i = 0; i < k; ++i) {
        first += losses_seen[i] / static_cast<double>(k);
        last += losses_seen[losses_seen.size() - 1 - i] / static_cast<double>(k);
    }
    if (k > 0) std::printf("loss: mean of the first %zu steps %.4f and of the last %zu steps %.4f\n", k, first, k, last);
    else std::printf("loss: no steps taken (the checkpoint was already at step %lld)\n", static_cast<long long>(step));
    // The final weights: the EMA when there is one, with the architecture in the metadata.
    auto meta = cfg.to_metadata();
    meta["steps"] = std::to_string(step);
    meta["val_psnr"] = std::to_string(last_val);
    meta["val_blurred_psnr"] = std::to_string(blurred_psnr);
    NoGradGuard ng;
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (auto& [k, t] : (ema ? static_cast<nn::Module&>(*ema) : model).state_dict()) tensors.emplace_back(k, to(t, Device{}));
    io::save_safetensors(a.str("--out"), tensors, meta, a.flags.count("--f16") ? io::Float32As::f16 : io::Float32As::f32);
    std::printf("wrote %s\n", a.str("--out").c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    static const std::set<std::string> known = {
        "--data", "--kernels", "--val-data", "--val-kernels", "--out", "--ckpt", "--samples", "--steps", "--batch",
        "--crop", "--size", "--lr", "--wd", "--beta2", "--clip", "--ema", "--noise", "--val-every", "--ckpt-every", "--warmup",
        "--width", "--enc", "--middle", "--dec", "--seed", "--device", "--threads", "--until", "--init", "--local-pool"};
    return cli::main_with_flags(argc, argv, "train_restore", known, {"--resume", "--overfit", "--f16"}, run);
}
