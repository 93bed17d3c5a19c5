// StyleGAN2 checkpoint conversion (models/stylegan2_import.hpp): the five tiny shared fixtures
// (NVIDIA ADA pickles at protocols 3 and 4, the TF pickle, rosinality zip and legacy .pt) give
// the same tensors bit for bit and the configuration of their README; the saved file reads back;
// damaged, foreign, incomplete and conditional inputs are errors naming the file; and the
// conversion tables reproduce the full-size (1024 config-f, 256) key lists of the research notes.
#include "support.hpp"

#include <vkgrad/models/stylegan2_import.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace vkgrad;
using vkgrad::io::PyObject;
using vkgrad::io::PyObjectPtr;
using vkgrad::models::StyleGAN2Checkpoint;
using vkgrad::models::StyleGAN2Config;
using vkgrad::test::check_error;
namespace fs = std::filesystem;
namespace md = vkgrad::models::detail;
using K = PyObject::Kind;
using namespace std::string_literals;

namespace {

std::string shared_data() { return vkgrad::test::fixtures() + "/../../../shared/data"; }
std::string sg2_dir() { return shared_data() + "/stylegan2"; }
bool have_fixtures() { return fs::exists(sg2_dir() + "/ros_tiny.pt") && fs::exists(sg2_dir() + "/tf_tiny.pkl"); }

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write_bytes(const fs::path& p, const std::string& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
}
fs::path tmpdir() {
    fs::path d = fs::temp_directory_path() / ("vkgrad_sg2_test_" + std::to_string(std::rand()));
    fs::create_directories(d);
    return d;
}

/// What `convert` does: import, then save; true when it succeeded. Errors must name `in`, and a
/// failure must leave no output (nor a temporary) behind.
bool convert(const std::string& in, const std::string& out, std::initializer_list<const char*> parts = {}) {
    bool ok = true;
    try {
        StyleGAN2Checkpoint ck = models::import_stylegan2(in);
        models::save_stylegan2(ck, out);
    } catch (const Error& e) {
        ok = false;
        const std::string msg = e.what();
        INFO("message: " << msg);
        CHECK(msg.find(in) != std::string::npos);
        for (const char* p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "missing '" << p << "'");
    }
    if (!ok) {
        CHECK_FALSE(fs::exists(out));
        CHECK_FALSE(fs::exists(out + ".partial"));
    }
    return ok;
}

uint32_t bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

Tensor filled(const Shape& s, uint32_t seed) {
    Tensor t = empty_cpu(s, DType::f32);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(seed % 1000));
    return t;
}
Tensor fir(float scale) {
    Tensor t = empty_cpu({4, 4}, DType::f32);
    const float k[4] = {1, 3, 3, 1};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) t.data<float>()[y * 4 + x] = k[y] * k[x] / 64.0f * scale;
    return t;
}
PyObjectPtr dict_of(const std::vector<std::pair<std::string, Tensor>>& items) {
    auto d = PyObject::make(K::dict);
    for (const auto& [k, t] : items) d->entries.emplace_back(PyObject::str_of(k), PyObject::tensor_of(t));
    return d;
}
/// Removes entry `key` from a dict; true if it was there.
bool erase(const PyObjectPtr& d, const std::string& key) {
    for (auto it = d->entries.begin(); it != d->entries.end(); ++it)
        if (it->first->kind == K::str && it->first->text == key) {
            d->entries.erase(it);
            return true;
        }
    return false;
}

StyleGAN2Config tiny_config() {
    StyleGAN2Config c;
    c.resolution = 16;
    c.z_dim = c.w_dim = 32;
    c.mapping_layers = 2;
    c.channel_base = 128;
    c.channel_max = 32;
    c.lr_multiplier = 0.01;
    c.conv_clamp = 0;
    c.mbstd_group = 4;
    c.mbstd_channels = 1;
    return c;
}
void check_same_config(const StyleGAN2Config& a, const StyleGAN2Config& b) {
    CHECK(a.resolution == b.resolution);
    CHECK(a.img_channels == b.img_channels);
    CHECK(a.z_dim == b.z_dim);
    CHECK(a.w_dim == b.w_dim);
    CHECK(a.mapping_layers == b.mapping_layers);
    CHECK(a.lr_multiplier == b.lr_multiplier);
    CHECK(a.channel_base == b.channel_base);
    CHECK(a.channel_max == b.channel_max);
    CHECK(a.conv_clamp == b.conv_clamp);
    CHECK(a.mbstd_group == b.mbstd_group);
    CHECK(a.mbstd_channels == b.mbstd_channels);
}

} // namespace

