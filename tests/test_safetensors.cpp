// The strict JSON parser/writer and safetensors reading and writing, including broken files.
#include "support.hpp"

#include <vkgrad/io/json.hpp>
#include <vkgrad/io/safetensors.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace vkgrad;
using vkgrad::io::Json;
using vkgrad::io::parse_json;
using vkgrad::test::check_error;
namespace fs = std::filesystem;

namespace {
fs::path tmpdir() {
    fs::path d = fs::temp_directory_path() / ("vkgrad_st_test_" + std::to_string(std::rand()));
    fs::create_directories(d);
    return d;
}
std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
std::string write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
}
std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int k = 0; k < 8; ++k) s[static_cast<size_t>(k)] = static_cast<char>(v >> (8 * k) & 0xff);
    return s;
}
/// A safetensors file from a header text and a data area, the header length written as given.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
    return le64(header.size()) + header + data;
}
bool same_bits(const Tensor& a, const Tensor& b) {
    return a.dtype() == b.dtype() && a.shape() == b.shape() &&
           (a.numel() == 0 ||
            std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0);
}
} // namespace

TEST_CASE("json: values, key order and exact integers") {
    const Json v = parse_json(" {\"z\": [1, -2.5, true, false, null, \"x\"], \"a\": {}, \"m\": [] } ", "t.json");
    REQUIRE(v.is(Json::Type::object));
    const auto& o = v.as_object();
    REQUIRE(o.size() == 3);
    CHECK(o[0].first == "z"); // file order, not sorted
    CHECK(o[1].first == "a");
    const auto& z = v.find("z")->as_array();
    CHECK(z[0].as_int64() == 1);
    CHECK(z[1].as_double() == -2.5);
    CHECK_FALSE(z[1].is_int64());
    CHECK(z[2].as_bool());
    CHECK_FALSE(z[3].as_bool());
    CHECK(z[4].is(Json::Type::null));
    CHECK(z[5].as_string() == "x");
    CHECK(v.find("missing") == nullptr);
    check_error([&] { (void)z[5].as_int64(); }, {"expected an integer", "got string"});

    // integers beyond 2^53 keep their exact value
    const Json big = parse_json("[9007199254740993, 18446744073709551615, -9223372036854775808, "
                                "18446744073709551616, 1e3, -0, 12345678901234567890]",
                                "big.json");
    const auto& b = big.as_array();
    CHECK(b[0].as_int64() == 9007199254740993LL);
    CHECK(b[0].as_uint64() == 9007199254740993ULL);
    CHECK(b[1].as_uint64() == 18446744073709551615ULL);
    CHECK_FALSE(b[1].is_int64());
    CHECK(b[2].as_int64() == std::numeric_limits<int64_t>::min());
    CHECK_FALSE(b[2].is_uint64());
    CHECK_FALSE(b[3].is_uint64()); // beyond uint64: a double only
    CHECK(b[3].as_double() == 18446744073709551616.0);
    CHECK_FALSE(b[4].is_int64()); // an exponent makes it a non-integer literal
    CHECK(b[4].as_double() == 1000.0);
    CHECK(b[5].as_uint64() == 0);
    CHECK(b[6].as_uint64() == 12345678901234567890ULL);
    CHECK(big.dump() == "[9007199254740993,18446744073709551615,-9223372036854775808,18446744073709551616,"
                        "1000,0,12345678901234567890]");
}

