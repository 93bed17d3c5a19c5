// train_prior — stage 1 of the GAN prior: trains the inversion encoder E (and fine-tunes the
// generator G) so that G renders the sharp face from the regression network's output x_R.
//
//   train_prior --generator G.safetensors --regression R.safetensors --data DIR --kernels K.npy
//               --out-encoder E.safetensors --out-generator G2.safetensors
//               [--val-data DIR] [--val-kernels K.npy] [--samples SHEET.png] [--ckpt RUN.ckpt] [--resume]
//               [--regression-config NAME] [--freeze-g] [--vgg VGG16.pth --lpips-heads vgg.pth]
//               [--steps 40000] [--batch 8] [--lr 1e-4] [--lr-d 2.5e-5] [--beta1 0.9] [--beta2 0.99]
//               [--lpips-weight 10] [--adv-weight 0.3] [--r1-gamma 10] [--r1-every 16]
//               [--encoder-size 256] [--encoder-convs 3] [--encoder-max-channels 512]
//               [--encoder-min-channels 32] [--val-every 500] [--ckpt-every 500] [--seed 0]
//               [--device cpu|vulkan] [--threads N] [--overfit]
//
// G.safetensors is a converted pretrained StyleGAN2 (build/weights/convert) and must hold the
// discriminator unless --adv-weight 0. Faces (FFHQ-aligned) are resized to G's resolution S,
// blurred on the fly with a random kernel of --kernels and a random left-right flip; the frozen
// regression network (R, from train_restore or an official release with --regression-config)
// gives x_R; E maps x_R to G's 16x16 features and ws; x_G = (G + 1) / 2 (models/prior_pipeline.hpp).
//
//   L_E = L1(x_G, x) + lpips_w LPIPS_vgg(x_G, x) + adv_w softplus(-D(2 x_G - 1))
//   L_D = softplus(D(2 x_G - 1)) + softplus(-D(2 x - 1)) [+ r1_every * gamma/2 |dD/dx|^2 every r1_every steps]
//
// R1 is StyleGAN2's lazy regularisation: every r1_every-th step, scaled by r1_every, which costs
// a double backward only one step in 16 for nearly the same effect. D sees [-1, 1] images, as it
// was trained. --freeze-g trains E alone (G keeps the pretrained weights; D still trains).
// Validation (before the first step of a fresh run, then every --val-every steps): PSNR/SSIM of
// x_G (and, once, of x_R) on --val-data, image i blurred with kernel i
// of --val-kernels; --samples gets blurred | x_R | x_G | sharp for the first three. Checkpoints
// (E, G, D, their optimizers, the data generator, the step) every --ckpt-every steps and on
// Ctrl-C; --resume continues. --out-encoder carries E's configuration in its metadata;
// --out-generator is G (and D) in the converted StyleGAN2 format, so every StyleGAN2 reader takes
// it. --overfit trains on one fixed batch (the CI check that the losses fall).
#include "prior_common.hpp"

#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/module_weights.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/models/prior_pipeline.hpp>

#include <chrono>
#include <tuple>

using namespace vkgrad;
using namespace prior;

