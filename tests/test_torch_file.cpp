// Reading PyTorch files: real torch.save files against their manifests, generated fixtures
// (tests/reference/make_torch_fixtures.py) against their JSON descriptions, hostile pickles that
// must never run anything, and damaged files that must load or fail cleanly.
#include "support.hpp"
#include "fuzz/replay.hpp"

#include <vkgrad/io/json.hpp>
#include <vkgrad/io/torch_file.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

using namespace vkgrad;
using vkgrad::io::Json;
using vkgrad::io::PyObject;
using vkgrad::io::PyObjectPtr;
using vkgrad::test::check_error;
namespace fs = std::filesystem;
using namespace std::string_literals;
using K = PyObject::Kind;

namespace {

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
Json read_json(const fs::path& p) { return io::parse_json(read_bytes(p), p.string()); }
std::string shared_data() { return vkgrad::test::fixtures() + "/../../../shared/data"; }
std::string torch_fixtures() { return vkgrad::test::fixtures() + "/torch"; }

std::string hex(const std::string& s) {
    static const char* h = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) out += {h[c >> 4], h[c & 15]};
    return out;
}

// A minimal SHA-256 (FIPS 180-4), to compare tensors with the manifests' value digests.
std::string sha256(const std::string& msg) {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::string m = msg + '\x80';
    while (m.size() % 64 != 56) m += '\0';
    const uint64_t bits = static_cast<uint64_t>(msg.size()) * 8;
    for (int i = 7; i >= 0; --i) m += static_cast<char>(bits >> (8 * i));
    const auto rot = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
    for (size_t off = 0; off < m.size(); off += 64) {
        uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i])) << 24 |
                   static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 1])) << 16 |
                   static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 2])) << 8 |
                   static_cast<uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 3]));
        for (int i = 16; i < 64; ++i)
            w[i] = w[i - 16] + (rot(w[i - 15], 7) ^ rot(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 7] +
                   (rot(w[i - 2], 17) ^ rot(w[i - 2], 19) ^ (w[i - 2] >> 10));
        uint32_t a[8];
        std::copy(h, h + 8, a);
        for (int i = 0; i < 64; ++i) {
            const uint32_t t1 = a[7] + (rot(a[4], 6) ^ rot(a[4], 11) ^ rot(a[4], 25)) + ((a[4] & a[5]) ^ (~a[4] & a[6])) + k[i] + w[i];
            const uint32_t t2 = (rot(a[0], 2) ^ rot(a[0], 13) ^ rot(a[0], 22)) + ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
            std::copy_backward(a, a + 7, a + 8);
            a[4] += t1;
            a[0] = t1 + t2;
        }
        for (int i = 0; i < 8; ++i) h[i] += a[i];
    }
    std::string out;
    for (uint32_t v : h)
        for (int i = 3; i >= 0; --i) out += static_cast<char>(v >> (8 * i));
    return hex(out);
}

DType expected_dtype(const std::string& torch_or_numpy) {
    if (torch_or_numpy == "float32" || torch_or_numpy == "float16" || torch_or_numpy == "bfloat16") return DType::f32;
    if (torch_or_numpy == "float64") return DType::f64;
    return DType::i64;
}
Shape json_shape(const Json& j) {
    Shape s;
    for (const auto& d : j.as_array()) s.push_back(d.as_int64());
    return s;
}

