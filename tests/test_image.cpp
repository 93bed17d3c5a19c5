// Image files (PNG, JPEG) in and out, and the image transforms of vkgrad/io/image.hpp.
// Files are written with stb directly where the test must not depend on save_png, and
// broken or hostile files are crafted byte by byte.
#include "support.hpp"

#include <vkgrad/io/image.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

using namespace vkgrad;
using vkgrad::test::check_error;
namespace fs = std::filesystem;

namespace {

fs::path tmpdir() {
    fs::path d = fs::temp_directory_path() / ("vkgrad_image_test_" + std::to_string(std::rand()));
    fs::create_directories(d);
    return d;
}

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

bool has_partial(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".partial") return true;
    return false;
}

// --- a minimal PNG writer, for files stb cannot write (16-bit) or that lie about their size ---
uint32_t crc32(const std::string& s) {
    uint32_t c = 0xffffffffu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}
std::string be32(uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string chunk(const std::string& type, const std::string& data) {
    return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}
std::string png_head(uint32_t w, uint32_t h, int depth, int color) {
    const std::string ihdr = be32(w) + be32(h) + std::string{static_cast<char>(depth), static_cast<char>(color), 0, 0, 0};
    return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr);
}
/// zlib stream of uncompressed ("stored") blocks: valid input for any inflater, no compressor needed.
std::string zlib_stored(const std::string& data) {
    std::string z = "\x78\x01";
    size_t p = 0;
    do {
        const size_t n = std::min<size_t>(65535, data.size() - p);
        const bool last = p + n == data.size();
        z += static_cast<char>(last ? 1 : 0);
        z += {static_cast<char>(n & 0xff), static_cast<char>(n >> 8), static_cast<char>(~n & 0xff),
              static_cast<char>((~n >> 8) & 0xff)};
        z += data.substr(p, n);
        p += n;
    } while (p < data.size());
    uint32_t a = 1, b = 0;
    for (unsigned char c : data) {
        a = (a + c) % 65521;
        b = (b + a) % 65521;
    }
    return z + be32(b << 16 | a);
}
/// A 16-bit RGB PNG of samples in row-major HWC order.
std::string png16(uint32_t w, uint32_t h, const std::vector<uint16_t>& rgb) {
    std::string raw;
    for (uint32_t y = 0; y < h; ++y) {
        raw += '\0'; // filter type None
        for (uint32_t i = 0; i < w * 3; ++i) {
            const uint16_t v = rgb[y * w * 3 + i];
            raw += {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
        }
    }
    return png_head(w, h, 16, 2) + chunk("IDAT", zlib_stored(raw)) + chunk("IEND", "");
}

/// A [1, 3, H, W] tensor whose values are all multiples of 1/255 (every byte value occurs).
Tensor byte_image(int64_t H, int64_t W, io::Range r) {
    std::vector<double> v(static_cast<size_t>(3 * H * W));
    for (size_t i = 0; i < v.size(); ++i) {
        const double k = static_cast<double>((i * 37 + i / 7) % 256);
        v[i] = r == io::Range::unit ? k / 255.0 : (2.0 * k - 255.0) / 255.0;
    }
    return from_vector(v, {1, 3, H, W});
}

/// Exact area-average reference, computed independently of weight matrices: every input
/// pixel is cut into Ho x Wo equal sub-pixels, so each output pixel covers exactly H x W whole
/// sub-pixels, whose plain mean is the area-weighted mean.
std::vector<double> area_brute_force(const std::vector<double>& x, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
    std::vector<double> out(static_cast<size_t>(Ho * Wo), 0.0);
    for (int64_t sy = 0; sy < H * Ho; ++sy)
        for (int64_t sx = 0; sx < W * Wo; ++sx) {
            const double v = x[static_cast<size_t>((sy / Ho) * W + sx / Wo)]; // the input pixel under sub-pixel
            out[static_cast<size_t>((sy / H) * Wo + sx / W)] += v / static_cast<double>(H * W);
        }
    return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    const auto x = a.to_vector<double>(), y = b.to_vector<double>();
    REQUIRE(x.size() == y.size());
    double m = 0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    return m;
}

} // namespace