TEST_CASE("json: string escapes, surrogate pairs and UTF-8") {
    CHECK(parse_json(R"("\"\\\/\b\f\n\r\t")", "s").as_string() == "\"\\/\b\f\n\r\t");
    CHECK(parse_json(R"("\u0041\u00e9\u20AC")", "s").as_string() == "A\xC3\xA9\xE2\x82\xAC");
    CHECK(parse_json(R"("\ud83d\ude00!")", "s").as_string() == "\xF0\x9F\x98\x80!"); // U+1F600
    CHECK(parse_json("\"\xC3\xA9\xF0\x9F\x98\x80\"", "s").as_string() == "\xC3\xA9\xF0\x9F\x98\x80");
    CHECK(parse_json(R"("\u0000")", "s").as_string() == std::string(1, '\0'));
    check_error([] { parse_json(R"("\ud83d")", "s.json"); }, {"s.json", "high surrogate", "at byte 1"});
    check_error([] { parse_json(R"("\ud83d\u0041")", "s.json"); }, {"not followed by a low one"});
    check_error([] { parse_json(R"("\ude00")", "s.json"); }, {"lone low surrogate"});
    check_error([] { parse_json(R"("\x")", "s.json"); }, {"invalid escape", "at byte 1"});
    check_error([] { parse_json(R"("\u12G4")", "s.json"); }, {"four hex digits"});
    check_error([] { parse_json("\"a\nb\"", "s.json"); }, {"control character", "at byte 2"});
    check_error([] { parse_json("\"\xFF\"", "s.json"); }, {"invalid UTF-8", "at byte 1"});
    check_error([] { parse_json("\"\xC0\xAF\"", "s.json"); }, {"invalid UTF-8"});     // overlong '/'
    check_error([] { parse_json("\"\xED\xA0\x80\"", "s.json"); }, {"invalid UTF-8"}); // encoded surrogate
    check_error([] { parse_json("\"abc", "s.json"); }, {"unterminated string"});

    // the writer escapes what must be escaped and round-trips through the parser
    const std::string nasty = std::string("q\"b\\s/\n\r\t\b\f") + '\x01' + '\x1f' + "\xC3\xA9" + '\0';
    const Json o(Json::Object{{nasty, nasty}, {"n", Json::Array{Json(), true, 0.1, -7, 2.5e-8}}});
    const std::string text = o.dump();
    CHECK(text == "{\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\xC3\xA9\\u0000\":\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001"
                  "\\u001f\xC3\xA9\\u0000\",\"n\":[null,true,0.1,-7,2.5e-08]}");
    const Json back = parse_json(text, "dump");
    CHECK(back.as_object()[0].first == nasty);
    CHECK(back.find("n")->as_array()[2].as_double() == 0.1);
    CHECK(back.dump() == text);
    check_error([] { (void)Json(std::nan("")).dump(); }, {"NaN or infinity"});
    check_error([] { (void)Json("\xFF").dump(); }, {"not valid UTF-8"});
}

TEST_CASE("json: strict syntax, depth limit, duplicate keys, errors name the input and the offset") {
    std::string deep_ok(64, '['), deep_bad(65, '[');
    deep_ok += std::string(64, ']');
    deep_bad += std::string(65, ']');
    CHECK(parse_json(deep_ok, "d").is(Json::Type::array));
    check_error([&] { parse_json(deep_bad, "deep.json"); }, {"deep.json", "nesting deeper than 64", "at byte 64"});

    check_error([] { parse_json("{} x", "cfg.json"); }, {"parse_json", "cfg.json", "unexpected text", "at byte 3"});
    check_error([] { parse_json("[1,]", "cfg.json"); }, {"trailing comma", "at byte 3"});
    check_error([] { parse_json("{\"a\":1,}", "cfg.json"); }, {"trailing comma"});
    check_error([] { parse_json("{\"a\":1,\"a\":2}", "cfg.json"); }, {"cfg.json", "duplicate key \"a\"", "at byte 7"});
    check_error([] { parse_json("[1] // c", "cfg.json"); }, {"unexpected text"});
    check_error([] { parse_json("/* c */ 1", "cfg.json"); }, {"unexpected character"});
    check_error([] { parse_json("", "cfg.json"); }, {"unexpected end of input"});
    check_error([] { parse_json("[1, 2", "cfg.json"); }, {"unexpected end of input"});
    check_error([] { parse_json("{\"a\" 1}", "cfg.json"); }, {"expected ':'"});
    check_error([] { parse_json("{a:1}", "cfg.json"); }, {"expected a string key"});
    check_error([] { parse_json("[01]", "cfg.json"); }, {"leading zeros"});
    check_error([] { parse_json("[1.]", "cfg.json"); }, {"decimal point"});
    check_error([] { parse_json("[.5]", "cfg.json"); }, {"unexpected character"});
    check_error([] { parse_json("[+1]", "cfg.json"); }, {"unexpected character"});
    check_error([] { parse_json("[1e]", "cfg.json"); }, {"exponent"});
    check_error([] { parse_json("[-]", "cfg.json"); }, {"needs digits"});
    check_error([] { parse_json("[NaN]", "cfg.json"); }, {"unexpected character"});
    check_error([] { parse_json("[tru]", "cfg.json"); }, {"invalid literal"});
    check_error([] { parse_json("[1e999]", "cfg.json"); }, {"too large"});
    check_error([] { parse_json("[1\x0b]", "cfg.json"); }, {"expected ','"}); // vertical tab is no JSON space
    CHECK(parse_json(" \t\r\n[ 1 ,\n2 ] \n", "ws").as_array().size() == 2);
}

