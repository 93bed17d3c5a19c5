// Tensor creation, views, dtypes and the seeded generator.
#include "support.hpp"

#include <cmath>

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
