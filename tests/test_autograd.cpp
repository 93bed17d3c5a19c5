// The autograd engine: accumulation, graph shapes, higher order, deep graphs, misuse.
#include "support.hpp"

using namespace vkgrad;
using vkgrad::test::check_error;
using vkgrad::testing::relerr;

TEST_CASE("autograd: gradients accumulate across backward calls and zero_grad-style reset") {
    Tensor x = from_vector<double>({1, 2, 3}, {DType::f64}).requires_grad_();
    sum(x * x).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
    sum(x * x).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 8, 12});
    x.set_grad(Tensor());
    sum(x).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1});
}

TEST_CASE("autograd: a tensor used twice (diamond) sums both paths") {
    Tensor x = full({}, 3.0, {DType::f64}).requires_grad_();
    Tensor y = x * x + exp(x) * x; // dy/dx = 2x + e^x (1 + x)
    y.backward();
    CHECK(x.grad().item() == doctest::Approx(6 + std::exp(3.0) * 4).epsilon(1e-12));
}

TEST_CASE("autograd: no_grad records nothing, detach cuts the graph and shares storage") {
    Tensor x = ones({2, 2}).requires_grad_();
    {
        NoGradGuard ng;
        Tensor y = x * 2.0;
        CHECK_FALSE(y.requires_grad());
        CHECK(y.grad_fn() == nullptr);
    }
    Tensor y = x * 2.0;
    CHECK(y.requires_grad());
    Tensor d = detach(y);
    CHECK_FALSE(d.requires_grad());
    CHECK(d.raw_data() == y.raw_data());
    Tensor z = sum(d * x); // only x contributes
    z.backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 2, 2, 2});
}

TEST_CASE("autograd: create_graph gives differentiable gradients (third derivative of x^4)") {
    Tensor x = full({}, 1.5, {DType::f64}).requires_grad_();
    Tensor y = pow(x, 4.0);
    Tensor g1 = grad({y}, {x}, {}, true)[0];  // 4x^3
    Tensor g2 = grad({g1}, {x}, {}, true)[0]; // 12x^2
    Tensor g3 = grad({g2}, {x})[0];           // 24x
    CHECK(g1.item() == doctest::Approx(4 * 1.5 * 1.5 * 1.5));
    CHECK(g2.item() == doctest::Approx(12 * 1.5 * 1.5));
    CHECK(g3.item() == doctest::Approx(24 * 1.5));
    CHECK_FALSE(g3.requires_grad());
}

TEST_CASE("autograd: R1-style penalty, the gradient of a gradient norm with respect to weights") {
    // D(x) = sum(tanh(x W^T)), penalty = |dD/dx|^2; d penalty / dW by autograd vs differences
    Generator gen(3);
    const Tensor x0 = randn({4, 3}, gen, {DType::f64});
    Tensor w = randn({5, 3}, gen, {DType::f64}).requires_grad_();
    auto penalty = [&](const Tensor& weight) {
        Tensor x = clone(x0).requires_grad_();
        Tensor d = sum(tanh(matmul_t(x, weight, false, true)));
        Tensor gx = grad({d}, {x}, {}, true)[0];
        return sum(gx * gx);
    };
    Tensor gw = grad({penalty(w)}, {w})[0];
    auto r = testing::gradcheck([&](const std::vector<Tensor>& v) { return penalty(v[0]); }, {w});
    CHECK_MESSAGE(r.ok, r.message);
    CHECK(gw.shape() == w.shape());
}

TEST_CASE("autograd: a 100,000-op chain backpropagates and frees without recursion") {
    Tensor x = full({}, 1.0, {DType::f64}).requires_grad_();
    {
        Tensor y = x;
        for (int i = 0; i < 100000; ++i) y = y * 1.00001;
        y.backward();
    } // y's graph is freed here: a recursive destructor would overflow the stack
    CHECK(x.grad().item() == doctest::Approx(std::pow(1.00001, 100000)).epsilon(1e-9));
}

TEST_CASE("autograd: retain_grad keeps the gradient of an intermediate") {
    Tensor x = from_vector<float>({1, 2}).requires_grad_();
    Tensor h = x * 3.0;
    h.retain_grad();
    sum(h * h).backward();
    CHECK(h.grad().to_vector<float>() == std::vector<float>{6, 12});
    CHECK(x.grad().to_vector<float>() == std::vector<float>{18, 36});
}

TEST_CASE("autograd: misuse gives errors naming the op and shapes") {
    Tensor a = ones({2, 3}).requires_grad_();
    check_error([&] { sum(ones({2})).backward(); }, {"backward", "does not require grad"});
    check_error([&] { (a * 2.0).backward(); }, {"backward", "grad_output", "[2,3]"});
    check_error([&] { backward(a * 2.0, ones({3})); }, {"backward", "[3]", "[2,3]"});
    check_error([&] { grad({sum(a)}, {ones({2}).requires_grad_()}); }, {"grad", "not used"});
    check_error([&] { from_vector<int64_t>({1}, {DType::i64}).requires_grad_(); }, {"requires_grad_", "int64"});
    check_error([&] { (a * 2.0).requires_grad_(false); }, {"requires_grad_", "leaf"});
    check_error([&] { Tensor().shape(); }, {"undefined"});
}

TEST_CASE("autograd: an input changed in place after use is detected in backward") {
    Tensor w = ones({3}).requires_grad_();
    Tensor x = ones({3});
    Tensor y = sum(w * x);
    fill_(x, 2.0); // x was saved for d/dw
    check_error([&] { y.backward(); }, {"backward", "mul", "modified in place"});
    check_error([&] { fill_(w, 1.0); }, {"fill_", "requires grad"});
}

TEST_CASE("ops: shape and dtype errors name the op and the shapes") {
    check_error([] { add(ones({2, 3}), ones({4})); }, {"add", "[2,3]", "[4]", "broadcast"});
    check_error([] { matmul(ones({2, 3}), ones({4, 5})); }, {"matmul", "[2,3]", "[4,5]"});
    check_error([] { mul(ones({2}), ones({2}, {DType::f64})); }, {"mul", "float32", "float64"});
    check_error([] { exp(from_vector<int64_t>({1, 2}, {DType::i64})); }, {"exp", "int64"});
    check_error([] { reshape(ones({2, 3}), {4, 2}); }, {"reshape", "[2,3]", "[4,2]"});
    check_error([] { sum(ones({2, 3}), {2}); }, {"sum", "axis 2"});
    check_error([] { concat({ones({2, 3}), ones({3, 3})}, 1); }, {"concat", "[2,3]", "[3,3]"});
    check_error([] { narrow(ones({2, 3}), 1, 2, 2); }, {"narrow", "[2,3]"});
    check_error([] { pad(ones({1, 3}), {3, 0}, PadMode::reflect); }, {"pad", "reflect", "[1,3]"});
    check_error([] { index_select(ones({3}), 0, from_vector<int64_t>({3}, {DType::i64})); },
                {"index_select", "index 3", "out of range"});
    check_error([] { index_select(ones({3}), 0, from_vector<float>({1})); }, {"index_select", "int64"});
    check_error([] { gather(ones({2, 2}), 1, from_vector<int64_t>({0, 1, 0}, {3, 1}, {DType::i64})); },
                {"gather", "[3,1]", "[2,2]"});
    check_error([] { linear(ones({2, 3}), ones({4, 2})); }, {"linear", "[2,3]", "[4,2]"});
    check_error([] { split(ones({5}), std::vector<int64_t>{2, 2}, 0); }, {"split", "add up to 4"});
    check_error([] { var(ones({1}), {}, 1); }, {"var"});
}