/// Checks a loaded value against the typed JSON tree written by make_torch_fixtures.py.
void compare(const PyObjectPtr& v, const Json& e, const std::string& path) {
    INFO("at " << path);
    REQUIRE(v != nullptr);
    const std::string& t = e.find("t")->as_string();
    if (t == "none") CHECK(v->is_none());
    else if (t == "bool") CHECK((v->is(K::boolean) && v->flag == e.find("v")->as_bool()));
    else if (t == "int") CHECK((v->is(K::integer) && v->integer == e.find("v")->as_int64()));
    else if (t == "bigint") CHECK((v->is(K::bigint) && hex(v->text) == e.find("hex")->as_string()));
    else if (t == "float") {
        const double x = e.find("v")->as_double();
        REQUIRE(v->is(K::floating));
        CHECK((v->floating == x && std::signbit(v->floating) == std::signbit(x)));
    } else if (t == "str") CHECK((v->is(K::str) && v->text == e.find("v")->as_string()));
    else if (t == "bytes") CHECK((v->is(K::bytes) && hex(v->text) == e.find("hex")->as_string()));
    else if (t == "list" || t == "tuple" || t == "set") {
        REQUIRE_MESSAGE(v->is(t == "list" ? K::list : t == "tuple" ? K::tuple : K::set), v->describe());
        const auto& items = e.find("items")->as_array();
        REQUIRE(v->items.size() == items.size());
        for (size_t i = 0; i < items.size(); ++i) compare(v->items[i], items[i], path + "." + std::to_string(i));
    } else if (t == "dict") {
        REQUIRE_MESSAGE(v->is(K::dict), v->describe());
        const auto& items = e.find("items")->as_array();
        REQUIRE(v->entries.size() == items.size());
        for (size_t i = 0; i < items.size(); ++i) {
            compare(v->entries[i].first, items[i].as_array()[0], path + ".<key " + std::to_string(i) + ">");
            const auto& k = items[i].as_array()[0];
            compare(v->entries[i].second, items[i].as_array()[1],
                    path + "." + (k.find("t")->as_string() == "str" ? k.find("v")->as_string() : std::to_string(i)));
        }
    } else if (t == "tensor") {
        REQUIRE_MESSAGE(v->is(K::tensor), v->describe());
        const Tensor& x = v->as_tensor();
        CHECK(x.dtype() == expected_dtype(e.find("dtype")->as_string()));
        REQUIRE(x.shape() == json_shape(*e.find("shape")));
        const auto& vals = e.find("values")->as_array();
        REQUIRE(static_cast<int64_t>(vals.size()) == x.numel());
        visit_dtype(x.dtype(), [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const T* p = x.data<T>();
            for (size_t i = 0; i < vals.size(); ++i) {
                T want;
                if constexpr (std::is_same_v<T, int64_t>)
                    want = vals[i].is(Json::Type::boolean) ? vals[i].as_bool() : vals[i].as_int64();
                else want = static_cast<T>(vals[i].as_double());
                if (!(p[i] == want)) FAIL_CHECK("element " << i << ": " << p[i] << " != " << want);
            }
        });
    } else FAIL("unknown JSON type " << t);
}

/// Checks a loaded file against a shared-data manifest entry (shapes, stats, values, digest).
void check_manifest_file(const std::string& dir, const Json& f) {
    const std::string path = dir + "/" + f.find("file")->as_string();
    INFO("file " << path);
    PyObjectPtr root = io::load_torch(path);
    std::map<std::string, Tensor> tensors;
    for (auto& [name, t] : io::flatten_tensors(root)) tensors[name.empty() ? "<root>" : name] = t;
    const auto& list = f.find("tensors")->as_array();
    CHECK(tensors.size() == list.size());
    for (const auto& m : list) {
        const std::string name = m.find("path")->as_string();
        INFO("tensor " << name);
        REQUIRE(tensors.count(name));
        const Tensor& t = tensors[name];
        REQUIRE(m.find("dtype")->as_string() == "float32");
        REQUIRE(t.dtype() == DType::f32);
        REQUIRE(t.shape() == json_shape(*m.find("shape")));
        const float* p = t.data<float>();
        const auto n = static_cast<size_t>(t.numel());
        double sum = 0, asum = 0;
        float lo = p[0], hi = p[0];
        for (size_t i = 0; i < n; ++i) {
            sum += p[i];
            asum += std::fabs(p[i]);
            lo = std::min(lo, p[i]);
            hi = std::max(hi, p[i]);
        }
        CHECK(std::fabs(sum - m.find("sum")->as_double()) <= 1e-9 * asum + 1e-12);
        CHECK(lo == static_cast<float>(m.find("min")->as_double()));
        CHECK(hi == static_cast<float>(m.find("max")->as_double()));
        const auto& first = m.find("first5")->as_array();
        const auto& bits = m.find("first5_hex")->as_array();
        for (size_t i = 0; i < first.size(); ++i) {
            CHECK(p[i] == static_cast<float>(first[i].as_double()));
            uint32_t b;
            std::memcpy(&b, &p[i], 4);
            char buf[9];
            std::snprintf(buf, sizeof buf, "%08x", b);
            CHECK(std::string(buf) == bits[i].as_string());
        }
        CHECK(p[n - 1] == static_cast<float>(m.find("last")->as_double()));
        CHECK(sha256(std::string(reinterpret_cast<const char*>(p), n * 4)) == m.find("sha256_c_order_le")->as_string());
    }
}