TEST_CASE("stylegan2 import: the five fixture formats give the same tensors, bit for bit") {
    if (!have_fixtures()) {
        MESSAGE("skipped: no shared data at " << sg2_dir());
        return;
    }
    const std::vector<std::pair<std::string, std::string>> files = {
        {"ada_tiny_p3.pkl", "nvidia-ada"}, {"ada_tiny_p4.pkl", "nvidia-ada"}, {"tf_tiny.pkl", "nvidia-tf"},
        {"ros_tiny.pt", "rosinality"},     {"ros_tiny_legacy.pt", "rosinality"}};
    const auto layout = models::stylegan2_layout(tiny_config(), true);
    REQUIRE(layout.size() == 48 + 18); // ADA's 56 G and 28 D tensors less 8 and 10 resample_filter buffers
    std::vector<StyleGAN2Checkpoint> all;
    for (const auto& entry : files) {
        const std::string& file = entry.first;
        const std::string& format = entry.second;
        INFO(file);
        StyleGAN2Checkpoint ck = models::import_stylegan2(sg2_dir() + "/" + file);
        CHECK(ck.source_format == format);
        CHECK(ck.source == file);
        CHECK(ck.has_discriminator);
        CHECK_MESSAGE(ck.warnings.empty(), (ck.warnings.empty() ? "" : ck.warnings[0]));
        check_same_config(ck.config, tiny_config());
        CHECK(ck.config.channels(4) == 32);
        CHECK(ck.config.channels(8) == 16);
        CHECK(ck.config.channels(16) == 8);
        REQUIRE(ck.tensors.size() == layout.size());
        int ng = 0;
        for (size_t i = 0; i < layout.size(); ++i) {
            CHECK(ck.tensors[i].first == layout[i].first);
            CHECK(ck.tensors[i].second.shape() == layout[i].second);
            CHECK(ck.tensors[i].second.dtype() == DType::f32);
            ng += ck.tensors[i].first[0] == 'G';
        }
        CHECK(ng == 48);
        all.push_back(std::move(ck));
    }
    CHECK(all[0].container == "pickle protocol 3");
    CHECK(all[1].container == "pickle protocol 4");
    CHECK(all[3].container == "torch zip");
    CHECK(all[4].container == "torch legacy");
    // ADA is the canonical layout: compare everything with it. TF's mod_bias + 1 may round
    // differently from NVIDIA's by one unit in the last place.
    int ulp_diffs = 0;
    for (size_t f = 1; f < all.size(); ++f) {
        for (size_t i = 0; i < layout.size(); ++i) {
            const std::string& name = layout[i].first;
            INFO(files[f].first << ": " << name);
            const Tensor &a = all[0].tensors[i].second, &b = all[f].tensors[i].second;
            const float *pa = a.data<float>(), *pb = b.data<float>();
            const bool affine_bias = name.size() > 12 && name.compare(name.size() - 12, 12, ".affine.bias") == 0;
            int64_t bad = 0;
            for (int64_t k = 0; k < a.numel(); ++k) {
                const int64_t d = std::llabs(static_cast<int64_t>(bits(pa[k])) - static_cast<int64_t>(bits(pb[k])));
                if (d == 0) continue;
                if (affine_bias && files[f].second == "nvidia-tf" && d == 1) ++ulp_diffs;
                else ++bad;
            }
            CHECK(bad == 0);
        }
    }
    MESSAGE("TF affine biases off by one ulp: " << ulp_diffs);
    // Spot checks of the layouts against the raw ADA tree.
    auto ada = io::load_torch(sg2_dir() + "/ada_tiny_p4.pkl");
    auto flat = io::flatten_tensors(ada->at("G_ema"));
    REQUIRE(layout[11].first == "G.synthesis.b8.conv0.weight");
    bool found = false;
    for (const auto& [name, t] : flat)
        if (name == "_modules.synthesis._modules.b8._modules.conv0._parameters.weight") {
            found = true;
            CHECK(t.to_vector<float>() == all[2].tensors[11].second.to_vector<float>()); // TF's flipped Conv0_up
        }
    CHECK(found);
}

