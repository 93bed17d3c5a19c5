// Camera-shake kernels (vkgrad::data::motion_blur_kernel) and blur_image against
// scipy.ndimage.convolve(mode='reflect') (tests/reference/make_blur_fixtures.py).
#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <vkgrad/data/motion_blur.hpp>

using namespace vkgrad;

namespace {

Tensor fx(const std::string& name) { return io::load_npy(test::fixtures() + "/blur/" + name + ".npy"); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
    double m = 0;
    for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
    return m;
}

/// Sum, minimum and centroid (row, column) of a [k, k] kernel, in double.
struct KernelStats {
    double sum = 0, min = 1e30, cy = 0, cx = 0;
    int64_t rows = 0, cols = 0; ///< extent of the support (rows and columns with any mass)
};
KernelStats stats(const float* k, int64_t size) {
    KernelStats s;
    int64_t r0 = size, r1 = -1, c0 = size, c1 = -1;
    for (int64_t i = 0; i < size; ++i)
        for (int64_t j = 0; j < size; ++j) {
            const double v = k[i * size + j];
            s.sum += v, s.min = std::min(s.min, v), s.cy += v * static_cast<double>(i), s.cx += v * static_cast<double>(j);
            if (v > 0) r0 = std::min(r0, i), r1 = std::max(r1, i), c0 = std::min(c0, j), c1 = std::max(c1, j);
        }
    s.cy /= s.sum, s.cx /= s.sum;
    s.rows = r1 - r0 + 1, s.cols = c1 - c0 + 1;
    return s;
}

} // namespace

TEST_CASE("motion blur kernels are reproducible from the seed") {
    const Tensor a = data::motion_blur_kernels(6, 7), b = data::motion_blur_kernels(6, 7);
    CHECK(a.shape() == Shape{6, 71, 71});
    CHECK(a.dtype() == DType::f32);
    CHECK(a.to_vector<float>() == b.to_vector<float>());
    // a shorter set is a prefix of a longer one
    CHECK(data::motion_blur_kernels(2, 7).to_vector<float>() == narrow(a, 0, 0, 2).to_vector<float>());
    CHECK(data::motion_blur_kernels(6, 8).to_vector<float>() != a.to_vector<float>());
    // one at a time from a generator: the same stream as motion_blur_kernels
    Generator gen(7);
    double len = -1;
    const Tensor k0 = data::motion_blur_kernel(gen, {}, &len);
    CHECK(k0.to_vector<float>() == narrow(a, 0, 0, 1).to_vector<float>());
    CHECK(len > 0);
    const Tensor k1 = data::motion_blur_kernel(gen);
    CHECK(k1.to_vector<float>() == narrow(a, 0, 1, 1).to_vector<float>());
}

TEST_CASE("motion blur kernels: sum 1, non-negative, centred, lengths 15..100 px, thin paths") {
    constexpr int64_t n = 200, size = 71;
    std::vector<double> lengths;
    const Tensor ks = data::motion_blur_kernels(n, 1, {}, &lengths);
    REQUIRE(lengths.size() == static_cast<size_t>(n));
    const float* d = ks.data<float>();
    const double centre = (size - 1) / 2.0;
    int64_t widest = 0;
    double worst_sum = 0, worst_centroid = 0, min_value = 1, max_fill = 0;
    for (int64_t i = 0; i < n; ++i) {
        const KernelStats s = stats(d + i * size * size, size);
        worst_sum = std::max(worst_sum, std::abs(s.sum - 1.0));
        worst_centroid = std::max({worst_centroid, std::abs(s.cy - centre), std::abs(s.cx - centre)});
        min_value = std::min(min_value, s.min);
        widest = std::max({widest, s.rows, s.cols});
        int64_t nonzero = 0;
        for (int64_t e = 0; e < size * size; ++e) nonzero += d[i * size * size + e] > 0;
        max_fill = std::max(max_fill, static_cast<double>(nonzero) / (size * size));
    }
    CHECK(worst_sum <= 1e-5);
    CHECK(min_value >= 0.0);
    CHECK(worst_centroid <= 0.5);
    CHECK(worst_centroid <= 1e-3); // the centring is exact up to float rounding
    CHECK(max_fill < 0.2);         // thin trajectories, not blobs
    CHECK(widest >= 55);           // the longest paths fill most of the canvas
    const auto [lo, hi] = std::minmax_element(lengths.begin(), lengths.end());
    INFO("lengths " << *lo << " .. " << *hi);
    CHECK(*lo <= 20.0);
    CHECK(*hi >= 80.0);
    CHECK(*lo >= 0.0);
    CHECK(*hi <= 100.0);
}