TEST_CASE("safetensors: round trip of every dtype, scalars, empty tensors and metadata, bit-exact") {
    const fs::path d = tmpdir();
    const std::string path = (d / "model.safetensors").string();
    Generator g(5);
    Tensor f32 = randn({3, 4}, g);
    f32.data<float>()[0] = -0.0f;
    f32.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
    f32.data<float>()[2] = std::numeric_limits<float>::denorm_min();
    const Tensor f64 = randn({2, 1, 3}, g, {DType::f64});
    const Tensor i64 = from_vector<int64_t>({std::numeric_limits<int64_t>::min(), -1, 0, int64_t(1) << 40,
                                             std::numeric_limits<int64_t>::max()},
                                            {DType::i64});
    const Tensor scalar = full({}, 2.5);
    const Tensor empty = zeros({0, 3}, {DType::f64});
    const std::vector<std::pair<std::string, Tensor>> in = {
        {"w.f32", f32}, {"b.f64", f64}, {"idx", i64}, {"s", scalar}, {"empty", empty}, {"caf\xC3\xA9", full({1}, 7.0)}};
    const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "line\n\"quoted\""}, {"step", "7"}};
    io::save_safetensors(path, in, meta);

    const io::SafetensorsFile f = io::load_safetensors(path);
    REQUIRE(f.tensors.size() == in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        INFO(in[i].first);
        CHECK(f.tensors[i].first == in[i].first); // order kept
        CHECK(same_bits(f.tensors[i].second, in[i].second));
    }
    CHECK(f.metadata == meta);
    CHECK(f.at("s").dim() == 0);
    CHECK(f.at("s").item() == 2.5);
    CHECK(f.at("empty").shape() == Shape{0, 3});
    CHECK(f.contains("idx"));
    CHECK_FALSE(f.contains("nope"));
    check_error([&] { (void)f.at("nope"); }, {"SafetensorsFile::at", "no tensor 'nope'", "model.safetensors", "w.f32"});

    // no metadata, no tensors: still a valid file
    io::save_safetensors(path, {});
    const auto none = io::load_safetensors(path);
    CHECK(none.tensors.empty());
    CHECK(none.metadata.empty());
    fs::remove_all(d);
}

TEST_CASE("safetensors: the header is padded so the data area starts at a multiple of 8") {
    const fs::path d = tmpdir();
    const fs::path p = d / "pad.safetensors";
    for (int64_t n = 1; n <= 9; ++n) {
        const std::string name(static_cast<size_t>(n), 'x'); // varies the header length
        io::save_safetensors(p.string(), {{name, arange(n)}}, {{"k", std::string(static_cast<size_t>(n), 'v')}});
        const std::string bytes = read_bytes(p);
        uint64_t len = 0;
        for (int k = 7; k >= 0; --k) len = len << 8 | static_cast<unsigned char>(bytes[static_cast<size_t>(k)]);
        CHECK(len % 8 == 0);
        CHECK(bytes.size() == 8 + len + 4 * static_cast<uint64_t>(n));
        const std::string header = bytes.substr(8, len);
        CHECK(header.front() == '{');
        CHECK(header.find_last_not_of(' ') == header.rfind('}'));
        const Json h = parse_json(header, "pad");
        CHECK(h.as_object()[0].first == "__metadata__");
        CHECK(h.find(name)->find("dtype")->as_string() == "F32");
        CHECK(h.find(name)->find("data_offsets")->dump() == "[0," + std::to_string(4 * n) + "]");
    }
    fs::remove_all(d);
}