TEST_CASE("stylegan2 import: save and load_stylegan2 round trip") {
    if (!have_fixtures()) {
        MESSAGE("skipped: no shared data at " << sg2_dir());
        return;
    }
    const fs::path d = tmpdir();
    for (const char* file : {"tf_tiny.pkl", "ros_tiny_legacy.pt"}) {
        INFO(file);
        const StyleGAN2Checkpoint ck = models::import_stylegan2(sg2_dir() + "/" + file);
        const std::string out = (d / (std::string(file) + ".safetensors")).string();
        models::save_stylegan2(ck, out);
        CHECK_FALSE(fs::exists(out + ".partial"));
        const models::StyleGAN2Weights w = models::load_stylegan2(out);
        check_same_config(w.config, ck.config);
        CHECK(w.source_format == ck.source_format);
        CHECK(w.source == file);
        CHECK(w.G.size() == 48);
        CHECK(w.D.size() == 18);
        CHECK(w.has_discriminator());
        for (const auto& [name, t] : ck.tensors) {
            const Tensor& back = name[0] == 'G' ? w.g(name.substr(2)) : w.d(name.substr(2));
            CHECK(back.shape() == t.shape());
            CHECK(back.to_vector<float>() == t.to_vector<float>());
        }
        check_error([&] { w.g("synthesis.b32.const"); }, {"G.synthesis.b32.const"});
        const auto meta = io::load_safetensors(out).metadata;
        CHECK(meta.at("format") == "vkgrad.stylegan2");
        CHECK(meta.at("source_format") == ck.source_format);
    }
    // A generator-only checkpoint (no D) converts and loads without D tensors.
    {
        auto root = io::load_torch(sg2_dir() + "/ros_tiny.pt");
        REQUIRE(erase(root, "d"));
        StyleGAN2Checkpoint ck = md::sg2_convert(root, "ros_no_d.pt");
        CHECK_FALSE(ck.has_discriminator);
        CHECK(ck.tensors.size() == 48);
        const std::string out = (d / "g_only.safetensors").string();
        models::save_stylegan2(ck, out);
        const auto w = models::load_stylegan2(out);
        CHECK(w.D.empty());
        CHECK(w.G.size() == 48);
    }
    // load_stylegan2 refuses files that are not converted StyleGAN2 files, naming them.
    const std::string plain = (d / "plain.safetensors").string();
    io::save_safetensors(plain, {{"x", filled({2}, 1)}});
    check_error([&] { models::load_stylegan2(plain); }, {"plain.safetensors", "vkgrad.stylegan2"});
    {
        StyleGAN2Checkpoint ck = models::import_stylegan2(sg2_dir() + "/ada_tiny_p3.pkl");
        REQUIRE(ck.tensors[4].first == "G.synthesis.b4.conv1.noise_const");
        ck.tensors.erase(ck.tensors.begin() + 4);
        const std::string out = (d / "short.safetensors").string();
        models::save_stylegan2(ck, out);
        check_error([&] { models::load_stylegan2(out); }, {"short.safetensors", "G.synthesis.b4.conv1.noise_const"});
    }
    fs::remove_all(d);
}

