// bench_vulkan — conv2d on the Vulkan device for the shapes of bench/compare_torch.py:
// forward and forward+backward time (median of --reps after a warm-up) and GFLOP/s.
// Then a whole NAFNet (the shipped configuration of weights/): forward, and a training step
// (forward, PSNR loss, backward), with the kernels dispatched per pass — the fused kernels
// (LayerNorm2d, SimpleGate, scaled residuals) show there as fewer dispatches.
// On lavapipe (a CPU implementation) the numbers only show that it runs; scripts/gpu_check.sh
// runs this on a real GPU.
//
// Usage: bench_vulkan [--reps N] [--quick]     (--quick: only the shapes lavapipe finishes fast)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <vkgrad/losses/pixel.hpp>
#include <vkgrad/models/nafnet.hpp>
#include <vkgrad/vulkan.hpp>

using namespace vkgrad;

/// Median wall time of `body` over `reps` runs after one warm-up (pipelines, memory), each
/// ending when the queue is idle (the work is done then).
static double median_ms(int reps, vulkan::Context& ctx, const std::function<void()>& body) {
    std::vector<double> ms;
    for (int r = 0; r <= reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        body();
        ctx.flush();
        if (r) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

int main(int argc, char** argv) {
    int reps = 3;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--quick")) quick = true;
        else {
            std::fprintf(stderr, "usage: %s [--reps N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (!vulkan::available()) {
        std::fprintf(stderr, "bench_vulkan: no Vulkan device\n");
        return 1;
    }
    auto& ctx = vulkan::context();
    std::printf("device: %s\n", ctx.device_name().c_str());
    struct S {
        const char* name;
        int64_t N, C, H, W, O, k, s, p, g;
        bool small;
    };
    const std::vector<S> shapes = {
        {"sg2 3x3 512 @8", 4, 512, 8, 8, 512, 3, 1, 1, 1, true},
        {"sg2 3x3 512 @16", 4, 512, 16, 16, 512, 3, 1, 1, 1, false},
        {"sg2 3x3 512 @32", 4, 512, 32, 32, 512, 3, 1, 1, 1, false},
        {"sg2 3x3 256 @128", 4, 256, 128, 128, 256, 3, 1, 1, 1, false},
        {"sg2 3x3 64 @512", 4, 64, 512, 512, 64, 3, 1, 1, 1, false},
        {"sg2 1x1 512->512 @32", 4, 512, 32, 32, 512, 1, 1, 0, 1, false},
        {"naf 1x1 expand 32->64", 4, 32, 256, 256, 64, 1, 1, 0, 1, false},
        {"naf 3x3 dw 64", 4, 64, 256, 256, 64, 3, 1, 1, 64, true},
        {"naf 2x2 s2 down 32->64", 4, 32, 256, 256, 64, 2, 2, 0, 1, false},
        {"naf 3x3 dw 64 @64", 1, 64, 64, 64, 64, 3, 1, 1, 64, true},
        {"fusion 3x3 64 @64", 1, 64, 64, 64, 64, 3, 1, 1, 1, true},
    };
    std::printf("%-24s %10s %10s %9s %9s\n", "shape", "fwd ms", "f+b ms", "GF/s fwd", "GF/s f+b");
    Generator gen(0);
    for (const S& s : shapes) {
        if (quick && !s.small) continue;
        const Device d = vulkan::device();
        const Tensor x0 = to(randn({s.N, s.C, s.H, s.W}, gen), d), w0 = to(randn({s.O, s.C / s.g, s.k, s.k}, gen) * 0.05, d);
        const ConvParams prm = ConvParams::torch(s.s, s.p, 1, s.g);
        auto time = [&](bool backward) {
            return median_ms(reps, ctx, [&] {
                if (!backward) {
                    NoGradGuard ng;
                    Tensor y = conv2d(x0, w0, Tensor(), prm);
                } else {
                    Tensor x = detach(x0).requires_grad_(), w = detach(w0).requires_grad_();
                    Tensor y = conv2d(x, w, Tensor(), prm);
                    vkgrad::backward(y, ones_like(y));
                }
            });
        };
        const double ho = (s.H + 2 * s.p - s.k) / s.s + 1, wo = (s.W + 2 * s.p - s.k) / s.s + 1;
        const double gf = 2.0 * s.N * s.O * ho * wo * (s.C / s.g) * s.k * s.k / 1e9;
        const double f = time(false), fb = time(true);
        std::printf("%-24s %10.2f %10.2f %9.1f %9.1f\n", s.name, f, fb, gf / (f / 1e3), 3 * gf / (fb / 1e3));
        std::fflush(stdout);
    }

    models::NAFNetConfig cfg; // weights/nafnet_faces_small.safetensors
    cfg.width = 32;
    cfg.enc_blocks = {1, 1, 2, 4};
    cfg.middle_blocks = 2;
    cfg.dec_blocks = {1, 1, 1, 1};
    Generator init(0);
    models::NAFNet net(cfg, init);
    net.move_to(vulkan::device());
    std::printf("\n%-24s %10s %10s %12s %12s\n", "NAFNet (shipped config)", "fwd ms", "step ms", "fwd disp.", "step disp.");
    for (const int64_t size : {64, 256}) {
        if (quick && size > 64) continue;
        const Tensor x = to(rand({1, 3, size, size}, gen), vulkan::device()), t = to(rand({1, 3, size, size}, gen), vulkan::device());
        auto time = [&](bool step, uint64_t& dispatches) {
            return median_ms(reps, ctx, [&] {
                const uint64_t d0 = ctx.counters.dispatches; // counted as recorded: the same every run
                if (!step) {
                    NoGradGuard ng;
                    Tensor y = net.forward(x);
                } else {
                    net.zero_grad();
                    losses::psnr_loss(net.forward(x), t).backward();
                }
                dispatches = ctx.counters.dispatches - d0;
            });
        };
        uint64_t df = 0, ds = 0;
        const double f = time(false, df), st = time(true, ds);
        const std::string name = "1x3x" + std::to_string(size) + "x" + std::to_string(size);
        std::printf("%-24s %10.2f %10.2f %12llu %12llu\n", name.c_str(), f, st, static_cast<unsigned long long>(df),
                    static_cast<unsigned long long>(ds));
        std::fflush(stdout);
    }
    return 0;
}