TEST_CASE("safetensors: F16, BF16 and narrow integer dtypes decode to known values") {
    const fs::path d = tmpdir();
    auto u16s = [](std::initializer_list<uint16_t> v) {
        std::string s;
        for (uint16_t x : v) s += {static_cast<char>(x & 0xff), static_cast<char>(x >> 8)};
        return s;
    };
    std::string data = u16s({0x3C00, 0xC000, 0x3555, 0x0001, 0x7C00, 0x8000}); // F16   [0,12)
    data += u16s({0x3F80, 0xC040, 0x4049, 0xFF80});                            // BF16  [12,20)
    data += std::string("\x01\x00\x00\x80\xFF\xFF\xFF\xFF", 8);                 // I32   [20,28)
    data += u16s({0x8000, 0x7FFF});                                            // I16   [28,32)
    data += std::string("\x80\x7F\xFF", 3);                                     // I8    [32,35)
    data += std::string("\xFF\x00", 2);                                         // U8    [35,37)
    data += std::string("\x00\x01\x02", 3);                                     // BOOL  [37,40)
    data += u16s({0xFFFF});                                                    // U16   [40,42)
    data += std::string("\xFF\xFF\xFF\xFF", 4);                                 // U32   [42,46)
    const std::string header =
        R"({"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
        R"("bf":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]},)"
        R"("i32":{"dtype":"I32","shape":[2],"data_offsets":[20,28]},)"
        R"("i16":{"dtype":"I16","shape":[2],"data_offsets":[28,32]},)"
        R"("i8":{"dtype":"I8","shape":[3],"data_offsets":[32,35]},)"
        R"("u8":{"dtype":"U8","shape":[2],"data_offsets":[35,37]},)"
        R"("b":{"dtype":"BOOL","shape":[3],"data_offsets":[37,40]},)"
        R"("u16":{"dtype":"U16","shape":[],"data_offsets":[40,42]},)"
        R"("u32":{"dtype":"U32","shape":[1],"data_offsets":[42,46]}})";
    const auto f = io::load_safetensors(write_bytes(d / "narrow.safetensors", safetensors_bytes(header, data)));
    const float inf = std::numeric_limits<float>::infinity();
    CHECK(f.at("h").dtype() == DType::f32);
    CHECK(f.at("h").shape() == Shape{2, 3});
    CHECK(f.at("h").to_vector<float>() == std::vector<float>{1.0f, -2.0f, 0.333251953125f, std::ldexp(1.0f, -24), inf, -0.0f});
    CHECK(std::signbit(f.at("h").to_vector<float>()[5]));
    CHECK(f.at("bf").dtype() == DType::f32);
    CHECK(f.at("bf").to_vector<float>() == std::vector<float>{1.0f, -3.0f, 3.140625f, -inf});
    CHECK(f.at("i32").dtype() == DType::i64);
    CHECK(f.at("i32").to_vector<int64_t>() == std::vector<int64_t>{-2147483647, -1});
    CHECK(f.at("i16").to_vector<int64_t>() == std::vector<int64_t>{-32768, 32767});
    CHECK(f.at("i8").to_vector<int64_t>() == std::vector<int64_t>{-128, 127, -1});
    CHECK(f.at("u8").to_vector<int64_t>() == std::vector<int64_t>{255, 0});
    CHECK(f.at("b").to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1});
    CHECK(f.at("u16").dim() == 0);
    CHECK(f.at("u16").item() == 65535);
    CHECK(f.at("u32").to_vector<int64_t>() == std::vector<int64_t>{4294967295LL});
    fs::remove_all(d);
}

