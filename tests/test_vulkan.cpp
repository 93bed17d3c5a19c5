// The vulkan suite: every device primitive against the CPU on random inputs — forward,
// backward and double backward through ops composed of them — plus a zero-copy training step.
// Run by meson with VKGRAD_VALIDATION=1 (any validation message fails) and once more with
// VKGRAD_FORCE_STAGING=1. Without a Vulkan driver every case reports skipped.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <map>

#include <vkgrad/models/hinet.hpp>
#include <vkgrad/models/inversion_encoder.hpp>
#include <vkgrad/models/nafnet.hpp>
#include <vkgrad/models/stylegan2.hpp>
#include <vkgrad/models/stylegan2_import.hpp>
#include <vkgrad/testing/detparam.hpp>
#include <vkgrad/testing/relerr.hpp>
#include <vkgrad/vulkan.hpp>

using namespace vkgrad;
using testing::relerr;

namespace {

/// Whether a device exists, probed once before the test cases are registered (so doctest can
/// mark them skipped instead of passed).
bool no_device() {
    static const bool none = !vulkan::available();
    return none;
}
const bool kSkip = no_device();

constexpr double kDeviceTol = 1e-4; // issue 4/8: device results against the CPU

Device gpu() { return vulkan::device(); }
Tensor on_gpu(const Tensor& x) { return to(x, gpu()); }
Tensor on_cpu(const Tensor& x) { return to(x, Device{}); }

/// f on the CPU and on the device from the same inputs: outputs and input gradients agree.
void same_on_both(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                  bool backward = true) {
    std::vector<Tensor> c, g;
    for (const auto& x : inputs) {
        c.push_back(detach(x).requires_grad_(backward));
        g.push_back(detach(on_gpu(x)).requires_grad_(backward));
    }
    const Tensor yc = f(c), yg = f(g);
    REQUIRE(yg.device() == gpu());
    CHECK(relerr(on_cpu(yg), yc) <= kDeviceTol);
    if (!backward) return;
    Generator gen(5);
    const Tensor w = randn(yc.shape(), gen);
    const auto gc = grad({yc}, c, {w}, false, true), gg = grad({yg}, g, {on_gpu(w)}, false, true);
    for (size_t i = 0; i < gc.size(); ++i) {
        INFO("gradient of input " << i);
        REQUIRE(gc[i].defined() == gg[i].defined());
        if (gc[i].defined()) CHECK(relerr(on_cpu(gg[i]), gc[i]) <= kDeviceTol);
    }
}

} // namespace

