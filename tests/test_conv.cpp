// Convolution beyond the fixtures: thread-count determinism, larger shapes against a plain
// reference loop, and argument errors; the fused layer_norm2d kernel against its composition.
#include "support.hpp"

#include <vkgrad/cpu/conv.hpp>

using namespace vkgrad;
using vkgrad::test::check_error;
using vkgrad::testing::relerr;

namespace {
/// Visits every multiply-add of the convolution's definition: f(x index, w index, y index).
template <class F> void for_each_tap(const Shape& xs, const Shape& ws, const ConvParams& p, F&& f) {
    const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], kh = ws[2], kw = ws[3], G = p.groups;
    const int64_t Ho = (H + p.padding[0] + p.padding[1] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
    const int64_t Wo = (W + p.padding[2] + p.padding[3] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
    const int64_t Cg = C / G, Og = O / G;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < Ho; ++oh)
                for (int64_t ow = 0; ow < Wo; ++ow)
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t i = 0; i < kh; ++i)
                            for (int64_t j = 0; j < kw; ++j) {
                                const int64_t ih = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
                                const int64_t iw = ow * p.stride[1] - p.padding[2] + j * p.dilation[1];
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                const int64_t ci = (o / Og) * Cg + c;
                                f(static_cast<size_t>(((n * C + ci) * H + ih) * W + iw),
                                  static_cast<size_t>(((o * Cg + c) * kh + i) * kw + j),
                                  static_cast<size_t>(((n * O + o) * Ho + oh) * Wo + ow));
                            }
}

/// Both gradients of <conv2d(x, w), gy> from the definition, in double.
std::pair<Tensor, Tensor> conv2d_grads_reference(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvParams& p) {
    const auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), gv = gy.to_vector<double>();
    std::vector<double> gx(xv.size(), 0.0), gw(wv.size(), 0.0);
    for_each_tap(x.shape(), w.shape(), p, [&](size_t xi, size_t wi, size_t yi) {
        gx[xi] += gv[yi] * wv[wi];
        gw[wi] += gv[yi] * xv[xi];
    });
    return {from_vector(gx, x.shape()), from_vector(gw, w.shape())};
}

/// The definition, one multiply-add at a time, in double: the oracle for larger shapes.
Tensor conv2d_reference(const Tensor& x, const Tensor& w, const ConvParams& p) {
    const auto& xs = x.shape();
    const auto& ws = w.shape();
    const int64_t Ho = (xs[2] + p.padding[0] + p.padding[1] - p.dilation[0] * (ws[2] - 1) - 1) / p.stride[0] + 1;
    const int64_t Wo = (xs[3] + p.padding[2] + p.padding[3] - p.dilation[1] * (ws[3] - 1) - 1) / p.stride[1] + 1;
    const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
    std::vector<double> y(static_cast<size_t>(xs[0] * ws[0] * Ho * Wo), 0.0);
    for_each_tap(xs, ws, p, [&](size_t xi, size_t wi, size_t yi) { y[yi] += xv[xi] * wv[wi]; });
    return from_vector(y, {xs[0], ws[0], Ho, Wo});
}

struct ConvCase {
    Shape x, w;
    ConvParams p;
};
const ConvCase kCases[] = {
    {{2, 16, 40, 33}, {24, 16, 3, 3}, ConvParams::torch(1, 1)},       // several tiles per image
    {{1, 8, 64, 64}, {8, 1, 3, 3}, ConvParams::torch(1, 1, 1, 8)},    // depthwise (the direct kernels)
    {{2, 5, 13, 9}, {5, 1, 5, 3}, {{1, 1}, {3, 0, 1, 4}, {2, 1}, 5}}, // depthwise: dilated, padding past the taps
    {{1, 4, 12, 12}, {4, 1, 3, 3}, {{2, 2}, {1, 1, 1, 1}, {1, 1}, 4}}, // depthwise, stride 2: im2col + GEMM
    {{3, 32, 20, 20}, {16, 32, 1, 1}, ConvParams::torch()},           // pointwise
    {{1, 6, 31, 30}, {4, 3, 5, 5}, {{2, 1}, {2, 1, 0, 3}, {1, 2}, 2}}, // everything at once
    // over kWeightGradPart (16384) pixels an image: the weight gradient's sum is cut into parts
    {{2, 32, 130, 131}, {4, 32, 1, 1}, ConvParams::torch()},          // pointwise: 3 tiles, 2 parts an image
    {{1, 4, 129, 130}, {6, 4, 3, 3}, ConvParams::torch(1, 1)},        // 3x3, 2 parts
    // few pixels, many channels: the GEMMs' rows are cut into chunks (kMinUnits)
    {{1, 256, 8, 8}, {512, 256, 1, 1}, ConvParams::torch()},          // pointwise
    {{2, 40, 6, 6}, {100, 40, 3, 3}, ConvParams::torch(1, 1)},        // 3x3, a last chunk of 4 rows
};
} // namespace

