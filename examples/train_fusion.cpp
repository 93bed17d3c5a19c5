// train_fusion — stage 2 of the GAN prior: trains the fusion network F that merges the
// regression output x_R (faithful, smooth) with the generator's x_G (sharp, less faithful).
//
//   train_fusion --regression R.safetensors --encoder E.safetensors --generator G.safetensors
//                --data DIR --kernels K.npy --out F.safetensors
//                [--val-data DIR] [--val-kernels K.npy] [--samples SHEET.png] [--ckpt RUN.ckpt] [--resume]
//                [--regression-config NAME] [--vgg VGG16.pth --lpips-heads vgg.pth] [--vgg19 VGG19.pth]
//                [--steps 40000] [--batch 8] [--lr 1e-3] [--lr-step 8000] [--lr-gamma 0.1]
//                [--beta1 0.9] [--beta2 0.999] [--lpips-weight 10] [--cx-weight 1] [--cx-r 0.01]
//                [--cx-g 0.05] [--cx-tile 32] [--cx-band 0.5] [--width 64] [--blocks 8]
//                [--val-every 500] [--ckpt-every 500] [--seed 0] [--device cpu|vulkan] [--threads N]
//                [--overfit]
//
// R, E and G (train_restore's and train_prior's outputs) are frozen: x_R and x_G are computed on
// the fly without a graph, and x_hat = F(x_R, clamp(x_G, 0, 1)) (models/prior_pipeline.hpp).
//
//   L_F = L1(x_hat, x) + lpips_w LPIPS_vgg(x_hat, x) + cx_w (cx_r CX(x_R, x_hat) + cx_g CX(x_G, x_hat))
//
// CX(t, x_hat) is the contextual loss (losses/contextual.hpp) with x_hat's VGG19 features as the
// generated set and t's as the target, summed over relu3_2 and relu4_2 (torchvision's layers 13
// and 22, ImageNet-normalised [0, 1] input). Its cost grows with the square of the positions
// compared, so the maps are cut into tiles of at most --cx-tile x --cx-tile positions: the
// default 32 gives 16 tiles at relu3_2 and 4 at relu4_2 for 512 px faces (about 1.5 s and 0.9 s
// per image forward + backward on two cores, README), and keeps the matching local, which suits
// aligned faces. --lpips-weight 0 and --cx-weight 0 switch those terms off; otherwise a missing
// --vgg / --lpips-heads / --vgg19 is an error that names the flag.
//
// Adam (lr 1e-3, divided by 10 at --lr-step). Validation: PSNR/SSIM of x_hat (x_R's and x_G's
// once, for reference); --out is rewritten whenever the validation PSNR of x_hat improves, so it
// holds the best network (without --val-data: the last one). --samples gets blurred | x_R | x_G |
// x_hat | sharp for three faces. Checkpoints every --ckpt-every steps and on Ctrl-C; --resume
// continues (with the best PSNR so far). --overfit trains on one fixed batch (CI).
#include "prior_common.hpp"

#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/module_weights.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/losses/contextual.hpp>
#include <vkgrad/models/backbones.hpp>
#include <vkgrad/models/prior_pipeline.hpp>

#include <chrono>
#include <tuple>

using namespace vkgrad;
using namespace prior;