TEST_SUITE("vulkan") {

TEST_CASE("a device is there and says what it is" * doctest::skip(kSkip)) {
    MESSAGE("device: " << vulkan::context().device_name() << std::string(vulkan::context().staging() ? " (staging)" : " (mapped)"));
    Generator gen(1);
    const Tensor x = randn({3, 5, 7}, gen);
    CHECK(relerr(on_cpu(on_gpu(x)), x) == 0); // the round trip is exact
    CHECK(on_cpu(full({4}, 2.5, {DType::f32, gpu()})).to_vector<float>() == std::vector<float>(4, 2.5f));
    const Tensor i = from_vector(std::vector<int64_t>{1, -2, int64_t(1) << 40}, {DType::i64});
    CHECK(on_cpu(on_gpu(i)).to_vector<int64_t>() == i.to_vector<int64_t>());
}

TEST_CASE("unary ops" * doctest::skip(kSkip)) {
    Generator gen(2);
    const Tensor x = randn({3, 37, 5}, gen), pos = rand({3, 37, 5}, gen, 0.1, 3.0);
    const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops = {
        {"neg", [](const Tensor& v) { return neg(v); }},
        {"exp", [](const Tensor& v) { return exp(v); }},
        {"abs", [](const Tensor& v) { return abs(v); }},
        {"sigmoid", [](const Tensor& v) { return sigmoid(v); }},
        {"tanh", [](const Tensor& v) { return tanh(v * 10.0); }},
        {"erf", [](const Tensor& v) { return erf(v); }},
        {"relu", [](const Tensor& v) { return relu(v); }},
        {"leaky_relu", [](const Tensor& v) { return leaky_relu(v, 0.2); }},
        {"gelu", [](const Tensor& v) { return gelu(v); }},
        {"softplus", [](const Tensor& v) { return softplus(v * 5.0, 2.0, 3.0); }},
        {"clamp", [](const Tensor& v) { return clamp(v, -0.5, 0.7); }},
        {"pow 2 (negative base)", [](const Tensor& v) { return pow(v, 2.0); }},
        {"pow 3 (negative base)", [](const Tensor& v) { return pow(v, 3.0); }},
    };
    for (auto& [name, f] : ops) {
        INFO(name);
        same_on_both([&](const std::vector<Tensor>& v) { return f(v[0]); }, {x});
    }
    for (auto f : {+[](const Tensor& v) { return log(v); }, +[](const Tensor& v) { return sqrt(v); },
                   +[](const Tensor& v) { return rsqrt(v); }, +[](const Tensor& v) { return pow(v, 0.7); }})
        same_on_both([&](const std::vector<Tensor>& v) { return f(v[0]); }, {pos});
    same_on_both([&](const std::vector<Tensor>& v) { return sign(v[0]); }, {x}, false);
}

TEST_CASE("binary ops with broadcasting, where" * doctest::skip(kSkip)) {
    Generator gen(3);
    const Tensor a = randn({2, 1, 33, 4}, gen), b = randn({5, 1, 4}, gen), bp = rand({5, 1, 4}, gen, 0.5, 2.0);
    same_on_both([](const std::vector<Tensor>& v) { return v[0] + v[1]; }, {a, b});
    same_on_both([](const std::vector<Tensor>& v) { return v[0] - v[1]; }, {a, b});
    same_on_both([](const std::vector<Tensor>& v) { return v[0] * v[1]; }, {a, b});
    same_on_both([](const std::vector<Tensor>& v) { return v[0] / v[1]; }, {a, bp});
    same_on_both([](const std::vector<Tensor>& v) { return pow(v[1], v[0]); }, {a, bp});
    same_on_both([](const std::vector<Tensor>& v) { return maximum(v[0], v[1]); }, {a, b});
    same_on_both([](const std::vector<Tensor>& v) { return minimum(v[0], v[1]); }, {a, b});
    for (auto cmp : {+[](const Tensor& u, const Tensor& v) { return lt(u, v); }, +[](const Tensor& u, const Tensor& v) { return ge(u, v); },
                     +[](const Tensor& u, const Tensor& v) { return eq(u, u * 1.0 + v * 0.0); }})
        same_on_both([&](const std::vector<Tensor>& v) { return cmp(v[0], v[1]); }, {a, b}, false);
    same_on_both([](const std::vector<Tensor>& v) { return where(gt(v[0], v[1]), v[0] * 2.0, v[1]); }, {a, b});
}

TEST_CASE("reductions over any axes" * doctest::skip(kSkip)) {
    Generator gen(4);
    const Tensor x = randn({3, 70, 4, 5}, gen);
    for (std::vector<int64_t> axes : {std::vector<int64_t>{}, {1}, {0, 2}, {1, 3}, {3}, {0, 1, 2, 3}}) {
        INFO("axes " << axes.size());
        same_on_both([&](const std::vector<Tensor>& v) { return sum(v[0], axes); }, {x});
        same_on_both([&](const std::vector<Tensor>& v) { return mean(v[0], axes, true); }, {x});
        same_on_both([&](const std::vector<Tensor>& v) { return max(v[0], axes); }, {x});
        same_on_both([&](const std::vector<Tensor>& v) { return min(v[0], axes); }, {x});
        same_on_both([&](const std::vector<Tensor>& v) { return var(v[0], axes); }, {x});
    }
    const Tensor ones_among = randn({1, 6, 1, 5}, gen); // axes of size 1 between the reduced ones
    for (std::vector<int64_t> axes : {std::vector<int64_t>{0, 2, 3}, {0, 1}, {1, 3}, {0, 2}}) {
        INFO("size-1 axes, " << axes.size() << " reduced");
        same_on_both([&](const std::vector<Tensor>& v) { return sum(v[0], axes, true); }, {ones_among});
        same_on_both([&](const std::vector<Tensor>& v) { return max(v[0], axes); }, {ones_among});
    }
    const Tensor big = randn({100000}, gen); // many elements per workgroup
    same_on_both([](const std::vector<Tensor>& v) { return sum(v[0]); }, {big});
}

TEST_CASE("matmul: batches, broadcasting, transposes, sizes beyond one tile" * doctest::skip(kSkip)) {
    Generator gen(5);
    same_on_both([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {randn({37, 19}, gen), randn({19, 41}, gen)});
    same_on_both([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); },
                 {randn({2, 3, 17, 5}, gen), randn({3, 5, 18}, gen)});
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            const Tensor a = ta ? randn({2, 21, 33}, gen) : randn({2, 33, 21}, gen);
            const Tensor b = tb ? randn({2, 9, 21}, gen) : randn({2, 21, 9}, gen);
            same_on_both([&](const std::vector<Tensor>& v) { return matmul_t(v[0], v[1], ta, tb); }, {a, b});
        }
    same_on_both([](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
                 {randn({6, 10}, gen), randn({7, 10}, gen), randn({7}, gen)});
}

TEST_CASE("layout: permute, expand, slice, concat, flip, split, and their adjoints" * doctest::skip(kSkip)) {
    Generator gen(6);
    const Tensor x = randn({2, 3, 5, 7}, gen);
    same_on_both([](const std::vector<Tensor>& v) { return permute(v[0], {2, 0, 3, 1}); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return expand(v[0], {4, 3, 5}); }, {randn({3, 1}, gen)});
    same_on_both([](const std::vector<Tensor>& v) { return slice(v[0], 3, 1, 7, 2); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return slice(v[0], 1, -2, 3); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return concat({v[0], v[1] * 2.0, v[0]}, 2); },
                 {x, randn({2, 3, 4, 7}, gen)});
    same_on_both([](const std::vector<Tensor>& v) { return flip(v[0], {1, 3}); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return split(v[0], 2, 3)[1]; }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return transpose(v[0], 0, 3); }, {x});
}