TEST_CASE("float_to_half: every float16 round-trips, halfway values round to even, overflow is infinity") {
    using io::detail::float_to_half;
    using io::detail::half_to_float;
    int wrong = 0;
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) { // NaN stays NaN (quiet)
            wrong += !std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN())));
            continue;
        }
        const float v = half_to_float(static_cast<uint16_t>(h));
        wrong += float_to_half(v) != h;
        // Between h and the next half of the same sign: the exact midpoint goes to the even one,
        // one float32 step either side to the nearer one.
        const uint32_t next = h + 1;
        if ((h & 0x7fff) >= 0x7bff) continue; // 65504 and infinity: no finite next
        const float w = half_to_float(static_cast<uint16_t>(next)), mid = (v + w) / 2; // exact in float32
        const uint16_t even = (h & 1) ? static_cast<uint16_t>(next) : static_cast<uint16_t>(h);
        wrong += float_to_half(mid) != even;
        wrong += float_to_half(std::nextafter(mid, v)) != h;
        wrong += float_to_half(std::nextafter(mid, w)) != next;
    }
    CHECK(wrong == 0);
    CHECK(float_to_half(65519.996f) == 0x7bff);     // rounds down to 65504
    CHECK(float_to_half(65520.0f) == 0x7c00);       // halfway to 65536: even is 2^16, infinity
    CHECK(float_to_half(-1e30f) == 0xfc00);
    CHECK(float_to_half(std::ldexp(1.0f, -26)) == 0); // a quarter of the smallest subnormal
    CHECK(float_to_half(std::ldexp(3.0f, -26)) == 1); // three quarters of it
}

TEST_CASE("safetensors: Float32As::f16 stores float32 tensors as F16, leaves others, refuses what does not fit") {
    const fs::path d = tmpdir();
    const fs::path p = d / "half.safetensors";
    const Tensor w = from_vector<float>({0.1f, -2.5f, 1e-6f, 65504.0f, 3.14159265f, 0.0f}, {2, 3});
    const Tensor e = from_vector<double>({0.1}, {DType::f64}), i = from_vector<int64_t>({7}, {DType::i64});
    io::save_safetensors(p.string(), {{"w", w}, {"e", e}, {"i", i}}, {{"k", "v"}}, io::Float32As::f16);
    const auto f = io::load_safetensors(p.string());
    const std::string bytes = read_bytes(p);
    CHECK(bytes.find(R"("w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]})") != std::string::npos);
    std::vector<float> want;
    for (float v : w.to_vector<float>()) want.push_back(io::detail::half_to_float(io::detail::float_to_half(v)));
    CHECK(f.at("w").to_vector<float>() == want);
    CHECK(want[0] != 0.1f); // it was rounded
    CHECK(same_bits(f.at("e"), e));
    CHECK(same_bits(f.at("i"), i));
    CHECK(f.metadata.at("k") == "v");
    const std::string before = read_bytes(p);
    check_error([&] { io::save_safetensors(p.string(), {{"big", from_vector<float>({1, 70000})}}, {}, io::Float32As::f16); },
                {"save_safetensors", "half.safetensors", "tensor 'big'", "element 1", "float16"});
    check_error([&] { io::save_safetensors(p.string(), {{"n", from_vector<float>({NAN})}}, {}, io::Float32As::f16); },
                {"tensor 'n'", "not finite"});
    CHECK(read_bytes(p) == before);
    fs::remove_all(d);
}

