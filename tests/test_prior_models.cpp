// The inversion encoder and the fusion network (models/inversion_encoder.hpp, models/fusion.hpp)
// against the PyTorch references of tests/reference/make_prior_model_fixtures.py, with the
// script's deterministic parameters and BatchNorm buffers; float64 finite-difference checks of
// both networks' input gradients; the errors they raise.
#include "support.hpp"

#include <chrono>
#include <cmath>

#include <vkgrad/models/fusion.hpp>
#include <vkgrad/models/inversion_encoder.hpp>
#include <vkgrad/testing/detparam.hpp>

using namespace vkgrad;
using testing::relerr;
using test::count_parameters;
using test::ends_with;
using test::to_f64;

namespace {

std::string dir() { return test::fixtures() + "/prior_models/"; }
Tensor fx(const std::string& name) { return io::load_npy(dir() + name + ".npy"); }

/// The script's rule (seed 7, float64 values rounded once to the tensor's dtype), first match
/// wins: running_mean det(0.1); running_var 1 + det(0.2); num_batches_tracked untouched;
/// EqualLinear weights (*.linear.weight) det(sqrt 3); other 1-D weights (BN) 1 + det(0.2);
/// other 1-D det(0.1); conv weights det(sqrt(3 / fan_in)), fan_in = numel / shape[0].
void det_fill(nn::Module& m) {
    NoGradGuard ng;
    auto all = m.named_parameters();
    for (auto& b : m.named_buffers()) all.push_back(b);
    for (auto& [name, t] : all) {
        Tensor v;
        if (ends_with(name, ".running_mean")) v = testing::det_tensor(t.shape(), 7, name, 0.1, DType::f64);
        else if (ends_with(name, ".running_var")) v = testing::det_tensor(t.shape(), 7, name, 0.2, DType::f64) + 1.0;
        else if (ends_with(name, ".num_batches_tracked")) continue;
        else if (ends_with(name, ".linear.weight")) v = testing::det_tensor(t.shape(), 7, name, std::sqrt(3.0), DType::f64);
        else if (t.dim() == 1 && ends_with(name, ".weight")) v = testing::det_tensor(t.shape(), 7, name, 0.2, DType::f64) + 1.0;
        else if (t.dim() == 1) v = testing::det_tensor(t.shape(), 7, name, 0.1, DType::f64);
        else v = testing::det_tensor(t.shape(), 7, name, std::sqrt(3.0 / static_cast<double>(t.numel() / t.size(0))), DType::f64);
        copy_(t, v);
    }
}
Tensor det_input(const Shape& s, uint64_t seed, const char* name) { return testing::det_tensor(s, seed, name, 1.0); }

/// The script's small configuration (SMALL); the training case uses w_dim 24 (so lat0 exists).
models::InversionEncoderConfig encoder_small(int64_t w_dim = 32) {
    models::InversionEncoderConfig c;
    c.input_size = 64;
    c.convs_per_stage = 2;
    c.max_channels = 32;
    c.min_channels = 8;
    c.feature_channels = 16;
    c.w_dim = w_dim;
    c.num_ws = 10;
    return c;
}
models::FusionConfig fusion_small() {
    models::FusionConfig c;
    c.width = 8;
    c.blocks = 2;
    return c;
}

Tensor tensor_named(const nn::NamedTensors& ts, const std::string& name) {
    for (auto& [n, t] : ts)
        if (n == name) return t;
    FAIL("no tensor " << name);
    return {};
}
bool has(const nn::NamedTensors& ts, const std::string& name) {
    for (auto& [n, t] : ts)
        if (n == name) return true;
    return false;
}

/// ws minus w_avg: the heads' own outputs. They are about 8x smaller than w_avg, so comparing
/// only ws would let head errors hide under w_avg's magnitude.
Tensor heads(const Tensor& ws, const Tensor& w_avg) { return ws - reshape(w_avg, {1, 1, w_avg.size(0)}); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

TEST_CASE("InversionEncoder: layout and parameter names (input 64, 2 convs per stage, 10 ws)") {
    Generator gen(0);
    const auto c = encoder_small();
    CHECK(c.stages() == 2);
    CHECK(c.predicted_ws() == 6);
    models::InversionEncoder enc(c, gen);
    CHECK(enc.trunk->size() == 5); // 2 stages x 2 blocks + the 16x16 tail
    CHECK(enc.styles->size() == 6);
    CHECK(!enc.lat0);
    const auto sd = enc.state_dict();
    CHECK(sd.size() == 5 * 7 + 2 + 2 + 2 + 3 * (5 * 2 + 2) + 3 * (6 * 2 + 2));
    for (const char* n : {"trunk.0.conv.weight", "trunk.0.bn.running_mean", "trunk.4.bn.num_batches_tracked",
                          "to_features.bias", "latlayer1.weight", "latlayer2.bias", "styles.0.convs.0.weight",
                          "styles.0.convs.8.bias", "styles.2.linear.weight", "styles.3.convs.10.weight",
                          "styles.5.linear.bias"})
        CHECK_MESSAGE(has(sd, n), n);
    CHECK(!has(sd, "styles.0.convs.10.weight")); // medium heads (w4..w6) reduce 32 -> 1 in 5 convs
    CHECK(tensor_named(sd, "trunk.0.conv.weight").shape() == Shape{32, 3, 3, 3});
    CHECK(tensor_named(sd, "to_features.weight").shape() == Shape{16, 32, 3, 3});
    CHECK(tensor_named(sd, "styles.5.linear.weight").shape() == Shape{32, 32});

    models::InversionEncoder with_lat0(encoder_small(24), gen);
    CHECK(with_lat0.lat0);
    CHECK(with_lat0.lat0->weight.shape() == Shape{24, 32, 1, 1});

    // the defaults: 64, 128, 256, 512 channels at 256, 128, 64, 32; 12 heads, 3 of them medium
    const models::InversionEncoderConfig d;
    CHECK(d.stages() == 4);
    CHECK(d.channels(256) == 64);
    CHECK(d.channels(128) == 128);
    CHECK(d.channels(64) == 256);
    CHECK(d.channels(32) == 512);
    CHECK(d.channels(1024) == 32); // min_channels
    models::StyleGAN2Config g;
    g.resolution = 512;
    const auto fg = models::InversionEncoderConfig::for_generator(g);
    CHECK(fg.num_ws == 16);
    CHECK(fg.feature_channels == 512);
    CHECK(fg.w_dim == 512);

    // full_ws: the generator's [N, num_ws, w_dim] with w_avg in the four ignored rows
    const Tensor w_avg = det_input({32}, 11, "w_avg");
    const Tensor ws = det_input({2, 6, 32}, 3, "ws");
    const Tensor full = enc.full_ws(ws, w_avg);
    REQUIRE(full.shape() == Shape{2, 10, 32});
    CHECK(relerr(narrow(full, 1, 4, 6), ws) == 0);
    CHECK(relerr(narrow(full, 1, 0, 4), expand(reshape(w_avg, {1, 1, 32}), {2, 4, 32})) == 0);
}

TEST_CASE("InversionEncoder in eval mode (running statistics) matches PyTorch") {
    Generator gen(0);
    models::InversionEncoder enc(encoder_small(), gen);
    det_fill(enc);
    enc.eval();
    NoGradGuard ng;
    const Tensor w_avg = det_input({32}, 11, "w_avg");
    const auto out = enc.forward(det_input({1, 3, 64, 64}, 11, "x"), w_avg);
    REQUIRE(out.features.shape() == Shape{1, 16, 16, 16});
    REQUIRE(out.ws.shape() == Shape{1, 6, 32});
    const Tensor ref_ws = fx("encoder_eval_ws");
    const double e_f = relerr(out.features, fx("encoder_eval_features")), e_w = relerr(out.ws, ref_ws),
                 e_h = relerr(heads(out.ws, w_avg), heads(ref_ws, w_avg));
    CHECK(e_f <= testing::kDeepTol);
    CHECK(e_w <= testing::kDeepTol);
    CHECK(e_h <= testing::kDeepTol);
    MESSAGE("relerr features " << e_f << ", ws " << e_w << ", ws - w_avg " << e_h);
    CHECK(tensor_named(enc.named_buffers(), "trunk.0.bn.num_batches_tracked").item() == 0); // eval: no update
}

TEST_CASE("InversionEncoder in training mode (batch statistics, lat0): outputs, gradients, running stats match PyTorch") {
    Generator gen(0);
    models::InversionEncoder enc(encoder_small(24), gen);
    det_fill(enc);
    enc.train();
    const Tensor w_avg = det_input({24}, 11, "w_avg");
    const Tensor x = detach(det_input({2, 3, 64, 64}, 11, "x")).requires_grad_(true);
    const auto out = enc.forward(x, w_avg);
    REQUIRE(out.features.shape() == Shape{2, 16, 16, 16});
    REQUIRE(out.ws.shape() == Shape{2, 6, 24});
    const Tensor ref_ws = fx("encoder_train_ws");
    const double e_f = relerr(out.features, fx("encoder_train_features")), e_w = relerr(out.ws, ref_ws),
                 e_h = relerr(heads(out.ws, w_avg), heads(ref_ws, w_avg));
    CHECK(e_f <= testing::kDeepTol);
    CHECK(e_w <= testing::kDeepTol);
    CHECK(e_h <= testing::kDeepTol);

    const Tensor loss = sum(out.features * det_input(out.features.shape(), 13, "w1")) +
                        sum(out.ws * det_input(out.ws.shape(), 13, "w2"));
    const auto g = grad({loss}, {x, enc.latlayer1->weight});
    const double e_gx = relerr(g[0], fx("encoder_train_gx")), e_gw = relerr(g[1], fx("encoder_train_gw"));
    CHECK(e_gx <= testing::kDeepTol);
    CHECK(e_gw <= testing::kDeepTol);

    const auto bufs = enc.named_buffers();
    double e_stats = 0;
    for (const auto& [mine, ref] : {std::pair{"trunk.0.bn.running_mean", "encoder_train_trunk0_running_mean"},
                                    {"trunk.0.bn.running_var", "encoder_train_trunk0_running_var"},
                                    {"trunk.4.bn.running_mean", "encoder_train_tail_running_mean"},
                                    {"trunk.4.bn.running_var", "encoder_train_tail_running_var"}}) {
        const double e = relerr(tensor_named(bufs, mine), fx(ref));
        CHECK_MESSAGE(e <= testing::kDeepTol, mine);
        e_stats = std::max(e_stats, e);
    }
    CHECK(tensor_named(bufs, "trunk.4.bn.num_batches_tracked").item() == 1);
    MESSAGE("relerr features " << e_f << ", ws " << e_w << ", ws - w_avg " << e_h << ", d/dx " << e_gx
                               << ", d/d latlayer1.weight " << e_gw << ", running stats (worst) " << e_stats);
}

TEST_CASE("InversionEncoder defaults (input 256, 512 channels, 16 ws; 178.9 M parameters) match PyTorch") {
    const auto t0 = std::chrono::steady_clock::now();
    Generator gen(0);
    models::InversionEncoder enc(models::InversionEncoderConfig{}, gen);
    CHECK(count_parameters(enc) == 178919040);
    CHECK(enc.state_dict().size() == 259);
    det_fill(enc);
    enc.eval();
    const double t_init = seconds_since(t0);
    NoGradGuard ng;
    const Tensor w_avg = det_input({512}, 11, "w_avg");
    const auto out = enc.forward(det_input({1, 3, 256, 256}, 11, "x"), w_avg);
    REQUIRE(out.features.shape() == Shape{1, 512, 16, 16});
    REQUIRE(out.ws.shape() == Shape{1, 12, 512});
    const Tensor mu = mean(out.features, {2, 3}, true);
    const Tensor sd = sqrt(mean(pow(out.features - mu, 2.0), {2, 3}));
    const Tensor ref_ws = fx("encoder_default_ws");
    const double e_mean = relerr(reshape(mu, {1, 512}), fx("encoder_default_features_mean")),
                 e_std = relerr(sd, fx("encoder_default_features_std")),
                 e_first = relerr(narrow(out.features, 1, 0, 4), fx("encoder_default_features_first4")),
                 e_w = relerr(out.ws, ref_ws), e_h = relerr(heads(out.ws, w_avg), heads(ref_ws, w_avg));
    CHECK(e_mean <= testing::kDeepTol);
    CHECK(e_std <= testing::kDeepTol);
    CHECK(e_first <= testing::kDeepTol);
    CHECK(e_w <= testing::kDeepTol);
    CHECK(e_h <= testing::kDeepTol);
    MESSAGE("relerr features mean " << e_mean << ", std " << e_std << ", channels 0-3 " << e_first << ", ws " << e_w
                                    << ", ws - w_avg " << e_h << " (construct + fill " << t_init << " s, forward "
                                    << seconds_since(t0) - t_init << " s)");
}

TEST_CASE("FusionNet (width 8, 2 blocks, 2x3x24x20): output and both input gradients match PyTorch") {
    Generator gen(0);
    models::FusionNet net(fusion_small(), gen);
    det_fill(net);
    const auto sd = net.state_dict();
    CHECK(sd.size() == 14);
    for (const char* n : {"conv_r.weight", "conv_g.bias", "res.0.conv1.weight", "res.1.conv2.bias", "conv_out.weight"})
        CHECK_MESSAGE(has(sd, n), n);
    const Tensor x_r = detach(det_input({2, 3, 24, 20}, 11, "x_r")).requires_grad_(true);
    const Tensor x_g = detach(det_input({2, 3, 24, 20}, 11, "x_g")).requires_grad_(true);
    const Tensor out = net.forward(x_r, x_g);
    REQUIRE(out.shape() == Shape{2, 3, 24, 20});
    const auto g = grad({sum(out * det_input(out.shape(), 13, "w"))}, {x_r, x_g});
    const double e = relerr(out, fx("fusion_out")), e_r = relerr(g[0], fx("fusion_gx_r")),
                 e_g = relerr(g[1], fx("fusion_gx_g"));
    CHECK(e <= testing::kDeepTol);
    CHECK(e_r <= testing::kDeepTol);
    CHECK(e_g <= testing::kDeepTol);
    MESSAGE("relerr out " << e << ", d/dx_r " << e_r << ", d/dx_g " << e_g);
}

TEST_CASE("InversionEncoder and FusionNet reject wrong inputs and configurations") {
    Generator gen(0);
    models::InversionEncoder enc(encoder_small(), gen);
    const Tensor w_avg = zeros({32});
    test::check_error([&] { enc.forward(zeros({1, 3, 128, 128}), w_avg); },
                      {"InversionEncoder", "[N, 3, 64, 64]", "config.input_size", "[1,3,128,128]"});
    test::check_error([&] { enc.forward(zeros({1, 1, 64, 64}), w_avg); }, {"InversionEncoder", "[1,1,64,64]"});
    test::check_error([&] { enc.forward(zeros({3, 64, 64}), w_avg); }, {"InversionEncoder", "[3,64,64]"});
    test::check_error([&] { enc.forward(zeros({1, 3, 64, 64}), zeros({16})); },
                      {"InversionEncoder", "w_avg must be [32]", "got [16]"});
    test::check_error([&] { enc.forward(zeros({1, 3, 64, 64}), zeros({1, 32})); }, {"InversionEncoder", "w_avg", "[1,32]"});
    test::check_error([&] { enc.full_ws(zeros({1, 5, 32}), w_avg); }, {"InversionEncoder::full_ws", "[N, 6, 32]", "[1,5,32]"});
    test::check_error([&] { (*enc.styles)[0].forward(zeros({1, 32, 64, 64})); },
                      {"GradualStyleBlock", "[N, C, 32, 32]", "[1,32,64,64]"});

    for (int64_t bad : {32, 96, 0}) {
        auto c = encoder_small();
        c.input_size = bad;
        test::check_error([&] { models::InversionEncoder e(c, gen); },
                          {"InversionEncoderConfig", ("input_size " + std::to_string(bad)).c_str(), "16 * 2^k"});
    }
    auto few = encoder_small();
    few.num_ws = 4;
    test::check_error([&] { models::InversionEncoder e(few, gen); }, {"InversionEncoderConfig", "num_ws 4"});
    auto narrow_cfg = encoder_small();
    narrow_cfg.min_channels = 64;
    test::check_error([&] { models::InversionEncoder e(narrow_cfg, gen); },
                      {"InversionEncoderConfig", "min_channels <= max_channels", "64 and 32"});

    models::FusionNet net(fusion_small(), gen);
    test::check_error([&] { net.forward(zeros({1, 3, 8, 8}), zeros({1, 3, 8, 9})); },
                      {"FusionNet", "x_g must have x_r's shape [1,3,8,8]", "[1,3,8,9]"});
    test::check_error([&] { net.forward(zeros({1, 4, 8, 8}), zeros({1, 4, 8, 8})); }, {"FusionNet", "[N, 3, H, W]"});
    auto bad = fusion_small();
    bad.width = 0;
    test::check_error([&] { models::FusionNet f(bad, gen); }, {"FusionConfig", "width 0"});
}

TEST_CASE("InversionEncoderConfig and FusionConfig survive a metadata round trip; foreign metadata is refused") {
    const auto e = encoder_small();
    const auto e2 = models::InversionEncoderConfig::from_metadata(e.to_metadata(), "enc.safetensors");
    CHECK(e2.to_metadata() == e.to_metadata());
    const auto f = fusion_small();
    CHECK(models::FusionConfig::from_metadata(f.to_metadata(), "f.safetensors").to_metadata() == f.to_metadata());
    test::check_error([&] { models::FusionConfig::from_metadata(e.to_metadata(), "enc.safetensors"); },
                      {"FusionConfig", "enc.safetensors", "'inversion_encoder'", "not a 'fusion'"});
    auto m = e.to_metadata();
    m.erase("num_ws");
    test::check_error([&] { models::InversionEncoderConfig::from_metadata(m, "e.safetensors"); },
                      {"InversionEncoderConfig", "e.safetensors", "no 'num_ws'"});
}

TEST_CASE("FusionNet's input gradients: float64 finite differences (width 3, 2 blocks)") {
    Generator gen(0);
    models::FusionConfig c;
    c.width = 3;
    c.blocks = 2;
    models::FusionNet net(c, gen);
    det_fill(net);
    to_f64(net);
    const auto r = testing::gradcheck([&](const std::vector<Tensor>& v) { return net.forward(v[0], v[1]); },
                                      {det_input({1, 3, 5, 4}, 11, "x_r"), det_input({1, 3, 5, 4}, 11, "x_g")});
    CHECK_MESSAGE(r.ok, r.message);
    MESSAGE("gradcheck worst relerr " << r.worst);
}

TEST_CASE("InversionEncoder's gradients w.r.t. a window of the input and w_avg: float64 finite differences") {
    // Tiny widths (4 channels, lat0 3 -> w_dim 3, 3 medium + 1 fine head) keep the central
    // differences cheap; a 4x4 window of the 64x64 input (placed where both FPN taps see it)
    // stands for the whole input, which would need 24576 forward passes.
    Generator gen(0);
    models::InversionEncoderConfig c;
    c.input_size = 64;
    c.convs_per_stage = 1;
    c.max_channels = 4;
    c.min_channels = 2;
    c.feature_channels = 3;
    c.w_dim = 3;
    c.num_ws = 8;
    models::InversionEncoder enc(c, gen);
    REQUIRE(enc.lat0);
    REQUIRE(enc.latlayer2);
    det_fill(enc);
    to_f64(enc);
    const Tensor base = to(det_input({2, 3, 64, 64}, 11, "x"), DType::f64);
    const auto f = [&](const std::vector<Tensor>& v) {
        const auto o = enc.forward(base + pad(v[0], {20, 40, 30, 30}), v[1]);
        return concat({flatten(o.features, 0, -1), flatten(o.ws, 0, -1)}, 0);
    };
    for (bool training : {false, true}) {
        const std::string mode = training ? "training mode (batch statistics)" : "eval mode (running statistics)";
        INFO(mode);
        enc.train(training);
        const auto r = testing::gradcheck(f, {det_input({2, 3, 4, 4}, 5, "v"), det_input({3}, 11, "w_avg")});
        CHECK_MESSAGE(r.ok, r.message);
        MESSAGE("gradcheck " << mode << ": worst relerr " << r.worst);
    }
}
