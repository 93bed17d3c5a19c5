// bench_conv — times vkgrad's conv2d for bench/compare_torch.py, which interleaves it with
// PyTorch in the same run. Reads one request per line from stdin and answers with the time:
//
//   <N> <C> <H> <W> <O> <kh> <kw> <stride> <pad> <groups> <fwd|fwdbwd>   ->   <milliseconds>
//
// Tensors are created once per shape and kept, so a request times only the work itself.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <tuple>

#include <vkgrad/vkgrad.hpp>

using namespace vkgrad;

int main(int argc, char** argv) {
    if (argc > 1) set_num_threads(std::atoi(argv[1]));
    Generator gen(0);
    std::map<std::string, std::tuple<Tensor, Tensor, Tensor>> cache;
    for (std::string line; std::getline(std::cin, line);) {
        std::istringstream in(line);
        int64_t N, C, H, W, O, kh, kw, s, p, g;
        std::string mode;
        if (!(in >> N >> C >> H >> W >> O >> kh >> kw >> s >> p >> g >> mode)) {
            std::cout << "error: bad request '" << line << "'" << std::endl;
            continue;
        }
        const std::string key = line.substr(0, line.rfind(' '));
        if (!cache.count(key))
            cache[key] = {randn({N, C, H, W}, gen), randn({O, C / g, kh, kw}, gen) * 0.05, randn({O}, gen)};
        auto& [x0, w, b] = cache[key];
        const ConvParams prm = ConvParams::torch(s, p, 1, g);
        const auto t0 = std::chrono::steady_clock::now();
        if (mode == "fwd") {
            NoGradGuard ng;
            Tensor y = conv2d(x0, w, b, prm);
        } else {
            Tensor x = detach(x0).requires_grad_(), wr = detach(w).requires_grad_(), br = detach(b).requires_grad_();
            Tensor y = conv2d(x, wr, br, prm);
            backward(y, ones_like(y));
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::cout << ms << std::endl;
    }
    return 0;
}