namespace {

const char* const kProg = "train_fusion";

/// VGG19 relu3_2 and relu4_2 of images in [0, 1].
std::vector<Tensor> cx_features(const models::VGG& vgg, const Tensor& x) {
    return vgg.taps(models::imagenet_normalize(x), {13, 22});
}

int run(const Args& a) {
    const int64_t steps = a.integer("--steps", 40000), batch = a.integer("--batch", 8);
    const int64_t val_every = a.integer("--val-every", 500), ckpt_every = a.integer("--ckpt-every", 500);
    const int64_t lr_step = a.integer("--lr-step", 8000);
    const double lr = a.num("--lr", 1e-3), lr_gamma = a.num("--lr-gamma", 0.1);
    const double beta1 = a.num("--beta1", 0.9), beta2 = a.num("--beta2", 0.999);
    const double lpips_w = a.num("--lpips-weight", 10), cx_w = a.num("--cx-weight", 1);
    const double cx_r = a.num("--cx-r", 0.01), cx_g = a.num("--cx-g", 0.05);
    const losses::ContextualOptions cx_opt{a.num("--cx-band", 0.5), a.integer("--cx-tile", 32), 0};
    const uint64_t seed = static_cast<uint64_t>(a.integer("--seed", 0));
    const bool overfit = a.flag("--overfit");
    VKG_CHECK(steps >= 1 && batch >= 1 && ckpt_every >= 1, kProg, "need --steps >= 1, --batch >= 1 and --ckpt-every >= 1");
    VKG_CHECK(cx_w >= 0 && cx_r >= 0 && cx_g >= 0 && cx_opt.tile >= 0, kProg,
              "--cx-weight, --cx-r, --cx-g and --cx-tile must be >= 0");
    VKG_CHECK(a.has("--data") && a.has("--kernels"), kProg, "--data DIR and --kernels K.npy are required");
    VKG_CHECK(a.has("--out"), kProg, "--out F.safetensors is required");
    if (a.has("--threads")) set_num_threads(static_cast<int>(a.integer("--threads", 0)));
    const Device dev = pick_device(a.str("--device", "cpu"), kProg);

    // --- networks; every file is checked before anything slow happens ---
    const std::string r_path = a.file("--regression", "train_restore --out writes one");
    const std::string e_path = a.file("--encoder", "train_prior --out-encoder writes one");
    const std::string g_path = a.file("--generator", "train_prior --out-generator, or a converted StyleGAN2 file");
    auto lpips = make_lpips(a, lpips_w);
    std::unique_ptr<models::VGG> vgg19;
    if (cx_w > 0) {
        const std::string off = " (or --cx-weight 0 to train without the contextual loss)";
        VKG_CHECK(a.has("--vgg19"), kProg, "--cx-weight ", cx_w, " needs --vgg19 VGG19.pth (torchvision's vgg19-dcbb9e9d.pth)", off);
        VKG_CHECK(fs::is_regular_file(a.str("--vgg19")), kProg, "--vgg19 '", a.str("--vgg19"), "' does not exist", off);
        Generator init(0);
        vgg19 = std::make_unique<models::VGG>(19, init);
        models::load_torchvision_features(*vgg19, a.str("--vgg19"));
        set_trainable(*vgg19, false);
        vgg19->eval();
    }
    models::PriorPipeline pipe = models::load_prior_pipeline(r_path, e_path, g_path, "", a.str("--regression-config"));
    const int64_t S = pipe.resolution();
    models::FusionConfig fcfg;
    fcfg.width = a.integer("--width", 64);
    fcfg.blocks = a.integer("--blocks", 8);
    fcfg.validate();
    Generator init(seed), data_gen(seed + 1);
    pipe.fusion = std::make_shared<models::FusionNet>(fcfg, init);
    models::FusionNet& F = *pipe.fusion;

    // --- data ---
    const FaceData data(a, S);
    std::fprintf(stderr, "%s: %zu training faces at %lldx%lld, %lld kernels, %zu validation faces\n", kProg,
                 data.train.size(), static_cast<long long>(S), static_cast<long long>(S),
                 static_cast<long long>(data.kernels.size(0)), data.val_sharp.size());
    int64_t params = 0;
    for (auto& p : F.parameters()) params += p.numel();
    std::fprintf(stderr, "%s: fusion width %lld, %lld blocks, %lld parameters; LPIPS %s; CX %s (tiles %lld); device %s\n",
                 kProg, static_cast<long long>(fcfg.width), static_cast<long long>(fcfg.blocks),
                 static_cast<long long>(params), lpips ? "on" : "off", vgg19 ? "on" : "off",
                 static_cast<long long>(cx_opt.tile), a.str("--device", "cpu").c_str());

    set_trainable(*pipe.encoder, false);
    set_trainable(*pipe.generator, false);
    pipe.move_to(dev);
    if (lpips) lpips->move_to(dev);
    if (vgg19) vgg19->move_to(dev);
    F.train();
    optim::Adam opt(F.parameters(), lr, optim::AdamOptions{beta1, beta2});
    optim::MultiStepLR schedule(opt, lr_step > 0 ? std::vector<int64_t>{lr_step} : std::vector<int64_t>{}, lr_gamma);

    int64_t step = 0;
    double best = -1; // best validation PSNR of x_hat so far
    const std::string ckpt = a.str("--ckpt", a.str("--out") + ".ckpt");
    const auto save_ckpt = [&] {
        io::Checkpoint c;
        c.add("F", F);
        c.add("opt", opt);
        c.add("rng.data", data_gen);
        c.metadata = fcfg.to_metadata();
        c.metadata["step"] = std::to_string(step);
        c.metadata["best_val_psnr"] = std::to_string(best);
        c.save(ckpt);
    };
    if (a.flag("--resume")) {
        VKG_CHECK(fs::exists(ckpt), kProg, "--resume: no checkpoint at '", ckpt, "'");
        const auto c = io::Checkpoint::load(ckpt);
        c.restore("F", F);
        c.restore("opt", opt);
        c.restore("rng.data", data_gen);
        step = std::stoll(c.metadata.at("step"));
        best = std::stod(c.metadata.at("best_val_psnr"));
        schedule.set_step(step);
        std::fprintf(stderr, "%s: resumed from %s at step %lld\n", kProg, ckpt.c_str(), static_cast<long long>(step));
    }
    const auto save_out = [&](double val_psnr) {
        auto meta = fcfg.to_metadata();
        meta["steps"] = std::to_string(step);
        meta["val_psnr"] = std::to_string(val_psnr);
        io::save_module_weights(F, a.str("--out"), meta);
    };

    // --- validation ---
    double last_val = 0;
    bool reported_reference = false;
    const auto validate = [&] {
        if (data.val_sharp.empty()) return;
        F.eval();
        const size_t n = data.val_sharp.size();
        Quality q_r, q_g, q_hat;
        std::vector<Tensor> sheet;
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t first = 0; first < n; first += static_cast<size_t>(batch)) {
            const size_t m = std::min(n - first, static_cast<size_t>(batch));
            const auto [blurred, sharp] = data.val_batch(first, m);
            const auto out = pipe.run(to(blurred, dev));
            const Tensor x_r = to(out.x_r, Device{}), x_g = to(out.x_g, Device{}), x_hat = to(out.x_hat, Device{});
            if (!reported_reference) {
                q_r.add(x_r, sharp, n);
                q_g.add(x_g, sharp, n);
            }
            q_hat.add(x_hat, sharp, n);
            for (size_t i = 0; i < m && first + i < 3; ++i) {
                const auto row = [&](const Tensor& t) { return narrow(t, 0, static_cast<int64_t>(i), 1); };
                sheet.insert(sheet.end(), {row(blurred), row(x_r), row(x_g), row(x_hat), row(sharp)});
            }
        }
        F.train();
        if (!reported_reference)
            std::fprintf(stderr, "validation reference: x_R PSNR %.2f dB, SSIM %.4f; x_G PSNR %.2f dB, SSIM %.4f\n",
                         q_r.psnr, q_r.ssim, q_g.psnr, q_g.ssim);
        reported_reference = true;
        last_val = q_hat.psnr;
        const bool improved = q_hat.psnr > best;
        std::fprintf(stderr, "validation at step %lld: x_hat PSNR %.2f dB, SSIM %.4f in %.1f s%s\n",
                     static_cast<long long>(step), q_hat.psnr, q_hat.ssim,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                     improved ? " (best so far, written to --out)" : "");
        if (improved) {
            best = q_hat.psnr;
            save_out(best);
        }
        if (a.has("--samples")) io::save_grid(a.str("--samples"), concat(sheet, 0), 5);
    };