TEST_CASE("conv2d: larger shapes agree with the direct definition") {
    Generator gen(9);
    for (const auto& c : kCases) {
        INFO("x " << to_string(c.x) << " w " << to_string(c.w));
        const Tensor x = randn(c.x, gen), w = randn(c.w, gen) * 0.1;
        CHECK(relerr(conv2d(x, w, Tensor(), c.p), conv2d_reference(x, w, c.p)) <= testing::kForwardTol);
    }
}

TEST_CASE("conv2d: gradients of larger shapes agree with the direct definition") {
    Generator gen(11);
    for (const auto& c : kCases) {
        INFO("x " << to_string(c.x) << " w " << to_string(c.w));
        Tensor x = randn(c.x, gen).requires_grad_(), w = (randn(c.w, gen) * 0.1).requires_grad_();
        const Tensor y = conv2d(x, w, Tensor(), c.p);
        const Tensor gy = randn(y.shape(), gen);
        backward(y, gy);
        const auto [gx, gw] = conv2d_grads_reference(x, w, gy, c.p);
        CHECK(relerr(x.grad(), gx) <= testing::kGradTol);
        CHECK(relerr(w.grad(), gw) <= testing::kGradTol);
    }
}

TEST_CASE("conv2d: results are bitwise identical with 1 and 2 threads (forward and both gradients)") {
    Generator gen(4);
    const int before = num_threads();
    for (const auto& c : kCases) {
        INFO("x " << to_string(c.x) << " w " << to_string(c.w));
        const Tensor x0 = randn(c.x, gen), w0 = randn(c.w, gen);
        auto run = [&](int threads) {
            set_num_threads(threads);
            Tensor x = clone(x0).requires_grad_(), w = clone(w0).requires_grad_();
            Tensor y = conv2d(x, w, Tensor(), c.p);
            backward(y, y * 0.5 + 1.0);
            return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                                   w.grad().to_vector<float>()};
        };
        const auto one = run(1), two = run(2);
        CHECK(one[0] == two[0]);
        CHECK(one[1] == two[1]);
        CHECK(one[2] == two[2]);
    }
    set_num_threads(before);
}

TEST_CASE("conv2d: argument errors name the problem") {
    check_error([] { conv2d(ones({1, 4, 5, 5}), ones({3, 2, 3, 3}), Tensor(), ConvParams::torch(1, 0, 1, 2)); },
                {"conv2d", "not divisible by groups 2"});
    check_error([] { conv2d(ones({1, 3, 5, 5}), ones({4, 2, 3, 3})); }, {"conv2d", "3 channels", "expects 2"});
    check_error([] { conv2d(ones({1, 1, 2, 2}), ones({1, 1, 3, 3})); }, {"conv2d", "larger than the padded input"});
    check_error([] { conv2d(ones({1, 1, 5, 5}), ones({1, 1, 3, 3}), Tensor(), ConvParams::torch(1, -1)); },
                {"conv2d", "negative padding"});
    check_error([] { conv2d(ones({1, 1, 5, 5}), ones({1, 1, 3, 3}), Tensor(), ConvParams::torch(0)); },
                {"conv2d", "invalid", "stride (0,0)"});
    check_error([] { conv2d(ones({1, 5, 5}), ones({1, 1, 3, 3})); }, {"conv2d", "4-d", "[1,5,5]"});
    check_error([] { conv2d(ones({1, 1, 5, 5}), ones({2, 1, 3, 3}), ones({3})); }, {"conv2d", "bias [3]"});
    check_error([] { zeros({-2, 3}); }, {"negative dimension"});
    check_error([] { conv_transpose2d(ones({1, 2, 3, 3}), ones({2, 1, 3, 3}), Tensor(), ConvParams::torch(2), {2, 0}); },
                {"conv_transpose2d", "output_padding"});
}