TEST_CASE("safetensors: damaged files give errors naming the file and the problem") {
    const fs::path d = tmpdir();
    // a good file to cut up: one F32 tensor [2] and one I64 tensor [1] -> 16 data bytes
    const std::string good_path = (d / "good.safetensors").string();
    io::save_safetensors(good_path, {{"a", from_vector<float>({1, 2})}, {"b", from_vector<int64_t>({3}, {DType::i64})}});
    const std::string good = read_bytes(good_path);
    uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = n << 8 | static_cast<unsigned char>(good[static_cast<size_t>(k)]);
    REQUIRE(good.size() == 8 + n + 16);

    auto expect = [&](const std::string& name, const std::string& bytes, std::initializer_list<const char*> parts) {
        INFO(name);
        const std::string p = write_bytes(d / name, bytes);
        check_error([&] { io::load_safetensors(p); }, {"load_safetensors", name.c_str()});
        check_error([&] { io::load_safetensors(p); }, parts);
    };
    // truncation
    expect("short.st", "abc", {"truncated", "3 bytes"});
    expect("empty.st", "", {"truncated", "0 bytes"});
    expect("cut_header.st", good.substr(0, 8 + n / 2), {"truncated", "header length is", "bytes follow"});
    expect("cut_data.st", good.substr(0, good.size() - 4), {"tensor 'b'", "past the end of the data area (12 bytes)", "truncated"});
    expect("extra_data.st", good + "xxxx", {"unused bytes at its end", "cover 16 bytes", "has 20"});
    // header length
    expect("huge_len.st", le64(uint64_t(1) << 40) + good.substr(8), {"header length 1099511627776", "exceeds the limit"});
    expect("zero_len.st", le64(0) + good.substr(8), {"header length is 0"});
    expect("all_ff.st", std::string(16, '\xFF'), {"exceeds the limit"});
    // JSON and structure
    const std::string t4 = std::string("\0\0\x80\x3F", 4);
    expect("bad_json.st", safetensors_bytes(R"({"a":{"dtype":"F32",}})", t4), {"not valid JSON", "trailing comma", "header byte 20", "file byte 28"});
    expect("dup_key.st", safetensors_bytes(R"({"a":1,"a":2})", ""), {"not valid JSON", "duplicate key"});
    expect("not_utf8.st", safetensors_bytes("{\"\xFF\":1}", ""), {"not valid JSON", "UTF-8"});
    expect("array.st", safetensors_bytes("[1,2]", ""), {"not a JSON object"});
    expect("entry.st", safetensors_bytes(R"({"a":3})", ""), {"tensor 'a'", "not an object"});
    expect("missing.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1]}})", t4), {"tensor 'a'", "missing field 'data_offsets'"});
    expect("extra_field.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", t4),
           {"tensor 'a'", "unexpected field 'x'"});
    // dtype and shape
    expect("dtype.st", safetensors_bytes(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,4]}})", t4),
           {"tensor 'a'", "unsupported dtype 'C64'"});
    expect("dtype_num.st", safetensors_bytes(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", t4), {"dtype is not a string"});
    expect("neg_shape.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", t4),
           {"tensor 'a'", "shape [-1]", "non-negative integers"});
    expect("float_shape.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", t4), {"non-negative integers"});
    expect("shape_obj.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":{},"data_offsets":[0,4]}})", t4), {"shape is not an array"});
    expect("overflow.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", ""),
           {"too many elements"});
    expect("size.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", t4 + t4),
           {"tensor 'a'", "hold 8 bytes", "shape [3] of F32 needs 12"});
    // offsets
    expect("off_range.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", t4 + t4),
           {"tensor 'a'", "data_offsets [0,16]", "past the end of the data area (8 bytes)"});
    expect("off_huge.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})", t4),
           {"past the end"});
    expect("off_order.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", t4), {"begin after they end"});
    expect("off_type.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}})", t4), {"not a pair"});
    expect("off_three.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}})", t4), {"not a pair"});
    expect("off_neg.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", t4), {"not a pair"});
    expect("gap.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", t4 + t4 + t4),
           {"tensor 'b'", "gap of 4 unused bytes", "after tensor 'a'"});
    expect("overlap.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", t4 + t4),
           {"tensor 'b'", "data_offsets [4,8]", "overlaps tensor 'a'"});
    expect("same_range.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", t4),
           {"overlaps tensor"});
    expect("not_zero.st", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", t4 + t4),
           {"tensor 'a'", "gap of 4", "offsets must start at 0"});
    // metadata
    expect("meta_value.st", safetensors_bytes(R"({"__metadata__":{"step":7}})", ""), {"__metadata__ value for 'step'", "not a string but 7"});
    expect("meta_array.st", safetensors_bytes(R"({"__metadata__":["x"]})", ""), {"__metadata__ is not an object"});
    // not a file at all
    check_error([&] { io::load_safetensors((d / "nope.st").string()); }, {"cannot open", "nope.st", "no such file"});
    check_error([&] { io::load_safetensors(d.string()); }, {"cannot open", "not a regular file"});

    // the same layouts with valid values do load: offsets out of header order, zero-size tensors anywhere
    const auto ok = io::load_safetensors(write_bytes(
        d / "ok.st", safetensors_bytes(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"z":{"dtype":"I64","shape":[0,5],"data_offsets":[4,4]},)"
                                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{}}   )",
                                       t4 + std::string("\0\0\0\x40", 4))));
    REQUIRE(ok.tensors.size() == 3);
    CHECK(ok.tensors[0].first == "b");
    CHECK(ok.at("b").item() == 2.0);
    CHECK(ok.at("a").item() == 1.0);
    CHECK(ok.at("z").shape() == Shape{0, 5});
    fs::remove_all(d);
}

