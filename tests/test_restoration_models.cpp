// NAFNet and HINet (issue 7/8) against the PyTorch references of
// tests/reference/make_restoration_fixtures.py (official BasicSR parameter names), with the
// script's deterministic parameters; loading BasicSR .pth and vkgrad safetensors weights; a
// float64 finite-difference check of NAFNet's input gradient.
#include "support.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <vkgrad/io/checkpoint.hpp>
#include <vkgrad/io/module_weights.hpp>
#include <vkgrad/models/hinet.hpp>
#include <vkgrad/models/nafnet.hpp>
#include <vkgrad/models/nafnet_widen.hpp>
#include <vkgrad/models/regression.hpp>
#include <vkgrad/testing/detparam.hpp>

using namespace vkgrad;
using testing::relerr;
using test::count_parameters;
using test::ends_with;
using test::to_f64;

namespace {

std::string dir() { return test::fixtures() + "/restoration/"; }
Tensor fx(const std::string& name) { return io::load_npy(dir() + name + ".npy"); }
std::string tmp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("vkgrad_restore_" + name)).string();
}

/// The script's parameter rule (seed 7, float64 values rounded once to the parameter's dtype):
/// beta/gamma det(0.5); 1-D weights (norms) 1 + det(0.2); other 1-D det(0.1); conv weights
/// det(sqrt(3 / fan_in)) with fan_in = numel / shape[0].
void det_fill(nn::Module& m) {
    NoGradGuard ng;
    for (auto& [name, t] : m.named_parameters()) {
        Tensor v;
        if (ends_with(name, ".beta") || ends_with(name, ".gamma")) v = testing::det_tensor(t.shape(), 7, name, 0.5, DType::f64);
        else if (t.dim() == 1 && ends_with(name, ".weight")) v = testing::det_tensor(t.shape(), 7, name, 0.2, DType::f64) + 1.0;
        else if (t.dim() == 1) v = testing::det_tensor(t.shape(), 7, name, 0.1, DType::f64);
        else v = testing::det_tensor(t.shape(), 7, name, std::sqrt(3.0 / static_cast<double>(t.numel() / t.size(0))), DType::f64);
        copy_(t, v);
    }
}
Tensor det_input(const Shape& s, uint64_t seed, const char* name) { return testing::det_tensor(s, seed, name, 1.0); }

models::NAFNetConfig nafnet_small() {
    models::NAFNetConfig c;
    c.width = 8;
    c.enc_blocks = {1, 1};
    c.middle_blocks = 1;
    c.dec_blocks = {1, 1};
    return c;
}
models::HINetConfig hinet_small() {
    models::HINetConfig c;
    c.wf = 8;
    c.depth = 3;
    c.hin_position_left = 1;
    return c;
}

