// bench_vulkan — conv2d on the Vulkan device for the shapes of bench/compare_torch.py:
// forward and forward+backward time (median of --reps after a warm-up) and GFLOP/s.
// On lavapipe (a CPU implementation) the numbers only show that it runs; scripts/gpu_check.sh
// runs this on a real GPU.
//
// Usage: bench_vulkan [--reps N] [--quick]     (--quick: only the shapes lavapipe finishes fast)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <vkgrad/vulkan.hpp>

using namespace vkgrad;

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
            std::vector<double> ms;
            for (int r = 0; r <= reps; ++r) { // r = 0 warms up (pipelines, memory)
                const auto t0 = std::chrono::steady_clock::now();
                if (!backward) {
                    NoGradGuard ng;
                    Tensor y = conv2d(x0, w0, Tensor(), prm);
                } else {
                    Tensor x = detach(x0).requires_grad_(), w = detach(w0).requires_grad_();
                    Tensor y = conv2d(x, w, Tensor(), prm);
                    vkgrad::backward(y, ones_like(y));
                }
                ctx.flush(); // the work is done when the queue is idle
                if (r) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
            std::sort(ms.begin(), ms.end());
            return ms[ms.size() / 2];
        };
        const double ho = (s.H + 2 * s.p - s.k) / s.s + 1, wo = (s.W + 2 * s.p - s.k) / s.s + 1;
        const double gf = 2.0 * s.N * s.O * ho * wo * (s.C / s.g) * s.k * s.k / 1e9;
        const double f = time(false), fb = time(true);
        std::printf("%-24s %10.2f %10.2f %9.1f %9.1f\n", s.name, f, fb, gf / (f / 1e3), 3 * gf / (fb / 1e3));
        std::fflush(stdout);
    }
    return 0;
}