TEST_CASE("image: PNG round trip is exact for 8-bit values, in both ranges") {
    const fs::path d = tmpdir();
    for (io::Range r : {io::Range::unit, io::Range::symmetric}) {
        INFO("range " << (r == io::Range::unit ? "unit" : "symmetric"));
        const Tensor img = byte_image(17, 23, r);
        const std::string a = (d / "a.png").string(), b = (d / "b.png").string();
        io::save_png(a, img, r);
        const Tensor back = io::load_image(a, r);
        CHECK(back.dtype() == DType::f32);
        CHECK(back.shape() == Shape{1, 3, 17, 23});
        CHECK(back.to_vector<float>() == img.to_vector<float>());
        // what load_image returns saves to the very same bytes
        io::save_png(b, back, r);
        CHECK(read_bytes(a) == read_bytes(b));
        // [3, H, W] and float64 give the same file
        io::save_png(b, to(reshape(img, {3, 17, 23}), DType::f64), r);
        CHECK(read_bytes(a) == read_bytes(b));
    }
    // the two ranges describe the same pixels
    const Tensor u = io::load_image((d / "a.png").string(), io::Range::unit);
    const Tensor s = io::load_image((d / "a.png").string(), io::Range::symmetric);
    CHECK(max_abs_diff(s, u * 2.0 - 1.0) < 1e-6);
    const auto sv = s.to_vector<float>();
    CHECK(*std::min_element(sv.begin(), sv.end()) == -1.0f);
    CHECK(*std::max_element(sv.begin(), sv.end()) == 1.0f);
    fs::remove_all(d);
}

TEST_CASE("image: save_png clamps and rounds to the nearest byte; NaN becomes 0") {
    const fs::path d = tmpdir();
    const std::string p = (d / "x.png").string();
    const double k = 100.0 / 255.0, step = 1.0 / 255.0;
    const std::vector<double> v{-3.0, 7.0, k + 0.49 * step, k + 0.51 * step, k - 0.49 * step, NAN};
    io::save_png(p, from_vector(v, {1, 1, 6}));
    const auto got = io::load_image(p).to_vector<float>(); // gray: channel 0 is enough
    const std::vector<int> expect{0, 255, 100, 101, 100, 0};
    for (size_t i = 0; i < expect.size(); ++i) CHECK(std::lround(got[i] * 255.0) == expect[i]);
    // symmetric: -1 -> 0, 0 -> 128 (127.5 rounds up), 1 -> 255
    io::save_png(p, from_vector(std::vector<double>{-1.0, 0.0, 1.0, -2.0}, {1, 1, 4}), io::Range::symmetric);
    const auto sym = io::load_image(p).to_vector<float>();
    CHECK(std::lround(sym[0] * 255.0) == 0);
    CHECK(std::lround(sym[1] * 255.0) == 128);
    CHECK(std::lround(sym[2] * 255.0) == 255);
    CHECK(std::lround(sym[3] * 255.0) == 0);
    fs::remove_all(d);
}

TEST_CASE("image: gray, gray+alpha and RGBA PNGs load as RGB, alpha dropped") {
    const fs::path d = tmpdir();
    const int W = 5, H = 3;
    // gray via save_png, both gray shapes
    std::vector<double> g(W * H);
    for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<double>(i * 16) / 255.0;
    for (const Shape& s : {Shape{1, H, W}, Shape{1, 1, H, W}}) {
        io::save_png((d / "g.png").string(), from_vector(g, s));
        int w, h, c;
        const std::string bytes = read_bytes(d / "g.png");
        REQUIRE(stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                      &w, &h, &c));
        CHECK(c == 1); // really a gray PNG
        const Tensor img = io::load_image((d / "g.png").string());
        CHECK(img.shape() == Shape{1, 3, H, W});
        for (int64_t ch = 0; ch < 3; ++ch)
            CHECK(max_abs_diff(narrow(img, 1, ch, 1), reshape(from_vector(g, {1, 1, H, W}), {1, 1, H, W})) < 1e-6);
    }
    // gray+alpha and RGBA written by stb directly
    std::vector<unsigned char> ga, rgba;
    for (int i = 0; i < W * H; ++i) {
        ga.insert(ga.end(), {static_cast<unsigned char>(i * 10), static_cast<unsigned char>(255 - i)});
        rgba.insert(rgba.end(), {static_cast<unsigned char>(i), static_cast<unsigned char>(2 * i),
                                 static_cast<unsigned char>(3 * i), static_cast<unsigned char>(i % 2 ? 0 : 255)});
    }
    REQUIRE(stbi_write_png((d / "ga.png").string().c_str(), W, H, 2, ga.data(), W * 2));
    REQUIRE(stbi_write_png((d / "rgba.png").string().c_str(), W, H, 4, rgba.data(), W * 4));
    const auto a = io::load_image((d / "ga.png").string()).to_vector<float>();
    const auto b = io::load_image((d / "rgba.png").string()).to_vector<float>();
    REQUIRE(a.size() == static_cast<size_t>(3 * W * H));
    REQUIRE(b.size() == a.size());
    for (int i = 0; i < W * H; ++i)
        for (int c = 0; c < 3; ++c) {
            CHECK(a[static_cast<size_t>(c * W * H + i)] == static_cast<float>((i * 10) / 255.0));
            CHECK(b[static_cast<size_t>(c * W * H + i)] == static_cast<float>(((c + 1) * i) / 255.0)); // alpha ignored
        }
    fs::remove_all(d);
}

