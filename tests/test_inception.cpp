// FID's Inception-v3 against a PyTorch reference built from torchvision's blocks
// (tests/reference/make_inception_fixtures.py), with deterministic parameters.
#include "support.hpp"

#include <cmath>

#include <vkgrad/metrics.hpp>
#include <vkgrad/models/inception.hpp>
#include <vkgrad/testing/detparam.hpp>

using namespace vkgrad;
using test::ends_with;

namespace {
Tensor fx(const std::string& name) { return io::load_npy(test::fixtures() + "/inception/" + name + ".npy"); }

} // namespace

TEST_CASE("FID Inception-v3: pool3 features match the PyTorch reference") {
    Generator gen(0);
    models::FIDInception net(gen);
    {
        NoGradGuard ng;
        for (auto& [name, t] : net.state_dict()) {
            if (t.dtype() != DType::f32) continue; // num_batches_tracked
            Tensor v;
            if (ends_with(name, "conv.weight"))
                v = testing::det_tensor(t.shape(), 9, name, 1 / std::sqrt(static_cast<double>(t.numel() / t.size(0))));
            else if (ends_with(name, "running_var") || ends_with(name, "bn.weight"))
                v = testing::det_tensor(t.shape(), 9, name, 0.3) + 1.0;
            else
                v = testing::det_tensor(t.shape(), 9, name, 0.1);
            copy_(t, v);
        }
    }
    NoGradGuard ng;
    const Tensor f = net.forward(fx("x"));
    CHECK(f.shape() == Shape{2, 2048});
    CHECK(testing::relerr(f, fx("pool3")) <= testing::kDeepTol);
    test::check_error([&] { net.forward(zeros({1, 1, 8, 8})); }, {"FIDInception", "[1,1,8,8]"});
    test::check_error([&] { models::load_fid_inception(net, test::fixtures() + "/torch/zip_dict.pt"); },
                      {"load_fid_inception", "Conv2d_1a_3x3.conv.weight"});
}