TEST_CASE("composed layers and double backward run on the device" * doctest::skip(kSkip)) {
    Generator gen(7);
    const Tensor x = randn({2, 6, 5, 4}, gen), w = rand({6}, gen, 0.5, 1.5), b = randn({6}, gen);
    same_on_both([](const std::vector<Tensor>& v) { return layer_norm2d(v[0], v[1], v[2], 1e-6); }, {x, w, b});
    same_on_both([](const std::vector<Tensor>& v) { return simple_gate(v[0]); }, {x});
    // the gradient of a gradient (what R1 needs), entirely on the device
    auto gradnorm = [](const std::vector<Tensor>& v) {
        const Tensor y = sum(tanh(matmul(v[0], v[1])));
        const Tensor g = grad({y}, {v[0]}, {}, true)[0];
        return sum(pow(g, 2.0));
    };
    same_on_both(gradnorm, {randn({5, 8}, gen), randn({8, 3}, gen)});
}

TEST_CASE("convolutions: strides, asymmetric padding, dilation, groups, depthwise, transposed" * doctest::skip(kSkip)) {
    Generator gen(8);
    struct Geo {
        int64_t N, C, H, W, O, kh, kw;
        ConvParams p;
    };
    const std::vector<Geo> geos = {
        {2, 3, 9, 7, 5, 3, 3, ConvParams::torch(1, 1)},
        {1, 4, 10, 11, 6, 2, 2, ConvParams::torch(2, 0)},
        {2, 6, 8, 9, 4, 3, 3, ConvParams::torch(1, 2, 2, 2)},
        {1, 4, 7, 8, 4, 3, 3, ConvParams::torch(1, 1, 1, 4)}, // depthwise
        {1, 3, 9, 9, 2, 4, 3, ConvParams{{2, 1}, {1, 2, 0, 1}, {1, 1}, 1}},
        {2, 5, 6, 6, 7, 1, 1, ConvParams::torch()},
        // >= 16 rows per group: the tiled implicit-GEMM kernels, with every dimension beyond one tile
        {2, 20, 9, 11, 70, 3, 3, ConvParams::torch(1, 1)},
        {1, 40, 7, 9, 36, 3, 3, ConvParams::torch(1, 1, 1, 2)},
        {2, 17, 12, 10, 33, 3, 3, ConvParams::torch(2, 2, 2)},
        {1, 18, 9, 8, 20, 2, 3, ConvParams{{2, 1}, {0, 1, 2, 0}, {1, 1}, 1}},
    };
    for (const auto& g : geos) {
        INFO("conv " << g.C << "->" << g.O << " k" << g.kh << "x" << g.kw << " groups " << g.p.groups);
        const Tensor x = randn({g.N, g.C, g.H, g.W}, gen), w = randn({g.O, g.C / g.p.groups, g.kh, g.kw}, gen) * 0.3;
        const Tensor b = randn({g.O}, gen);
        same_on_both([&](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], g.p); }, {x, w, b});
    }
    same_on_both([](const std::vector<Tensor>& v) {
        return conv_transpose2d(v[0], v[1], v[2], ConvParams::torch(2, 1), {1, 1});
    }, {randn({2, 4, 5, 6}, gen), randn({4, 3, 3, 3}, gen) * 0.3, randn({3}, gen)});
    // the gradient of a gradient through a convolution (R1's pattern)
    same_on_both([](const std::vector<Tensor>& v) {
        const Tensor y = sum(leaky_relu(conv2d(v[0], v[1], Tensor(), ConvParams::torch(1, 1)), 0.2) * v[0]);
        return sum(pow(grad({y}, {v[0]}, {}, true)[0], 2.0));
    }, {randn({1, 2, 6, 5}, gen), randn({2, 2, 3, 3}, gen) * 0.3});
}