TEST_CASE("safetensors: a failed save leaves the existing file untouched and nothing beside it") {
    const fs::path d = tmpdir();
    const fs::path p = d / "keep.safetensors";
    io::save_safetensors(p.string(), {{"w", arange(5)}}, {{"v", "1"}});
    const std::string before = read_bytes(p);
    const Tensor x = arange(3);
    check_error([&] { io::save_safetensors(p.string(), {{"w", x}, {"__metadata__", x}}); },
                {"save_safetensors", "keep.safetensors", "'__metadata__' is reserved"});
    check_error([&] { io::save_safetensors(p.string(), {{"w", x}, {"w", x}}); }, {"tensor 'w'", "appears twice"});
    check_error([&] { io::save_safetensors(p.string(), {{"", x}}); }, {"name is empty"});
    check_error([&] { io::save_safetensors(p.string(), {{"bad\xFF", x}}); }, {"not valid UTF-8"});
    check_error([&] { io::save_safetensors(p.string(), {{"u", Tensor()}}); }, {"tensor 'u' is undefined"});
    check_error([&] { io::save_safetensors(p.string(), {{"w", x}}, {{"k", "\xC0"}}); }, {"metadata entry 'k'", "UTF-8"});
    CHECK(read_bytes(p) == before);
    CHECK_FALSE(fs::exists(d / "keep.safetensors.partial"));
    check_error([&] { io::save_safetensors((d / "no_dir" / "x.safetensors").string(), {{"w", x}}); },
                {"cannot open", "no_dir"});
    CHECK(std::distance(fs::directory_iterator(d), fs::directory_iterator{}) == 1);
    CHECK(io::load_safetensors(p.string()).at("w").to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
    fs::remove_all(d);
}

// Writes a file with known contents for tests/reference/check_safetensors.py to verify with numpy.
TEST_CASE("safetensors: reference file for check_safetensors.py") {
    const std::string path = (fs::temp_directory_path() / "vkgrad_check.safetensors").string();
    const Tensor a = reshape(arange(6), {2, 3});
    const Tensor b = from_vector<double>({-1.5, 2.25}, {DType::f64});
    const Tensor c = from_vector<int64_t>({int64_t(1) << 40, -3}, {DType::i64});
    const Tensor s = full({}, 0.1);                     // float32 scalar
    const Tensor e = zeros({2, 0}, {DType::i64});       // empty
    io::save_safetensors(path, {{"a", a}, {"b", b}, {"c", c}, {"s", s}, {"e", e}}, {{"step", "7"}});
    const auto f = io::load_safetensors(path);
    CHECK(f.at("a").to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
    CHECK(f.at("c").to_vector<int64_t>() == std::vector<int64_t>{int64_t(1) << 40, -3});
    CHECK(f.metadata.at("step") == "7");
}
