// bench_stylegan2 — times vkgrad's StyleGAN2 for bench/compare_stylegan2.py, which interleaves it
// with the PyTorch reference in the same run. One process per case, like the torch workers:
//
//   bench_stylegan2 THREADS G RES BATCH       generator, psi 1, noise const
//   bench_stylegan2 THREADS D RES BATCH       discriminator, mbstd group 4
//
// prints "ready <peak RSS MB>" once the network is built (config-f, deterministic parameters
// as in tests/reference/make_stylegan2_fixtures.py), then answers each "run" line with the
// milliseconds of one forward and "quit" with the process's peak RSS in MB (getrusage).
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <vkgrad/models/stylegan2.hpp>
#include <vkgrad/testing/stylegan2_params.hpp>
#include <vkgrad/core/numpy_random.hpp>

using namespace vkgrad;

namespace {

double peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0; // Linux reports KiB
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5 || (std::string(argv[2]) != "G" && std::string(argv[2]) != "D")) {
        std::fprintf(stderr, "usage: bench_stylegan2 THREADS G|D RESOLUTION BATCH\n");
        return 2;
    }
    set_num_threads(std::atoi(argv[1]));
    const bool gen_case = std::string(argv[2]) == "G";
    models::StyleGAN2Config c;
    c.resolution = std::atoll(argv[3]);
    const int64_t N = std::atoll(argv[4]);
    Generator init(0);
    std::unique_ptr<nn::Module> net;
    Tensor input;
    if (gen_case) {
        net = std::make_unique<models::StyleGAN2Generator>(c, init);
        input = NumpyRandomState(0).randn({N, c.z_dim});
    } else {
        net = std::make_unique<models::StyleGAN2Discriminator>(c, init);
        input = testing::det_tensor({N, 3, c.resolution, c.resolution}, 11, "d_input", 1.0);
    }
    testing::det_fill_stylegan2(*net);
    std::printf("ready %.1f\n", peak_rss_mb());
    std::fflush(stdout);
    for (std::string line; std::getline(std::cin, line);) {
        if (line == "quit") break;
        if (line != "run") {
            std::printf("error: unknown request '%s'\n", line.c_str());
            std::fflush(stdout);
            continue;
        }
        NoGradGuard ng;
        const auto t0 = std::chrono::steady_clock::now();
        Tensor y = gen_case ? static_cast<models::StyleGAN2Generator&>(*net).forward(input, models::Truncation{1.0})
                            : net->forward(input);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%.3f\n", ms);
        std::fflush(stdout);
    }
    std::printf("%.1f\n", peak_rss_mb());
    return 0;
}
