// bench_nafnet — times a NAFNet training step for bench/compare_nafnet.py, which interleaves it
// with PyTorch running the same network in the same run. Reads one request per line from stdin
// and answers with the time:
//
//   <N> <H> <W> <width> <enc,...> <middle> <dec,...> <fwd|step>   ->   <milliseconds>
//
// "fwd" is a forward pass without gradients; "step" is forward, the PSNR loss against a fixed
// target and backward (the optimizer's update is left out: it is per-parameter and small).
// The network and tensors are made once per request line and kept, so a request times only
// the work itself.
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <vkgrad/losses/pixel.hpp>
#include <vkgrad/models/nafnet.hpp>
#include <vkgrad/vkgrad.hpp>

using namespace vkgrad;

static std::vector<int64_t> list(const std::string& s) {
    std::vector<int64_t> v;
    std::istringstream in(s);
    for (std::string tok; std::getline(in, tok, ',');) v.push_back(std::stoll(tok));
    return v;
}

int main(int argc, char** argv) {
    if (argc > 1) set_num_threads(std::atoi(argv[1]));
    struct Case {
        std::shared_ptr<models::NAFNet> net;
        Tensor x, target;
    };
    std::map<std::string, Case> cache;
    for (std::string line; std::getline(std::cin, line);) {
        std::istringstream in(line);
        int64_t N, H, W, width, middle;
        std::string enc, dec, mode;
        if (!(in >> N >> H >> W >> width >> enc >> middle >> dec >> mode) || (mode != "fwd" && mode != "step")) {
            std::cout << "error: bad request '" << line << "'" << std::endl;
            continue;
        }
        const std::string key = line.substr(0, line.rfind(' '));
        try {
            if (!cache.count(key)) {
                models::NAFNetConfig cfg;
                cfg.width = width;
                cfg.enc_blocks = list(enc);
                cfg.middle_blocks = middle;
                cfg.dec_blocks = list(dec);
                Generator gen(0);
                cache[key] = {std::make_shared<models::NAFNet>(cfg, gen), rand({N, 3, H, W}, gen),
                              rand({N, 3, H, W}, gen)};
            }
        } catch (const std::exception& e) {
            std::cout << "error: " << e.what() << std::endl;
            continue;
        }
        auto& c = cache[key];
        const auto t0 = std::chrono::steady_clock::now();
        if (mode == "fwd") {
            NoGradGuard ng;
            Tensor y = c.net->forward(c.x);
        } else {
            c.net->zero_grad();
            backward(losses::psnr_loss(c.net->forward(c.x), c.target));
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::cout << ms << std::endl;
    }
    return 0;
}