    // --- training ---
    std::signal(SIGINT, on_sigint);
    // x_R and x_G of a batch: the frozen stages, without a graph.
    const auto frozen_stages = [&](const Tensor& xb) {
        NoGradGuard ng;
        const Tensor x_r = pipe.restore(xb);
        return std::make_pair(x_r, clamp(pipe.generate(x_r), 0, 1));
    };
    Tensor fixed_s, fixed_r, fixed_g;
    if (overfit) {
        Generator g(seed + 7);
        auto [b, s] = data.batch(batch, g);
        fixed_s = to(s, dev);
        std::tie(fixed_r, fixed_g) = frozen_stages(to(b, dev));
    }
    io::Progress progress(steps);
    LossLog log_total, log_l1;
    StepLoop loop{kProg, batch, ckpt_every, val_every, save_ckpt, validate};
    loop.begin(step);
    while (step < steps && !g_interrupted) {
        Tensor xs = fixed_s, x_r = fixed_r, x_g = fixed_g;
        if (!overfit) {
            auto [b, s] = data.batch(batch, data_gen);
            xs = to(s, dev);
            std::tie(x_r, x_g) = frozen_stages(to(b, dev));
        }
        opt.zero_grad();
        const Tensor x_hat = pipe.fuse(x_r, x_g);
        const Tensor l1 = losses::l1_loss(x_hat, xs);
        Tensor loss = l1;
        double lp = 0, cx = 0;
        if (lpips) {
            const Tensor t = mean(lpips->distance(x_hat, xs, /*normalize=*/true));
            loss = loss + t * lpips_w;
            lp = host_value(t);
        }
        if (vgg19) {
            std::vector<Tensor> f_r, f_g;
            {
                NoGradGuard ng;
                f_r = cx_features(*vgg19, x_r);
                f_g = cx_features(*vgg19, x_g);
            }
            const auto f_hat = cx_features(*vgg19, x_hat);
            Tensor t;
            for (size_t l = 0; l < f_hat.size(); ++l) {
                const Tensor term = losses::contextual_loss(f_hat[l], f_r[l], cx_opt) * cx_r +
                                    losses::contextual_loss(f_hat[l], f_g[l], cx_opt) * cx_g;
                t = t.defined() ? t + term : term;
            }
            loss = loss + t * cx_w;
            cx = host_value(t);
        }
        loss.backward();
        opt.step();
        schedule.step();
        ++step;
        const double l = host_value(loss), l1v = host_value(l1);
        check_finite(l, "loss", step, kProg);
        log_total.add(l);
        log_l1.add(l1v);
        progress.update(step, {{"loss", l}, {"l1", l1v}, {"lpips", lp}, {"cx", cx}, {"lr", opt.groups[0].lr},
                               {"val_psnr", last_val},
                               {"img/s", loop.images_per_second(step)}});
        loop.after_step(step);
    }
    if (loop.finish_interrupted(step, ckpt)) return 130;
    log_total.print("loss");
    log_l1.print("l1");
    if (data.val_sharp.empty()) {
        save_out(0);
        std::printf("wrote %s (the last weights: no --val-data to choose the best)\n", a.str("--out").c_str());
    } else if (fs::exists(a.str("--out"))) {
        std::printf("wrote %s (best validation PSNR %.2f dB)\n", a.str("--out").c_str(), best);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    static const std::set<std::string> known = {
        "--regression", "--regression-config", "--encoder", "--generator", "--data", "--kernels", "--val-data",
        "--val-kernels", "--out", "--ckpt", "--samples", "--vgg", "--lpips-heads", "--vgg19", "--steps", "--batch",
        "--lr", "--lr-step", "--lr-gamma", "--beta1", "--beta2", "--lpips-weight", "--cx-weight", "--cx-r", "--cx-g",
        "--cx-tile", "--cx-band", "--width", "--blocks", "--val-every", "--ckpt-every", "--seed", "--device",
        "--threads"};
    return cli::main_with_flags(argc, argv, kProg, known, {"--resume", "--overfit"}, run);
}
