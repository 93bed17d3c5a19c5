// torchvision backbones and LPIPS against PyTorch (tests/reference/make_backbone_fixtures.py)
// with deterministic parameters: no pretrained weights are needed to prove the wiring.
#include "support.hpp"

#include <cmath>

#include <vkgrad/models/lpips.hpp>
#include <vkgrad/testing/detparam.hpp>

using namespace vkgrad;
using testing::relerr;

namespace {

Tensor fx(const std::string& name) { return io::load_npy(test::fixtures() + "/backbones/" + name + ".npy"); }
std::string lpips_heads(const std::string& net) { return test::fixtures() + "/../../weights/lpips/" + net + ".pth"; }

/// The script's parameters: weights uniform in +-1/sqrt(fan_in), biases in +-0.1, by dotted name.
void det_fill(nn::Module& m) {
    NoGradGuard ng;
    for (auto& [name, t] : m.named_parameters()) {
        const double a = t.dim() > 1 ? 1 / std::sqrt(static_cast<double>(t.numel() / t.size(0))) : 0.1;
        copy_(t, testing::det_tensor(t.shape(), 5, name, a, t.dtype()));
    }
}

} // namespace

TEST_CASE("VGG16, VGG19, AlexNet and SqueezeNet 1.1 features match torchvision") {
    Generator gen(0);
    const Tensor x = narrow(fx("x"), 0, 0, 1);
    struct Case {
        const char* name;
        std::shared_ptr<models::FeatureExtractor> net;
        std::vector<size_t> saved;
    };
    const std::vector<Case> cases = {
        {"vgg16", std::make_shared<models::VGG>(16, gen), {15, 29}},
        {"vgg19", std::make_shared<models::VGG>(19, gen), {13, 22, 35}},
        {"alex", std::make_shared<models::AlexNet>(gen), {4, 11}},
        {"squeeze", std::make_shared<models::SqueezeNet>(gen), {4, 12}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        det_fill(*c.net);
        NoGradGuard ng;
        const auto taps = c.net->taps(x, c.saved);
        for (size_t i = 0; i < taps.size(); ++i) {
            INFO("tap " << c.saved[i]);
            CHECK(relerr(taps[i], fx(std::string(c.name) + "_tap" + std::to_string(c.saved[i]))) <= testing::kDeepTol);
        }
    }
    test::check_error([&] { cases[2].net->taps(x, {40}); }, {"AlexNet", "tap 40"});
}

TEST_CASE("LPIPS (alex, vgg, squeeze) with the shipped heads: distances and gradients match PyTorch") {
    Generator gen(0);
    const Tensor x = fx("x"), y = fx("y");
    for (auto [which, name] : {std::pair{models::LpipsNet::alex, "alex"}, {models::LpipsNet::vgg, "vgg"},
                               {models::LpipsNet::squeeze, "squeeze"}}) {
        INFO(name);
        models::LPIPS lp(which, gen);
        det_fill(*lp.net);
        lp.load_heads(lpips_heads(name));
        const Tensor xr = detach(x).requires_grad_();
        const Tensor d = lp.distance(xr, y, /*normalize=*/true);
        CHECK(relerr(d, fx(std::string("lpips_") + name)) <= testing::kDeepTol);
        const Tensor g = grad({sum(d)}, {xr})[0];
        CHECK(relerr(g, fx(std::string("lpips_") + name + "_grad")) <= testing::kDeepTol);
        for (auto& p : lp.parameters()) CHECK_FALSE(p.requires_grad()); // frozen: a loss, not a trainee
        CHECK(sum(lp.distance(x, x, true)).item() == 0.0);
    }
    models::LPIPS lp(models::LpipsNet::alex, gen);
    test::check_error([&] { lp.load_heads(lpips_heads("vgg")); }, {"LPIPS", "lin1.model.1.weight", "alex"});
    test::check_error([&] { lp.distance(fx("x"), narrow(fx("y"), 0, 0, 1)); }, {"LPIPS", "[2,3,64,64]", "[1,3,64,64]"});
}
