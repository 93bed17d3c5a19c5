// train_denoiser.cpp — a complete training loop: a small CNN learns to remove noise.
//
// What it shows, in the order a real training program needs it:
//   1. a model built from modules, and its parameters handed to Adam;
//   2. a cosine learning-rate schedule and gradient clipping;
//   3. a progress line (step, loss, steps/s, ETA);
//   4. a checkpoint every --every steps (model, optimizer, random generators, step count),
//      written atomically, and --resume to continue from it exactly where it stopped;
//   5. a sample sheet (noisy | denoised | clean) saved as one PNG.
//
// Usage: train_denoiser [--steps N] [--every K] [--ckpt PATH] [--resume] [--samples PNG] [--seed S]
// Interrupt it (Ctrl-C) and run it again with --resume: the final weights are bit-for-bit
// those of an uninterrupted run.
#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/image.hpp>
#include <vkgrad/io/progress.hpp>
#include <vkgrad/vkgrad.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

using namespace vkgrad;

namespace {

constexpr int64_t kSize = 32, kBatch = 8;
constexpr double kNoise = 0.15;

/// Clean images: a few soft coloured blobs on a smooth gradient, values in [0, 1].
Tensor clean_batch(Generator& gen) {
    std::vector<float> v(static_cast<size_t>(kBatch * 3 * kSize * kSize));
    for (int64_t n = 0; n < kBatch; ++n) {
        double cx[3], cy[3], r[3], col[3][3], base[3];
        for (int b = 0; b < 3; ++b) {
            cx[b] = gen.uniform() * kSize, cy[b] = gen.uniform() * kSize, r[b] = 3 + gen.uniform() * 8;
            for (int c = 0; c < 3; ++c) col[b][c] = gen.uniform();
        }
        for (int c = 0; c < 3; ++c) base[c] = 0.2 + 0.3 * gen.uniform();
        for (int c = 0; c < 3; ++c)
            for (int64_t y = 0; y < kSize; ++y)
                for (int64_t x = 0; x < kSize; ++x) {
                    double val = base[c] * (0.5 + 0.5 * static_cast<double>(x + y) / (2 * kSize));
                    for (int b = 0; b < 3; ++b) {
                        const double d2 = (x - cx[b]) * (x - cx[b]) + (y - cy[b]) * (y - cy[b]);
                        val += col[b][c] * std::exp(-d2 / (2 * r[b] * r[b]));
                    }
                    v[static_cast<size_t>(((n * 3 + c) * kSize + y) * kSize + x)] = static_cast<float>(std::min(val, 1.0));
                }
    }
    return from_vector(v, {kBatch, 3, kSize, kSize});
}

/// Predicts the noise and subtracts it (residual learning: the easy function to learn).
struct Denoiser : nn::Module {
    std::shared_ptr<nn::Sequential> body;
    explicit Denoiser(Generator& gen) {
        auto conv = [&](int64_t i, int64_t o) { return std::make_shared<nn::Conv2d>(i, o, 3, gen, 1, 1); };
        body = register_module("body", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
                                            conv(3, 32), std::make_shared<nn::ReLU>(), conv(32, 32),
                                            std::make_shared<nn::ReLU>(), conv(32, 3)}));
    }
    Tensor forward(const Tensor& noisy) override { return noisy - (*body)(noisy); }
};

} // namespace

int main(int argc, char** argv) {
    int64_t steps = 600, every = 100;
    uint64_t seed = 0;
    std::string ckpt = "train_denoiser.safetensors", samples = "train_denoiser.png";
    bool resume = false;
    for (int i = 1; i < argc; ++i) {
        auto value = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", argv[i]);
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (!std::strcmp(argv[i], "--steps")) steps = std::stoll(value());
        else if (!std::strcmp(argv[i], "--every")) every = std::stoll(value());
        else if (!std::strcmp(argv[i], "--ckpt")) ckpt = value();
        else if (!std::strcmp(argv[i], "--samples")) samples = value();
        else if (!std::strcmp(argv[i], "--seed")) seed = std::stoull(value());
        else if (!std::strcmp(argv[i], "--resume")) resume = true;
        else {
            std::fprintf(stderr, "usage: %s [--steps N] [--every K] [--ckpt PATH] [--resume] [--samples PNG] [--seed S]\n",
                         argv[0]);
            return 2;
        }
    }

    try {
        // 1. Model and optimizer. Seeds are explicit: init, data and noise each get a generator.
        Generator init(seed), data(seed + 1), noise(seed + 2);
        Denoiser model(init);
        optim::Adam opt(model.parameters(), 2e-3);
        // 2. The schedule is a function of the step, so resuming only needs the step count.
        optim::CosineAnnealingLR schedule(opt, steps, 1e-5);
        int64_t step = 0;

        // 4b. Resume: everything that influences the next step comes back from the file.
        if (resume && std::filesystem::exists(ckpt)) {
            const auto c = io::Checkpoint::load(ckpt);
            c.restore("model", model);
            c.restore("opt", opt);
            c.restore("rng.data", data);
            c.restore("rng.noise", noise);
            step = std::stoll(c.metadata.at("step"));
            schedule.set_step(step);
            std::fprintf(stderr, "resumed from %s at step %lld\n", ckpt.c_str(), static_cast<long long>(step));
        }

        io::Progress progress(steps);
        for (; step < steps;) {
            const Tensor clean = clean_batch(data);
            const Tensor noisy = clean + randn(clean.shape(), noise) * kNoise;
            opt.zero_grad();
            const Tensor loss = losses::charbonnier_loss(model(noisy), clean);
            loss.backward();
            optim::clip_grad_norm_(model.parameters(), 1.0); // 2. guards against rare huge steps
            opt.step();
            schedule.step();
            ++step;
            progress.update(step, {{"loss", loss.item()}, {"lr", opt.groups[0].lr}}); // 3.

            if (step % every == 0 || step == steps) { // 4a. atomically: an interrupt never leaves half a file
                io::Checkpoint c;
                c.add("model", model);
                c.add("opt", opt);
                c.add("rng.data", data);
                c.add("rng.noise", noise);
                c.metadata["step"] = std::to_string(step);
                c.save(ckpt);
            }
        }

        // 5. A sample sheet on fresh data: one row per image, noisy | denoised | clean.
        NoGradGuard ng;
        model.eval();
        Generator eval_data(seed + 100), eval_noise(seed + 101);
        const Tensor clean = clean_batch(eval_data);
        const Tensor noisy = clamp(clean + randn(clean.shape(), eval_noise) * kNoise, 0, 1);
        const Tensor out = clamp(model(noisy), 0, 1);
        std::printf("PSNR noisy %.2f dB -> denoised %.2f dB\n", -10 * std::log10(losses::mse_loss(noisy, clean).item()),
                    -10 * std::log10(losses::mse_loss(out, clean).item()));
        std::vector<Tensor> rows;
        for (int64_t n = 0; n < 4; ++n)
            for (const Tensor& t : {noisy, out, clean}) rows.push_back(narrow(t, 0, n, 1));
        io::save_grid(samples, concat(rows, 0), 3);
        std::printf("wrote %s and %s\n", samples.c_str(), ckpt.c_str());
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