TEST_CASE("stylegan2 import: foreign, damaged and incomplete inputs are errors naming the file, with no output") {
    const fs::path d = tmpdir();
    const std::string out = (d / "out.safetensors").string();
    // Valid torch files and pickles that are not StyleGAN2 checkpoints.
    CHECK_FALSE(convert(vkgrad::test::fixtures() + "/torch/zip_dict.pt", out, {"not a StyleGAN2 checkpoint"}));
    CHECK_FALSE(convert(vkgrad::test::fixtures() + "/torch/zip_tensor.pt", out, {"not a StyleGAN2 checkpoint", "tensor"}));
    CHECK_FALSE(convert(vkgrad::test::fixtures() + "/torch/evil_os_system.pkl", out, {"os.system"}));
    if (fs::exists(shared_data() + "/torch_files/ganspace_ffhq_pca.pt"))
        CHECK_FALSE(convert(shared_data() + "/torch_files/ganspace_ffhq_pca.pt", out, {"not a StyleGAN2", "'comp'"}));
    const fs::path small = d / "empty_dict.pkl";
    write_bytes(small, "\x80\x02}q\x00."s);
    CHECK_FALSE(convert(small.string(), out, {"not a StyleGAN2 checkpoint", "{}"}));
    write_bytes(small, "\x80\x02}q\x00(X\x05\x00\x00\x00g_emaq\x01}q\x02u."s);
    CHECK_FALSE(convert(small.string(), out, {"no StyleGAN2 synthesis blocks"}));
    write_bytes(small, "");
    CHECK_FALSE(convert(small.string(), out, {"is empty"}));
    write_bytes(small, "hello, this is text\n");
    CHECK_FALSE(convert(small.string(), out, {"neither a zip archive", "68 65 6c 6c"}));
    CHECK_FALSE(convert((d / "missing.pt").string(), out, {"no such file"}));
    CHECK_FALSE(convert(d.string(), out, {"directory"}));

    if (!have_fixtures()) {
        MESSAGE("skipped the fixture-based cases: no shared data at " << sg2_dir());
        fs::remove_all(d);
        return;
    }
    // Truncated copies of every fixture.
    for (const char* file : {"ada_tiny_p4.pkl", "tf_tiny.pkl", "ros_tiny.pt", "ros_tiny_legacy.pt"}) {
        const std::string good = read_bytes(sg2_dir() + "/" + file);
        for (size_t cut : {good.size() / 3, good.size() - 5}) {
            const fs::path p = d / (std::string("trunc_") + file);
            write_bytes(p, good.substr(0, cut));
            INFO(file << " cut at " << cut);
            CHECK_FALSE(convert(p.string(), out));
        }
    }
    // A missing tensor, by renaming a key inside the file (same length, so the file stays valid).
    {
        std::string b = read_bytes(sg2_dir() + "/ros_tiny_legacy.pt");
        const std::string from = "final_linear.1.bias", to = "final_linear.1.bia_";
        const size_t at = b.find(from);
        REQUIRE(at != std::string::npos);
        CHECK(b.find(from, at + 1) == std::string::npos);
        b.replace(at, from.size(), to);
        const fs::path p = d / "ros_missing_key.pt";
        write_bytes(p, b);
        CHECK_FALSE(convert(p.string(), out, {"missing tensor 'D.b4.out.bias'", "d.final_linear.1.bias"}));
    }
    {
        std::string b = read_bytes(sg2_dir() + "/ros_tiny_legacy.pt"); // (the zip's CRCs would catch the edit)
        const size_t at = b.find("noises.noise_3");
        REQUIRE(at != std::string::npos);
        b[at + 13] = 'Z';
        const fs::path p = d / "ros_missing_noise.pt";
        write_bytes(p, b);
        CHECK_FALSE(convert(p.string(), out, {"G.synthesis.b16.conv0.noise_const", "g_ema.noises.noise_3"}));
    }
    // Crafted value trees: missing TF variable, wrong shape, wrong filter, conditional network.
    {
        auto root = io::load_torch(sg2_dir() + "/tf_tiny.pkl");
        auto vars = root->items[1]->at("variables");
        REQUIRE(vars->items.back()->items[0]->as_str() == "Output/bias");
        vars->items.pop_back();
        check_error([&] { md::sg2_convert(root, "crafted_tf.pkl"); },
                    {"crafted_tf.pkl", "nvidia-tf", "'D.b4.out.bias'", "'D/Output/bias'"});
    }
    {
        auto root = io::load_torch(sg2_dir() + "/ros_tiny.pt");
        auto g = root->at("g_ema");
        REQUIRE(erase(g, "style.2.bias"));
        g->entries.emplace_back(PyObject::str_of("style.2.bias"), PyObject::tensor_of(filled({31}, 3)));
        check_error([&] { md::sg2_convert(root, "crafted_ros.pt"); },
                    {"crafted_ros.pt", "'g_ema.style.2.bias'", "G.mapping.fc1.bias", "[31]", "expected [32]"});
    }
    {
        auto root = io::load_torch(sg2_dir() + "/ros_tiny.pt");
        auto g = root->at("g_ema");
        REQUIRE(erase(g, "convs.2.conv.blur.kernel"));
        g->entries.emplace_back(PyObject::str_of("convs.2.conv.blur.kernel"), PyObject::tensor_of(fir(1)));
        check_error([&] { md::sg2_convert(root, "crafted_blur.pt"); },
                    {"crafted_blur.pt", "'g_ema.convs.2.conv.blur.kernel'", "FIR filter"});
    }
    {
        auto root = io::load_torch(sg2_dir() + "/ada_tiny_p4.pkl");
        root->at("G_ema")->state->at("c_dim")->integer = 10;
        check_error([&] { md::sg2_convert(root, "crafted_cond.pkl"); },
                    {"crafted_cond.pkl", "conditional networks are not supported"});
    }
    {
        auto root = io::load_torch(sg2_dir() + "/tf_tiny.pkl");
        root->items[2]->at("static_kwargs")->at("label_size")->integer = 5;
        check_error([&] { md::sg2_convert(root, "crafted_cond_tf.pkl"); }, {"conditional networks are not supported"});
    }
    {
        auto root = io::load_torch(sg2_dir() + "/ros_tiny.pt");
        REQUIRE(erase(root, "latent_avg"));
        check_error([&] { md::sg2_convert(root, "train_ckpt.pt"); }, {"'G.mapping.w_avg'", "'latent_avg'"});
    }
    fs::remove_all(d);
}

