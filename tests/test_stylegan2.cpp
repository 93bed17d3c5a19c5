// StyleGAN2 generator and discriminator against references:
//  - the tiny network of ../shared/data/stylegan2 in all five checkpoint formats, against the
//    outputs NVIDIA's code produced (skipped without the shared data);
//  - a 64 px network and the full-size config-f architectures (256, 512, 1024) against
//    tests/reference/stylegan2_torch.py with deterministic parameters
//    (tests/reference/make_stylegan2_fixtures.py), including R1's double backward through D.
#include "support.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <vkgrad/models/stylegan2.hpp>
#include <vkgrad/models/stylegan2_import.hpp>
#include <vkgrad/testing/stylegan2_params.hpp>

using namespace vkgrad;
using testing::relerr;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return test::fixtures() + "/stylegan2/" + name; }
Tensor fx(const std::string& name) { return io::load_npy(fixture(name)); }

std::string shared_stylegan2() { return test::fixtures() + "/../../../shared/data/stylegan2"; }

Tensor raw_f32(const std::string& path, const Shape& shape) {
    std::ifstream f(path, std::ios::binary);
    std::vector<float> v(static_cast<size_t>(numel(shape)));
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
    REQUIRE(f.gcount() == static_cast<std::streamsize>(v.size() * 4));
    return from_vector(std::vector<double>(v.begin(), v.end()), shape);
}

models::StyleGAN2Config config_f(int64_t R) {
    models::StyleGAN2Config c;
    c.resolution = R;
    return c;
}

models::StyleGAN2Config config_g64() {
    models::StyleGAN2Config c;
    c.resolution = 64;
    c.z_dim = c.w_dim = 64;
    c.mapping_layers = 2;
    c.channel_base = 1024;
    c.channel_max = 64;
    c.mbstd_group = 2;
    return c;
}

} // namespace

TEST_CASE("stylegan2: the tiny NVIDIA network in every checkpoint format reproduces NVIDIA's outputs") {
    const std::string dir = shared_stylegan2();
    if (!fs::exists(dir + "/ada_tiny_p3.pkl")) {
        MESSAGE("skipped: no shared data at " << dir);
        return;
    }
    const Tensor z = raw_f32(dir + "/ref_z_4x32.f32", {4, 32});
    const Tensor img1 = raw_f32(dir + "/ref_img_psi1_4x3x16x16.f32", {4, 3, 16, 16});
    const Tensor img07 = raw_f32(dir + "/ref_img_psi0.7_4x3x16x16.f32", {4, 3, 16, 16});
    const Tensor logits4 = raw_f32(dir + "/ref_dlogits_8x1.f32", {8, 1});
    const Tensor logitsN = raw_f32(dir + "/ref_dlogits_groupN_8x1.f32", {8, 1});
    const Tensor d_in = clamp(concat({img1, img07}, 0), -1, 1);
    for (const char* file : {"ada_tiny_p3.pkl", "ada_tiny_p4.pkl", "ros_tiny.pt", "ros_tiny_legacy.pt", "tf_tiny.pkl"}) {
        INFO(file);
        const auto ck = models::import_stylegan2(dir + "/" + file);
        std::map<std::string, Tensor> g, d;
        for (const auto& [k, t] : ck.tensors) (k.rfind("G.", 0) == 0 ? g : d)[k.substr(2)] = t;
        Generator init(0);
        models::StyleGAN2Generator G(ck.config, init);
        models::StyleGAN2Discriminator D(ck.config, init);
        G.load_state_dict(g);
        D.load_state_dict(d);
        NoGradGuard ng;
        CHECK(relerr(G.forward(z, {1.0}), img1) < testing::kDeepTol);
        CHECK(relerr(G.forward(z, {0.7}), img07) < testing::kDeepTol);
        D.set_mbstd_group(4);
        const Tensor l4 = D.forward(d_in);
        CHECK(relerr(l4, logits4) < testing::kDeepTol);
        D.set_mbstd_group(0);
        const Tensor lN = D.forward(d_in);
        CHECK(relerr(lN, logitsN) < testing::kDeepTol);
        CHECK(relerr(l4, lN) > 1e-3); // the grouping really changes the answer (by ~3e-3)
    }
}

