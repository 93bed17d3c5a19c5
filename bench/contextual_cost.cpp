// contextual_cost — memory and time of the contextual loss (forward + backward) on the feature
// maps a 512x512 image gives in VGG19 (relu3_2: 256 x 128 x 128, relu4_2: 512 x 64 x 64), for
// several tile sizes. Memory is the peak of vkgrad's allocator above the inputs.
//
// Usage: contextual_cost [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <vkgrad/vkgrad.hpp>

using namespace vkgrad;

int main(int argc, char** argv) {
    if (argc > 1) set_num_threads(std::atoi(argv[1]));
    Generator gen(0);
    struct Case {
        const char* layer;
        int64_t C, S, tile, max_positions;
    };
    const Case cases[] = {
        {"relu3_2", 256, 128, 16, 0}, {"relu3_2", 256, 128, 32, 0}, {"relu3_2", 256, 128, 64, 0},
        {"relu3_2", 256, 128, 0, 4225}, {"relu4_2", 512, 64, 16, 0}, {"relu4_2", 512, 64, 32, 0},
        {"relu4_2", 512, 64, 0, 0},
    };
    std::printf("%-8s %-18s %10s %12s %12s\n", "layer", "form", "positions", "fwd+bwd s", "peak MiB");
    for (const Case& c : cases) {
        const Tensor y = relu(randn({1, c.C, c.S, c.S}, gen)); // post-ReLU like VGG features
        Tensor x = relu(randn({1, c.C, c.S, c.S}, gen));
        x.requires_grad_();
        losses::ContextualOptions o;
        o.tile = c.tile;
        o.max_positions = c.max_positions;
        cpu_allocator().reset_peak();
        const size_t base = cpu_allocator().stats().live_bytes;
        const auto t0 = std::chrono::steady_clock::now();
        Tensor loss = losses::contextual_loss(x, y, o, &gen);
        loss.backward();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double mib = static_cast<double>(cpu_allocator().stats().peak_bytes - base) / (1 << 20);
        char form[32];
        if (c.max_positions) std::snprintf(form, sizeof form, "sample %lld", static_cast<long long>(c.max_positions));
        else if (c.tile) std::snprintf(form, sizeof form, "tiles %lldx%lld", static_cast<long long>(c.tile),
                                       static_cast<long long>(c.tile));
        else std::snprintf(form, sizeof form, "whole map");
        const int64_t positions = c.max_positions ? c.max_positions : (c.tile ? c.tile * c.tile : c.S * c.S);
        std::printf("%-8s %-18s %10lld %12.2f %12.1f\n", c.layer, form, static_cast<long long>(positions), s, mib);
        std::fflush(stdout);
    }
    return 0;
}
