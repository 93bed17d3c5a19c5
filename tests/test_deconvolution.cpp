// Kernel estimation and deconvolution (vkgrad/data/deconvolution.hpp): the estimate recovers a
// known motion kernel (and not its mirror image); the deconvolution against scipy (the normal
// equations by conjugate gradients) and in cases with known answers; the refinement of a soft
// estimate moves it towards the truth.
#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <vkgrad/data/deconvolution.hpp>

using namespace vkgrad;

namespace {

/// A float64 [3, n, n] image of random overlapping rectangles on a gentle ramp: sharp edges at
/// every orientation that matters (rows, columns, corners), like the edges a face gives the fit.
Tensor rectangles(int64_t n, uint64_t seed) {
    Generator gen(seed);
    std::vector<double> v(static_cast<size_t>(3 * n * n));
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) v[static_cast<size_t>((c * n + i) * n + j)] = 0.2 + 0.3 * double(i + j) / double(2 * n);
    for (int rect = 0; rect < 60; ++rect) {
        const int64_t i0 = int64_t(gen.uniform() * n), j0 = int64_t(gen.uniform() * n);
        const int64_t h = 4 + int64_t(gen.uniform() * n / 4), w = 4 + int64_t(gen.uniform() * n / 4);
        for (int64_t c = 0; c < 3; ++c) {
            const double value = gen.uniform();
            for (int64_t i = i0; i < std::min(n, i0 + h); ++i)
                for (int64_t j = j0; j < std::min(n, j0 + w); ++j) v[static_cast<size_t>((c * n + i) * n + j)] = value;
        }
    }
    return from_vector(v, {3, n, n}, {DType::f64});
}

double l1(const Tensor& a, const Tensor& b) {
    const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
    double s = 0;
    for (size_t i = 0; i < va.size(); ++i) s += std::abs(va[i] - vb[i]);
    return s;
}

/// PSNR over the pixels at least `border` from every edge.
double interior_psnr(const Tensor& x, const Tensor& ref, int64_t border) {
    const int64_t C = x.size(0), H = x.size(1), W = x.size(2);
    const auto a = x.to_vector<double>(), b = ref.to_vector<double>();
    double se = 0;
    int64_t count = 0;
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = border; i < H - border; ++i)
            for (int64_t j = border; j < W - border; ++j) {
                const size_t e = static_cast<size_t>((c * H + i) * W + j);
                se += (a[e] - b[e]) * (a[e] - b[e]), ++count;
            }
    return -10 * std::log10(se / double(count));
}

Tensor motion_kernel(int64_t size, uint64_t seed) {
    Generator gen(seed);
    data::MotionBlurOptions o;
    o.size = size, o.min_length = 10, o.max_length = 20;
    return data::motion_blur_kernel(gen, o);
}

} // namespace

TEST_CASE("project_to_simplex: the nearest point with k >= 0 and sum 1") {
    const auto proj = [](std::vector<double> v) { data::detail::project_to_simplex(v); return v; };
    const auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
        for (size_t i = 0; i < a.size(); ++i)
            if (std::abs(a[i] - b[i]) > 1e-12) return false;
        return true;
    };
    CHECK(near(proj({0.5, 0.5, 0.5}), {1.0 / 3, 1.0 / 3, 1.0 / 3}));
    CHECK(near(proj({2, 0, 0}), {1, 0, 0}));
    CHECK(near(proj({0.6, 0.6, -1}), {0.5, 0.5, 0}));
    CHECK(near(proj({0.1, 0.2, 0.7}), {0.1, 0.2, 0.7})); // already on it
}

TEST_CASE("estimate_blur_kernel recovers a motion kernel from the sharp image, not its mirror") {
    const Tensor x = rectangles(200, 3);
    for (uint64_t seed : {11, 12, 13}) { // 12 is a straight stroke: its own mirror image
        CAPTURE(seed);
        const Tensor k = motion_kernel(31, seed), y = data::blur_image(x, k);
        data::DeblurRefineOptions o;
        o.kernel_size = 31;
        const Tensor est = data::estimate_blur_kernel(x, y, o);
        CHECK(est.shape() == Shape{31, 31});
        const auto v = est.to_vector<double>();
        double sum = 0, lo = 1;
        for (double e : v) sum += e, lo = std::min(lo, e);
        CHECK(sum == doctest::Approx(1).epsilon(1e-5));
        CHECK(lo >= 0);
        const double err = l1(est, k); // of at most 2
        CHECK(err < 0.1);
        // orientation: the estimate is nearer the kernel than its mirror image by most of their distance
        const double asymmetry = l1(k, flip(k, {0, 1}));
        if (asymmetry > 0.5) CHECK(l1(est, flip(k, {0, 1})) > err + 0.5 * asymmetry);
        MESSAGE("seed " << seed << ": L1 distance from the true kernel " << err);
    }
}

TEST_CASE("estimate_blur_kernel fits a large image's central square") {
    const Tensor x = rectangles(260, 9), k = motion_kernel(31, 14), y = data::blur_image(x, k);
    data::DeblurRefineOptions o;
    o.kernel_size = 31, o.max_fit_size = 200, o.iterations = 50;
    const auto centre = [](const Tensor& t) { return narrow(narrow(t, 1, 30, 200), 2, 30, 200); };
    CHECK(data::estimate_blur_kernel(x, y, o).to_vector<float>() ==
          data::estimate_blur_kernel(centre(x), centre(y), o).to_vector<float>());
    o.max_fit_size = 90;
    CHECK_THROWS_WITH_AS(data::estimate_blur_kernel(x, y, o), doctest::Contains("max_fit_size must be over 93"), Error);
}