TEST_CASE("image: 16-bit PNGs keep their precision") {
    const fs::path d = tmpdir();
    const std::vector<uint16_t> v{0, 1, 257, 65535, 32768, 1000, 40000, 12345, 65534, 2, 3, 4};
    write_bytes(d / "w.png", png16(2, 2, v));
    const Tensor img = io::load_image((d / "w.png").string());
    CHECK(img.shape() == Shape{1, 3, 2, 2});
    const auto got = img.to_vector<float>();
    for (int i = 0; i < 4; ++i)
        for (int c = 0; c < 3; ++c)
            CHECK(got[static_cast<size_t>(c * 4 + i)] == static_cast<float>(v[static_cast<size_t>(i * 3 + c)] / 65535.0));
    const auto sym = io::load_image((d / "w.png").string(), io::Range::symmetric).to_vector<float>();
    CHECK(sym[0] == -1.0f);
    CHECK(sym[1] == 1.0f); // channel 0 of pixel 1 is 65535
    fs::remove_all(d);
}

TEST_CASE("image: JPEGs load, close to what was encoded") {
    const fs::path d = tmpdir();
    const int W = 32, H = 24;
    std::vector<unsigned char> px;
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) // smooth, so JPEG loses little
            px.insert(px.end(), {static_cast<unsigned char>(40 + 5 * x), static_cast<unsigned char>(60 + 6 * y),
                                 static_cast<unsigned char>(128)});
    REQUIRE(stbi_write_jpg((d / "x.jpg").string().c_str(), W, H, 3, px.data(), 95));
    const Tensor img = io::load_image((d / "x.jpg").string());
    CHECK(img.shape() == Shape{1, 3, H, W});
    const auto got = img.to_vector<float>();
    double worst = 0, total = 0;
    for (int i = 0; i < W * H; ++i)
        for (int c = 0; c < 3; ++c) {
            const double e = std::abs(got[static_cast<size_t>(c * W * H + i)] * 255.0 - px[static_cast<size_t>(i * 3 + c)]);
            worst = std::max(worst, e);
            total += e;
        }
    CHECK(worst < 12.0);
    CHECK(total / (3 * W * H) < 2.0);
    fs::remove_all(d);
}

TEST_CASE("image: missing, empty, non-image, truncated and damaged files give errors naming the file") {
    const fs::path d = tmpdir();
    const std::string missing = (d / "missing.png").string();
    check_error([&] { io::load_image(missing); }, {"load_image", "cannot open", "missing.png"});
    check_error([&] { io::load_image(d.string()); }, {"load_image", "is a directory"});

    write_bytes(d / "empty.png", "");
    check_error([&] { io::load_image((d / "empty.png").string()); }, {"empty.png", "is empty"});
    write_bytes(d / "text.png", "this is not an image, just some text that happens to be long enough\n");
    check_error([&] { io::load_image((d / "text.png").string()); }, {"text.png", "not a PNG or JPEG"});
    // a GIF is a real image, but not one we read
    write_bytes(d / "x.gif", std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14));
    check_error([&] { io::load_image((d / "x.gif").string()); }, {"x.gif", "not a PNG or JPEG"});

    const Tensor img = byte_image(40, 30, io::Range::unit);
    io::save_png((d / "good.png").string(), img);
    const std::string png = read_bytes(d / "good.png");
    write_bytes(d / "half.png", png.substr(0, png.size() / 2));
    check_error([&] { io::load_image((d / "half.png").string()); }, {"half.png", "truncated", "PNG", "stb_image:"});
    write_bytes(d / "head.png", png.substr(0, 20)); // cut inside IHDR
    check_error([&] { io::load_image((d / "head.png").string()); }, {"head.png", "truncated", "PNG"});

    std::vector<unsigned char> px(64 * 48 * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 131) % 251);
    REQUIRE(stbi_write_jpg((d / "good.jpg").string().c_str(), 64, 48, 3, px.data(), 90));
    const std::string jpg = read_bytes(d / "good.jpg");
    write_bytes(d / "half.jpg", jpg.substr(0, jpg.size() / 2));
    check_error([&] { io::load_image((d / "half.jpg").string()); }, {"half.jpg", "truncated", "JPEG", "stb_image:"});
    // the good files still load (the errors above are about the cuts)
    CHECK(io::load_image((d / "good.png").string()).shape() == Shape{1, 3, 40, 30});
    CHECK(io::load_image((d / "good.jpg").string()).shape() == Shape{1, 3, 48, 64});
    fs::remove_all(d);
}