/// Loads bytes as a torch file; true when it loaded, false when it failed with a vkgrad::Error.
/// Any other exception fails the test (a crash fails the whole run).
bool try_load(const std::string& bytes, const std::string& what) {
    try {
        auto v = io::detail::load_torch_buffer(std::make_shared<const std::string>(bytes), what, 0);
        io::flatten_tensors(v);
        return true;
    } catch (const Error&) {
        return false;
    } catch (const std::exception& e) {
        FAIL_CHECK("non-vkgrad exception for " << what << ": " << e.what());
        return false;
    }
}

} // namespace

TEST_CASE("torch files: real torch.save files match their manifests exactly") {
    const std::string root = shared_data();
    if (!fs::exists(root + "/torch_files/torch_files_manifest.json")) {
        MESSAGE("skipped: no shared data at " << root);
        return;
    }
    int files = 0;
    for (const char* sub : {"torch_files", "lpips"}) {
        const std::string dir = root + "/" + sub;
        const Json m = read_json(dir + "/" + sub + (std::string(sub) == "lpips" ? "_manifest.json" : "_manifest.json"));
        for (const auto& f : m.find("files")->as_array()) {
            check_manifest_file(dir, f);
            ++files;
        }
    }
    CHECK(files == 6);
    // The non-contiguous comp tensor: element [i,0,j] is storage element i + 80·j.
    auto pca = io::load_torch(root + "/torch_files/ganspace_ffhq_pca.pt");
    CHECK(pca->at("comp")->as_tensor().shape() == Shape{80, 1, 512});
    CHECK(io::load_torch_tensor(root + "/torch_files/interfacegan_age.pt").shape() == Shape{1, 512});
    check_error([&] { io::load_torch_tensor(root + "/torch_files/ganspace_ffhq_pca.pt"); }, {"ganspace_ffhq_pca.pt", "dict"});
}

TEST_CASE("torch files: StyleGAN2 checkpoints agree across formats") {
    const std::string dir = shared_data() + "/stylegan2";
    if (!fs::exists(dir + "/ros_tiny.pt")) {
        MESSAGE("skipped: no shared data at " << dir);
        return;
    }
    const auto same = [](const std::string& a, const std::string& b, size_t count) {
        INFO(a << " vs " << b);
        auto ta = io::flatten_tensors(io::load_torch(a)), tb = io::flatten_tensors(io::load_torch(b));
        REQUIRE(ta.size() == count);
        REQUIRE(tb.size() == count);
        for (size_t i = 0; i < ta.size(); ++i) {
            CHECK(ta[i].first == tb[i].first);
            CHECK(ta[i].second.to_vector<double>() == tb[i].second.to_vector<double>());
        }
    };
    same(dir + "/ros_tiny.pt", dir + "/ros_tiny_legacy.pt", 125);   // zip vs legacy
    same(dir + "/ada_tiny_p3.pkl", dir + "/ada_tiny_p4.pkl", 140);  // _load_from_bytes, protocols 3 and 4
    auto ada = io::load_torch(dir + "/ada_tiny_p4.pkl");
    auto g = ada->at("G_ema");
    REQUIRE(g->is(K::object));
    CHECK(g->name == "torch_utils.persistence._reconstruct_persistent_obj");
    CHECK(g->args->items[0]->at("class_name")->as_str() == "Generator");
    CHECK(g->state->at("z_dim")->as_int() == 32);
    auto tf = io::load_torch(dir + "/tf_tiny.pkl");
    REQUIRE(tf->is(K::tuple));
    REQUIRE(tf->items.size() == 3);
    CHECK(tf->items[2]->is(K::dict));
    CHECK(tf->items[2]->name == "dnnlib.tflib.network.Network");
    CHECK(io::flatten_tensors(tf).size() == 104);
}