TEST_CASE("padding, resampling, pooling, indexing, normalisation and StyleGAN2 layers" * doctest::skip(kSkip)) {
    Generator gen(9);
    const Tensor x = randn({2, 4, 7, 6}, gen);
    for (PadMode m : {PadMode::constant, PadMode::reflect, PadMode::replicate}) {
        INFO("pad mode " << static_cast<int>(m));
        same_on_both([&](const std::vector<Tensor>& v) { return pad(v[0], {2, 1, 3, 0}, m, 0.5); }, {x});
        same_on_both([&](const std::vector<Tensor>& v) { return pad(v[0], {1, 2}, m); }, {x});
    }
    same_on_both([](const std::vector<Tensor>& v) { return pad(v[0], {-1, 2, 1, -2}); }, {x});
    const Tensor f = from_vector(std::vector<float>{1, 3, 3, 1}, {4}) / 8.0;
    same_on_both([&](const std::vector<Tensor>& v) { return upfirdn2d(v[0], to(f, v[0].device()), 2, 1, {2, 1, 2, 1}, 4.0); }, {x});
    same_on_both([&](const std::vector<Tensor>& v) { return upfirdn2d(v[0], to(f, v[0].device()), 1, 2, {1, 1, 1, 1}); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return avg_pool2d(v[0], 2); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return max_pool2d(v[0], 3, 2, 1); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return adaptive_avg_pool2d(v[0], 3, 2); }, {x});
    // local pooling's two ways of summing windows (the prefix sums: 5-d products, several blocks)
    for (const auto how : {detail::SlidingSum::running, detail::SlidingSum::prefix}) {
        same_on_both([how](const std::vector<Tensor>& v) { return detail::sliding_mean(v[0], 3, 9, how); }, {randn({1, 2, 3, 70}, gen)});
        same_on_both([how](const std::vector<Tensor>& v) { return detail::sliding_mean(v[0], 2, 5, how); }, {randn({2, 1, 70, 3}, gen)});
    }
    same_on_both([](const std::vector<Tensor>& v) { return interpolate(v[0], 11, 9, Interp::bilinear); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return interpolate(v[0], 5, 13, Interp::bicubic, true); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return pixel_shuffle(v[0], 2); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return pixel_unshuffle(v[0], 2); }, {randn({1, 2, 6, 4}, gen)});
    const Tensor idx = from_vector(std::vector<int64_t>{3, 0, 3, 1, 2}, {DType::i64});
    same_on_both([&](const std::vector<Tensor>& v) { return index_select(v[0], 1, to(idx, v[0].device())); }, {x});
    const Tensor gidx = from_vector(std::vector<int64_t>{2, 0, 1, 1, 0, 2}, {2, 3}, {DType::i64});
    same_on_both([&](const std::vector<Tensor>& v) { return gather(v[0], 1, to(gidx, v[0].device())); }, {randn({2, 3}, gen)});
    const Tensor w = rand({4}, gen, 0.5, 1.5), b = randn({4}, gen);
    same_on_both([](const std::vector<Tensor>& v) { return instance_norm(v[0], v[1], v[2]); }, {x, w, b});
    same_on_both([](const std::vector<Tensor>& v) { return half_instance_norm(v[0], 2, v[1], v[2]); },
                 {x, narrow(w, 0, 0, 2), narrow(b, 0, 0, 2)});
    same_on_both([](const std::vector<Tensor>& v) {
        const Tensor rm = zeros({4}, {DType::f32, v[0].device()}), rv = ones({4}, {DType::f32, v[0].device()});
        return batch_norm(v[0], rm, rv, v[1], v[2], true);
    }, {x, w, b});
    same_on_both([](const std::vector<Tensor>& v) { return pixel_norm(v[0]); }, {x});
    same_on_both([](const std::vector<Tensor>& v) { return minibatch_stddev(v[0], 2); }, {randn({4, 3, 4, 4}, gen)});
    same_on_both([](const std::vector<Tensor>& v) { return bias_leaky_relu(v[0], v[1], 0.2, std::sqrt(2.0), 0.7); },
                 {x, b});
    same_on_both([](const std::vector<Tensor>& v) { return prelu(v[0], v[1]); }, {x, w * 0.1});
}