TEST_CASE("stylegan2: a 64 px network matches the PyTorch reference, R1's double backward included") {
    const auto c = config_g64();
    Generator init(0);
    models::StyleGAN2Generator G(c, init);
    models::StyleGAN2Discriminator D(c, init);
    testing::det_fill_stylegan2(G);
    testing::det_fill_stylegan2(D);
    {
        NoGradGuard ng;
        const Tensor z = fx("g64_z.npy");
        const Tensor ws = G.mapping(z, {0.7});
        CHECK(relerr(ws, fx("g64_ws.npy")) < 5e-5);
        CHECK(relerr(G.synthesis->forward(ws), fx("g64_img.npy")) < testing::kDeepTol);
    }
    Tensor x = testing::det_tensor({4, 3, 64, 64}, 11, "d_input", 1.0);
    x.requires_grad_(true);
    const Tensor logits = D.forward(x);
    CHECK(relerr(logits, fx("g64_dlogits.npy")) < testing::kDeepTol);
    // R1 = sum (dD/dx)^2, differentiated again with respect to D's weights.
    const Tensor gx = grad({sum(logits)}, {x}, {}, true)[0];
    const Tensor r1 = sum(gx * gx);
    CHECK(relerr(reshape(r1, {1}), fx("g64_d_r1.npy")) < testing::kGradTol);
    const auto gw = grad({r1}, {D.b4->out->weight, D.blocks[0]->conv0->weight});
    CHECK(relerr(gw[0], fx("g64_d_r1_grad_b4_out_weight.npy")) < testing::kGradTol);
    CHECK(relerr(gw[1], fx("g64_d_r1_grad_b64_conv0_weight.npy")) < testing::kGradTol);
}

TEST_CASE("stylegan2: conv_clamp clamps as NVIDIA's natively trained networks do") {
    auto c = config_g64();
    c.conv_clamp = 0.5; // small enough to clamp most activations (the image changes by up to 11)
    Generator init(0);
    models::StyleGAN2Generator G(c, init);
    models::StyleGAN2Discriminator D(c, init);
    testing::det_fill_stylegan2(G);
    testing::det_fill_stylegan2(D);
    NoGradGuard ng;
    CHECK(relerr(G.forward(fx("g64_z.npy"), {0.7}), fx("g64c_img.npy")) < testing::kDeepTol);
    CHECK(relerr(D.forward(testing::det_tensor({4, 3, 64, 64}, 11, "d_input", 1.0)), fx("g64c_dlogits.npy")) <
          testing::kDeepTol);
}

TEST_CASE("stylegan2: full-size config-f generators and discriminators match the PyTorch reference") {
    struct GCase {
        int64_t R;
        double psi;
    };
    for (const GCase gc : {GCase{256, 1.0}, GCase{512, 1.0}, GCase{1024, 0.5}}) {
        INFO("generator " << gc.R);
        const std::string tag = "g" + std::to_string(gc.R);
        Generator init(0);
        models::StyleGAN2Generator G(config_f(gc.R), init);
        testing::det_fill_stylegan2(G);
        NoGradGuard ng;
        const Tensor ws = G.mapping(fx(tag + "_z.npy"), {gc.psi});
        CHECK(relerr(reshape(narrow(ws, 1, 0, 1), {ws.size(0), 512}), fx(tag + "_ws.npy")) < 5e-5);
        const Tensor img = G.synthesis->forward(ws);
        const Tensor want = fx(tag + "_img_sample.npy");
        const Tensor idx = arange(0.0, static_cast<double>(img.numel()), 997.0, {DType::i64});
        REQUIRE(idx.numel() == want.numel());
        const double e_img = relerr(index_select(reshape(img, {img.numel()}), 0, idx), want);
        MESSAGE("G" << gc.R << " relerr: image sample " << e_img);
        CHECK(e_img < testing::kDeepTol);
        // Per (sample, channel) mean and standard deviation cover every pixel, not just the sample.
        const Tensor stats = fx(tag + "_img_stats.npy");
        const Tensor flat = reshape(to(img, DType::f64), {img.size(0) * 3, gc.R * gc.R});
        CHECK(relerr(mean(flat, {1}), reshape(narrow(stats, -1, 0, 1), {flat.size(0)})) < testing::kDeepTol);
        CHECK(relerr(sqrt(var(flat, {1}, 0)), reshape(narrow(stats, -1, 1, 1), {flat.size(0)})) < testing::kDeepTol);
    }
    struct DCase {
        int64_t R, N, group;
    };
    for (const DCase dc : {DCase{512, 4, 4}, DCase{256, 2, 0}}) {
        INFO("discriminator " << dc.R);
        Generator init(0);
        auto c = config_f(dc.R);
        c.mbstd_group = dc.group;
        models::StyleGAN2Discriminator D(c, init);
        testing::det_fill_stylegan2(D);
        NoGradGuard ng;
        const Tensor x = testing::det_tensor({dc.N, 3, dc.R, dc.R}, 11, "d_input", 1.0);
        const double e = relerr(D.forward(x), fx("d" + std::to_string(dc.R) + "_logits.npy"));
        MESSAGE("D" << dc.R << " relerr: logits " << e);
        CHECK(e < testing::kDeepTol);
    }
}