TEST_CASE("image ops: argument errors name the op and the shapes") {
    check_error([] { minibatch_stddev(ones({6, 2, 2, 2}), 4); }, {"minibatch_stddev", "batch 6", "group size 4"});
    check_error([] { pixel_shuffle(ones({1, 6, 2, 2}), 2); }, {"pixel_shuffle", "channels 6"});
    check_error([] { avg_pool2d(ones({1, 1, 2, 2}), 3); }, {"avg_pool2d", "larger than the padded input"});
    check_error([] { max_pool2d(ones({1, 4, 4}), 2); }, {"max_pool2d", "4-d", "[1,4,4]"});
    check_error([] { interpolate(ones({1, 1, 4, 4}), 0, 3, Interp::bilinear); }, {"interpolate", "positive"});
    check_error([] { simple_gate(ones({1, 3, 2, 2})); }, {"simple_gate", "even"});
    check_error([] { layer_norm2d(ones({1, 3, 2, 2}), ones({4}), zeros({4})); }, {"layer_norm2d", "[4]", "3 channels"});
    check_error([] { upfirdn2d(ones({1, 1, 2, 2}), ones({5}), 1, 1); }, {"upfirdn2d", "larger than the padded input"});
    check_error([] { batch_norm(ones({1, 2, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                {"batch_norm", "more than one value"});
}

TEST_CASE("dropout: seeded, scaled, identity in evaluation") {
    Generator a(3), b(3);
    const Tensor x = ones({10000});
    const Tensor y = dropout(x, 0.3, true, a);
    CHECK(y.to_vector<float>() == dropout(x, 0.3, true, b).to_vector<float>());
    const double kept = sum(gt(y, zeros({}))).item() / 10000.0;
    CHECK(kept == doctest::Approx(0.7).epsilon(0.03));
    CHECK(sum(y).item() / 10000.0 == doctest::Approx(1.0).epsilon(0.05)); // 1/(1-p) keeps the mean
    CHECK(dropout(x, 0.3, false, a).same(x));
    check_error([&] { dropout(x, 1.0, true, a); }, {"dropout", "probability 1"});
}

TEST_CASE("batch_norm: running statistics follow torch's update (momentum, unbiased variance)") {
    // x over one channel: values 1..4 -> batch mean 2.5, population var 1.25, unbiased 5/3
    const Tensor x = reshape(arange(1.0, 5.0, 1.0), {4, 1});
    Tensor rm = zeros({1}), rv = ones({1});
    batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1);
    CHECK(rm.item() == doctest::Approx(0.25));
    CHECK(rv.item() == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
}

TEST_CASE("conv2d: memory of a 64->64 3x3 convolution on 1x64x512x512, forward and backward") {
    // Budget from issue 2/8: peak bytes held <= 2 x (x + y + W + their gradients).
    Generator gen(1);
    Tensor x = randn({1, 64, 512, 512}, gen).requires_grad_();
    Tensor w = (randn({64, 64, 3, 3}, gen) * 0.05).requires_grad_();
    const Tensor gy = ones({1, 64, 512, 512});
    const double act = 64.0 * 512 * 512 * 4, wb = 64.0 * 64 * 9 * 4;
    const double budget = 2 * (4 * act + 2 * wb); // x, y, dx, dy and W, dW
    cpu_allocator().reset_peak();
    const size_t base = cpu_allocator().stats().live_bytes;
    {
        Tensor y = conv2d(x, w, Tensor(), ConvParams::torch(1, 1));
        backward(y, gy);
    }
    const double peak = static_cast<double>(cpu_allocator().stats().peak_bytes - base);
    MESSAGE("peak above the inputs: " << peak / 1048576 << " MiB, budget " << budget / 1048576 << " MiB");
    CHECK(peak <= budget);
}

TEST_CASE("conv2d: the direct depthwise kernels agree with im2col + GEMM (forward and both gradients)") {
    Generator gen(12);
    const ConvCase cases[] = {
        {{2, 8, 17, 23}, {8, 1, 3, 3}, ConvParams::torch(1, 1, 1, 8)},
        {{1, 3, 9, 11}, {3, 1, 5, 3}, {{1, 1}, {2, 0, 1, 3}, {2, 1}, 3}},
        {{1, 2, 4, 5}, {2, 1, 3, 3}, {{1, 1}, {4, 4, 4, 4}, {1, 1}, 2}}, // whole output rows of padding only
        {{3, 4, 6, 6}, {4, 1, 1, 1}, ConvParams::torch(1, 0, 1, 4)},
    };
    for (const auto& c : cases) {
        INFO("x " << to_string(c.x) << " w " << to_string(c.w));
        const Tensor x = randn(c.x, gen), w = randn(c.w, gen);
        const Tensor y = conv2d(x, w, Tensor(), c.p); // shape only
        const cpu::ConvGeom g = cpu::conv_geom(c.x, c.w, y.shape(), c.p);
        REQUIRE(cpu::depthwise_direct(g));
        const Tensor gy = randn(y.shape(), gen);
        const auto xv = x.to_vector<float>(), wv = w.to_vector<float>(), gyv = gy.to_vector<float>();
        std::vector<float> a(gyv.size()), b(gyv.size()), ga(xv.size()), gb(xv.size()), wa(wv.size()), wb(wv.size());
        cpu::depthwise_forward(xv.data(), wv.data(), a.data(), g);
        cpu::conv2d_forward_gemm(xv.data(), wv.data(), b.data(), g);
        cpu::depthwise_input_grad(gyv.data(), wv.data(), ga.data(), g);
        cpu::conv2d_input_grad_gemm(gyv.data(), wv.data(), gb.data(), g);
        cpu::depthwise_weight_grad(xv.data(), gyv.data(), wa.data(), g);
        cpu::conv2d_weight_grad_gemm(xv.data(), gyv.data(), wb.data(), g);
        const auto t = [](const std::vector<float>& v) { return from_vector(v, {static_cast<int64_t>(v.size())}); };
        CHECK(relerr(t(a), t(b)) <= testing::kForwardTol);
        CHECK(relerr(t(ga), t(gb)) <= testing::kForwardTol);
        CHECK(relerr(t(wa), t(wb)) <= testing::kForwardTol);
        CHECK(relerr(reshape(t(a), y.shape()), conv2d_reference(x, w, c.p)) <= testing::kForwardTol);
    }
}

TEST_CASE("layer_norm2d: the fused CPU kernels agree with its composition (forward, gradients, any thread count)") {
    // The composition is the op's definition (ops/norm.hpp), which other backends run. The
    // kernel repeats its arithmetic except that 1/sqrt is Eigen's rsqrt there and that y may be
    // formed with a fused multiply-add: a rounding or two, far below what a wrong mean, variance,
    // channel or block edge would give. Shapes: one channel (zero variance), an odd map, and
    // maps of several pixel blocks with a partial last one (blocks are 512 px at 64 channels).
    const auto composed = [](const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
        const Tensor d = x - mean(x, {1}, true);
        const Shape s{1, x.size(1), 1, 1};
        return d * rsqrt(mean(d * d, {1}, true) + eps) * reshape(w, s) + reshape(b, s);
    };
    Generator gen(21);
    const Shape shapes[] = {{2, 1, 3, 4}, {1, 3, 5, 7}, {2, 64, 40, 41}, {1, 512, 3, 2}};
    for (const DType dt : {DType::f32, DType::f64}) {
        const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
        for (const Shape& s : shapes) {
            INFO(to_string(s) << " " << std::string(dtype_name(dt)));
            const Tensor x0 = to(randn(s, gen) * 3.0 + 0.5, dt), w0 = to(randn({s[1]}, gen), dt),
                         b0 = to(randn({s[1]}, gen), dt), gy = to(randn(s, gen), dt);
            Tensor x = clone(x0).requires_grad_(), w = clone(w0).requires_grad_(), b = clone(b0).requires_grad_();
            const Tensor y = layer_norm2d(x, w, b, 1e-6);
            backward(y, gy);
            Tensor xr = clone(x0).requires_grad_(), wr = clone(w0).requires_grad_(), br = clone(b0).requires_grad_();
            const Tensor yr = composed(xr, wr, br, 1e-6);
            backward(yr, gy);
            CHECK(relerr(y, yr) <= tol);
            CHECK(relerr(x.grad(), xr.grad()) <= testing::kGradTol);
            CHECK(relerr(w.grad(), wr.grad()) <= testing::kGradTol);
            CHECK(relerr(b.grad(), br.grad()) <= testing::kGradTol);
            // The fused backward against the closed form it implements, which runs as recorded
            // ops when the backward is itself differentiated (create_graph): a rounding or two.
            Tensor xc = clone(x0).requires_grad_(), wc = clone(w0).requires_grad_(), bc = clone(b0).requires_grad_();
            backward(layer_norm2d(xc, wc, bc, 1e-6), gy, true);
            CHECK(relerr(x.grad(), xc.grad()) <= tol);
            CHECK(relerr(w.grad(), wc.grad()) <= tol);
            CHECK(relerr(b.grad(), bc.grad()) <= tol);
            NoGradGuard ng; // the kernel without the saved xhat and r
            CHECK(relerr(layer_norm2d(x0, w0, b0, 1e-6), yr) <= tol);
        }
    }
    const int before = num_threads();
    const Tensor x = randn({2, 64, 40, 41}, gen), w = randn({64}, gen), b = randn({64}, gen);
    const Tensor gy = randn(x.shape(), gen);
    const auto run = [&](int threads) {
        set_num_threads(threads);
        Tensor xg = clone(x).requires_grad_(), wg = clone(w).requires_grad_(), bg = clone(b).requires_grad_();
        const Tensor y = layer_norm2d(xg, wg, bg);
        backward(y, gy);
        return std::vector{y.to_vector<float>(), xg.grad().to_vector<float>(), wg.grad().to_vector<float>(),
                           bg.grad().to_vector<float>()};
    };
    const auto one = run(1);
    CHECK(one == run(2));
    CHECK(one == run(3));
    set_num_threads(before);
}

TEST_CASE("simple_gate: the fused CPU kernels equal the composition bit for bit (forward and gradient)") {
    // The same single multiply per element as slices and a mul: equal bits, not a tolerance.
    // Shapes: rank 3 and 4, and halves of several 32768-element chunks with a partial last one.
    Generator gen(22);
    const Shape shapes[] = {{1, 2, 3, 3}, {3, 4, 5}, {2, 64, 40, 41}};
    for (const DType dt : {DType::f32, DType::f64}) {
        for (const Shape& s : shapes) {
            INFO(to_string(s) << " " << std::string(dtype_name(dt)));
            const int64_t c = s[1] / 2;
            const Tensor x0 = to(randn(s, gen), dt);
            Shape hs = s;
            hs[1] = c;
            const Tensor gy = to(randn(hs, gen), dt);
            Tensor x = clone(x0).requires_grad_(), xr = clone(x0).requires_grad_();
            const Tensor y = simple_gate(x), yr = narrow(xr, 1, 0, c) * narrow(xr, 1, c, c);
            backward(y, gy);
            backward(yr, gy);
            CHECK(y.to_vector<double>() == yr.to_vector<double>());
            CHECK(x.grad().to_vector<double>() == xr.grad().to_vector<double>());
        }
    }
}

TEST_CASE("addcmul: the fused per-channel CPU kernel agrees with the composition; other shapes compose") {
    // The kernel may round a + x * s once (a fused multiply-add) where the composition rounds
    // twice: half an ulp of the result, hence 1e-6 (float) and 1e-15 (double) relative, where a
    // wrong channel or a missed chunk is off by O(1). The gradients are the same ops: equal bits.
    // Shapes: rank 3 and 4, a plane of two 32768-element chunks (the second partial), and a
    // scale that is not per channel (the composition itself).
    Generator gen(23);
    const std::pair<Shape, Shape> cases[] = {
        {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 4, 5}, {1, 4, 1}}, {{1, 2, 190, 190}, {1, 2, 1, 1}}, {{2, 3, 4, 5}, {1, 1, 1, 5}}};
    for (const DType dt : {DType::f32, DType::f64})
        for (const auto& [as, ss] : cases) {
            INFO(to_string(as) << " " << to_string(ss) << " " << std::string(dtype_name(dt)));
            const Tensor a0 = to(randn(as, gen), dt), x0 = to(randn(as, gen), dt), s0 = to(randn(ss, gen), dt),
                         gy = to(randn(as, gen), dt);
            Tensor a = clone(a0).requires_grad_(), x = clone(x0).requires_grad_(), s = clone(s0).requires_grad_();
            Tensor ar = clone(a0).requires_grad_(), xr = clone(x0).requires_grad_(), sr = clone(s0).requires_grad_();
            const Tensor y = addcmul(a, x, s), yr = ar + xr * sr;
            backward(y, gy);
            backward(yr, gy);
            const double tol = dt == DType::f32 ? 1e-6 : 1e-15;
            CHECK(relerr(y, yr) <= tol);
            CHECK(a.grad().to_vector<double>() == ar.grad().to_vector<double>());
            CHECK(x.grad().to_vector<double>() == xr.grad().to_vector<double>());
            CHECK(s.grad().to_vector<double>() == sr.grad().to_vector<double>());
            NoGradGuard ng;
            CHECK(relerr(addcmul(a0, x0, s0), yr) <= tol);
        }
    const auto f = [](const std::vector<Tensor>& v) { return addcmul(v[0], v[1], v[2]); };
    const std::vector<Tensor> in{randn({2, 3, 2, 2}, gen), randn({2, 3, 2, 2}, gen), randn({1, 3, 1, 1}, gen)};
    const auto r1 = testing::gradcheck(f, in), r2 = testing::gradgradcheck(f, in);
    CHECK_MESSAGE(r1.ok, r1.message);
    CHECK_MESSAGE(r2.ok, r2.message);
}

TEST_CASE("conv2d: the fused bias equals a separate add bit for bit, forward and gradients") {
    // The kernel adds the bias last, as the separate add does: equal bits. Cases: im2col + GEMM,
    // a 1x1 read directly, a depthwise kernel, stride 2, and small maps of many output channels
    // (cut into chunks of 96 channels, each adding its own part of the bias).
    const auto separate = [](const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p) {
        return conv2d(x, w, Tensor(), p) + reshape(b, {1, w.size(0), 1, 1});
    };
    Generator gen(24);
    const ConvCase cases[] = {
        {{2, 5, 9, 11}, {7, 5, 3, 3}, ConvParams::torch(1, 1)},
        {{1, 32, 20, 20}, {64, 32, 1, 1}, ConvParams::torch()},
        {{2, 8, 17, 23}, {8, 1, 3, 3}, ConvParams::torch(1, 1, 1, 8)},
        {{1, 4, 10, 10}, {8, 4, 2, 2}, ConvParams::torch(2)},
        {{1, 16, 8, 8}, {256, 16, 1, 1}, ConvParams::torch()},
        {{1, 8, 6, 6}, {200, 8, 3, 3}, ConvParams::torch(1, 1)},
    };
    for (const DType dt : {DType::f32, DType::f64})
        for (const auto& c : cases) {
            INFO("x " << to_string(c.x) << " w " << to_string(c.w) << " " << std::string(dtype_name(dt)));
            const Tensor x0 = to(randn(c.x, gen), dt), w0 = to(randn(c.w, gen), dt), b0 = to(randn({c.w[0]}, gen), dt);
            Tensor x = clone(x0).requires_grad_(), w = clone(w0).requires_grad_(), b = clone(b0).requires_grad_();
            Tensor xr = clone(x0).requires_grad_(), wr = clone(w0).requires_grad_(), br = clone(b0).requires_grad_();
            const Tensor y = conv2d(x, w, b, c.p), yr = separate(xr, wr, br, c.p);
            const Tensor gy = to(randn(y.shape(), gen), dt);
            backward(y, gy);
            backward(yr, gy);
            CHECK(y.to_vector<double>() == yr.to_vector<double>());
            CHECK(x.grad().to_vector<double>() == xr.grad().to_vector<double>());
            CHECK(w.grad().to_vector<double>() == wr.grad().to_vector<double>());
            CHECK(b.grad().to_vector<double>() == br.grad().to_vector<double>());
        }
}

#if defined(VKGRAD_HAVE_SGEMM) && defined(__AVX512F__)
constexpr bool kHaveTwoSgemmKernels = true;
#else
constexpr bool kHaveTwoSgemmKernels = false;
#endif

TEST_CASE("gemm: the AVX-512 and AVX2 float kernels give the same bits, and the right product" *
          doctest::skip(!kHaveTwoSgemmKernels)) {
#if defined(VKGRAD_HAVE_SGEMM) && defined(__AVX512F__)
    // Each element of C is one chain of fused multiply-adds over k per KC block, whatever the
    // tile, so the 8x32 (zmm) and 6x16 (ymm) kernels must agree exactly. Sizes reach the
    // edge tiles in both directions, several KC and MC blocks, more columns than one NC panel,
    // strided (transposed) operands, accumulation and a pre-packed A.
    using namespace vkgrad::cpu;
    struct Case {
        int64_t M, N, K;
        bool ta, tb, acc, packed;
    };
    const Case cases[] = {{16, 16, 16, false, false, false, false}, {17, 33, 255, false, false, true, false},
                          {103, 69, 257, true, false, false, false}, {200, 2088, 600, false, true, true, false},
                          {96, 47, 513, false, false, false, true},  {37, 31, 20, true, true, true, true}};
    Generator gen(31);
    for (const Case& c : cases) {
        INFO(c.M << "x" << c.N << "x" << c.K << " ta " << c.ta << " tb " << c.tb << " acc " << c.acc);
        const auto a = randn({c.M * c.K}, gen).to_vector<float>(), b = randn({c.K * c.N}, gen).to_vector<float>();
        const auto c0 = randn({c.M * c.N}, gen).to_vector<float>();
        const MatView<const float> A = c.ta ? MatView<const float>{a.data(), 1, c.M} : MatView<const float>{a.data(), c.K, 1};
        const MatView<const float> B = c.tb ? MatView<const float>{b.data(), 1, c.K} : MatView<const float>{b.data(), c.N, 1};
        // each kernel's own packing of A (8- and 6-row panels)
        const auto pw = sgemm_detail::pack_a<sgemm_detail::MicroKernel<32>::MR>(c.M, c.K, A);
        const auto pn = sgemm_detail::pack_a<sgemm_detail::MicroKernel<16>::MR>(c.M, c.K, A);
        auto wide = c0, narrow = c0;
        sgemm_detail::sgemm_nr<32>(c.M, c.N, c.K, A, B, wide.data(), c.N, c.acc, c.packed ? pw.data() : nullptr);
        sgemm_detail::sgemm_nr<16>(c.M, c.N, c.K, A, B, narrow.data(), c.N, c.acc, c.packed ? pn.data() : nullptr);
        CHECK(wide == narrow);
        std::vector<float> want(c0.size());
        for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = 0; j < c.N; ++j) {
                double s = c.acc ? c0[static_cast<size_t>(i * c.N + j)] : 0.0;
                for (int64_t k = 0; k < c.K; ++k)
                    s += static_cast<double>(A.data[i * A.rs + k * A.cs]) * B.data[k * B.rs + j * B.cs];
                want[static_cast<size_t>(i * c.N + j)] = static_cast<float>(s);
            }
        const Shape s{c.M, c.N};
        CHECK(relerr(from_vector(wide, s), from_vector(want, s)) <= 1e-6);
    }
#endif
}
