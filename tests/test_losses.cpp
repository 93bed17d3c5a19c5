// Losses against PyTorch (tests/reference/make_train_fixtures.py), plus float64 finite-difference
// checks of first and second order.
#include "support.hpp"

#include <vkgrad/losses.hpp>

using namespace vkgrad;
using namespace vkgrad::losses;
using testing::relerr;

namespace {

Tensor fx(const std::string& name) { return io::load_npy(test::fixtures() + "/train/" + name + ".npy"); }

/// Value and gradients of f at `inputs` (float32) against the fixtures `<key>_value` and `grad_names`.
void check_against_torch(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                         const std::string& key, const std::vector<std::string>& grad_names) {
    for (auto& x : inputs) x = detach(x).requires_grad_();
    const Tensor v = f(inputs);
    CHECK(relerr(v, fx(key + "_value")) <= testing::kForwardTol);
    const auto gs = grad({v}, inputs, {}, false, true);
    for (size_t i = 0; i < grad_names.size(); ++i) {
        if (grad_names[i].empty()) continue;
        INFO(key << " gradient " << grad_names[i]);
        const Tensor want = fx(grad_names[i]); // an input the value does not reach: torch gives zeros
        CHECK(relerr(gs[i].defined() ? gs[i] : zeros_like(want), want) <= testing::kGradTol);
    }
}

void check_gradients(const testing::Function& f, const std::vector<Tensor>& inputs, bool second_order = true) {
    const auto r1 = testing::gradcheck(f, inputs);
    CHECK_MESSAGE(r1.ok, r1.message);
    if (second_order) {
        const auto r2 = testing::gradgradcheck(f, inputs);
        CHECK_MESSAGE(r2.ok, r2.message);
    }
}

} // namespace

TEST_CASE("pixel losses match PyTorch and pass gradient checks") {
    const Tensor pred = fx("pix_pred"), target = fx("pix_target");
    const std::map<std::string, std::function<Tensor(const Tensor&, const Tensor&)>> losses = {
        {"l1", [](const Tensor& a, const Tensor& b) { return l1_loss(a, b); }},
        {"mse", [](const Tensor& a, const Tensor& b) { return mse_loss(a, b); }},
        {"charbonnier", [](const Tensor& a, const Tensor& b) { return charbonnier_loss(a, b); }},
        {"psnr", [](const Tensor& a, const Tensor& b) { return psnr_loss(a, b); }},
    };
    for (auto& [name, f] : losses) {
        INFO(name);
        check_against_torch([&](const std::vector<Tensor>& v) { return f(v[0], target); }, {pred}, name, {name + "_grad"});
        check_gradients([&](const std::vector<Tensor>& v) { return f(v[0], v[1]); }, {pred, target}, name != "l1");
    }
    test::check_error([&] { l1_loss(pred, reshape(target, {2, 3, 20})); }, {"l1_loss", "[2,3,5,4]", "[2,3,20]"});
    test::check_error([&] { psnr_loss(reshape(pred, {6, 20}), reshape(target, {6, 20})); }, {"psnr_loss", "[N, C, H, W]"});
}

TEST_CASE("GAN losses match PyTorch") {
    const Tensor real = fx("gan_real"), fake = fx("gan_fake");
    check_against_torch([](const std::vector<Tensor>& v) { return g_nonsaturating_loss(v[0]); }, {fake}, "gns", {"gns_grad"});
    check_against_torch([](const std::vector<Tensor>& v) { return d_logistic_loss(v[0], v[1]); }, {real, fake}, "dlog",
                        {"dlog_grad_real", "dlog_grad_fake"});
    check_gradients([](const std::vector<Tensor>& v) { return d_logistic_loss(v[0], v[1]); }, {real, fake});
}

namespace {
Tensor tiny_d(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2) {
    return linear(mean(leaky_relu(conv2d(x, w1, b1, ConvParams::torch(1, 1)), 0.2), {2, 3}), w2);
}
} // namespace

TEST_CASE("R1 penalty: value and its gradient (a double backward) match PyTorch") {
    const std::vector<Tensor> in = {fx("r1_x"), fx("r1_w1"), fx("r1_b1"), fx("r1_w2")};
    auto r1 = [](const std::vector<Tensor>& v) { return r1_penalty(tiny_d(v[0], v[1], v[2], v[3]), v[0], 10.0); };
    check_against_torch(r1, in, "r1", {"r1_grad_x", "r1_grad_w1", "r1_grad_b1", "r1_grad_w2"});
    check_gradients(r1, in, false);
    test::check_error([&] { r1_penalty(tiny_d(in[0], in[1], in[2], in[3]), in[0], 10.0); }, {"r1_penalty", "requires_grad"});
}

TEST_CASE("path-length penalty: value, gradient and running mean match PyTorch") {
    const Tensor ws = fx("pl_ws"), A = fx("pl_A"), noise = fx("pl_noise");
    PathLengthPenalty pl;
    fill_(pl.running_mean, 0.5);
    auto f = [&](const std::vector<Tensor>& v) {
        fill_(pl.running_mean, 0.5);
        return pl(reshape(tanh(matmul(reshape(v[0], {2, 15}), v[1])), {2, 2, 4, 4}), v[0], to(noise, v[0].dtype()));
    };
    check_against_torch(f, {ws, A}, "pl", {"", "pl_grad_A"});
    CHECK(relerr(pl.running_mean, fx("pl_new_mean")) <= testing::kForwardTol);
    check_gradients(f, {ws, A}, false);
}

TEST_CASE("contextual loss matches its definition, whole and tiled, and passes gradient checks") {
    const Tensor x = fx("cx_x"), y = fx("cx_y");
    check_against_torch([&](const std::vector<Tensor>& v) { return contextual_loss(v[0], y); }, {x}, "cx_whole",
                        {"cx_whole_grad"});
    ContextualOptions tiled;
    tiled.tile = 3; // a 6x5 map: rows [0,3) [3,6), columns [0,2) [2,5)
    check_against_torch([&](const std::vector<Tensor>& v) { return contextual_loss(v[0], y, tiled); }, {x}, "cx_tiled",
                        {"cx_tiled_grad"});
    check_gradients([&](const std::vector<Tensor>& v) { return contextual_loss(v[0], v[1], tiled); }, {x, y}, false);
    // identical sets are a perfect match: CX = 1 (up to the 1e-5 terms)
    CHECK(contextual_loss(x, x).item() < 1e-3);
    // sampled positions: deterministic for a seed, and a whole map when K covers every position
    ContextualOptions sampled;
    sampled.max_positions = 10;
    Generator g1(7), g2(7);
    CHECK(contextual_loss(x, y, sampled, &g1).item() == contextual_loss(x, y, sampled, &g2).item());
    sampled.max_positions = 30;
    CHECK(relerr(contextual_loss(x, y, sampled, &g1), fx("cx_whole_value")) <= testing::kForwardTol);
    sampled.max_positions = 10;
    test::check_error([&] { contextual_loss(x, y, sampled); }, {"contextual_loss", "Generator"});
    test::check_error([&] { contextual_loss(x, reshape(y, {2, 8, 30, 1})); }, {"contextual_loss", "[2,8,6,5]"});
}