TEST_CASE("torch files: generated fixtures load exactly as Python sees them") {
    const std::string dir = torch_fixtures();
    REQUIRE(fs::exists(dir + "/zip_dict.pt"));
    int compared = 0;
    for (const auto& de : fs::directory_iterator(dir)) {
        if (de.path().extension() != ".json") continue;
        const Json doc = read_json(de.path());
        const Json* exp = doc.find("expected");
        if (!exp || exp->is(Json::Type::null)) continue;
        const std::string file = dir + "/" + doc.find("file")->as_string();
        INFO("fixture " << file);
        PyObjectPtr v = io::load_torch(file);
        compare(v, *exp, "");
        ++compared;
        if (const Json* shared = doc.find("shared"))
            for (const auto& pair : shared->as_array())
                CHECK(v->at(pair.as_array()[0].as_string()).get() == v->at(pair.as_array()[1].as_string()).get());
    }
    CHECK(compared == 14);

    auto zipd = io::load_torch(dir + "/zip_dict.pt");
    auto flat = io::flatten_tensors(zipd);
    CHECK(flat.size() == 24);
    bool found = false;
    for (const auto& nt : flat) found = found || nt.first == "state_dict.1.running_var";
    CHECK(found);
    CHECK(zipd->at("state_dict")->name == "collections.OrderedDict");
    auto legacy = io::load_torch(dir + "/legacy_dict.pt");
    CHECK(io::flatten_tensors(legacy).size() == 24);
    CHECK(io::load_torch_tensor(dir + "/zip_tensor.pt").shape() == Shape{3, 2});
    auto tp = io::load_torch(dir + "/tensor_p2.pkl");
    CHECK(tp->at("view")->as_tensor().to_vector<int64_t>() == std::vector<int64_t>{1, 3, 5, 7, 9, 11});
}

TEST_CASE("torch files: hostile pickles are inert") {
    const std::string dir = torch_fixtures();
    const fs::path marker = "/tmp/pwned_vkgrad";
    std::error_code ec;
    fs::remove(marker, ec);
    auto sys = io::load_torch(dir + "/evil_os_system.pkl");
    REQUIRE(sys->is(K::object));
    CHECK(sys->name == "os.system");
    CHECK(sys->args->items.at(0)->as_str() == "touch /tmp/pwned_vkgrad");
    auto ev = io::load_torch(dir + "/evil_eval.pkl");
    REQUIRE(ev->is(K::object));
    CHECK(ev->name == "builtins.eval");
    CHECK(io::flatten_tensors(ev).empty());
    check_error([&] { io::load_torch(dir + "/evil_tensor.pkl"); },
                {"evil_tensor.pkl", "_rebuild_tensor_v2", "opaque object os.system", "byte"});
    check_error([&] { io::load_torch_tensor(dir + "/evil_os_system.pkl"); }, {"os.system"});
    CHECK_FALSE(fs::exists(marker));

    // A parameter wrapping something that is not a tensor names what it got.
    const std::string p = "\x80\x02" "ctorch._utils\n_rebuild_parameter\n" "csubprocess\nPopen\n)R" "\x89" "}\x87R.";
    check_error([&] { io::detail::load_torch_buffer(std::make_shared<const std::string>(p), "param.pkl", 0); },
                {"param.pkl", "subprocess.Popen"});
}