TEST_CASE("the fused kernels (LayerNorm2d, SimpleGate, per-channel addcmul, conv2d + bias) equal their compositions" * doctest::skip(kSkip)) {
    // Each kernel against the op's definition, the composition, evaluated on the CPU in float64:
    // the device computes in float32 with the same formula (up to a fused multiply-add and the
    // GPU's inversesqrt), so 1e-5 relative, where a wrong channel, pixel or image is off by O(1).
    // The hooks are called directly, so a kernel that declined (and fell back to the
    // composition) fails here. Shapes: one channel (zero variance), maps that are not a
    // multiple of the workgroup, a batch, 64 channels.
    constexpr double tol = 1e-5;
    Generator gen(31);
    const auto f64 = [](const Tensor& t) { return to(on_cpu(t), DType::f64); };
    for (const Shape& s : {Shape{2, 1, 3, 4}, Shape{1, 3, 5, 7}, Shape{2, 64, 9, 11}}) {
        INFO(to_string(s));
        const Tensor x = randn(s, gen) * 3.0 + 0.5, w = randn({s[1]}, gen), b = randn({s[1]}, gen), g = randn(s, gen);
        const Tensor xd = to(x, DType::f64), wd = reshape(to(w, DType::f64), {1, s[1], 1, 1}),
                     bd = reshape(to(b, DType::f64), {1, s[1], 1, 1}), gd = to(g, DType::f64);
        const Tensor d = xd - mean(xd, {1}, true), rd = rsqrt(mean(d * d, {1}, true) + 1e-6), xhd = d * rd;
        Backend& be = dispatch("layer_norm2d", {on_gpu(x)});
        Tensor y, xhat, r, y2, unused1, unused2;
        REQUIRE(be.fused_layer_norm2d(on_gpu(x), on_gpu(w), on_gpu(b), 1e-6, true, y, xhat, r));
        CHECK(relerr(f64(y), xhd * wd + bd) <= tol);
        CHECK(relerr(f64(xhat), xhd) <= tol);
        CHECK(relerr(f64(r), rd) <= tol);
        REQUIRE(be.fused_layer_norm2d(on_gpu(x), on_gpu(w), on_gpu(b), 1e-6, false, y2, unused1, unused2));
        CHECK(!unused1.defined());
        CHECK(relerr(f64(y2), xhd * wd + bd) <= tol);
        // the backward's closed form (ops/norm.hpp), from the device's own xhat and r
        Tensor gx, gw, gb;
        REQUIRE(be.fused_layer_norm2d_grad(on_gpu(g), on_gpu(w), xhat, r, {true, true, true}, gx, gw, gb));
        const Tensor gwd = gd * wd;
        const Tensor gxd = (gwd - mean(gwd, {1}, true) - xhd * mean(gwd * xhd, {1}, true)) * rd;
        CHECK(relerr(f64(gx), gxd) <= tol);
        CHECK(gw.shape() == w.shape());
        CHECK(relerr(f64(gw), reshape(sum(gd * xhd, {0, 2, 3}), {s[1]})) <= tol);
        CHECK(relerr(f64(gb), reshape(sum(gd, {0, 2, 3}), {s[1]})) <= tol);
        Tensor gx2, gw2, gb2; // only what is needed is made
        REQUIRE(be.fused_layer_norm2d_grad(on_gpu(g), on_gpu(w), xhat, r, {false, false, true}, gx2, gw2, gb2));
        CHECK((!gx2.defined() && !gw2.defined() && gb2.defined()));
    }
    for (const Shape& s : {Shape{1, 2, 3, 3}, Shape{3, 4, 5}, Shape{2, 64, 9, 11}}) {
        INFO(to_string(s));
        const int64_t c = s[1] / 2;
        Shape hs = s;
        hs[1] = c;
        const Tensor x = randn(s, gen), g = randn(hs, gen), xd = to(x, DType::f64), gd = to(g, DType::f64);
        Backend& be = dispatch("simple_gate", {on_gpu(x)});
        Tensor y, gx;
        REQUIRE(be.fused_simple_gate(on_gpu(x), y));
        REQUIRE(be.fused_simple_gate_grad(on_gpu(x), on_gpu(g), gx));
        CHECK(relerr(f64(y), narrow(xd, 1, 0, c) * narrow(xd, 1, c, c)) <= tol);
        CHECK(relerr(f64(gx), concat({gd * narrow(xd, 1, c, c), gd * narrow(xd, 1, 0, c)}, 1)) <= tol);
        const Tensor a = randn(s, gen), sc = randn(s.size() == 4 ? Shape{1, s[1], 1, 1} : Shape{1, s[1], 1}, gen);
        Tensor z;
        REQUIRE(be.fused_addcmul_channel(on_gpu(a), on_gpu(x), on_gpu(sc), z));
        CHECK(relerr(f64(z), to(a, DType::f64) + xd * to(sc, DType::f64)) <= tol);
    }
    // conv2d + bias in one kernel: the tiled GEMM (16 and more rows per group: 32 outputs, and
    // 2 groups of 16) and the direct kernel (depthwise, and 3 outputs)
    struct ConvCase {
        Shape x, w;
        ConvParams p;
    };
    for (const ConvCase& c : {ConvCase{{2, 8, 9, 7}, {32, 8, 3, 3}, ConvParams::torch(1, 1)},
                              ConvCase{{1, 8, 9, 7}, {32, 4, 1, 1}, ConvParams::torch(1, 0, 1, 2)},
                              ConvCase{{1, 6, 9, 7}, {6, 1, 3, 3}, ConvParams::torch(2, 1, 1, 6)},
                              ConvCase{{2, 5, 6, 6}, {3, 5, 2, 2}, ConvParams::torch(2, 0)}}) {
        INFO(to_string(c.x) << " * " << to_string(c.w));
        const Tensor x = randn(c.x, gen), w = randn(c.w, gen), b = randn({c.w[0]}, gen);
        Backend& be = dispatch("conv2d", {on_gpu(x)});
        Tensor y;
        REQUIRE(be.fused_conv2d_bias(on_gpu(x), on_gpu(w), on_gpu(b), c.p, y));
        const Tensor ref = conv2d(to(x, DType::f64), to(w, DType::f64), Tensor(), c.p) +
                           reshape(to(b, DType::f64), {1, c.w[0], 1, 1});
        CHECK(relerr(f64(y), ref) <= tol);
    }
}

