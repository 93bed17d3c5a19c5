// .npy reading and writing, including files numpy wrote and files that are broken.
#include "support.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace vkgrad;
using vkgrad::test::check_error;
namespace fs = std::filesystem;

namespace {
std::string npy(const std::string& name) { return test::fixtures() + "/npy/" + name; }
fs::path tmpdir() {
    fs::path d = fs::temp_directory_path() / ("vkgrad_npy_test_" + std::to_string(std::rand()));
    fs::create_directories(d);
    return d;
}
} // namespace

TEST_CASE("npy: every float flavour numpy writes loads to the same values") {
    const Tensor expect = io::load_npy(npy("expect.npy"));
    CHECK(expect.dtype() == DType::f64);
    CHECK(expect.shape() == Shape{2, 3, 4});
    for (const char* f : {"f32.npy", "f16.npy", "f64_big_endian.npy", "f32_fortran.npy", "v2.npy"}) {
        INFO(f);
        const Tensor t = io::load_npy(npy(f));
        CHECK(t.shape() == expect.shape());
        CHECK(to(t, DType::f64).to_vector<double>() == expect.to_vector<double>());
    }
    CHECK(io::load_npy(npy("f16.npy")).dtype() == DType::f32);
    CHECK(io::load_npy(npy("f32.npy"), DType::f64).dtype() == DType::f64);
    const Tensor s = io::load_npy(npy("scalar.npy"));
    CHECK(s.dim() == 0);
    CHECK(s.item() == 2.5);
}

TEST_CASE("npy: integer and bool files load as int64") {
    const auto expect = io::load_npy(npy("int_expect.npy")).to_vector<int64_t>();
    CHECK(io::load_npy(npy("i32.npy")).to_vector<int64_t>() == expect);
    CHECK(io::load_npy(npy("i16_big_endian.npy")).to_vector<int64_t>() == expect);
    const auto u8 = io::load_npy(npy("u8.npy")).to_vector<int64_t>();
    const auto b = io::load_npy(npy("bool.npy")).to_vector<int64_t>();
    for (size_t i = 0; i < expect.size(); ++i) {
        CHECK(u8[i] == ((expect[i] % 7) + 7) % 7);
        CHECK(b[i] == (expect[i] > 0 ? 1 : 0));
    }
}

TEST_CASE("npy: save and load round trip, written atomically") {
    const fs::path d = tmpdir();
    Generator g(2);
    for (DType t : {DType::f32, DType::f64}) {
        const Tensor x = randn({3, 1, 5}, g, {t});
        io::save_npy((d / "x.npy").string(), x);
        const Tensor y = io::load_npy((d / "x.npy").string());
        CHECK(y.dtype() == t);
        CHECK(y.shape() == x.shape());
        CHECK(testing::relerr(y, x) == 0.0);
    }
    const Tensor i = from_vector<int64_t>({-3, 7}, {DType::i64});
    io::save_npy((d / "i.npy").string(), i);
    CHECK(io::load_npy((d / "i.npy").string()).to_vector<int64_t>() == std::vector<int64_t>{-3, 7});
    io::save_npy((d / "s.npy").string(), full({}, 4.0));
    CHECK(io::load_npy((d / "s.npy").string()).item() == 4.0);
    // a failed save leaves nothing behind under the target name or beside it
    check_error([&] { io::save_npy((d / "missing_dir" / "x.npy").string(), i); }, {"cannot open", "missing_dir"});
    CHECK_FALSE(fs::exists(d / "missing_dir"));
    fs::remove_all(d);
}

TEST_CASE("npy: damaged and unsupported files give errors naming the file") {
    const fs::path d = tmpdir();
    const std::string good = npy("f32.npy");
    const auto size = fs::file_size(good);
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto write = [&](const std::string& name, const std::string& content) {
        std::ofstream(d / name, std::ios::binary) << content;
        return (d / name).string();
    };
    const std::string truncated = write("truncated.npy", bytes.substr(0, size - 10));
    check_error([&] { io::load_npy(truncated); }, {"load_npy", "truncated.npy", "truncated", "needs 96 bytes"});
    const std::string header_cut = write("header_cut.npy", bytes.substr(0, 30));
    check_error([&] { io::load_npy(header_cut); }, {"load_npy", "header_cut.npy", "truncated"});
    const std::string not_npy = write("not.npy", "PK\x03\x04 this is a zip");
    check_error([&] { io::load_npy(not_npy); }, {"load_npy", "not.npy", "magic"});
    check_error([&] { io::load_npy(npy("complex.npy")); }, {"load_npy", "complex.npy", "unsupported dtype", "<c8"});
    check_error([&] { io::load_npy((d / "nope.npy").string()); }, {"cannot open", "nope.npy"});
    std::string bad_shape = bytes;
    bad_shape.replace(bad_shape.find("(2, 3, 4)"), 9, "(2, x, 4)");
    const std::string bs = write("bad_shape.npy", bad_shape);
    check_error([&] { io::load_npy(bs); }, {"load_npy", "bad_shape.npy", "shape"});
    fs::remove_all(d);
}