TEST_CASE("image: absurd sizes are refused from the header, before decoding") {
    const fs::path d = tmpdir();
    // A header alone: nothing to decode, so an error about the size proves it was checked first.
    struct Case {
        uint32_t w, h;
        const char* size;
    };
    for (const Case& c : {Case{100000, 100000, "100000x100000"}, // stb itself refuses this header
                          Case{40000, 8, "40000x8"},             // one side too long
                          Case{16384, 16385, "16384x16385"}}) {  // sides fine, too many pixels
        INFO(c.size);
        write_bytes(d / "huge.png", png_head(c.w, c.h, 8, 2) + chunk("IEND", ""));
        check_error([&] { io::load_image((d / "huge.png").string()); },
                    {"huge.png", c.size, "over the limit", "32768", "268435456"});
    }
    // JPEG: a start-of-frame segment claiming 40000 x 50000
    const std::string sof = std::string("\xff\xd8\xff\xc0\x00\x11\x08", 7) + std::string("\xc3\x50\x9c\x40", 4) +
                            std::string("\x03\x01\x11\x00\x02\x11\x00\x03\x11\x00\xff\xd9", 12);
    write_bytes(d / "huge.jpg", sof);
    check_error([&] { io::load_image((d / "huge.jpg").string()); }, {"huge.jpg", "40000x50000", "over the limit"});
    // the largest accepted side passes the size check (and then fails only for lack of data)
    write_bytes(d / "wide.png", png_head(32768, 1, 8, 2) + chunk("IEND", ""));
    check_error([&] { io::load_image((d / "wide.png").string()); }, {"wide.png", "decoding"});
    fs::remove_all(d);
}

TEST_CASE("image: a failed save leaves the old file intact and nothing behind") {
    const fs::path d = tmpdir();
    const std::string p = (d / "keep.png").string();
    io::save_png(p, byte_image(4, 4, io::Range::unit));
    const std::string before = read_bytes(p);
    Generator g(1);
    check_error([&] { io::save_png(p, rand({2, 3, 4, 4}, g)); }, {"save_png", "keep.png", "[2,3,4,4]", "[3,H,W]"});
    check_error([&] { io::save_png(p, rand({4, 5, 6}, g)); }, {"save_png", "[4,5,6]"});
    check_error([&] { io::save_png(p, rand({1, 2, 4, 4}, g)); }, {"save_png", "[1,2,4,4]"});
    check_error([&] { io::save_png(p, rand({4, 4}, g)); }, {"save_png", "[4,4]"});
    check_error([&] { io::save_png(p, zeros({3, 4, 4}, {DType::i64})); }, {"save_png", "float32 or float64", "int64"});
    check_error([&] { io::save_png(p, zeros({3, 0, 4})); }, {"save_png", "0x4"});
    check_error([&] { io::save_grid(p, rand({2, 2, 4, 4}, g)); }, {"save_png", "keep.png"}); // 2 channels
    CHECK(read_bytes(p) == before);
    CHECK_FALSE(has_partial(d));
    // failures in the file system itself: a missing directory, and a directory in the way
    check_error([&] { io::save_png((d / "no_dir" / "x.png").string(), rand({3, 4, 4}, g)); }, {"cannot open", "no_dir"});
    fs::create_directories(d / "taken.png");
    check_error([&] { io::save_png((d / "taken.png").string(), rand({3, 4, 4}, g)); }, {"taken.png"});
    CHECK(fs::is_directory(d / "taken.png"));
    CHECK_FALSE(has_partial(d));
    CHECK(read_bytes(p) == before);
    fs::remove_all(d);
}