TEST_CASE("stylegan2 import: attributes, state dicts and unexpected tensors") {
    if (!have_fixtures()) {
        MESSAGE("skipped: no shared data at " << sg2_dir());
        return;
    }
    const StyleGAN2Checkpoint ref = models::import_stylegan2(sg2_dir() + "/ada_tiny_p3.pkl");
    // ADA attributes: mbstd group None = whole batch, conv_clamp 256.
    {
        auto root = io::load_torch(sg2_dir() + "/ada_tiny_p4.pkl");
        auto mbstd = root->at("D")->state->at("_modules")->at("b4")->state->at("_modules")->at("mbstd")->state;
        for (auto& kv : mbstd->entries)
            if (kv.first->kind == K::str && kv.first->text == "group_size") kv.second = PyObject::none();
        const StyleGAN2Checkpoint ck = md::sg2_convert(root, "group_none.pkl");
        CHECK(ck.config.mbstd_group == 0);
    }
    // An unexpected tensor is a warning, not an error.
    {
        auto root = io::load_torch(sg2_dir() + "/ros_tiny.pt");
        root->at("g_ema")->entries.emplace_back(PyObject::str_of("extra.weight"), PyObject::tensor_of(filled({3}, 1)));
        const StyleGAN2Checkpoint ck = md::sg2_convert(root, "extra.pt");
        REQUIRE(ck.warnings.size() == 1);
        CHECK(ck.warnings[0].find("g_ema.extra.weight") != std::string::npos);
        CHECK(ck.tensors.size() == ref.tensors.size());
    }
    // {G_ema: state dict, D: state dict} with ADA's flat names, and a bare G state dict.
    {
        std::vector<std::pair<std::string, Tensor>> g, dd;
        for (const auto& [name, t] : ref.tensors) (name[0] == 'G' ? g : dd).emplace_back(name.substr(2), t);
        auto root = PyObject::make(K::dict);
        root->entries.emplace_back(PyObject::str_of("G_ema"), dict_of(g));
        root->entries.emplace_back(PyObject::str_of("D"), dict_of(dd));
        const StyleGAN2Checkpoint ck = md::sg2_convert(root, "state_dicts.pt");
        CHECK(ck.source_format == "nvidia-ada");
        check_same_config(ck.config, ref.config);
        REQUIRE(ck.tensors.size() == ref.tensors.size());
        for (size_t i = 0; i < ck.tensors.size(); ++i) CHECK(ck.tensors[i].second.same(ref.tensors[i].second));
        const StyleGAN2Checkpoint bare = md::sg2_convert(dict_of(g), "bare.pt");
        CHECK_FALSE(bare.has_discriminator);
        CHECK(bare.tensors.size() == 48);
    }
}

