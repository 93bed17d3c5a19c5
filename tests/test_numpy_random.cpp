// NumpyRandomState against numpy's legacy RandomState: every value must be the same double.
// Fixtures: tests/reference/make_numpy_random_fixtures.py.
#include "support.hpp"

#include <vkgrad/core/numpy_random.hpp>

#include <algorithm>
#include <iomanip>
#include <limits>

using namespace vkgrad;

namespace {
Tensor fixture(const std::string& name) { return io::load_npy(test::fixtures() + "/numpy_random/" + name); }

/// Index of the first element where got and expect differ (exact ==), or -1 if none; sizes must agree.
template <class T> int64_t first_mismatch(const std::vector<T>& got, const std::vector<T>& expect) {
    if (got.size() != expect.size()) return static_cast<int64_t>(std::min(got.size(), expect.size()));
    for (size_t i = 0; i < got.size(); ++i)
        if (!(got[i] == expect[i])) return static_cast<int64_t>(i);
    return -1;
}

void check_same(const std::vector<double>& got, const std::vector<double>& expect) {
    const int64_t i = first_mismatch(got, expect);
    CHECK_MESSAGE(got.size() == expect.size(), "got " << got.size() << " values, expected " << expect.size());
    if (i >= 0 && got.size() == expect.size()) {
        const auto k = static_cast<size_t>(i);
        FAIL_CHECK("first mismatch at index " << i << ": got "
                                              << std::setprecision(std::numeric_limits<double>::max_digits10)
                                              << got[k] << ", numpy " << expect[k]);
    }
}
} // namespace

TEST_CASE("numpy_random: RandomState(seed).randn(1, 512) is bit-exact, the StyleGAN latents") {
    for (uint32_t seed : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 85u, 4294967295u}) {
        INFO("seed " << seed);
        const Tensor expect = fixture("randn_seed" + std::to_string(seed) + ".npy");
        REQUIRE(expect.dtype() == DType::f64);
        NumpyRandomState rs(seed);
        const Tensor z = rs.randn(Shape{1, 512});
        CHECK(z.dtype() == DType::f64);
        CHECK(z.shape() == expect.shape());
        check_same(z.to_vector<double>(), expect.to_vector<double>());
    }
}

TEST_CASE("numpy_random: randn continues the stream across calls, as numpy does") {
    const Tensor expect = fixture("randn_seed7_4x32.npy");
    REQUIRE(expect.shape() == Shape{4, 32});
    const auto flat = expect.to_vector<double>();
    {
        NumpyRandomState rs(7);
        const Tensor t = rs.randn(Shape{4, 32});
        CHECK(t.shape() == expect.shape());
        check_same(t.to_vector<double>(), flat);
    }
    { // two even halves, and one element at a time
        NumpyRandomState rs(7), one(7);
        std::vector<double> got = rs.randn(64), rest = rs.randn(64), single;
        got.insert(got.end(), rest.begin(), rest.end());
        check_same(got, flat);
        for (size_t i = 0; i < flat.size(); ++i) single.push_back(one.randn(1)[0]);
        check_same(single, flat);
    }
    // randn(0) draws nothing
    NumpyRandomState rs(7);
    CHECK(rs.randn(0).empty());
    CHECK(rs.randn(Shape{0, 3}).numel() == 0);
    check_same(rs.randn(128), flat);
}

TEST_CASE("numpy_random: odd counts keep the cached second normal for the next call") {
    const auto flat = fixture("randn_seed7_4x32.npy").to_vector<double>();
    for (int64_t first : {1, 3, 7, 127}) {
        INFO("first call draws " << first);
        NumpyRandomState rs(7);
        std::vector<double> got = rs.randn(first);
        const std::vector<double> rest = rs.randn(128 - first);
        got.insert(got.end(), rest.begin(), rest.end());
        check_same(got, flat);
    }
    { // after an odd count the cached value is returned without drawing: random_sample sees the words
      // a fresh pair would have used (numpy: randn(3), random_sample(4), randn(3))
        NumpyRandomState rs(3);
        std::vector<double> got = rs.randn(3);
        for (int i = 0; i < 4; ++i) got.push_back(rs.random_sample());
        const auto tail = rs.randn(3);
        got.insert(got.end(), tail.begin(), tail.end());
        check_same(got, fixture("mixed_seed3.npy").to_vector<double>());
    }
    { // the second value of a pair is the cached one: gauss() twice equals randn(2)
        NumpyRandomState a(0), b(0);
        const double g0 = a.gauss(), g1 = a.gauss();
        check_same({g0, g1}, b.randn(2));
        CHECK(g0 != g1);
    }
}

TEST_CASE("numpy_random: random_sample and the raw MT19937 words") {
    NumpyRandomState rs(1);
    std::vector<double> u;
    for (int i = 0; i < 16; ++i) u.push_back(rs.random_sample());
    check_same(u, fixture("random_sample_seed1.npy").to_vector<double>());
    for (double x : u) CHECK((x >= 0.0 && x < 1.0));

    NumpyRandomState r5(5);
    std::vector<int64_t> raw;
    for (int i = 0; i < 16; ++i) raw.push_back(r5.next_u32());
    const auto expect = fixture("randint_u32_seed5.npy").to_vector<int64_t>();
    CHECK_MESSAGE(first_mismatch(raw, expect) == -1, "first mismatch at " << first_mismatch(raw, expect));

    // the reference MT19937 check value: init_genrand(5489), the 10000th output is 4123659995
    NumpyRandomState ref(5489);
    uint32_t w = 0;
    for (int i = 0; i < 10000; ++i) w = ref.next_u32();
    CHECK(w == 4123659995u);
}
