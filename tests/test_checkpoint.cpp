// Checkpoints: module + optimizer + generator state in safetensors; an interrupted and resumed
// run is bit-identical to an uninterrupted one; damaged or mismatched files are clear errors.
#include "support.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <vkgrad/io/checkpoint.hpp>

using namespace vkgrad;

namespace {

std::string tmp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("vkgrad_ckpt_" + name)).string();
}

/// A small network with dropout (its own generator) trained on data drawn from a generator:
/// every source of state a resumed run must restore.
struct Run {
    Generator init{1}, data{2};
    std::shared_ptr<nn::Linear> l1 = std::make_shared<nn::Linear>(4, 16, init), l2 = std::make_shared<nn::Linear>(16, 2, init);
    std::shared_ptr<nn::Dropout> drop = std::make_shared<nn::Dropout>(0.25, 3);
    nn::Sequential net{{l1, std::make_shared<nn::Tanh>(), drop, l2}};
    optim::Adam opt{std::vector<optim::ParamGroup>{{l1->parameters(), 1e-2}, {l2->parameters(), 3e-3, 1e-3}}};
    optim::StepLR sched{opt, 4, 0.5};
    int64_t step = 0;

    void train(int64_t n) {
        for (int64_t i = 0; i < n; ++i, ++step) {
            const Tensor x = randn({8, 4}, data), y = randn({8, 2}, data);
            opt.zero_grad();
            mean(pow(net(x) - y, 2.0)).backward();
            opt.step();
            sched.step();
        }
    }
    void save(const std::string& path) const {
        io::Checkpoint c;
        c.add("net", net);
        c.add("opt", opt);
        c.add("rng.data", data);
        c.add("rng.dropout", drop->gen);
        c.metadata["step"] = std::to_string(step);
        c.save(path);
    }
    void load(const std::string& path) {
        const auto c = io::Checkpoint::load(path);
        c.restore("net", net);
        c.restore("opt", opt);
        c.restore("rng.data", data);
        c.restore("rng.dropout", drop->gen);
        step = std::stoll(c.metadata.at("step"));
        sched.set_step(step);
    }
};

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}
void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

} // namespace

TEST_CASE("resume is bit-exact: N steps straight == N/2, save, load into fresh objects, N/2") {
    const std::string path = tmp_path("resume.safetensors");
    Run straight;
    straight.train(12);

    {
        Run first;
        first.train(6);
        first.save(path);
    } // the first half is gone; only the file remains
    Run resumed;
    resumed.load(path);
    CHECK(resumed.step == 6);
    resumed.train(6);

    const auto a = straight.net.state_dict(), b = resumed.net.state_dict();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first);
        CHECK(a[i].second.to_vector<float>() == b[i].second.to_vector<float>()); // bitwise, not approximately
    }
    CHECK(straight.opt.groups[1].lr == resumed.opt.groups[1].lr);
    std::remove(path.c_str());
}

TEST_CASE("a failed save leaves the previous checkpoint intact") {
    const std::string path = tmp_path("keep.safetensors");
    Run r;
    r.save(path);
    const std::string before = read_file(path);
    std::filesystem::create_directory(path + ".partial"); // the temporary file cannot be created
    CHECK_THROWS_AS(r.save(path), Error);
    CHECK(read_file(path) == before);
    std::filesystem::remove(path + ".partial");
    std::remove(path.c_str());
}

TEST_CASE("damaged or mismatched checkpoints are clear errors") {
    const std::string path = tmp_path("good.safetensors"), bad = tmp_path("bad.safetensors");
    Run r;
    r.train(2);
    r.save(path);
    const std::string good = read_file(path);

    write_file(bad, good.substr(0, good.size() - 10)); // truncated data
    test::check_error([&] { io::Checkpoint::load(bad); }, {bad.c_str()});
    write_file(bad, good.substr(0, 5)); // shorter than the header length field
    test::check_error([&] { io::Checkpoint::load(bad); }, {bad.c_str()});
    std::string corrupt = good;
    corrupt[8] = '['; // the header is no longer a JSON object
    write_file(bad, corrupt);
    test::check_error([&] { io::Checkpoint::load(bad); }, {bad.c_str()});
    corrupt = good;
    const auto at = corrupt.find("\"F32\"");
    REQUIRE(at != std::string::npos);
    corrupt.replace(at, 5, "\"Q32\""); // unknown dtype
    write_file(bad, corrupt);
    test::check_error([&] { io::Checkpoint::load(bad); }, {bad.c_str(), "Q32"});

    const auto c = io::Checkpoint::load(path);
    { // a different architecture: shapes differ
        Generator g(0);
        nn::Sequential other{{std::make_shared<nn::Linear>(4, 8, g), std::make_shared<nn::Tanh>(),
                              std::make_shared<nn::Dropout>(0.25), std::make_shared<nn::Linear>(8, 2, g)}};
        const auto before = other.state_dict()[0].second.to_vector<float>();
        test::check_error([&] { c.restore("net", other); }, {path.c_str(), "net.0.weight", "[16,4]", "[8,4]"});
        CHECK(other.state_dict()[0].second.to_vector<float>() == before); // untouched
    }
    { // a wrong kind of dtype and a missing tensor
        io::Checkpoint d;
        d.add("net.0.weight", zeros({16, 4}, {DType::i64}));
        d.save(bad);
        test::check_error([&] { io::Checkpoint::load(bad).restore("net", r.net); }, {"net.0.weight", "int64", "float32"});
        test::check_error([&] { io::Checkpoint::load(bad).restore("rng.data", r.data); }, {"no tensor 'rng.data'"});
        test::check_error([&] { io::Checkpoint::load(bad).restore("net.0.weight", r.data); }, {"not a generator state"});
    }
    { // optimizer state that does not fit
        io::Checkpoint d;
        d.add("opt.0.0.exp_avg", zeros({3, 3}));
        d.save(bad);
        test::check_error([&] { io::Checkpoint::load(bad).restore("opt", r.opt); }, {bad.c_str(), "opt", "0.0.exp_avg"});
    }
    test::check_error([&] {
        io::Checkpoint d;
        d.add("x", zeros({1}));
        d.add("x", zeros({1}));
    }, {"'x' was added twice"});
    std::remove(path.c_str());
    std::remove(bad.c_str());
}
