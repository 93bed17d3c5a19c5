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

namespace {
/// The network of tests/reference/make_misc_fixtures.py (SmallCNN): every image module once.
struct SmallCNN : nn::Module {
    std::shared_ptr<nn::Conv2d> conv1, down, dw;
    std::shared_ptr<nn::BatchNorm2d> bn;
    std::shared_ptr<nn::PReLU> act;
    std::shared_ptr<nn::LayerNorm2d> norm;
    std::shared_ptr<nn::InstanceNorm2d> inorm;
    std::shared_ptr<nn::ConvTranspose2d> up;
    std::shared_ptr<nn::PixelShuffle> shuffle;
    std::shared_ptr<nn::AvgPool2d> pool;
    explicit SmallCNN(Generator& g) {
        conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(3, 8, 3, g, 1, 1, 1, 1, false));
        bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(8));
        act = register_module("act", std::make_shared<nn::PReLU>(8));
        down = register_module("down", std::make_shared<nn::Conv2d>(8, 16, 2, g, 2, 0, 1, 1, false));
        norm = register_module("norm", std::make_shared<nn::LayerNorm2d>(16));
        inorm = register_module("inorm", std::make_shared<nn::InstanceNorm2d>(16, true));
        dw = register_module("dw", std::make_shared<nn::Conv2d>(16, 16, 3, g, 1, 1, 1, 16, false));
        up = register_module("up", std::make_shared<nn::ConvTranspose2d>(16, 8, 2, g, 2));
        shuffle = register_module("shuffle", std::make_shared<nn::PixelShuffle>(2));
        pool = register_module("pool", std::make_shared<nn::AvgPool2d>(2));
    }
    Tensor forward(const Tensor& x) override {
        Tensor h = (*act)((*bn)((*conv1)(x)));
        h = (*dw)((*norm)((*inorm)((*down)(h))));
        return (*pool)((*shuffle)((*up)(h)));
    }
};
} // namespace

TEST_CASE("nn: image modules have PyTorch's state_dict keys and shapes") {
    Generator g(0);
    SmallCNN m(g);
    std::map<std::string, std::string> mine, theirs;
    for (auto& [k, t] : m.state_dict()) mine[k] = to_string(t.shape());
    std::ifstream f(test::fixtures() + "/nn/cnn_state.txt");
    REQUIRE(f.good());
    for (std::string line; std::getline(f, line);) {
        const auto sp = line.find(' ');
        std::string shape = "["; // built step by step: GCC 12 warns falsely on "[" + std::string
        shape += line.substr(sp + 1);
        shape += "]";
        theirs[line.substr(0, sp)] = shape;
    }
    CHECK(mine == theirs);
    CHECK(m.bn->num_batches_tracked.dtype() == DType::i64);
}

TEST_CASE("nn: a CNN of every image module matches PyTorch (deterministic parameters, training mode)") {
    Generator g(0);
    SmallCNN m(g);
    testing::det_init(m, 7, 0.4);
    const std::string d = test::fixtures() + "/nn/";
    const Tensor y = m(io::load_npy(d + "cnn_x.npy"));
    CHECK(relerr(y, io::load_npy(d + "cnn_y.npy")) <= testing::kDeepTol); // 10 layers
    CHECK(relerr(m.bn->running_var, io::load_npy(d + "cnn_running_var.npy")) <= testing::kForwardTol);
    CHECK(m.bn->num_batches_tracked.item() == 1);
    mean(y * y).backward();
    for (const auto& [name, p] : m.named_parameters()) {
        INFO(name);
        CHECK(relerr(p.grad(), io::load_npy(d + "cnn_grad_" + name + ".npy")) <= testing::kDeepTol);
    }
}

TEST_CASE("nn: Conv2d and ConvTranspose2d start from PyTorch's default bounds") {
    Generator g(5);
    nn::Conv2d c(16, 32, 3, g, 1, 1, 1, 2); // fan_in = 16/2 * 9 = 72
    for (float v : c.weight.to_vector<float>()) REQUIRE(std::abs(v) <= 1.0 / std::sqrt(72.0));
    nn::ConvTranspose2d t(16, 8, 4, g, 2, 1); // fan_in (torch: dim 1) = 8 * 16 = 128
    for (float v : t.weight.to_vector<float>()) REQUIRE(std::abs(v) <= 1.0 / std::sqrt(128.0));
    CHECK(t(zeros({1, 16, 5, 5})).shape() == Shape{1, 8, 10, 10});
    check_error([&] { nn::Conv2d(3, 4, 3, g, 1, 0, 1, 2); }, {"Conv2d", "groups 2"});
}