TEST_CASE("image: make_grid / save_grid layout") {
    const int64_t H = 4, W = 5;
    Generator g(3);
    const Tensor batch = rand({5, 3, H, W}, g, 0.1, 0.9);
    const Tensor grid = io::make_grid(batch); // 5 images: 3 columns, 2 rows, pad 2
    CHECK(grid.shape() == Shape{3, 2 + 2 * (H + 2), 2 + 3 * (W + 2)});
    for (int64_t n = 0; n < 5; ++n) {
        const int64_t top = 2 + (n / 3) * (H + 2), left = 2 + (n % 3) * (W + 2);
        CHECK(max_abs_diff(narrow(narrow(grid, 1, top, H), 2, left, W), reshape(narrow(batch, 0, n, 1), {3, H, W})) == 0);
    }
    // everything outside the five cells is black: the grid sums to the images' sum
    CHECK(std::abs(sum(grid).item() - sum(batch).item()) < 1e-3);
    CHECK(max_abs_diff(narrow(narrow(grid, 1, 2 + H + 2, H), 2, 2 + 2 * (W + 2), W), zeros({3, H, W})) == 0); // empty cell

    CHECK(io::make_grid(batch, 5, 0).shape() == Shape{3, H, 5 * W});
    CHECK(io::make_grid(batch, 9, 1).shape() == Shape{3, 1 + (H + 1), 1 + 5 * (W + 1)}); // cols capped at N
    CHECK(io::make_grid(batch, 1, 3).shape() == Shape{3, 3 + 5 * (H + 3), 3 + (W + 3)});
    CHECK(io::make_grid(rand({4, 1, H, W}, g)).shape() == Shape{1, 2 + 2 * (H + 2), 2 + 2 * (W + 2)});
    CHECK(io::make_grid(rand({1, 3, H, W}, g)).shape() == Shape{3, H + 4, W + 4});
    // in [-1, 1], black is -1
    const Tensor sg = io::make_grid(batch * 2.0 - 1.0, 0, 2, io::Range::symmetric);
    CHECK(sg.to_vector<double>()[0] == -1.0);

    check_error([&] { io::make_grid(rand({0, 3, H, W}, g)); }, {"make_grid", "N >= 1", "[0,3,4,5]"});
    check_error([&] { io::make_grid(rand({3, H, W}, g)); }, {"make_grid", "[3,4,5]"});
    check_error([&] { io::make_grid(batch, -1); }, {"make_grid", "cols"});
    check_error([&] { io::make_grid(batch, 0, -2); }, {"make_grid", "pad"});

    const fs::path d = tmpdir();
    io::save_grid((d / "grid.png").string(), batch);
    const Tensor back = io::load_image((d / "grid.png").string());
    CHECK(back.shape() == Shape{1, 3, 2 + 2 * (H + 2), 2 + 3 * (W + 2)});
    CHECK(max_abs_diff(back, unsqueeze(grid, 0)) <= 0.5 / 255 + 1e-6);
    // gradients are not needed to save, and must not get in the way
    const Tensor leaf = rand({2, 3, H, W}, g).requires_grad_();
    io::save_grid((d / "grad.png").string(), leaf * 1.0, 2, 1);
    CHECK(io::load_image((d / "grad.png").string()).shape() == Shape{1, 3, 1 + (H + 1), 1 + 2 * (W + 1)});
    CHECK_FALSE(has_partial(d));
    fs::remove_all(d);
}

TEST_CASE("image: area resize equals adaptive_avg_pool2d for integer factors") {
    Generator g(5);
    for (DType t : {DType::f32, DType::f64}) {
        const Tensor x = randn({2, 3, 12, 18}, g, {t});
        for (const auto& hw : {std::pair<int64_t, int64_t>{4, 6}, {6, 9}, {12, 3}, {1, 1}, {12, 18}}) {
            const int64_t h = hw.first, w = hw.second;
            INFO(h << "x" << w);
            const Tensor y = io::resize(x, h, w, io::Resize::area);
            CHECK(y.shape() == Shape{2, 3, h, w});
            CHECK(y.dtype() == t);
            CHECK(max_abs_diff(y, adaptive_avg_pool2d(x, h, w)) < 1e-6);
        }
    }
}