TEST_CASE("stylegan2 import: every table maps onto the canonical layout exactly once") {
    for (auto f : {md::SG2Format::ada, md::SG2Format::tf, md::SG2Format::ros})
        for (int64_t R : {4, 8, 16, 256, 1024})
            for (bool with_d : {false, true}) {
                StyleGAN2Config c;
                c.resolution = R;
                c.mapping_layers = 3;
                std::multiset<std::string> want, got;
                for (const auto& nt : models::stylegan2_layout(c, with_d)) want.insert(nt.first);
                std::set<std::string> sources;
                for (const auto& e : md::sg2_table(f, R, 3, with_d, {"G:", "D:", "W"})) {
                    if (!e.canonical.empty()) got.insert(e.canonical);
                    CHECK(sources.insert(e.source).second);
                }
                INFO("format " << static_cast<int>(f) << ", R " << R << ", D " << with_d);
                CHECK(got == want);
            }
}

namespace {

/// The code block after heading `heading` in the research notes, split at "# ..." lines:
/// section title → (name, shape) lines.
std::map<std::string, std::map<std::string, Shape>> notes_block(const std::string& text, const std::string& heading) {
    std::map<std::string, std::map<std::string, Shape>> out;
    size_t at = text.find("\n" + heading);
    if (at == std::string::npos) return out;
    at = text.find("```", at);
    const size_t end = text.find("```", at + 3);
    std::istringstream lines(text.substr(at + 3, end - at - 3));
    std::string line, section;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        if (line[0] == '#') {
            section = line;
            continue;
        }
        const size_t sp = line.find(" [");
        if (sp == std::string::npos) continue;
        Shape s;
        std::string dims = line.substr(sp + 2, line.find(']') - sp - 2);
        for (size_t p = 0; p < dims.size();) {
            s.push_back(std::stoll(dims.substr(p)));
            p = dims.find(',', p);
            if (p == std::string::npos) break;
            p += 1;
        }
        out[section][line.substr(0, sp)] = s;
    }
    return out;
}

/// The (source name without `prefix`, source shape) pairs a table expects for `c`.
std::map<std::string, Shape> table_keys(md::SG2Format f, const StyleGAN2Config& c, bool with_d, const md::SG2Prefixes& p,
                                        const std::string& prefix) {
    std::map<std::string, Shape> canon, out;
    for (const auto& [name, shape] : models::stylegan2_layout(c, with_d)) canon[name] = shape;
    for (const auto& e : md::sg2_table(f, c.resolution, c.mapping_layers, with_d, p)) {
        if (e.source.compare(0, prefix.size(), prefix) != 0) continue;
        out[e.source.substr(prefix.size())] = md::sg2_source_shape(e.xf, e.canonical.empty() ? Shape{} : canon.at(e.canonical));
    }
    return out;
}

void check_keys(const std::map<std::string, Shape>& got, const std::map<std::string, Shape>& want, const std::string& what) {
    INFO(what);
    CHECK(got.size() == want.size());
    for (const auto& kv : want) {
        const std::string& k = kv.first;
        const Shape& s = kv.second;
        auto it = got.find(k);
        CHECK_MESSAGE(it != got.end(), "missing " << k);
        if (it != got.end()) CHECK_MESSAGE(it->second == s, k << ": " << to_string(it->second) << " vs " << to_string(s));
    }
    for (const auto& kv : got) CHECK_MESSAGE(want.count(kv.first), "extra " << kv.first);
}

StyleGAN2Config full_config(int64_t R, int64_t base) {
    StyleGAN2Config c;
    c.resolution = R;
    c.z_dim = c.w_dim = 512;
    c.mapping_layers = 8;
    c.channel_base = base;
    c.channel_max = 512;
    return c;
}

} // namespace