namespace {

const char* const kProg = "train_prior";

int run(const Args& a) {
    const int64_t steps = a.integer("--steps", 40000), batch = a.integer("--batch", 8);
    const int64_t val_every = a.integer("--val-every", 500), ckpt_every = a.integer("--ckpt-every", 500);
    const int64_t r1_every = a.integer("--r1-every", 16);
    const double lr = a.num("--lr", 1e-4), lr_d = a.num("--lr-d", 2.5e-5);
    const double beta1 = a.num("--beta1", 0.9), beta2 = a.num("--beta2", 0.99);
    const double lpips_w = a.num("--lpips-weight", 10), adv_w = a.num("--adv-weight", 0.3);
    const double r1_gamma = a.num("--r1-gamma", 10);
    const uint64_t seed = static_cast<uint64_t>(a.integer("--seed", 0));
    const bool overfit = a.flag("--overfit"), freeze_g = a.flag("--freeze-g");
    VKG_CHECK(steps >= 1 && batch >= 1 && ckpt_every >= 1, kProg, "need --steps >= 1, --batch >= 1 and --ckpt-every >= 1");
    VKG_CHECK(adv_w >= 0 && r1_gamma >= 0 && r1_every >= 1, kProg, "need --adv-weight >= 0, --r1-gamma >= 0, --r1-every >= 1");
    VKG_CHECK(a.has("--data") && a.has("--kernels"), kProg, "--data DIR and --kernels K.npy are required");
    VKG_CHECK(a.has("--out-encoder"), kProg, "--out-encoder E.safetensors is required");
    VKG_CHECK(a.has("--out-generator") || freeze_g, kProg,
              "--out-generator G.safetensors is required (the fine-tuned generator), unless --freeze-g");
    if (a.has("--threads")) set_num_threads(static_cast<int>(a.integer("--threads", 0)));
    const Device dev = pick_device(a.str("--device", "cpu"), kProg);

    // --- networks; every file is checked before anything slow happens ---
    const std::string g_path = a.file("--generator", "a converted StyleGAN2 file from build/weights/convert");
    const std::string r_path = a.file("--regression", "train_restore --out writes one");
    auto lpips = make_lpips(a, lpips_w);
    const auto weights = models::load_stylegan2_file(g_path);
    auto G = models::make_stylegan2_generator(weights);
    std::shared_ptr<models::StyleGAN2Discriminator> D;
    if (adv_w > 0) {
        VKG_CHECK(weights.has_discriminator(), kProg, "'", g_path, "' holds no discriminator (D.*), which --adv-weight ",
                  adv_w, " needs: convert a checkpoint that includes D, or pass --adv-weight 0");
        D = models::make_stylegan2_discriminator(weights, g_path);
        const int64_t group = D->config.mbstd_group == 0 ? batch : std::min(D->config.mbstd_group, batch);
        VKG_CHECK(batch % group == 0, kProg, "--batch ", batch, " must be a multiple of the discriminator's minibatch-stddev group ",
                  D->config.mbstd_group);
    }
    const auto ecfg = [&] {
        auto c = models::InversionEncoderConfig::for_generator(weights.config, a.integer("--encoder-size", 256));
        c.convs_per_stage = a.integer("--encoder-convs", c.convs_per_stage);
        c.max_channels = a.integer("--encoder-max-channels", c.max_channels);
        c.min_channels = a.integer("--encoder-min-channels", c.min_channels);
        c.validate();
        return c;
    }();
    Generator init(seed), data_gen(seed + 1);
    auto E = std::make_shared<models::InversionEncoder>(ecfg, init);
    models::PriorPipeline pipe(models::load_regression_network(r_path, a.str("--regression-config")), E, G);
    const int64_t S = pipe.resolution();

    // --- data ---
    const FaceData data(a, S);
    std::fprintf(stderr, "%s: %zu training faces at %lldx%lld, %lld kernels %lldx%lld, %zu validation faces\n", kProg,
                 data.train.size(), static_cast<long long>(S), static_cast<long long>(S),
                 static_cast<long long>(data.kernels.size(0)), static_cast<long long>(data.kernels.size(1)),
                 static_cast<long long>(data.kernels.size(2)), data.val_sharp.size());
    int64_t e_params = 0;
    for (auto& p : E->parameters()) e_params += p.numel();
    std::fprintf(stderr, "%s: encoder input %lld, %lld parameters; generator %s%s; LPIPS %s; adversarial %s; device %s\n",
                 kProg, static_cast<long long>(ecfg.input_size), static_cast<long long>(e_params),
                 weights.source.c_str(), freeze_g ? " (frozen)" : "", lpips ? "on" : "off", D ? "on" : "off",
                 a.str("--device", "cpu").c_str());

    pipe.move_to(dev);
    if (D) D->move_to(dev);
    if (lpips) lpips->move_to(dev);
    // Only the synthesis network is trained: E replaces the mapping network's role.
    set_trainable(*G->mapping_net, false);
    if (freeze_g) set_trainable(*G, false);
    E->train();
    const optim::AdamOptions betas{beta1, beta2};
    optim::Adam opt_e(E->parameters(), lr, betas);
    optim::Adam opt_g(G->synthesis->parameters(), lr, betas);
    std::unique_ptr<optim::Adam> opt_d;
    if (D) opt_d = std::make_unique<optim::Adam>(D->parameters(), lr_d, betas);

    int64_t step = 0;
    const std::string ckpt = a.str("--ckpt", a.str("--out-encoder") + ".ckpt");
    const auto save_ckpt = [&] {
        io::Checkpoint c;
        c.add("E", *E);
        c.add("G", *G);
        c.add("opt_E", opt_e);
        c.add("opt_G", opt_g);
        if (D) {
            c.add("D", *D);
            c.add("opt_D", *opt_d);
        }
        c.add("rng.data", data_gen);
        c.metadata = ecfg.to_metadata();
        c.metadata["step"] = std::to_string(step);
        c.save(ckpt);
    };
    if (a.flag("--resume")) {
        VKG_CHECK(fs::exists(ckpt), kProg, "--resume: no checkpoint at '", ckpt, "'");
        const auto c = io::Checkpoint::load(ckpt);
        VKG_CHECK(!D || c.contains("opt_D.0.lr"), kProg, "'", ckpt, "' was written without a discriminator (--adv-weight 0)");
        c.restore("E", *E);
        c.restore("G", *G);
        c.restore("opt_E", opt_e);
        c.restore("opt_G", opt_g);
        if (D) {
            c.restore("D", *D);
            c.restore("opt_D", *opt_d);
        }
        c.restore("rng.data", data_gen);
        step = std::stoll(c.metadata.at("step"));
        std::fprintf(stderr, "%s: resumed from %s at step %lld\n", kProg, ckpt.c_str(), static_cast<long long>(step));
    }

    // --- validation ---
    double last_val = 0;
    bool reported_reference = false;
    const auto validate = [&] {
        if (data.val_sharp.empty()) return;
        E->eval(); // BatchNorm's running statistics: the result must not depend on the batch
        const size_t n = data.val_sharp.size();
        Quality q_r, q_g;
        std::vector<Tensor> sheet;
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t first = 0; first < n; first += static_cast<size_t>(batch)) {
            const size_t m = std::min(n - first, static_cast<size_t>(batch));
            const auto [blurred, sharp] = data.val_batch(first, m);
            const auto out = pipe.run(to(blurred, dev));
            const Tensor x_r = to(out.x_r, Device{}), x_g = to(out.x_g, Device{});
            if (!reported_reference) q_r.add(x_r, sharp, n);
            q_g.add(x_g, sharp, n);
            for (size_t i = 0; i < m && first + i < 3; ++i) {
                const auto row = [&](const Tensor& t) { return narrow(t, 0, static_cast<int64_t>(i), 1); };
                sheet.insert(sheet.end(), {row(blurred), row(x_r), row(x_g), row(sharp)});
            }
        }
        E->train();
        if (!reported_reference)
            std::fprintf(stderr, "validation reference: x_R (regression network) PSNR %.2f dB, SSIM %.4f\n", q_r.psnr, q_r.ssim);
        reported_reference = true;
        last_val = q_g.psnr;
        std::fprintf(stderr, "validation at step %lld: x_G PSNR %.2f dB, SSIM %.4f in %.1f s\n",
                     static_cast<long long>(step), q_g.psnr, q_g.ssim,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (a.has("--samples")) io::save_grid(a.str("--samples"), concat(sheet, 0), 4);
    };

    // --- training ---
    // A fresh run is validated before its first step too: x_G's starting quality is the baseline
    // that stage 1's progress is measured against.
    if (step == 0 && val_every > 0 && !overfit) validate();
    std::signal(SIGINT, on_sigint);
    Tensor fixed_b, fixed_s;
    if (overfit) {
        Generator g(seed + 7);
        std::tie(fixed_b, fixed_s) = data.batch(batch, g);
    }
    io::Progress progress(steps);
    LossLog log_total, log_l1, log_d;
    StepLoop loop{kProg, batch, ckpt_every, val_every, save_ckpt, validate};
    loop.begin(step);
    double r1_last = 0;
    while (step < steps && !g_interrupted) {
        Tensor b = fixed_b, s = fixed_s;
        if (!overfit) std::tie(b, s) = data.batch(batch, data_gen);
        const Tensor xb = to(b, dev), xs = to(s, dev);
        const Tensor x_r = pipe.restore(xb);

        // E (and G): D's parameters are switched off so this backward pass stops at its input.
        if (D) set_trainable(*D, false);
        opt_e.zero_grad();
        opt_g.zero_grad();
        const Tensor x_g = pipe.generate(x_r);
        const Tensor l1 = losses::l1_loss(x_g, xs);
        Tensor loss = l1;
        double lp = 0, adv = 0;
        if (lpips) {
            const Tensor t = mean(lpips->distance(x_g, xs, /*normalize=*/true));
            loss = loss + t * lpips_w;
            lp = host_value(t);
        }
        if (D) {
            const Tensor t = losses::g_nonsaturating_loss(D->forward(x_g * 2.0 - 1.0));
            loss = loss + t * adv_w;
            adv = host_value(t);
        }
        loss.backward();
        opt_e.step();
        if (!freeze_g) opt_g.step();

        // D: logistic loss on this step's x_G (detached) against the sharp faces; R1 lazily.
        double d_loss = 0;
        if (D) {
            set_trainable(*D, true);
            opt_d->zero_grad();
            const bool reg = r1_gamma > 0 && (step + 1) % r1_every == 0;
            Tensor real = detach(xs * 2.0 - 1.0);
            if (reg) real.requires_grad_(true);
            const Tensor real_logits = D->forward(real);
            const Tensor fake_logits = D->forward(detach(x_g) * 2.0 - 1.0);
            Tensor dl = losses::d_logistic_loss(real_logits, fake_logits);
            d_loss = host_value(dl);
            if (reg) {
                const Tensor r1 = losses::r1_penalty(real_logits, real, r1_gamma * static_cast<double>(r1_every));
                r1_last = host_value(r1);
                dl = dl + r1;
            }
            dl.backward();
            opt_d->step();
        }
        ++step;
        const double l = host_value(loss), l1v = host_value(l1);
        check_finite(l, "encoder loss", step, kProg);
        check_finite(d_loss + r1_last, "discriminator loss", step, kProg);
        log_total.add(l);
        log_l1.add(l1v);
        if (D) log_d.add(d_loss);
        progress.update(step, {{"loss", l}, {"l1", l1v}, {"lpips", lp}, {"adv", adv}, {"d", d_loss}, {"r1", r1_last},
                               {"val_psnr", last_val},
                               {"img/s", loop.images_per_second(step)}});
        loop.after_step(step);
    }
    if (loop.finish_interrupted(step, ckpt)) return 130;
    log_total.print("loss");
    log_l1.print("l1");
    log_d.print("d_loss");

    auto meta = ecfg.to_metadata();
    meta["steps"] = std::to_string(step);
    meta["val_psnr"] = std::to_string(last_val);
    meta["generator"] = fs::path(g_path).filename().string();
    io::save_module_weights(*E, a.str("--out-encoder"), meta);
    std::printf("wrote %s\n", a.str("--out-encoder").c_str());
    if (a.has("--out-generator")) {
        models::save_stylegan2_modules(*G, D.get(), a.str("--out-generator"), "vkgrad-train_prior",
                                       fs::path(g_path).filename().string());
        std::printf("wrote %s\n", a.str("--out-generator").c_str());
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    static const std::set<std::string> known = {
        "--generator", "--regression", "--regression-config", "--data", "--kernels", "--val-data", "--val-kernels",
        "--out-encoder", "--out-generator", "--ckpt", "--samples", "--vgg", "--lpips-heads", "--steps", "--batch", "--lr",
        "--lr-d", "--beta1", "--beta2", "--lpips-weight", "--adv-weight", "--r1-gamma", "--r1-every", "--encoder-size",
        "--encoder-convs", "--encoder-max-channels", "--encoder-min-channels", "--val-every", "--ckpt-every", "--seed",
        "--device", "--threads"};
    return cli::main_with_flags(argc, argv, kProg, known, {"--resume", "--overfit", "--freeze-g"}, run);
}