TEST_CASE("image: area resize is the exact area average for non-integer factors") {
    Generator g(6);
    const int64_t H = 10, W = 7;
    const Tensor x = rand({1, 1, H, W}, g, 0.0, 1.0, {DType::f64});
    for (const auto& hw : {std::pair<int64_t, int64_t>{4, 3}, {3, 5}, {7, 2}, {15, 11}}) { // down, mixed, up
        const int64_t h = hw.first, w = hw.second;
        INFO(h << "x" << w);
        const Tensor y = io::resize(x, h, w, io::Resize::area);
        CHECK(y.shape() == Shape{1, 1, h, w});
        const auto ref = area_brute_force(x.to_vector<double>(), H, W, h, w);
        CHECK(max_abs_diff(y, from_vector(ref, {1, 1, h, w}, {DType::f64})) < 1e-12);
        // exact area weighting keeps the mean, whatever the factor
        CHECK(std::abs(mean(y).item() - mean(x).item()) < 1e-12);
    }
    // torch's 'area' (adaptive_avg_pool2d) does not, for this factor: the two really differ
    CHECK(max_abs_diff(io::resize(x, 4, 3, io::Resize::area), adaptive_avg_pool2d(x, 4, 3)) > 1e-3);
    // a constant image stays constant
    CHECK(max_abs_diff(io::resize(full({1, 2, H, W}, 0.25), 3, 4, io::Resize::area), full({1, 2, 3, 4}, 0.25)) < 1e-7);
}

TEST_CASE("image: resize modes, gradients and errors") {
    Generator g(7);
    const Tensor x = rand({2, 3, 9, 11}, g);
    CHECK(max_abs_diff(io::resize(x, 20, 13, io::Resize::bilinear), interpolate(x, 20, 13, Interp::bilinear, false)) == 0);
    CHECK(max_abs_diff(io::resize(x, 20, 13, io::Resize::bicubic), interpolate(x, 20, 13, Interp::bicubic, false)) == 0);
    for (io::Resize m : {io::Resize::bilinear, io::Resize::bicubic, io::Resize::area})
        CHECK(max_abs_diff(io::resize(x, 9, 11, m), x) < 1e-6); // same size: identity

    // area resizing is differentiable: d sum(y) / dx = (h/H) * (w/W) everywhere
    const Tensor leaf = rand({1, 2, 10, 7}, g, 0.0, 1.0, {DType::f64}).requires_grad_();
    sum(io::resize(leaf, 4, 3, io::Resize::area)).backward();
    CHECK(max_abs_diff(leaf.grad(), full({1, 2, 10, 7}, (4.0 / 10) * (3.0 / 7), {DType::f64})) < 1e-12);

    check_error([&] { io::resize(rand({3, 9, 11}, g), 4, 4, io::Resize::area); }, {"resize", "[3,9,11]"});
    check_error([&] { io::resize(zeros({1, 1, 4, 4}, {DType::i64}), 2, 2, io::Resize::area); }, {"resize", "int64"});
    check_error([&] { io::resize(x, 0, 4, io::Resize::bilinear); }, {"resize", "0x4"});
}

