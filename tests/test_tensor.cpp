// Tensor creation, views, dtypes and the seeded generator.
#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace vkgrad;
using vkgrad::test::check_error;

TEST_CASE("tensor: creation functions") {
    CHECK(zeros({2, 3}).to_vector<float>() == std::vector<float>(6, 0.f));
    CHECK(ones({4}, {DType::f64}).to_vector<double>() == std::vector<double>(4, 1.0));
    CHECK(full({2}, 2.5).to_vector<float>() == std::vector<float>{2.5f, 2.5f});
    CHECK(arange(5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
    CHECK(arange(1.0, 2.0, 0.25, {DType::f64}).to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
    const double raw[3] = {1, 2, 3};
    Tensor r = from_data(raw, {3});
    CHECK(r.dtype() == DType::f64);
    CHECK(r.to_vector<double>() == std::vector<double>{1, 2, 3});
    CHECK(full({}, 3.0).dim() == 0);
    CHECK(full({}, 3.0).item() == 3.0);
    CHECK(zeros({0, 3}).numel() == 0);
    check_error([] { from_vector<float>({1, 2, 3}, {2, 2}); }, {"from_vector", "3 values", "[2,2]"});
    check_error([] { zeros({2, -1}); }, {"negative"});
    check_error([] { ones({2}).item(); }, {"item", "[2]"});
    check_error([] { ones({2}).data<double>(); }, {"data", "float32"});
}

TEST_CASE("tensor: the generator is explicit and reproducible") {
    Generator a(5), b(5), c(6);
    const auto va = randn({1000}, a).to_vector<float>();
    CHECK(va == randn({1000}, b).to_vector<float>());
    CHECK(va != randn({1000}, c).to_vector<float>());
    double m = 0, s = 0;
    for (float v : va) m += v;
    m /= 1000;
    for (float v : va) s += (v - m) * (v - m);
    s = std::sqrt(s / 999);
    CHECK(std::abs(m) < 0.1);
    CHECK(std::abs(s - 1) < 0.1);
    Generator g(1);
    for (float v : rand({1000}, g, -2, 3).to_vector<float>()) {
        REQUIRE(v >= -2);
        REQUIRE(v < 3);
    }
}

TEST_CASE("tensor: reshape is a view, permute copies, dtype round trips") {
    Tensor x = arange(6);
    Tensor v = reshape(x, {2, -1});
    CHECK(v.shape() == Shape{2, 3});
    CHECK(v.raw_data() == x.raw_data());
    Tensor t = transpose(v, 0, 1);
    CHECK(t.shape() == Shape{3, 2});
    CHECK(t.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
    Tensor d = to(x, DType::f64);
    CHECK(d.dtype() == DType::f64);
    CHECK(to(d, DType::i64).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
    CHECK(squeeze(unsqueeze(x, 0), 0).shape() == Shape{6});
    CHECK(flatten(zeros({2, 3, 4})).shape() == Shape{24});
}

TEST_CASE("tensor: in-place updates bump the version and convert") {
    Tensor x = zeros({3});
    const uint64_t v0 = x.impl()->storage->version;
    add_(x, ones({3}, {DType::f64}), 2.0);
    CHECK(x.to_vector<float>() == std::vector<float>{2, 2, 2});
    mul_(x, 0.5);
    CHECK(x.to_vector<float>() == std::vector<float>{1, 1, 1});
    CHECK(x.impl()->storage->version > v0);
    check_error([&] { copy_(x, ones({4})); }, {"copy_", "[4]", "[3]"});
}

TEST_CASE("tensor: slicing, padding and splitting pieces agree with each other") {
    Tensor x = reshape(arange(12), {3, 4});
    auto parts = split(x, 2, 1);
    REQUIRE(parts.size() == 2);
    CHECK(concat(parts, 1).to_vector<float>() == x.to_vector<float>());
    CHECK(slice(x, 1, 1, 100, 2).to_vector<float>() == std::vector<float>{1, 3, 5, 7, 9, 11});
    CHECK(pad(pad(x, {1, 2, 0, 1}), {-1, -2, 0, -1}).to_vector<float>() == x.to_vector<float>());
    CHECK(flip(flip(x, {0, 1}), {1, 0}).to_vector<float>() == x.to_vector<float>());
}

namespace {
// out[i] = f(x0[i0], x1[i1], ...) with numpy broadcasting, one element at a time: the plain
// definition the pieced, threaded CPU loops must reproduce bit for bit.
template <class F> std::vector<float> broadcast_reference(const std::vector<Tensor>& xs, F f) {
    Shape os = xs[0].shape();
    for (const auto& x : xs) os = broadcast_shapes(os, x.shape(), "test");
    std::vector<std::vector<float>> v;
    std::vector<Shape> st;
    for (const auto& x : xs) {
        v.push_back(x.to_vector<float>());
        st.push_back(broadcast_strides(x.shape(), os));
    }
    std::vector<float> out(static_cast<size_t>(numel(os))), args(xs.size());
    for (int64_t i = 0; i < numel(os); ++i) {
        std::vector<int64_t> at(xs.size(), 0);
        for (int64_t rem = i, d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
            const int64_t k = rem % os[static_cast<size_t>(d)];
            rem /= os[static_cast<size_t>(d)];
            for (size_t j = 0; j < xs.size(); ++j) at[j] += k * st[j][static_cast<size_t>(d)];
        }
        for (size_t j = 0; j < xs.size(); ++j) args[j] = v[j][static_cast<size_t>(at[j])];
        out[static_cast<size_t>(i)] = f(args);
    }
    return out;
}
} // namespace

TEST_CASE("elementwise: large broadcasts cut into pieces for the thread pool equal the plain loop, any thread count") {
    // Shapes chosen to reach every way the work is cut: long rows split into several pieces,
    // rows shorter than a piece grouped, the scalar and same-shape fast paths, a single row.
    const std::vector<std::pair<Shape, Shape>> cases = {
        {{1, 16, 150, 150}, {1, 16, 1, 1}}, {{1, 16, 300, 300}, {1, 1, 300, 300}}, {{2, 3, 257, 131}, {1, 3, 1, 131}},
        {{70001, 1}, {1, 3}},               {{100003}, {1}},                      {{1}, {3, 40000}},
        {{3, 40000}, {3, 40000}},           {{5, 1, 7}, {1, 9, 1}},
    };
    Generator gen(21);
    const int before = num_threads();
    for (const auto& [as, bs] : cases) {
        INFO(to_string(as) << " with " << to_string(bs));
        const Tensor a = randn(as, gen), b = randn(bs, gen) + 3.0, c = gt(rand(bs, gen), full(bs, 0.5));
        const auto mul_ref = broadcast_reference({a, b}, [](const auto& v) { return v[0] * v[1]; });
        const auto sub_ref = broadcast_reference({a, b}, [](const auto& v) { return v[0] - v[1]; });
        const auto div_ref = broadcast_reference({b, a}, [](const auto& v) { return v[0] / v[1]; });
        const auto where_ref = broadcast_reference({c, a, b}, [](const auto& v) { return v[0] != 0.f ? v[1] : v[2]; });
        for (int threads : {1, 2, 3}) {
            set_num_threads(threads);
            CHECK((a * b).to_vector<float>() == mul_ref);
            CHECK((a - b).to_vector<float>() == sub_ref);
            CHECK((b / a).to_vector<float>() == div_ref);
            CHECK(where(c, a, b).to_vector<float>() == where_ref);
        }
        set_num_threads(1);
        const auto e1 = exp(a).to_vector<float>(), s1 = sum(a, {static_cast<int64_t>(as.size()) - 1}, false).to_vector<float>();
        set_num_threads(2);
        CHECK(exp(a).to_vector<float>() == e1);
        CHECK(sum(a, {static_cast<int64_t>(as.size()) - 1}, false).to_vector<float>() == s1);
    }
    set_num_threads(before);
}

TEST_CASE("reduce: any axes, with axes of size 1 among them, equal a plain loop") {
    // Axes of extent 1 do not count when deciding whether the reduced axes are adjacent in
    // memory (backend.hpp's reduce_view): these shapes reach the in-place path through them,
    // the permuted path, and reductions of size-1 axes alone.
    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {{1, 16, 5, 7}, {0, 2, 3}}, {{1, 3, 1, 4, 5}, {0, 2, 3}}, {{2, 3, 1, 4}, {0, 3}}, {{4, 1, 6}, {0, 1}},
        {{1, 1, 1}, {0, 1, 2}},     {{3, 1, 5}, {1}},             {{2, 5, 1, 3}, {1, 2}}, {{3, 4, 1}, {0, 2}},
    };
    Generator gen(8);
    for (const auto& [xs, axes] : cases) {
        INFO(to_string(xs) << " over " << axes.size() << " axes");
        const Tensor x = randn(xs, gen);
        const auto v = x.to_vector<float>();
        Shape os = xs;
        for (int64_t a : axes) os[static_cast<size_t>(a)] = 1;
        std::vector<double> want_sum(static_cast<size_t>(numel(os)), 0.0);
        std::vector<float> want_max(want_sum.size(), -std::numeric_limits<float>::infinity());
        for (int64_t i = 0; i < numel(xs); ++i) {
            int64_t rem = i, o = 0, ostride = 1;
            std::vector<int64_t> idx(xs.size());
            for (int d = static_cast<int>(xs.size()) - 1; d >= 0; --d) {
                idx[static_cast<size_t>(d)] = rem % xs[static_cast<size_t>(d)];
                rem /= xs[static_cast<size_t>(d)];
            }
            for (int d = static_cast<int>(xs.size()) - 1; d >= 0; --d) {
                o += (os[static_cast<size_t>(d)] == 1 ? 0 : idx[static_cast<size_t>(d)]) * ostride;
                ostride *= os[static_cast<size_t>(d)];
            }
            want_sum[static_cast<size_t>(o)] += v[static_cast<size_t>(i)];
            want_max[static_cast<size_t>(o)] = std::max(want_max[static_cast<size_t>(o)], v[static_cast<size_t>(i)]);
        }
        const Tensor s = sum(x, axes, true), m = max(x, axes, true);
        CHECK(s.shape() == os);
        std::vector<float> ws(want_sum.begin(), want_sum.end());
        CHECK(testing::relerr(s, from_vector(ws, os)) <= 1e-6);
        CHECK(m.to_vector<float>() == want_max);
    }
}

TEST_CASE("reduce: long contiguous sums accumulate in float64 (no drift over a million terms)") {
    // 1e6 copies of 0.1f: a float32 running sum drifts by ~1e-3 relative; float64 stays exact to
    // float precision. Rows of odd length reach the tail of the eight-way accumulation too.
    for (int64_t n : {int64_t{1000003}, int64_t{7}, int64_t{8}, int64_t{9}}) {
        INFO("n " << n);
        const Tensor x = full({2, n}, 0.1);
        const double want = static_cast<double>(0.1f) * static_cast<double>(n);
        for (float v : sum(x, {1}, false).to_vector<float>()) CHECK(v == static_cast<float>(want));
    }
}