TEST_CASE("deconvolve: closed forms") {
    const Tensor x = rectangles(96, 5);
    const Tensor prior = rectangles(96, 6);
    const double lambda = 0.25;
    SUBCASE("an identity kernel averages the blurred image and the prior") {
        std::vector<double> d(25, 0.0);
        d[12] = 1;
        const Tensor out = data::deconvolve(x, from_vector(d, {5, 5}), prior, lambda);
        CHECK(out.dtype() == DType::f64);
        CHECK(testing::relerr(out, (x + prior * lambda) / (1 + lambda)) < 1e-12);
    }
    SUBCASE("with the true kernel and the truth as prior, the answer is the truth") {
        const Tensor k = motion_kernel(15, 21), y = data::blur_image(x, k);
        CHECK(interior_psnr(data::deconvolve(y, k, x, lambda), x, 15) > 60);
    }
    SUBCASE("with the true kernel and a weak pull to the blurred image, much of the blur is undone") {
        // not all: the reflected extension is not exactly the blur of an extended image, and the
        // smaller lambda, the further that error spreads (1e-3: 19.6 dB, 1e-2: 23.9, 0.1: 19.1)
        const Tensor k = motion_kernel(15, 22), y = data::blur_image(x, k);
        const double before = interior_psnr(y, x, 15), after = interior_psnr(data::deconvolve(y, k, y, 1e-2), x, 15);
        MESSAGE("blurred " << before << " dB, deconvolved " << after << " dB");
        CHECK(after > before + 5);
    }
}

TEST_CASE("deconvolve equals the normal equations solved in the pixel domain (scipy, conjugate gradients)") {
    // tests/reference/make_deconvolution_fixtures.py: the same definition (reflected extension on
    // a 2,3,5-smooth torus), solved without FFTs; an asymmetric 9x9 kernel, so a flip would show
    const auto fx = [](const std::string& name) { return io::load_npy(test::fixtures() + "/blur/" + name + ".npy"); };
    const Tensor out = data::deconvolve(fx("blurred"), fx("kernel"), fx("deconv_prior"), 0.05);
    const Tensor want = fx("deconv_expected");
    REQUIRE(out.shape() == want.shape());
    const auto a = out.to_vector<double>(), b = want.to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    MESSAGE("worst difference " << worst);
    CHECK(worst < 1e-10);
    CHECK(testing::relerr(data::deconvolve(fx("blurred"), flip(fx("kernel"), {0, 1}), fx("deconv_prior"), 0.05), want) > 1e-3);
}

TEST_CASE("refine_deblurred brings a soft estimate closer to the truth") {
    const Tensor x = rectangles(240, 7);
    const Tensor k = motion_kernel(31, 31), y = data::blur_image(x, k);
    // a network-like estimate: the truth softened by a small box blur (what the network missed)
    const Tensor soft = data::blur_image(x, full({3, 3}, 1.0 / 9, TensorOptions{DType::f64}));
    data::DeblurRefineOptions o;
    o.kernel_size = 31;
    Tensor est;
    const Tensor out = data::refine_deblurred(y, soft, o, &est);
    CHECK(out.shape() == y.shape());
    const double before = interior_psnr(soft, x, 31), after = interior_psnr(out, x, 31);
    MESSAGE("soft estimate " << before << " dB, refined " << after << " dB; kernel L1 " << l1(est, k));
    CHECK(after > before + 0.4); // measured +0.58 dB (kernel L1 0.88); a mirrored kernel or no refinement fails
}

TEST_CASE("kernel estimation and deconvolution refuse bad input with messages") {
    const Tensor x = rectangles(100, 1);
    data::DeblurRefineOptions o; // 71 px kernels need over 213 px
    CHECK_THROWS_WITH_AS(data::estimate_blur_kernel(x, x, o), doctest::Contains("needs an image over 213 px"), Error);
    CHECK_FALSE(data::can_refine(100, 100, o));
    o.kernel_size = 4;
    CHECK_THROWS_WITH_AS(data::estimate_blur_kernel(x, x, o), doctest::Contains("odd"), Error);
    CHECK_THROWS_WITH_AS(data::estimate_blur_kernel(x, narrow(x, 1, 0, 50), {}), doctest::Contains("one shape"), Error);
    const Tensor k = ones({3, 3}, TensorOptions{DType::f64});
    CHECK_THROWS_WITH_AS(data::deconvolve(x, k, x, 0), doctest::Contains("lambda must be positive"), Error);
    CHECK_THROWS_WITH_AS(data::deconvolve(x, ones({2, 2}), x, 1), doctest::Contains("k odd"), Error);
    const Tensor flat = full({3, 240, 240}, 0.5, TensorOptions{DType::f64});
    CHECK_THROWS_WITH_AS(data::estimate_blur_kernel(flat, flat, {}), doctest::Contains("no gradients"), Error);
}