TEST_CASE("stylegan2 import: the tables reproduce the full-size key lists of the research notes") {
    const std::string notes_path = shared_data() + "/../notes/stylegan2-formats-and-math.md";
    if (!fs::exists(notes_path)) {
        MESSAGE("skipped: no research notes at " << notes_path);
        return;
    }
    const std::string text = read_bytes(notes_path);
    using F = md::SG2Format;
    const md::SG2Prefixes pre{"G:", "D:", "latent_avg"};
    // rosinality G 1024 config-f (171 keys) and D 1024 cm2 / 256 cm1.
    auto a = notes_block(text, "## Appendix A");
    REQUIRE(a[""].size() == 171);
    check_keys(table_keys(F::ros, full_config(1024, 32768), false, pre, "G:"), a[""], "rosinality G 1024");
    auto b = notes_block(text, "## Appendix B");
    check_keys(table_keys(F::ros, full_config(1024, 32768), true, pre, "D:"), b["# --- ros_D1024_cm2.txt ---"],
               "rosinality D 1024");
    check_keys(table_keys(F::ros, full_config(256, 16384), true, pre, "D:"), b["# --- ros_D256_cm1.txt ---"],
               "rosinality D 256 cm1");
    // NVIDIA G 1024 (182 keys) and D 1024 / 256 cb16384.
    auto c = notes_block(text, "## Appendix C");
    REQUIRE(c[""].size() == 182);
    check_keys(table_keys(F::ada, full_config(1024, 32768), false, pre, "G:"), c[""], "ADA G 1024");
    auto d = notes_block(text, "## Appendix D");
    check_keys(table_keys(F::ada, full_config(1024, 32768), true, pre, "D:"), d["# --- ada_D1024_cb32768.txt ---"],
               "ADA D 1024");
    check_keys(table_keys(F::ada, full_config(256, 16384), true, pre, "D:"), d["# --- ada_D256_cb16384.txt ---"],
               "ADA D 256 cb16384");
    // TF 1024 config-f: G_mapping, G_synthesis, G's own variables and D.
    auto e = notes_block(text, "## Appendix E");
    std::map<std::string, Shape> tf_g, tf_d;
    for (const auto& [section, keys] : e) {
        const std::string prefix = section.rfind("# G_mapping", 0) == 0     ? "mapping/"
                                   : section.rfind("# G_synthesis", 0) == 0 ? "synthesis/"
                                                                            : "";
        for (const auto& [k, s] : keys) (section.rfind("# D", 0) == 0 ? tf_d : tf_g)[prefix + k] = s;
    }
    REQUIRE(tf_g.size() == 157); // mapping 16, synthesis 139, lod and dlatent_avg
    const md::SG2Prefixes tfp{"Gs/", "D/", "Gs/dlatent_avg"};
    check_keys(table_keys(F::tf, full_config(1024, 32768), false, tfp, "Gs/"), tf_g, "TF G 1024");
    check_keys(table_keys(F::tf, full_config(1024, 32768), true, tfp, "D/"), tf_d, "TF D 1024");
}