TEST_CASE("stylegan2: rendering from a replacement feature map (the inversion encoder's entry point)") {
    auto c = config_g64();
    Generator init(0);
    models::StyleGAN2Generator G(c, init);
    testing::det_fill_stylegan2(G);
    NoGradGuard ng;
    const Tensor ws = G.mapping(fx("g64_z.npy"), {0.7});
    const Tensor f16 = G.synthesis->features_at(ws, 16);
    CHECK(f16.shape() == Shape{2, 64, 16, 16});
    // With the lower blocks' toRGB silenced, the RGB skip holds nothing before block 16, so
    // restarting it there must give exactly the full generator's image.
    for (auto& b : G.synthesis->blocks)
        if (b->resolution < 16) {
            fill_(b->torgb->weight, 0.0);
            fill_(b->torgb->bias, 0.0);
        }
    CHECK(relerr(G.synthesis->forward_from(ws, f16, 16), G.synthesis->forward(ws)) < 1e-6);
    // ... and the features do matter.
    CHECK(relerr(G.synthesis->forward_from(ws, f16 * 0.5, 16), G.synthesis->forward(ws)) > 1e-3);
    test::check_error([&] { G.synthesis->forward_from(ws, zeros({2, 64, 8, 8}), 16); }, {"features must be [2, 64, 16, 16]"});
    test::check_error([&] { G.synthesis->features_at(ws, 4); }, {"res 4 is not a block"});
}

TEST_CASE("stylegan2: wrong inputs are clear errors") {
    auto c = config_g64();
    c.resolution = 16;
    Generator init(0);
    models::StyleGAN2Generator G(c, init);
    models::StyleGAN2Discriminator D(c, init);
    NoGradGuard ng;
    test::check_error([&] { G.mapping(zeros({2, 32})); }, {"z must be [N, 64]", "[2,32]"});
    test::check_error([&] { G.synthesis->forward(zeros({2, 3, 64})); }, {"ws must be [N, 6, 64]"});
    test::check_error([&] { D.forward(zeros({2, 3, 32, 32})); }, {"images must be [N, 3, 16, 16]"});
    test::check_error([&] { D.forward(zeros({3, 3, 16, 16})); }, {"batch 3 is not divisible by the group size 2"});
    test::check_error([&] {
        auto bad = c;
        bad.resolution = 48;
        models::StyleGAN2Generator g(bad, init);
    }, {"resolution 48"});
    // Truncation with a cutoff keeps the later ws untruncated.
    const Tensor z = testing::det_tensor({2, 64}, 1, "z", 2.0);
    const Tensor full = G.mapping(z, {0.5}), cut = G.mapping(z, {0.5, 2}), none = G.mapping(z, {1.0});
    CHECK(relerr(narrow(cut, 1, 0, 2), narrow(full, 1, 0, 2)) == 0);
    CHECK(relerr(narrow(cut, 1, 2, 4), narrow(none, 1, 2, 4)) == 0);
    // Style mixing takes the coarse ws from one latent and the fine ones from another.
    const Tensor mixed = models::mix_styles(full, none, 3);
    CHECK(relerr(narrow(mixed, 1, 0, 3), narrow(full, 1, 0, 3)) == 0);
    CHECK(relerr(narrow(mixed, 1, 3, 3), narrow(none, 1, 3, 3)) == 0);
    test::check_error([&] { models::mix_styles(full, none, 7); }, {"cutoff 7 outside [0, 6]"});
}