TEST_CASE("motion_blur_path: equal steps, on the canvas, mean at the centre; long paths are scaled to fit") {
    for (double L : {30.0, 400.0}) {
        INFO("length " << L);
        data::MotionBlurOptions opt;
        opt.min_length = opt.max_length = L;
        opt.steps = 500;
        opt.size = 31;
        Generator gen(3);
        const data::MotionBlurPath p = data::motion_blur_path(gen, opt);
        REQUIRE(p.x.size() == 500);
        double walked = 0, mx = 0, my = 0, step_min = 1e30, step_max = 0;
        for (size_t t = 0; t < p.x.size(); ++t) {
            CHECK((p.x[t] >= 0 && p.x[t] <= 30 && p.y[t] >= 0 && p.y[t] <= 30));
            mx += p.x[t], my += p.y[t];
            if (t) {
                const double s = std::hypot(p.x[t] - p.x[t - 1], p.y[t] - p.y[t - 1]);
                walked += s, step_min = std::min(step_min, s), step_max = std::max(step_max, s);
            }
        }
        CHECK(mx / 500 == doctest::Approx(15.0).epsilon(1e-9));
        CHECK(my / 500 == doctest::Approx(15.0).epsilon(1e-9));
        CHECK(walked == doctest::Approx(p.length).epsilon(1e-6));
        CHECK(step_max - step_min <= 1e-6 * step_max);
        if (L == 30.0) CHECK(p.length == doctest::Approx(30.0)); // fits as drawn (pulled back or not)
        else CHECK(p.length < 400.0);                              // 400 px cannot fit on 31x31
        const Tensor k = data::splat_path(p, opt.size);
        const KernelStats s = stats(k.data<float>(), opt.size);
        CHECK(s.sum == doctest::Approx(1.0).epsilon(1e-6)); // no mass lost off the canvas
        CHECK(s.cx == doctest::Approx(15.0).epsilon(1e-5));
        CHECK(s.cy == doctest::Approx(15.0).epsilon(1e-5));
    }
}

TEST_CASE("blur_image is a true convolution: a delta image gives back the kernel itself") {
    const Tensor kernel = to(fx("kernel"), DType::f32); // 9x9, asymmetric in both axes
    std::vector<float> v(static_cast<size_t>(31 * 29), 0.0f);
    v[static_cast<size_t>(15 * 29 + 14)] = 1.0f;
    const Tensor delta = from_vector(v, {1, 31, 29});
    const Tensor out = data::blur_image(delta, kernel);
    REQUIRE(out.shape() == Shape{1, 31, 29});
    const Tensor patch = reshape(narrow(narrow(out, 1, 15 - 4, 9), 2, 14 - 4, 9), {9, 9});
    CHECK(max_abs_diff(patch, kernel) <= 1e-6);
    CHECK(max_abs_diff(patch, flip(kernel, {0, 1})) > 1e-3); // correlation would give this one
    CHECK(sum(out).item() == doctest::Approx(1.0).epsilon(1e-5)); // nothing else anywhere
}

TEST_CASE("blur_image equals scipy.ndimage.convolve(mode='reflect') per channel") {
    const Tensor img = fx("img"), kernel = fx("kernel"), want = fx("blurred"); // float64
    SUBCASE("float64") { CHECK(max_abs_diff(data::blur_image(img, kernel), want) <= 1e-10); }
    SUBCASE("float32") {
        const Tensor got = data::blur_image(to(img, DType::f32), to(kernel, DType::f32));
        CHECK(got.dtype() == DType::f32);
        CHECK(max_abs_diff(got, want) <= 1e-5);
        // a float64 kernel with a float32 image: computed in the image's precision
        CHECK(max_abs_diff(data::blur_image(to(img, DType::f32), kernel), want) <= 1e-5);
    }
    SUBCASE("a batch [N, C, H, W], an odd number of planes in all") {
        const Tensor batch = concat({unsqueeze(img, 0), unsqueeze(narrow(img, 0, 0, 1) * 0.5, 0)}, 1); // [1, 4, H, W]
        const Tensor two = concat({batch, batch}, 0);
        const Tensor got = data::blur_image(narrow(two, 1, 0, 3), kernel); // [2, 3, H, W]: 6 planes
        CHECK(max_abs_diff(reshape(narrow(got, 0, 1, 1), {3, 40, 37}), want) <= 1e-10);
        const Tensor got4 = data::blur_image(batch, kernel); // 4 planes
        CHECK(max_abs_diff(reshape(narrow(got4, 1, 3, 1), {1, 40, 37}), narrow(want, 0, 0, 1) * 0.5) <= 1e-10);
        const Tensor got1 = data::blur_image(narrow(img, 0, 2, 1), kernel); // one plane
        CHECK(max_abs_diff(got1, narrow(want, 0, 2, 1)) <= 1e-10);
    }
    SUBCASE("an image smaller than the kernel: the border reflects again and again") {
        CHECK(max_abs_diff(data::blur_image(fx("small_img"), kernel), fx("small_blurred")) <= 1e-10);
    }
}