TEST_CASE("stylegan2 import: synthetic full-depth checkpoints infer their configuration") {
    // rosinality and ADA-state-dict trees built from the tables with made-up values, for
    // configurations unlike the fixture: 8 mapping layers, 64 px, channels 16/16/16/8/4, and a
    // net whose channels are all channel_max (channel_base then is the smallest equivalent).
    struct Case {
        int64_t R, base, cmax, z, w, mlp;
    };
    for (const Case& k : {Case{64, 256, 16, 24, 16, 8}, Case{32, 4096, 16, 16, 16, 1}}) {
        StyleGAN2Config c;
        c.resolution = k.R;
        c.channel_base = k.base;
        c.channel_max = k.cmax;
        c.z_dim = k.z;
        c.w_dim = k.w;
        c.mapping_layers = k.mlp;
        std::map<std::string, Shape> canon;
        for (const auto& [name, shape] : models::stylegan2_layout(c, true)) canon[name] = shape;
        for (auto f : {md::SG2Format::ros, md::SG2Format::ada}) {
            const bool ros = f == md::SG2Format::ros;
            const md::SG2Prefixes p = ros ? md::SG2Prefixes{"g_ema.", "d.", "latent_avg"}
                                          : md::SG2Prefixes{"G_ema.", "D.", "G_ema.mapping.w_avg"};
            std::map<std::string, std::vector<std::pair<std::string, Tensor>>> nets;
            std::map<std::string, Tensor> by_source;
            uint32_t seed = 0;
            for (const auto& e : md::sg2_table(f, k.R, k.mlp, true, p)) {
                const Tensor t = e.xf == md::SG2Xf::filter1   ? fir(1)
                                 : e.xf == md::SG2Xf::filter4 ? fir(4)
                                                              : filled(md::sg2_source_shape(e.xf, canon.at(e.canonical)), ++seed);
                by_source[e.source] = t;
                const size_t dot = e.source.find('.');
                if (dot == std::string::npos) nets[""].emplace_back(e.source, t);
                else nets[e.source.substr(0, dot)].emplace_back(e.source.substr(dot + 1), t);
            }
            auto root = PyObject::make(K::dict);
            for (auto& [net, items] : nets) {
                if (net.empty())
                    for (auto& [name, t] : items) root->entries.emplace_back(PyObject::str_of(name), PyObject::tensor_of(t));
                else root->entries.emplace_back(PyObject::str_of(net), dict_of(items));
            }
            INFO((ros ? "rosinality" : "ada") << " R " << k.R);
            const StyleGAN2Checkpoint ck = md::sg2_convert(root, "synthetic");
            CHECK(ck.warnings.empty());
            CHECK(ck.config.resolution == k.R);
            CHECK(ck.config.z_dim == k.z);
            CHECK(ck.config.w_dim == k.w);
            CHECK(ck.config.mapping_layers == k.mlp);
            for (int64_t r = 4; r <= k.R; r *= 2) CHECK(ck.config.channels(r) == c.channels(r));
            CHECK(ck.config.channel_max == k.cmax);
            CHECK(ck.config.channel_base <= k.base);
            CHECK(ck.tensors.size() == canon.size());
            // Reshapes keep values: the 5-D conv weight and the [1,3,1,1] ToRGB bias of rosinality.
            for (const auto& [name, t] : ck.tensors) {
                if (name == "G.synthesis.b8.conv0.weight")
                    CHECK(t.to_vector<float>() == by_source.at(p.g + (ros ? "convs.0.conv.weight" : "synthesis.b8.conv0.weight")).to_vector<float>());
                if (name == "G.synthesis.b4.torgb.bias")
                    CHECK(t.to_vector<float>() == by_source.at(p.g + (ros ? "to_rgb1.bias" : "synthesis.b4.torgb.bias")).to_vector<float>());
                if (name == "D.b" + std::to_string(k.R / 2) + ".skip.weight")
                    CHECK(t.to_vector<float>() == by_source.at(ros ? "d.convs.2.skip.1.weight" : "D.b" + std::to_string(k.R / 2) + ".skip.weight").to_vector<float>());
            }
        }
    }
}

TEST_CASE("stylegan2 import: TF layout transforms") {
    // [kh, kw, I, O] → [O, I, kh, kw], with and without the spatial flip; [in, out] → [out, in].
    Tensor w = filled({3, 2, 4, 5}, 7);
    const Tensor a = md::sg2_apply(md::SG2Xf::tf_conv, w), b = md::sg2_apply(md::SG2Xf::tf_conv_flip, w);
    REQUIRE(a.shape() == Shape{5, 4, 3, 2});
    const float* s = w.data<float>();
    for (int64_t o = 0; o < 5; ++o)
        for (int64_t i = 0; i < 4; ++i)
            for (int64_t y = 0; y < 3; ++y)
                for (int64_t x = 0; x < 2; ++x) {
                    CHECK(a.data<float>()[((o * 4 + i) * 3 + y) * 2 + x] == s[((y * 2 + x) * 4 + i) * 5 + o]);
                    CHECK(b.data<float>()[((o * 4 + i) * 3 + y) * 2 + x] == s[(((2 - y) * 2 + (1 - x)) * 4 + i) * 5 + o]);
                }
    const Tensor t = md::sg2_apply(md::SG2Xf::transpose, filled({2, 3}, 1));
    CHECK(t.shape() == Shape{3, 2});
    CHECK_FALSE(md::sg2_apply(md::SG2Xf::lead1, filled({2, 3}, 1)).defined());
    CHECK_FALSE(md::sg2_apply(md::SG2Xf::tf_conv, filled({2, 3}, 1)).defined());
    CHECK(md::sg2_apply(md::SG2Xf::plus_one, filled({1}, 0)).item() == static_cast<float>(std::sin(0.0f) + 1.0f));
}