TEST_CASE("two NAFNet-style blocks and an AdamW step: zero host-device copies, the CPU's result" * doctest::skip(kSkip)) {
    // NAFBlock: LayerNorm2d, 1x1 expand, depthwise 3x3, SimpleGate, channel attention
    // (global mean + 1x1), 1x1, residual; then LayerNorm2d, 1x1, SimpleGate, 1x1, residual.
    struct Block : nn::Module {
        std::shared_ptr<nn::LayerNorm2d> n1, n2;
        std::shared_ptr<nn::Conv2d> c1, c2, c3, sca, c4, c5;
        Block(int64_t c, Generator& g) {
            n1 = register_module("norm1", std::make_shared<nn::LayerNorm2d>(c));
            c1 = register_module("conv1", std::make_shared<nn::Conv2d>(c, 2 * c, 1, g));
            c2 = register_module("conv2", std::make_shared<nn::Conv2d>(2 * c, 2 * c, 3, g, 1, 1, 1, 2 * c));
            sca = register_module("sca", std::make_shared<nn::Conv2d>(c, c, 1, g));
            c3 = register_module("conv3", std::make_shared<nn::Conv2d>(c, c, 1, g));
            n2 = register_module("norm2", std::make_shared<nn::LayerNorm2d>(c));
            c4 = register_module("conv4", std::make_shared<nn::Conv2d>(c, 2 * c, 1, g));
            c5 = register_module("conv5", std::make_shared<nn::Conv2d>(c, c, 1, g));
        }
        Tensor forward(const Tensor& x) override {
            Tensor h = simple_gate((*c2)((*c1)((*n1)(x))));
            h = (*c3)(h * (*sca)(mean(h, {2, 3}, true)));
            const Tensor y = x + h;
            return y + (*c5)(simple_gate((*c4)((*n2)(y))));
        }
    };
    Generator gd(12);
    const Tensor xc = randn({2, 4, 9, 8}, gd), yc = randn({2, 4, 9, 8}, gd);
    auto run = [&](Device d, uint64_t* copies) {
        Generator g(11);
        nn::Sequential net{{std::make_shared<Block>(4, g), std::make_shared<Block>(4, g)}};
        net.move_to(d);
        const Tensor x = to(xc, d), y = to(yc, d);
        optim::AdamW opt(net.parameters(), 1e-2, 0.1);
        auto& counters = vulkan::context().counters;
        const uint64_t before = counters.copies();
        for (int step = 0; step < 2; ++step) {
            opt.zero_grad();
            mean(abs(net(x) - y)).backward();
            opt.step();
        }
        if (copies) *copies = counters.copies() - before;
        std::vector<Tensor> out;
        for (auto& p : net.parameters()) out.push_back(on_cpu(p));
        return out;
    };
    uint64_t copies = 1;
    const auto dev = run(gpu(), &copies), host = run(Device{}, nullptr);
    CHECK(copies == 0);
    for (size_t i = 0; i < host.size(); ++i) CHECK(relerr(dev[i], host[i]) <= kDeviceTol);
}

TEST_CASE("an MLP training step with AdamW runs on the device with zero host-device copies" * doctest::skip(kSkip)) {
    auto make = [](Device d) {
        Generator g(11);
        auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
            std::make_shared<nn::Linear>(12, 32, g), std::make_shared<nn::GELU>(), std::make_shared<nn::Linear>(32, 4, g)});
        net->move_to(d);
        return net;
    };
    Generator gd(12);
    const Tensor xc = randn({16, 12}, gd), yc = randn({16, 4}, gd);
    auto run = [&](Device d, uint64_t* copies) {
        auto net = make(d);
        const Tensor x = to(xc, d), y = to(yc, d);
        optim::AdamW opt(net->parameters(), 1e-2, 0.1);
        auto& counters = vulkan::context().counters;
        const uint64_t before = counters.copies();
        for (int step = 0; step < 3; ++step) {
            opt.zero_grad();
            mean(pow(sigmoid((*net)(x)) - y, 2.0)).backward();
            opt.step();
        }
        if (copies) *copies = counters.copies() - before;
        std::vector<Tensor> out;
        for (auto& p : net->parameters()) out.push_back(on_cpu(p));
        return out;
    };
    uint64_t copies = 0;
    const auto dev = run(gpu(), &copies), host = run(Device{}, nullptr);
    CHECK(copies == 0);
    for (size_t i = 0; i < host.size(); ++i) CHECK(relerr(dev[i], host[i]) <= kDeviceTol);
    MESSAGE("dispatches so far: " << vulkan::context().counters.dispatches << ", submits: "
                                  << vulkan::context().counters.submits);
}

TEST_CASE("long chains are submitted in batches without waiting, and stay correct" * doctest::skip(kSkip)) {
    auto& ctx = vulkan::context();
    ctx.flush();
    Generator gen(13);
    const Tensor x0 = randn({1000}, gen);
    Tensor x = on_gpu(x0), y = x0;
    const uint64_t submits = ctx.counters.submits, copies = ctx.counters.copies();
    for (int i = 0; i < 1500; ++i) { // three batches' worth of dispatches before the host reads
        x = x * 1.001 - 0.0005;
        y = y * 1.001 - 0.0005;
    }
    CHECK(ctx.counters.copies() == copies);
    CHECK(ctx.counters.submits - submits >= 2); // full batches went out while recording continued
    CHECK(relerr(on_cpu(x), y) <= kDeviceTol);
}