TEST_CASE("blur_image: a centred delta kernel and constant images are left alone") {
    const Tensor img = to(fx("img"), DType::f32);
    std::vector<float> dk(25, 0.0f);
    dk[12] = 1.0f;
    CHECK(max_abs_diff(data::blur_image(img, from_vector(dk, {5, 5})), img) <= 1e-6);
    CHECK(max_abs_diff(data::blur_image(img, from_vector(std::vector<float>{1.0f}, {1, 1})), img) <= 1e-6);
    const Tensor flat = full({3, 20, 24}, 0.25), k = reshape(data::motion_blur_kernels(1, 3), {71, 71});
    CHECK(max_abs_diff(data::blur_image(flat, k), flat) <= 1e-6);
}

TEST_CASE("blur_image: results are bitwise identical with 1 and 2 threads") {
    const Tensor img = to(fx("img"), DType::f32), kernel = to(fx("kernel"), DType::f32);
    const int before = num_threads();
    set_num_threads(1);
    const auto one = data::blur_image(img, kernel).to_vector<float>();
    set_num_threads(2);
    const auto two = data::blur_image(img, kernel).to_vector<float>();
    set_num_threads(before);
    CHECK(one == two);
}

TEST_CASE("motion blur: argument errors name the problem") {
    using test::check_error;
    const Tensor img = zeros({3, 8, 8}), k3 = full({3, 3}, 1.0 / 9);
    check_error([&] { data::blur_image(img, full({4, 4}, 1.0 / 16)); }, {"blur_image", "k odd", "[4,4]"});
    check_error([&] { data::blur_image(img, full({3, 5}, 1.0 / 15)); }, {"blur_image", "square", "[3,5]"});
    check_error([&] { data::blur_image(img, full({1, 3, 3}, 1.0 / 9)); }, {"blur_image", "kernel", "[1,3,3]"});
    check_error([&] { data::blur_image(zeros({8, 8}), k3); }, {"blur_image", "[C, H, W] or [N, C, H, W]", "[8,8]"});
    check_error([&] { data::blur_image(zeros({1, 1, 3, 8, 8}), k3); }, {"blur_image", "[1,1,3,8,8]"});
    check_error([&] { data::blur_image(zeros({3, 8, 8}, {DType::i64}), k3); },
                {"blur_image", "float32 or float64", "int64"});
    check_error([&] { data::blur_image(img, zeros({3, 3}, {DType::i64})); }, {"blur_image", "kernel", "int64"});
    check_error([&] { data::blur_image(img, Tensor()); }, {"blur_image", "undefined"});

    data::MotionBlurOptions o;
    o.size = 70;
    check_error([&] { data::motion_blur_kernels(1, 0, o); }, {"motion_blur_kernel", "odd", "70"});
    o = {};
    o.min_length = 50, o.max_length = 20;
    check_error([&] { data::motion_blur_kernels(1, 0, o); }, {"motion_blur_kernel", "min_length <= max_length"});
    o = {};
    o.steps = 1;
    check_error([&] { data::motion_blur_kernels(1, 0, o); }, {"motion_blur_kernel", "steps"});
    o = {};
    o.max_centripetal = -1;
    check_error([&] { data::motion_blur_kernels(1, 0, o); }, {"motion_blur_kernel", ">= 0"});
    check_error([&] { data::motion_blur_kernels(0, 0); }, {"motion_blur_kernels", "count"});
    check_error([&] { data::splat_path({}, 9); }, {"splat_path", "non-empty"});
    check_error([&] { data::splat_path({{1.0, 9.5}, {1.0, 2.0}, 0}, 9); }, {"splat_path", "outside", "9x9"});
}