TEST_CASE("torch files: malformed pickles are errors with a byte offset") {
    const auto bad = [](const std::string& bytes, std::initializer_list<const char*> parts) {
        check_error([&] { io::detail::load_torch_buffer(std::make_shared<const std::string>(bytes), "x.pkl", 0); }, parts);
    };
    bad("", {"x.pkl", "before STOP"});
    bad("\x80\x02.", {"stack underflow", "byte 2"});
    bad("\x80\x02(.", {"MARK"});
    bad("\x80\x02h\x05.", {"memo entry 5"});
    bad("\x80\x02X\xff\xff\xff\x7f", {"runs past the end"});
    bad("\x80\x02\x8b\x00\x00\x01\x00"s, {"runs past the end"});
    bad("\x80\x02K\x01K\x02" "a.", {"APPEND to a int"});
    bad("\x80\x02K\x01K\x02t.", {"no MARK"});
    bad("\x80\x09.", {"protocol"});
    bad("\x80\x02\xff.", {"opcode 0xff"});
    bad("PK\x03\x04garbage-that-is-long-enough-for-a-header", {"x.pkl", "zip"});
    // Very deep nesting loads and frees without recursion; walking it stops with an error.
    std::string deep = "\x80\x02";
    for (int i = 0; i < 200000; ++i) deep += ']';
    deep += std::string(199999, 'a') + ".";
    auto v = io::detail::load_torch_buffer(std::make_shared<const std::string>(deep), "deep.pkl", 0);
    check_error([&] { io::flatten_tensors(v); }, {"deeper than"});
    v.reset();
    // A list that contains itself (via the memo) would leak as a shared_ptr cycle: refused, and
    // everything made so far is freed (the fuzzer's LeakSanitizer found the leak).
    check_error([&] {
        io::detail::load_torch_buffer(std::make_shared<const std::string>("\x80\x02]q\x00" "h\x00" "a."s), "cyc.pkl", 0);
    }, {"cyc.pkl", "cycle"});
    check_error([&] { // a cycle that is popped off the stack before STOP is refused too
        io::detail::load_torch_buffer(std::make_shared<const std::string>("\x80\x02]q\x00" "h\x00" "a0N."s), "cyc2.pkl", 0);
    }, {"cyc2.pkl", "cycle"});
    // 64 levels of [x, x] over one shared list: 2^64 paths, refused instead of walked.
    std::string dag = "\x80\x02]";
    for (int i = 0; i < 64; ++i) {
        const std::string idx(1, static_cast<char>(i));
        dag += "\x94]h" + idx + "h" + idx + "\x86" "a"; // MEMOIZE, [], memo[i], memo[i], TUPLE2, APPEND
    }
    dag += ".";
    auto d = io::detail::load_torch_buffer(std::make_shared<const std::string>(dag), "dag.pkl", 0);
    check_error([&] { io::flatten_tensors(d); }, {"too many paths"});
}

TEST_CASE("torch files: damaged files load or fail cleanly") {
    const std::string dir = torch_fixtures();
    std::mt19937 rng(1234);
    for (const char* name : {"zip_dict.pt", "legacy_dict.pt", "tensor_p2.pkl", "numpy_p4.pkl", "plain_p4.pkl", "plain_p0.pkl"}) {
        const std::string good = read_bytes(dir + "/" + name);
        REQUIRE(try_load(good, name));
        int loaded = 0, failed = 0;
        for (size_t cut = 0; cut < good.size(); ++cut) (try_load(good.substr(0, cut), name) ? loaded : failed)++;
        CHECK(failed > 0);
        for (int i = 0; i < 2000; ++i) {
            std::string b = good;
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng() & 0xff);
            (try_load(b, name) ? loaded : failed)++;
        }
        MESSAGE(std::string(name) << ": damaged copies loaded " << loaded << ", failed cleanly " << failed);
    }
}

TEST_CASE("every input the fuzzer found is handled: it loads or throws vkgrad::Error") {
    // tests/fixtures/fuzz/: crashing, leaking or hanging inputs from tests/fuzz/fuzz_readers.cpp
    // (first byte: the reader) plus its seed files; see tests/fuzz/.
    namespace fs = std::filesystem;
    int n = 0;
    for (const auto& e : fs::directory_iterator(vkgrad::test::fixtures() + "/fuzz")) {
        if (e.path().extension() != ".bin") continue;
        std::ifstream f(e.path(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(f), {}};
        REQUIRE(!bytes.empty());
        INFO(e.path().filename().string());
        try {
            vkgrad::fuzz::feed(static_cast<unsigned char>(bytes[0]), bytes.substr(1));
        } catch (const vkgrad::Error&) {
        }
        ++n;
    }
    CHECK(n >= 1);
}
