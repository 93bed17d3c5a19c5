// autograd_basics.cpp — a walk through vkgrad's autograd: fit a tiny MLP to y = sin(x).
//
// Build it on its own (vkgrad is header-only; Eigen is the only dependency):
//   c++ -std=c++20 -O2 -Iinclude $(pkg-config --cflags eigen3) examples/autograd_basics.cpp
// (add -march=native for speed), or through meson: build/examples/autograd_basics.
//
// Usage: autograd_basics [--steps N] [--seed S]
#include <vkgrad/vkgrad.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

using namespace vkgrad;

int main(int argc, char** argv) {
    int steps = 2000;
    uint64_t seed = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(argv[i + 1], nullptr, 10);
        else {
            std::fprintf(stderr, "usage: %s [--steps N] [--seed S]\n", argv[0]);
            return 2;
        }
    }

    // 1. Tensors. Data can come from anywhere on the host; here 256 samples of one feature,
    //    shape [256, 1] (row-major, like numpy). Randomness always comes from an explicit
    //    generator, so a run is reproducible from its seed alone.
    Generator gen(seed);
    std::vector<float> xs, ys;
    for (int i = 0; i < 256; ++i) {
        xs.push_back(-3.14159f + 6.28318f * static_cast<float>(i) / 255.0f);
        ys.push_back(std::sin(xs.back()));
    }
    const Tensor x = from_vector(xs, {256, 1});
    const Tensor y = from_vector(ys, {256, 1});

    // 2. A model. nn::Sequential names its children "0", "1", "2" like PyTorch, so the
    //    parameters are "0.weight", "0.bias", "2.weight", "2.bias". Linear layers start from
    //    PyTorch's default initialisation.
    nn::Sequential model({std::make_shared<nn::Linear>(1, 32, gen), std::make_shared<nn::Tanh>(),
                          std::make_shared<nn::Linear>(32, 1, gen)});
    for (const auto& [name, p] : model.named_parameters())
        std::printf("parameter %-9s %s\n", name.c_str(), to_string(p.shape()).c_str());

    // 3. Training. Every op records how to differentiate itself (a "tape"); backward() walks
    //    that tape in reverse and leaves d(loss)/d(parameter) in each parameter's .grad().
    const double lr = 0.05;
    for (int step = 0; step <= steps; ++step) {
        const Tensor pred = model(x);
        const Tensor loss = mean(pow(pred - y, 2.0)); // mean squared error, a 0-d tensor
        model.zero_grad();                            // gradients accumulate, so clear them first
        loss.backward();

        // Plain gradient descent. The update must not be recorded on the tape (it is not part
        // of the function being differentiated): NoGradGuard switches recording off.
        {
            NoGradGuard no_grad;
            for (const Tensor& p : model.parameters()) add_(p, p.grad(), -lr);
        }
        if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0) std::printf("step %5d  loss %.6f\n", step, loss.item());
        if (step == steps) std::printf("final loss %.6f\n", loss.item());
    }
    return 0;
}
