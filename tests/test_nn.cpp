// Modules: PyTorch names and initialisation, state dicts, and an MLP against PyTorch with
// deterministic parameters (whose generator must match the Python twin bit for bit).
#include "support.hpp"

#include <fstream>
#include <sstream>

#include <vkgrad/testing/detparam.hpp>

using namespace vkgrad;
using vkgrad::test::check_error;
using vkgrad::testing::relerr;

namespace {
std::shared_ptr<nn::Sequential> make_mlp(Generator& g) {
    return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(4, 8, g), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(8, 8, g),
        std::make_shared<nn::GELU>(), std::make_shared<nn::Linear>(8, 3, g)});
}
} // namespace

TEST_CASE("detparam: C++ and Python generate identical values, bit for bit") {
    std::ifstream f(test::fixtures() + "/detparam/cases.txt");
    REQUIRE(f.good());
    int i = 0;
    for (std::string line; std::getline(f, line); ++i) {
        std::stringstream ss(line);
        uint64_t seed;
        int64_t n;
        double a;
        std::string name;
        ss >> seed >> n >> a >> name;
        if (name == "-") name.clear();
        INFO("case " << i << " name '" << name << "'");
        const std::string base = test::fixtures() + "/detparam/case" + std::to_string(i);
        const auto ref64 = io::load_npy(base + "_f64.npy").to_vector<double>();
        const auto ref32 = io::load_npy(base + "_f32.npy").to_vector<float>();
        REQUIRE(static_cast<int64_t>(ref64.size()) == n);
        CHECK(testing::det_tensor({n}, seed, name, a, DType::f64).to_vector<double>() == ref64);
        CHECK(testing::det_tensor({n}, seed, name, a).to_vector<float>() == ref32);
    }
    CHECK(i == 4);
}

TEST_CASE("nn: named_parameters uses PyTorch's dotted names and shapes") {
    Generator g(0);
    auto m = make_mlp(g);
    std::ifstream f(test::fixtures() + "/nn/mlp_names.txt");
    REQUIRE(f.good());
    const auto params = m->named_parameters();
    size_t k = 0;
    for (std::string name, shape; f >> name >> shape; ++k) {
        REQUIRE(k < params.size());
        CHECK(params[k].first == name);
        CHECK(to_string(params[k].second.shape()) == "[" + shape + "]");
    }
    CHECK(k == params.size());
}

TEST_CASE("nn: MLP with deterministic parameters matches PyTorch, forward and parameter gradients") {
    Generator g(0);
    auto m = make_mlp(g);
    testing::det_init(*m, 42, 0.5);
    const std::string d = test::fixtures() + "/nn/";
    const Tensor y = (*m)(io::load_npy(d + "mlp_x.npy"));
    CHECK(relerr(y, io::load_npy(d + "mlp_y.npy")) <= testing::kForwardTol);
    mean(y * y).backward();
    for (const auto& [name, p] : m->named_parameters()) {
        INFO(name);
        CHECK(relerr(p.grad(), io::load_npy(d + "mlp_grad_" + name + ".npy")) <= testing::kGradTol);
    }
}

TEST_CASE("nn: Linear starts from PyTorch's default distribution") {
    Generator g(11);
    nn::Linear lin(400, 300, g);
    const double bound = 1.0 / 20.0; // 1/sqrt(in)
    double s2 = 0;
    for (float v : lin.weight.to_vector<float>()) {
        REQUIRE(std::abs(v) <= bound);
        s2 += double(v) * v;
    }
    CHECK(s2 / 120000 == doctest::Approx(bound * bound / 3).epsilon(0.02)); // var of U(-b, b)
    for (float v : lin.bias.to_vector<float>()) REQUIRE(std::abs(v) <= bound);
    nn::Linear nobias(3, 2, g, false);
    CHECK(nobias.named_parameters().size() == 1);
    CHECK(nobias(ones({5, 3})).shape() == Shape{5, 2});
    check_error([&] { nn::Linear(0, 2, g); }, {"Linear"});
}

TEST_CASE("nn: state dicts load in place with checked keys and shapes; train/eval propagate") {
    Generator g(0);
    auto a = make_mlp(g), b = make_mlp(g);
    std::map<std::string, Tensor> sd;
    for (auto& [k, t] : a->state_dict()) sd[k] = t;
    const float* before = static_cast<const float*>(b->named_parameters()[0].second.raw_data());
    b->load_state_dict(sd);
    CHECK(b->named_parameters()[0].second.raw_data() == before); // same tensors, new values
    CHECK(testing::relerr(b->named_parameters()[0].second, a->named_parameters()[0].second) == 0);
    auto missing = sd;
    missing.erase("2.bias");
    check_error([&] { b->load_state_dict(missing); }, {"load_state_dict", "missing key '2.bias'"});
    b->load_state_dict(missing, false);
    auto extra = sd;
    extra["5.weight"] = ones({1});
    check_error([&] { b->load_state_dict(extra); }, {"load_state_dict", "unexpected key '5.weight'"});
    auto wrong = sd;
    wrong["0.weight"] = ones({4, 8});
    check_error([&] { b->load_state_dict(wrong); }, {"load_state_dict", "0.weight", "[4,8]", "[8,4]"});
    b->eval();
    CHECK_FALSE((*b)[0].is_training());
    b->train();
    CHECK((*b)[4].is_training());
    nn::Module plain;
    check_error([&] { plain(ones({1})); }, {"single-tensor forward"});
}