TEST_CASE("StyleGAN2 generator and discriminator on the device equal the CPU (issue 6/8)" * doctest::skip(kSkip)) {
    // The tiny NVIDIA fixture network when the shared data is there, and a 64 px network with
    // deterministic parameters: images, ws, D logits and R1's gradient w.r.t. D's weights.
    std::vector<std::pair<models::StyleGAN2Config, std::string>> nets;
    models::StyleGAN2Config c64;
    c64.resolution = 64;
    c64.z_dim = c64.w_dim = 64;
    c64.mapping_layers = 2;
    c64.channel_base = 1024;
    c64.channel_max = 64;
    c64.mbstd_group = 2;
    nets.emplace_back(c64, "");
    const std::string tiny = std::string(VKGRAD_FIXTURES) + "/../../../shared/data/stylegan2/ada_tiny_p4.pkl";
    if (std::ifstream(tiny).good()) nets.emplace_back(models::StyleGAN2Config{}, tiny);
    else MESSAGE("no shared data: the tiny NVIDIA network is not checked");
    for (auto& [cfg, file] : nets) {
        const std::string what = file.empty() ? std::string("64 px network") : file;
        INFO(what);
        Generator init(0);
        std::map<std::string, Tensor> gsd, dsd;
        if (!file.empty()) {
            const auto ck = models::import_stylegan2(file);
            cfg = ck.config;
            for (const auto& [k, t] : ck.tensors) (k.rfind("G.", 0) == 0 ? gsd : dsd)[k.substr(2)] = t;
        }
        models::StyleGAN2Generator G(cfg, init);
        models::StyleGAN2Discriminator D(cfg, init);
        if (file.empty()) {
            NoGradGuard ng;
            for (auto* m : {static_cast<nn::Module*>(&G), static_cast<nn::Module*>(&D)})
                for (auto& [n, t] : m->state_dict()) copy_(t, testing::det_tensor(t.shape(), 3, n, n.rfind("mapping.fc", 0) == 0 ? 30.0 : 1.0));
        } else {
            G.load_state_dict(gsd);
            D.load_state_dict(dsd);
        }
        const Tensor z = testing::det_tensor({4, cfg.z_dim}, 4, "z", 2.0);
        Tensor img_c, ws_c, img_g, ws_g;
        {
            NoGradGuard ng;
            ws_c = G.mapping(z, {0.7});
            img_c = G.synthesis->forward(ws_c);
        }
        const Tensor x_c = detach(clamp(img_c, -1, 1)).requires_grad_(true);
        const Tensor l_c = D.forward(x_c);
        const Tensor gx_c = grad({sum(l_c)}, {x_c}, {}, true)[0];
        const auto r1_c = grad({sum(gx_c * gx_c)}, {D.b4->out->weight, D.blocks[0]->conv0->weight});
        G.move_to(gpu());
        D.move_to(gpu());
        {
            NoGradGuard ng;
            ws_g = G.mapping(on_gpu(z), {0.7});
            img_g = G.synthesis->forward(ws_g);
        }
        CHECK(relerr(on_cpu(ws_g), ws_c) <= kDeviceTol);
        CHECK(relerr(on_cpu(img_g), img_c) <= kDeviceTol);
        const Tensor x_g = detach(on_gpu(on_cpu(clamp(img_c, -1, 1)))).requires_grad_(true);
        const Tensor l_g = D.forward(x_g);
        CHECK(relerr(on_cpu(l_g), l_c) <= kDeviceTol);
        const Tensor gx_g = grad({sum(l_g)}, {x_g}, {}, true)[0];
        const auto r1_g = grad({sum(gx_g * gx_g)}, {D.b4->out->weight, D.blocks[0]->conv0->weight});
        for (size_t i = 0; i < 2; ++i) CHECK(relerr(on_cpu(r1_g[i]), r1_c[i]) <= kDeviceTol);
    }
}

TEST_CASE("NAFNet and HINet on the device equal the CPU (issue 7/8)" * doctest::skip(kSkip)) {
    // Small networks with deterministic parameters (the rule of make_restoration_fixtures.py:
    // non-zero beta/gamma, norm weights around 1), 1x3x32x32, NAFNet with global and with local
    // pooling: outputs (both HINet stages) and
    // the input gradient of sum(out * w) through the device's backward.
    Generator init(0);
    models::NAFNetConfig nc;
    nc.width = 8;
    nc.enc_blocks = {1, 1};
    nc.middle_blocks = 1;
    nc.dec_blocks = {1, 1};
    models::HINetConfig hc;
    hc.wf = 8;
    hc.depth = 3;
    hc.hin_position_left = 1;
    auto naf = std::make_shared<models::NAFNet>(nc, init);
    nc.local_pool = 12; // test-time local pooling: 12, 6 and 3 px windows on the 32, 16 and 8 px maps
    auto naf_local = std::make_shared<models::NAFNet>(nc, init);
    auto hin = std::make_shared<models::HINet>(hc, init);
    const std::vector<std::pair<std::shared_ptr<nn::Module>, std::function<std::vector<Tensor>(const Tensor&)>>> nets = {
        {naf, [&](const Tensor& x) { return std::vector<Tensor>{naf->forward(x)}; }},
        {naf_local, [&](const Tensor& x) { return std::vector<Tensor>{naf_local->forward(x)}; }},
        {hin, [&](const Tensor& x) { const auto o = hin->forward_both(x); return std::vector<Tensor>{o[0], o[1]}; }}};
    const Tensor x = testing::det_tensor({1, 3, 32, 32}, 11, "x", 1.0);
    for (const auto& [net, run] : nets) {
        INFO(net->name());
        {
            NoGradGuard ng;
            const auto ends = [](const std::string& s, const std::string& tail) {
                return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
            };
            for (auto& [n, t] : net->named_parameters()) {
                const auto det = [&](double a) { return testing::det_tensor(t.shape(), 7, n, a, DType::f64); };
                const Tensor v = ends(n, ".beta") || ends(n, ".gamma") ? det(0.5)
                                 : t.dim() == 1 && ends(n, ".weight")   ? det(0.2) + 1.0
                                 : t.dim() == 1                         ? det(0.1)
                                 : det(std::sqrt(3.0 / static_cast<double>(t.numel() / t.size(0))));
                copy_(t, v);
            }
        }
        const auto loss = [](const std::vector<Tensor>& ys, bool dev) {
            Tensor l;
            for (size_t i = 0; i < ys.size(); ++i) {
                const Tensor w = testing::det_tensor(ys[i].shape(), 13, "w" + std::to_string(i), 1.0);
                const Tensor term = sum(ys[i] * (dev ? on_gpu(w) : w));
                l = l.defined() ? l + term : term;
            }
            return l;
        };
        const Tensor xc = detach(x).requires_grad_(true);
        const auto yc = run(xc);
        const Tensor gc = grad({loss(yc, false)}, {xc})[0];
        net->move_to(gpu());
        const Tensor xg = detach(on_gpu(x)).requires_grad_(true);
        const auto yg = run(xg);
        for (size_t i = 0; i < yc.size(); ++i) {
            INFO("output " << i);
            REQUIRE(yg[i].device() == gpu());
            const double e = relerr(on_cpu(yg[i]), yc[i]);
            CHECK(e <= kDeviceTol);
            MESSAGE(net->name() << " output " << i << " relerr " << e);
        }
        const Tensor gg = grad({loss(yg, true)}, {xg})[0];
        REQUIRE(gg.device() == gpu());
        const double e = relerr(on_cpu(gg), gc);
        CHECK(e <= kDeviceTol);
        MESSAGE(net->name() << " input gradient relerr " << e);
    }
}