Tensor param(const nn::Module& m, const std::string& name) {
    for (auto& [n, t] : m.named_parameters())
        if (n == name) return t;
    FAIL("no parameter " << name);
    return {};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

TEST_CASE("NAFNet (width 8, 37x45 input, padded inside): output, input and weight gradients match PyTorch") {
    Generator gen(0);
    models::NAFNet net(nafnet_small(), gen);
    det_fill(net);
    CHECK(net.state_dict().size() == 100);
    const Tensor x = detach(det_input({1, 3, 37, 45}, 11, "x")).requires_grad_(true);
    const Tensor out = net(x);
    REQUIRE(out.shape() == Shape{1, 3, 37, 45});
    const double e_out = relerr(out, fx("nafnet_small_out"));
    CHECK(e_out <= testing::kDeepTol);
    const Tensor w = det_input(out.shape(), 13, "w");
    const auto g = grad({sum(out * w)}, {x, param(net, "encoders.0.0.conv2.weight")});
    const double e_gx = relerr(g[0], fx("nafnet_small_gx")), e_gw = relerr(g[1], fx("nafnet_small_gw"));
    CHECK(e_gx <= testing::kDeepTol);
    CHECK(e_gw <= testing::kDeepTol);
    MESSAGE("relerr out " << e_out << ", d/dx " << e_gx << ", d/d encoders.0.0.conv2.weight " << e_gw);
}

TEST_CASE("NAFNet with test-time local pooling (local_pool 24: every level local; 44: only the width) matches PyTorch") {
    // PyTorch's reference pools with 2-D prefix sums (the official NAFNetLocal's way), vkgrad
    // with banded matrix products: two algorithms, one answer.
    Generator gen(0);
    for (int64_t b : {24, 44}) {
        INFO("local_pool " << b);
        auto c = nafnet_small();
        c.local_pool = b;
        models::NAFNet net(c, gen);
        det_fill(net);
        const Tensor x = detach(det_input({1, 3, 37, 45}, 11, "x")).requires_grad_(true);
        const Tensor out = net(x);
        const auto g = grad({sum(out * det_input(out.shape(), 13, "w"))}, {x});
        const double e_out = relerr(out, fx("nafnet_small_local" + std::to_string(b) + "_out"));
        const double e_gx = relerr(g[0], fx("nafnet_small_local" + std::to_string(b) + "_gx"));
        CHECK(e_out <= testing::kDeepTol);
        CHECK(e_gx <= testing::kDeepTol);
        MESSAGE("local_pool " << b << ": relerr out " << e_out << ", d/dx " << e_gx);
        const auto back = models::NAFNetConfig::from_metadata(c.to_metadata(), "test");
        CHECK(back.local_pool == b);
    }
    // Windows at least the padded 40x48 input are the global pool: the published network, exactly.
    NoGradGuard ng;
    auto c = nafnet_small();
    models::NAFNet global(c, gen);
    det_fill(global);
    CHECK(global.config.to_metadata().count("local_pool") == 0); // older files read as global
    c.local_pool = 48;
    models::NAFNet wide(c, gen);
    det_fill(wide);
    const Tensor x = det_input({1, 3, 37, 45}, 11, "x");
    CHECK(relerr(wide(x), global(x)) == 0);
    c.local_pool = -1;
    test::check_error([&] { models::NAFNet n(c, gen); }, {"NAFNetConfig", "local_pool -1"});
    test::check_error([&] { local_avg_pool2d(x, 0, 3); }, {"local_avg_pool2d", "window 0x3"});
}

TEST_CASE("local_avg_pool2d's sliding means: running and prefix sums both equal a direct window mean") {
    // The two ways detail::sliding_mean sums windows, each against the plain mean of every
    // window (float64 loops), along both axes: lines shorter and longer than a prefix block
    // (64), not a multiple of it, windows of 1, several and the whole line. float64 within
    // 1e-12; float32 within 1e-5 (the prefix way subtracts running totals of up to a few
    // hundred values: a few roundings of those). Then gradients of both ways by finite
    // differences, and the choice: the 512 px faces keep the running sums (the shipped
    // numbers unchanged, bit for bit), larger images take the prefix sums.
    using detail::SlidingSum;
    Generator gen(41);
    const auto direct = [](const Tensor& x, int64_t axis, int64_t k) {
        const Tensor xd = to(x, DType::f64);
        const auto v = xd.to_vector<double>();
        const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
        const int64_t Ho = axis == 2 ? H - k + 1 : H, Wo = axis == 3 ? W - k + 1 : W;
        std::vector<double> m(static_cast<size_t>(N * C * Ho * Wo), 0.0);
        for (int64_t a = 0; a < N * C; ++a)
            for (int64_t i = 0; i < Ho; ++i)
                for (int64_t j = 0; j < Wo; ++j) {
                    double t = 0;
                    for (int64_t d = 0; d < k; ++d)
                        t += v[static_cast<size_t>((a * H + i + (axis == 2 ? d : 0)) * W + j + (axis == 3 ? d : 0))];
                    m[static_cast<size_t>((a * Ho + i) * Wo + j)] = t / static_cast<double>(k);
                }
        return from_vector(m, {N, C, Ho, Wo}, {DType::f64});
    };
    struct Case {
        Shape shape;
        int64_t axis, k;
    };
    for (const Case& c : {Case{{1, 2, 5, 45}, 3, 7}, Case{{2, 1, 130, 6}, 2, 20}, Case{{1, 1, 3, 200}, 3, 1},
                          Case{{1, 2, 3, 150}, 3, 150}, Case{{1, 1, 257, 2}, 2, 192}, Case{{1, 1, 2, 64}, 3, 13}}) {
        const Tensor x = randn(c.shape, gen) + 2.0, ref = direct(x, c.axis, c.k);
        for (const SlidingSum how : {SlidingSum::running, SlidingSum::prefix}) {
            const std::string way = how == SlidingSum::prefix ? "prefix" : "running";
            INFO(to_string(c.shape) << " axis " << c.axis << " k " << c.k << " " << way);
            CHECK(relerr(detail::sliding_mean(to(x, DType::f64), c.axis, c.k, how), ref) <= 1e-12);
            CHECK(relerr(detail::sliding_mean(x, c.axis, c.k, how), ref) <= 1e-5);
        }
    }
    for (const SlidingSum how : {SlidingSum::running, SlidingSum::prefix}) {
        const auto f3 = [how](const std::vector<Tensor>& v) { return detail::sliding_mean(v[0], 3, 9, how); };
        const auto f2 = [how](const std::vector<Tensor>& v) { return detail::sliding_mean(v[0], 2, 5, how); };
        const auto r3 = testing::gradcheck(f3, {randn({1, 1, 2, 70}, gen)});
        const auto r2 = testing::gradcheck(f2, {randn({1, 1, 70, 2}, gen)});
        CHECK_MESSAGE(r3.ok, r3.message);
        CHECK_MESSAGE(r2.ok, r2.message);
    }
    const Tensor face = randn({1, 2, 3, 512}, gen), photo = randn({1, 2, 3, 2048}, gen);
    CHECK(detail::sliding_mean(face, 3, 384).to_vector<float>() ==
          detail::sliding_mean(face, 3, 384, SlidingSum::running).to_vector<float>());
    CHECK(detail::sliding_mean(photo, 3, 384).to_vector<float>() ==
          detail::sliding_mean(photo, 3, 384, SlidingSum::prefix).to_vector<float>());
}

TEST_CASE("models::tiled: the blend of tiles is the function itself for a pointwise one; one tile is exact") {
    // With f pointwise, every tile's answer is exactly f there, so the blend (a weighted mean)
    // must give f(x) at every pixel the tiles cover — all of them (within float rounding of the
    // weights: 1e-6). A channel-changing f, shapes that tiles do not divide, no overlap, an
    // overlap where four tiles meet, and a tile as large as the image (f(x) bit for bit). Then the errors: a tile not above the overlap, an f that resizes.
    Generator gen(43);
    const auto f = [](const Tensor& t) { return t * 2.0 + 1.0; };
    const auto g = [](const Tensor& t) { return mean(t, {1}, true) - t.size(1); }; // C -> 1
    struct Case {
        Shape shape;
        int64_t tile, overlap;
    };
    for (const Case& c : {Case{{1, 3, 100, 70}, 32, 8}, Case{{2, 1, 33, 200}, 50, 0}, Case{{1, 2, 65, 65}, 64, 63},
                          Case{{1, 3, 40, 41}, 41, 16}, Case{{1, 1, 90, 30}, 20, 15}}) { // the last: 4 tiles meet
        INFO(to_string(c.shape) << " tile " << c.tile << " overlap " << c.overlap);
        const Tensor x = randn(c.shape, gen);
        CHECK(relerr(models::tiled(f, x, c.tile, c.overlap), f(x)) <= 1e-6);
        CHECK(relerr(models::tiled(g, x, c.tile, c.overlap), g(x)) <= 1e-6);
    }
    const Tensor x = randn({1, 3, 20, 30}, gen);
    CHECK(models::tiled(f, x, 30, 8).to_vector<float>() == f(x).to_vector<float>());
    // neighbours share at least the overlap, and the tiles reach both ends
    for (const auto& [n, tile, overlap] : {std::tuple{1000, 256, 64}, std::tuple{257, 256, 0}, std::tuple{300, 100, 99}}) {
        const auto p = models::detail::tile_starts(n, tile, overlap);
        CHECK(p.front() == 0);
        CHECK(p.back() == n - tile);
        for (size_t i = 1; i < p.size(); ++i) CHECK(p[i - 1] + tile - p[i] >= overlap);
    }
    test::check_error([&] { models::tiled(f, x, 8, 8); }, {"tiled", "tile (8) must exceed the overlap (8)"});
    test::check_error([&] { models::tiled([](const Tensor& t) { return narrow(t, 2, 0, 1); }, x, 10, 2); },
                      {"tiled", "changed a tile's size"});
}

TEST_CASE("widen_nafnet: a 2x and 3x wider NAFNet computes the narrow one's function; unequal shares part the copies") {
    Generator gen(0);
    const auto cfg = nafnet_small();
    models::NAFNet small(cfg, gen);
    det_fill(small); // beta and gamma nonzero, so every block's both halves are in the output
    std::map<std::string, Tensor> sd;
    for (auto& [k, t] : small.state_dict()) sd[k] = t;
    const Tensor x = det_input({1, 3, 37, 45}, 11, "x");
    Tensor ref;
    {
        NoGradGuard ng;
        ref = small(x);
    }
    for (const auto& [k, noise] : std::vector<std::pair<int64_t, double>>{{2, 0.0}, {2, 0.5}, {3, 0.3}}) {
        auto wcfg = cfg;
        wcfg.width = cfg.width * k;
        Generator wgen(1), split(2);
        models::NAFNet wide(wcfg, wgen);
        wide.load_state_dict(models::widen_nafnet(sd, k, noise, split)); // strict: every key, every shape
        const Tensor xw = detach(x).requires_grad_(true);
        const Tensor out = wide(xw);
        const double e = relerr(out, ref);
        CHECK(e <= testing::kForwardTol);
        // The copies of narrow channel 0 (wide channels 0, c, 2c..) get the same gradient only when
        // the shares are equal.
        const Tensor g = grad({sum(out * det_input(out.shape(), 13, "w"))}, {param(wide, "intro.weight")})[0];
        const double parted = relerr(narrow(g, 0, cfg.width, 1), narrow(g, 0, 0, 1));
        if (noise == 0) CHECK(parted <= 1e-6);
        else CHECK(parted >= 1e-2);
        MESSAGE("k " << k << ", split noise " << noise << ": relerr against the narrow network " << e
                     << ", copies' gradients differ by " << parted);
    }
    std::map<std::string, Tensor> bad = sd;
    bad["encoders.0.0.extra"] = sd.at("intro.bias");
    Generator g3(3);
    CHECK_THROWS_WITH(models::widen_nafnet(bad, 2, 0.5, g3), doctest::Contains("encoders.0.0.extra"));
}

TEST_CASE("self_ensemble: the mean over flips and transposes matches PyTorch; n = 1 is the network itself") {
    Generator gen(0);
    models::NAFNet net(nafnet_small(), gen);
    det_fill(net);
    NoGradGuard ng;
    const Tensor x = det_input({1, 3, 37, 45}, 11, "x"); // not square: the transposes must be undone right
    CHECK(models::self_ensemble(net, x, 1).to_vector<float>() == net(x).to_vector<float>());
    for (int n : {2, 8}) {
        const Tensor y = models::self_ensemble(net, x, n);
        REQUIRE(y.shape() == x.shape());
        const double e = relerr(y, fx("nafnet_small_ensemble" + std::to_string(n) + "_out"));
        CHECK(e <= testing::kDeepTol);
        MESSAGE("n = " << n << ": relerr " << e);
    }
    test::check_error([&] { models::self_ensemble(net, x, 3); }, {"self_ensemble", "1, 2, 4 or 8"});
    test::check_error([&] { models::self_ensemble(net, reshape(x, {3, 37, 45}), 2); }, {"self_ensemble", "[N, C, H, W]"});
}

TEST_CASE("NAFNet GoPro width-32 (17.1 M parameters, 28 blocks at the bottom) matches PyTorch") {
    const auto t0 = std::chrono::steady_clock::now();
    Generator gen(0);
    models::NAFNet net(models::NAFNetConfig::gopro(32), gen);
    CHECK(count_parameters(net) == 17111907);
    det_fill(net);
    const double t_init = seconds_since(t0);
    NoGradGuard ng;
    const Tensor out = net(det_input({1, 3, 64, 64}, 11, "x"));
    const double e = relerr(out, fx("nafnet_gopro32_out"));
    CHECK(e <= testing::kDeepTol);
    MESSAGE("relerr " << e << " (construct + fill " << t_init << " s, forward " << seconds_since(t0) - t_init << " s)");
}

TEST_CASE("HINet (wf 8, depth 3, HIN at levels 1-2): both stages and the input gradient match PyTorch") {
    Generator gen(0);
    models::HINet net(hinet_small(), gen);
    det_fill(net);
    // HIN only where asked, CSFF only in stage 2's downsampling blocks
    CHECK(!static_cast<models::UNetConvBlock&>((*net.down_path_1)[0]).norm);
    CHECK(static_cast<models::UNetConvBlock&>((*net.down_path_1)[1]).norm);
    CHECK(!static_cast<models::UNetConvBlock&>((*net.down_path_1)[1]).csff_enc);
    CHECK(static_cast<models::UNetConvBlock&>((*net.down_path_2)[1]).csff_dec);
    CHECK(!static_cast<models::UNetConvBlock&>((*net.down_path_2)[2]).csff_enc);
    const Tensor x = detach(det_input({1, 3, 32, 32}, 11, "x")).requires_grad_(true);
    const auto [out1, out2] = net.forward_both(x);
    const double e1 = relerr(out1, fx("hinet_small_out1")), e2 = relerr(out2, fx("hinet_small_out2"));
    CHECK(e1 <= testing::kDeepTol);
    CHECK(e2 <= testing::kDeepTol);
    const Tensor loss = sum(out1 * det_input(out1.shape(), 13, "w1")) + sum(out2 * det_input(out2.shape(), 13, "w2"));
    const double eg = relerr(grad({loss}, {x})[0], fx("hinet_small_gx"));
    CHECK(eg <= testing::kDeepTol);
    MESSAGE("relerr stage 1 " << e1 << ", stage 2 " << e2 << ", d/dx " << eg);
    {
        NoGradGuard ng; // forward() is the stage-2 image; other sizes are padded and cropped back
        CHECK(relerr(net(x), out2) == 0);
        const Tensor odd = det_input({2, 3, 13, 10}, 3, "odd");
        const auto both = net.forward_both(odd);
        CHECK(both[0].shape() == odd.shape());
        CHECK(both[1].shape() == odd.shape());
    }
}

TEST_CASE("HINet default (wf 64, depth 5, 88.7 M parameters) matches PyTorch") {
    const auto t0 = std::chrono::steady_clock::now();
    Generator gen(0);
    models::HINet net(models::HINetConfig{}, gen);
    CHECK(count_parameters(net) == 88669702);
    CHECK(net.state_dict().size() == 198);
    det_fill(net);
    const double t_init = seconds_since(t0);
    NoGradGuard ng;
    const Tensor out = net(det_input({1, 3, 64, 64}, 11, "x"));
    const double e = relerr(out, fx("hinet_default_out"));
    CHECK(e <= testing::kDeepTol);
    MESSAGE("relerr " << e << " (construct + fill " << t_init << " s, forward " << seconds_since(t0) - t_init << " s)");
    models::HINet gopro(models::HINetConfig::gopro(), gen); // HIN at levels 3..4 only: 3 x 2 fewer norm tensors
    CHECK(gopro.state_dict().size() == 198 - 12);
}

TEST_CASE("load_module_weights: BasicSR .pth, safetensors, checkpoints, DataParallel names; errors name the file") {
    Generator gen(1);
    models::NAFNet ref(nafnet_small(), gen);
    det_fill(ref);
    const Tensor x = det_input({1, 3, 37, 45}, 11, "x");
    NoGradGuard ng;
    const Tensor want = ref(x);
    const std::string pth = dir() + "nafnet_small_basicsr.pth";

    SUBCASE("the BasicSR file, found under 'params' or named") {
        for (const char* key : {"", "params"}) {
            models::NAFNet net(nafnet_small(), gen);
            io::load_module_weights(net, pth, key);
            CHECK(relerr(net(x), want) == 0); // the same float32 values
            CHECK(relerr(net(x), fx("nafnet_small_out")) <= testing::kDeepTol);
        }
        models::NAFNet net(nafnet_small(), gen);
        test::check_error([&] { io::load_module_weights(net, pth, "params_ema"); },
                          {"load_module_weights", "nafnet_small_basicsr.pth", "no key 'params_ema'", "'params'"});
    }
    SUBCASE("safetensors round trip with metadata, a Checkpoint prefix, and module. names") {
        const std::string path = tmp_path("nafnet.safetensors");
        io::save_module_weights(ref, path, {{"arch", "NAFNet"}});
        CHECK(io::load_safetensors(path).metadata.at("arch") == "NAFNet");
        models::NAFNet a(nafnet_small(), gen);
        io::load_module_weights(a, path);
        CHECK(relerr(a(x), want) == 0);

        io::Checkpoint ck;
        ck.add("model", ref);
        ck.add("step", from_vector(std::vector<int64_t>{7}, {DType::i64}));
        ck.save(path);
        models::NAFNet b(nafnet_small(), gen);
        io::load_module_weights(b, path, "model");
        CHECK(relerr(b(x), want) == 0);
        test::check_error([&] { io::load_module_weights(b, path, "opt"); }, {path.c_str(), "'opt.'"});

        std::vector<std::pair<std::string, Tensor>> dp;
        for (auto& [k, t] : ref.state_dict()) dp.emplace_back("module." + k, detach(t));
        io::save_safetensors(path, dp);
        models::NAFNet c(nafnet_small(), gen);
        io::load_module_weights(c, path);
        CHECK(relerr(c(x), want) == 0);
        std::filesystem::remove(path);
    }
    SUBCASE("missing, unexpected and wrongly shaped keys; other files") {
        const std::string path = tmp_path("broken.safetensors");
        auto sd = ref.state_dict();
        models::NAFNet net(nafnet_small(), gen);
        const Tensor before = clone(net.intro->weight);

        io::save_safetensors(path, {sd.begin() + 1, sd.end()}); // without the first tensor
        test::check_error([&] { io::load_module_weights(net, path); },
                          {"load_module_weights", path.c_str(), sd[0].first.c_str(), "1 of its 100"});
        auto extra = sd;
        extra.emplace_back("encoders.0.0.conv9.weight", zeros({2}));
        io::save_safetensors(path, extra);
        test::check_error([&] { io::load_module_weights(net, path); }, {path.c_str(), "'encoders.0.0.conv9.weight'"});
        CHECK(relerr(net.intro->weight, before) == 0); // nothing was loaded

        auto wide = nafnet_small();
        wide.width = 16;
        models::NAFNet w16(wide, gen);
        test::check_error([&] { io::load_module_weights(w16, pth); },
                          {"nafnet_small_basicsr.pth", "'params'", "shape [8,3,3,3]", "[16,3,3,3]"});
        models::HINet h(hinet_small(), gen);
        test::check_error([&] { io::load_module_weights(h, pth); }, {"nafnet_small_basicsr.pth", "does not have", "HINet"});

        test::check_error([&] { io::load_module_weights(net, tmp_path("nonexistent.pth")); },
                          {"load_module_weights", "nonexistent.pth", "no such file"});
        { std::ofstream(path) << "not weights at all\n"; }
        test::check_error([&] { io::load_module_weights(net, path); }, {path.c_str(), "neither a safetensors"});
        std::filesystem::remove(path);
    }
}

TEST_CASE("load_regression_network: NAFNet or HINet from a file's metadata or a named official configuration") {
    Generator gen(2);
    const Tensor x = det_input({1, 3, 20, 24}, 11, "x");
    NoGradGuard ng;
    const std::string path = tmp_path("regression.safetensors");
    models::NAFNet naf(nafnet_small(), gen);
    det_fill(naf);
    io::save_module_weights(naf, path, naf.config.to_metadata());
    auto a = models::load_regression_network(path);
    CHECK(a->name() == "NAFNet");
    CHECK(relerr(a->forward(x), naf(x)) == 0);
    auto local = models::load_regression_network(path, "", 8); // overrides the file's (global) pooling
    CHECK(static_cast<models::NAFNet&>(*local).config.local_pool == 8);
    CHECK(relerr(local->forward(x), naf(x)) > 1e-3);

    models::HINet hin(hinet_small(), gen);
    det_fill(hin);
    io::save_module_weights(hin, path, hin.config.to_metadata());
    auto b = models::load_regression_network(path);
    CHECK(b->name() == "HINet");
    CHECK(static_cast<models::HINet&>(*b).config.hin_position_left == 1);
    CHECK(relerr(b->forward(x), hin(x)) == 0);
    test::check_error([&] { models::load_regression_network(path, "", 8); }, {"is a HINet", "no global pooling"});

    test::check_error([&] { models::load_regression_network(dir() + "nafnet_small_basicsr.pth"); },
                      {"nafnet_small_basicsr.pth", "not a vkgrad safetensors file", "hinet-gopro"});
    test::check_error([&] { models::load_regression_network(dir() + "nafnet_small_basicsr.pth", "nafnet-gopro-width32"); },
                      {"nafnet_small_basicsr.pth", "does not have", "NAFNet needs"});
    test::check_error([&] { models::load_regression_network(path, "unet"); }, {"unknown configuration 'unet'"});
    test::check_error([&] { models::load_regression_network(tmp_path("absent.safetensors")); },
                      {"absent.safetensors", "does not exist"});
    auto meta = hin.config.to_metadata();
    meta["arch"] = "stylegan2";
    io::save_module_weights(hin, path, meta);
    test::check_error([&] { models::load_regression_network(path); }, {path.c_str(), "'stylegan2'", "not a regression"});
    meta["arch"] = "hinet";
    meta["depth"] = "five";
    io::save_module_weights(hin, path, meta);
    test::check_error([&] { models::load_regression_network(path); }, {"HINetConfig", "'depth' = 'five'", "not an integer"});
    std::filesystem::remove(path);
}

TEST_CASE("NAFNet and HINet reject wrong inputs and configurations") {
    Generator gen(0);
    models::NAFNet net(nafnet_small(), gen);
    test::check_error([&] { net(zeros({1, 1, 16, 16})); }, {"NAFNet", "[N, 3, H, W]", "[1,1,16,16]"});
    test::check_error([&] { net(zeros({3, 16, 16})); }, {"NAFNet", "[3,16,16]"});
    models::HINet hin(hinet_small(), gen);
    test::check_error([&] { hin(zeros({1, 4, 16, 16})); }, {"HINet", "[N, 3, H, W]", "[1,4,16,16]"});
    auto bad = nafnet_small();
    bad.dec_blocks = {1};
    test::check_error([&] { models::NAFNet n(bad, gen); }, {"NAFNetConfig", "2 encoder levels but 1 decoder"});
    auto odd = hinet_small();
    odd.wf = 7;
    test::check_error([&] { models::HINet h(odd, gen); }, {"HINetConfig", "wf 7", "even"});
}

TEST_CASE("NAFNet's input gradient: float64 finite differences (width 4, one block per level)") {
    Generator gen(0);
    models::NAFNetConfig c;
    c.width = 4;
    c.enc_blocks = {1};
    c.middle_blocks = 1;
    c.dec_blocks = {1};
    models::NAFNet net(c, gen);
    det_fill(net);
    to_f64(net);
    for (const Shape& s : {Shape{1, 3, 6, 6}, Shape{1, 3, 5, 7}}) { // the second is padded inside
        INFO(to_string(s));
        const auto r = testing::gradcheck([&](const std::vector<Tensor>& v) { return net(v[0]); },
                                          {det_input(s, 11, "x")});
        CHECK_MESSAGE(r.ok, r.message);
        MESSAGE("gradcheck " << to_string(s) << " worst relerr " << r.worst);
    }
    c.local_pool = 4; // 4x4 windows on the 6x6 map, 2x2 on the 3x3 one: the local pooling's gradient
    models::NAFNet local(c, gen);
    det_fill(local);
    to_f64(local);
    const auto r = testing::gradcheck([&](const std::vector<Tensor>& v) { return local(v[0]); },
                                      {det_input({1, 3, 6, 6}, 11, "x")});
    CHECK_MESSAGE(r.ok, r.message);
    MESSAGE("gradcheck local_pool 4 worst relerr " << r.worst);
}