TEST_CASE("image: crops and flips") {
    const Tensor x = reshape(arange(2 * 3 * 6 * 7), {2, 3, 6, 7}); // x[n,c,i,j] = ((n*3+c)*6+i)*7+j
    auto at = [](const Tensor& t, int64_t n, int64_t c, int64_t i, int64_t j) {
        return t.to_vector<double>()[static_cast<size_t>(((n * t.size(1) + c) * t.size(2) + i) * t.size(3) + j)];
    };
    // center: margins 6-3=3 and 7-4=3, odd, so the extra row/column is at the bottom/right
    const Tensor c = io::center_crop(x, 3, 4);
    CHECK(c.shape() == Shape{2, 3, 3, 4});
    CHECK(at(c, 0, 0, 0, 0) == at(x, 0, 0, 1, 1));
    CHECK(at(c, 1, 2, 2, 3) == at(x, 1, 2, 3, 4));
    CHECK(io::center_crop(x, 4, 5).to_vector<double>() == narrow(narrow(x, 2, 1, 4), 3, 1, 5).to_vector<double>());
    CHECK(io::center_crop(x, 6, 7).to_vector<double>() == x.to_vector<double>());
    CHECK(io::center_crop(reshape(x, {6, 6, 7}), 2, 2).shape() == Shape{6, 2, 2}); // [C, H, W] works too

    // random: the window lies inside, is the same for every image of the batch, and is reproducible
    Generator g(11), g2(11);
    std::set<std::pair<int64_t, int64_t>> seen;
    for (int k = 0; k < 200; ++k) {
        const Tensor r = io::random_crop(x, 4, 5, g);
        CHECK(r.to_vector<double>() == io::random_crop(x, 4, 5, g2).to_vector<double>());
        REQUIRE(r.shape() == Shape{2, 3, 4, 5});
        const auto top = static_cast<int64_t>(at(r, 0, 0, 0, 0)) / 7, left = static_cast<int64_t>(at(r, 0, 0, 0, 0)) % 7;
        CHECK(r.to_vector<double>() == narrow(narrow(x, 2, top, 4), 3, left, 5).to_vector<double>());
        seen.insert({top, left});
    }
    CHECK(seen.size() == 3 * 3); // every one of the 3 x 3 positions occurs
    CHECK(io::random_crop(x, 6, 7, g).to_vector<double>() == x.to_vector<double>());

    check_error([&] { io::center_crop(x, 7, 4); }, {"center_crop", "7x4", "larger than the image 6x7"});
    check_error([&] { io::random_crop(x, 3, 8, g); }, {"random_crop", "3x8", "larger", "[2,3,6,7]"});
    check_error([&] { io::center_crop(x, 0, 2); }, {"center_crop", "positive"});
    check_error([&] { io::center_crop(arange(5), 1, 1); }, {"center_crop", "[5]"});

    const Tensor h = io::hflip(x), v = io::vflip(x);
    CHECK(at(h, 1, 2, 3, 0) == at(x, 1, 2, 3, 6));
    CHECK(at(v, 1, 2, 0, 4) == at(x, 1, 2, 5, 4));
    CHECK(io::hflip(h).to_vector<double>() == x.to_vector<double>());
    CHECK(io::vflip(v).to_vector<double>() == x.to_vector<double>());
    check_error([&] { io::hflip(arange(3)); }, {"hflip", "[3]"});
}

TEST_CASE("image: a real face photo (../shared/data/faces)") {
    const fs::path faces = fs::path(test::fixtures()) / ".." / ".." / ".." / "shared" / "data" / "faces" / "celebahq";
    std::error_code ec;
    if (!fs::is_directory(faces, ec)) {
        MESSAGE("skipped: ../shared/data absent");
        return;
    }
    std::vector<fs::path> jpgs;
    for (const auto& e : fs::recursive_directory_iterator(faces, ec))
        if (e.path().extension() == ".jpg") jpgs.push_back(e.path());
    REQUIRE_FALSE(jpgs.empty());
    std::sort(jpgs.begin(), jpgs.end());
    const Tensor img = io::load_image(jpgs.front().string());
    CHECK(img.shape() == Shape{1, 3, 1024, 1024}); // README: 1024 x 1024 RGB JPEGs
    const auto v = img.to_vector<float>();
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    CHECK(*lo >= 0.0f);
    CHECK(*hi <= 1.0f);
    CHECK(*hi - *lo > 0.5f); // a photo, not a flat field
    const Tensor sym = io::load_image(jpgs.front().string(), io::Range::symmetric);
    CHECK(max_abs_diff(sym, img * 2.0 - 1.0) < 1e-6);
    // the usual pipeline: downscale, crop, flip, save, read back
    const Tensor small = io::hflip(io::center_crop(io::resize(img, 256, 256, io::Resize::area), 224, 224));
    CHECK(small.shape() == Shape{1, 3, 224, 224});
    // (means in float64: a float32 sum over 3M pixels is itself off by about 1e-3)
    const Tensor img64 = to(img, DType::f64);
    CHECK(std::abs(mean(io::resize(img64, 256, 256, io::Resize::area)).item() - mean(img64).item()) < 1e-12);
    const fs::path d = tmpdir();
    io::save_png((d / "face.png").string(), small);
    CHECK(max_abs_diff(io::load_image((d / "face.png").string()), small) <= 0.5 / 255 + 1e-6);
    fs::remove_all(d);
}