TEST_CASE("BatchNorm2d and the inversion encoder train on the device (issue 8/8)" * doctest::skip(kSkip)) {
    // The device has no int64 arithmetic: num_batches_tracked is counted on the host and must
    // stay right through loads and moves between devices.
    Generator gen(3);
    nn::BatchNorm2d bn(4);
    const Tensor x = randn({2, 4, 5, 5}, gen);
    const auto count = [&] { return on_cpu(bn.num_batches_tracked).item(); };
    bn.forward(x);
    bn.move_to(gpu());
    bn.forward(on_gpu(x));
    bn.forward(on_gpu(x));
    CHECK(count() == 3);
    std::map<std::string, Tensor> sd;
    for (auto& [k, t] : bn.state_dict()) sd[k] = on_cpu(t);
    sd["num_batches_tracked"] = full({}, 10, {DType::i64});
    bn.load_state_dict(sd);
    bn.forward(on_gpu(x));
    CHECK(count() == 11);
    bn.move_to(Device{});
    bn.forward(x);
    bn.move_to(gpu());
    bn.forward(on_gpu(x));
    CHECK(count() == 13);

    // A small encoder in training mode (batch statistics): outputs, the input gradient and the
    // running statistics it leaves behind equal the CPU's.
    models::InversionEncoderConfig c;
    c.input_size = 64;
    c.convs_per_stage = 1;
    c.max_channels = 16;
    c.min_channels = 8;
    c.feature_channels = 8;
    c.w_dim = 16;
    c.num_ws = 8;
    Generator init(0);
    models::InversionEncoder cpu_e(c, init), dev_e(c, init);
    {
        std::map<std::string, Tensor> all;
        for (auto& [k, t] : cpu_e.state_dict()) all[k] = t;
        dev_e.load_state_dict(all);
    }
    dev_e.move_to(gpu());
    const Tensor img = randn({2, 3, 64, 64}, gen), w_avg = randn({16}, gen) * 0.3;
    const auto run = [&](models::InversionEncoder& e, const Tensor& in, bool dev) {
        const auto o = e.forward(in, dev ? on_gpu(w_avg) : w_avg);
        return std::make_pair(o, sum(o.features) + sum(o.ws * o.ws));
    };
    const Tensor xc = detach(img).requires_grad_(true), xg = detach(on_gpu(img)).requires_grad_(true);
    const auto [oc, lc] = run(cpu_e, xc, false);
    const auto [og, lg] = run(dev_e, xg, true);
    CHECK(relerr(on_cpu(og.features), oc.features) <= kDeviceTol);
    CHECK(relerr(on_cpu(og.ws), oc.ws) <= kDeviceTol);
    CHECK(relerr(on_cpu(grad({lg}, {xg})[0]), grad({lc}, {xc})[0]) <= kDeviceTol);
    const auto sc = cpu_e.state_dict(), sg = dev_e.state_dict();
    for (size_t i = 0; i < sc.size(); ++i) {
        INFO(sc[i].first);
        if (is_floating(sc[i].second.dtype())) CHECK(relerr(on_cpu(sg[i].second), sc[i].second) <= kDeviceTol);
        else CHECK(on_cpu(sg[i].second).item() == sc[i].second.item());
    }
}

TEST_CASE("no validation messages" * doctest::skip(kSkip)) {
    vulkan::context().flush();
    CHECK(vulkan::context().validation_messages() == 0);
}

} // TEST_SUITE
