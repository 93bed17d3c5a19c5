// vkgrad/models/stylegan2_formats.hpp — where each published StyleGAN2 checkpoint format keeps
// each tensor, and how its layout becomes vkgrad's (stylegan2_config.hpp); read by
// stylegan2_import.hpp, which parses the files and infers the configuration.
//
// Three source formats are read with io::load_torch, which never runs anything a pickle names:
//  * "nvidia-ada": NVIDIA stylegan2-ada-pytorch (and stylegan3's StyleGAN2) network pickles, a
//    plain pickle of {G, D, G_ema, ...} whose networks are persistent module objects; their state
//    is the nn.Module __dict__ (_parameters, _buffers, _modules and plain attributes such as
//    conv_clamp, group_size). A dict of state dicts or a bare G state dict with the same flat
//    names is read too. This layout is vkgrad's: tensors are copied unchanged.
//  * "nvidia-tf": the original TensorFlow pickles, a tuple (G, D, Gs) of dnnlib.tflib Network
//    states with (name, numpy value) variable lists per component and static_kwargs. Conv weights
//    [kh, kw, I, O] become [O, I, kh, kw] (Conv0_up's are first flipped spatially, w[::-1, ::-1]),
//    dense and mod weights [in, out] become [out, in], mod_bias gets its +1, the const
//    [1, C, 4, 4] becomes [C, 4, 4] and noise [1, 1, s, s] becomes [s, s].
//  * "rosinality": rosinality/stylegan2-pytorch torch.save files (zip or legacy) of
//    {g_ema, g, d, latent_avg, ...} state dicts. Leading 1s are dropped from 5-D conv weights
//    [1, O, I, k, k], the const and the noise buffers; to_rgb biases [1, 3, 1, 1] become [3],
//    noise.weight [1] becomes 0-d, style.{i+1} is mapping.fc{i}, top-level latent_avg is
//    mapping.w_avg, and D's convs.{j} (counted from the top, j = log2(R) - log2(r) + 1) is b{r}.
// The averaged generator (G_ema / g_ema / Gs) is taken, with the discriminator when present.
// FIR filter buffers (ADA resample_filter, rosinality blur/upsample kernels) are constants of the
// architecture: each is checked to be the expected [1, 3, 3, 1] filter and dropped.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../io/safetensors.hpp"
#include "../io/torch_file.hpp"
#include "stylegan2_config.hpp"

namespace vkgrad::models {

/// Every tensor of a converted file for `c`, with its shape, in NVIDIA's state-dict order:
/// G.synthesis.b4 … b{R}, G.mapping.w_avg, G.mapping.fc{i}, then (with_discriminator) D.b{R} … D.b4.
/// Requires c.validate() to pass (shapes use c.channels(r)).
inline std::vector<std::pair<std::string, Shape>> stylegan2_layout(const StyleGAN2Config& c, bool with_discriminator) {
    std::vector<std::pair<std::string, Shape>> out;
    const int64_t W = c.w_dim, R = c.resolution;
    const auto C = [&](int64_t r) { return c.channels(r); };
    const auto layer = [&](const std::string& p, int64_t in, int64_t o, int64_t r) {
        out.push_back({p + ".weight", {o, in, 3, 3}});
        out.push_back({p + ".noise_strength", {}});
        out.push_back({p + ".bias", {o}});
        out.push_back({p + ".noise_const", {r, r}});
        out.push_back({p + ".affine.weight", {in, W}});
        out.push_back({p + ".affine.bias", {in}});
    };
    for (int64_t r = 4; r <= R; r *= 2) {
        const std::string b = "G.synthesis.b" + std::to_string(r);
        if (r == 4) {
            out.push_back({b + ".const", {C(4), 4, 4}});
        } else {
            layer(b + ".conv0", C(r / 2), C(r), r);
        }
        layer(b + ".conv1", C(r), C(r), r);
        out.push_back({b + ".torgb.weight", {c.img_channels, C(r), 1, 1}});
        out.push_back({b + ".torgb.bias", {c.img_channels}});
        out.push_back({b + ".torgb.affine.weight", {C(r), W}});
        out.push_back({b + ".torgb.affine.bias", {C(r)}});
    }
    out.push_back({"G.mapping.w_avg", {W}});
    for (int64_t i = 0; i < c.mapping_layers; ++i) {
        const std::string f = "G.mapping.fc" + std::to_string(i);
        out.push_back({f + ".weight", {W, i == 0 ? c.z_dim : W}});
        out.push_back({f + ".bias", {W}});
    }
    if (!with_discriminator) return out;
    for (int64_t r = R; r >= 8; r /= 2) {
        const std::string b = "D.b" + std::to_string(r);
        if (r == R) {
            out.push_back({b + ".fromrgb.weight", {C(r), c.img_channels, 1, 1}});
            out.push_back({b + ".fromrgb.bias", {C(r)}});
        }
        out.push_back({b + ".conv0.weight", {C(r), C(r), 3, 3}});
        out.push_back({b + ".conv0.bias", {C(r)}});
        out.push_back({b + ".conv1.weight", {C(r / 2), C(r), 3, 3}});
        out.push_back({b + ".conv1.bias", {C(r / 2)}});
        out.push_back({b + ".skip.weight", {C(r / 2), C(r), 1, 1}});
    }
    if (R == 4) { // no block above the epilogue: fromrgb feeds it directly
        out.push_back({"D.b4.fromrgb.weight", {C(4), c.img_channels, 1, 1}});
        out.push_back({"D.b4.fromrgb.bias", {C(4)}});
    }
    out.push_back({"D.b4.conv.weight", {C(4), C(4) + c.mbstd_channels, 3, 3}});
    out.push_back({"D.b4.conv.bias", {C(4)}});
    out.push_back({"D.b4.fc.weight", {C(4), C(4) * 16}});
    out.push_back({"D.b4.fc.bias", {C(4)}});
    out.push_back({"D.b4.out.weight", {1, C(4)}});
    out.push_back({"D.b4.out.bias", {1}});
    return out;
}

/// One line describing a configuration, for logs.
inline std::string describe(const StyleGAN2Config& c) {
    std::ostringstream s;
    s << "resolution " << c.resolution << ", img_channels " << c.img_channels << ", z_dim " << c.z_dim << ", w_dim "
      << c.w_dim << ", mapping_layers " << c.mapping_layers << " (lr_multiplier " << c.lr_multiplier
      << "), channels";
    for (int64_t r = 4; r <= c.resolution && r > 0; r *= 2) s << (r == 4 ? " " : "/") << c.channels(r);
    s << " (channel_base " << c.channel_base << ", channel_max " << c.channel_max << "), conv_clamp "
      << c.conv_clamp << ", mbstd group " << c.mbstd_group << (c.mbstd_group == 0 ? " (whole batch)" : "")
      << " x " << c.mbstd_channels << " channel(s)";
    return s.str();
}

namespace detail {

using io::PyObject;
using io::PyObjectPtr;
using PK = PyObject::Kind;

enum class SG2Format { ada, tf, ros };

/// How a source tensor becomes its canonical one.
enum class SG2Xf {
    copy,         ///< as is (numbers become 0-d tensors)
    lead1,        ///< drop one leading dimension of size 1
    lead2,        ///< drop two leading dimensions of size 1
    bias_1c11,    ///< [1, C, 1, 1] → [C]
    transpose,    ///< [a, b] → [b, a]
    tf_conv,      ///< [kh, kw, I, O] → [O, I, kh, kw]
    tf_conv_flip, ///< the same after w[::-1, ::-1]
    plus_one,     ///< TF mod_bias: add the 1 TF adds at run time
    filter1,      ///< FIR filter outer([1,3,3,1]) / 64: checked, dropped
    filter4,      ///< the same times 4 (rosinality's upsampling kernels): checked, dropped
    ignore        ///< known, not needed (TF lod)
};

struct SG2Entry {
    std::string canonical; ///< empty for filters and ignored entries
    std::string source;    ///< full source path, e.g. "G_ema.synthesis.b4.const", "Gs/synthesis/noise0"
    SG2Xf xf;
};

/// Where a format's networks live in the source paths.
struct SG2Prefixes {
    std::string g, d;    ///< prepended to G's and D's own names
    std::string w_avg;   ///< full source path of the W average
};

inline std::string sg2_str(int64_t v) { return std::to_string(v); }

/// The source → canonical table of a format for resolution R and n mapping layers. Every
/// canonical name of stylegan2_layout(config with R, n, with_d) appears exactly once.
inline std::vector<SG2Entry> sg2_table(SG2Format f, int64_t R, int64_t n_mlp, bool with_d, const SG2Prefixes& p) {
    std::vector<SG2Entry> t;
    const auto add = [&](std::string canonical, std::string source, SG2Xf xf) {
        t.push_back({std::move(canonical), std::move(source), xf});
    };
    const auto rs = [](int64_t r) { return sg2_str(r); };
    if (f == SG2Format::ada) {
        // The canonical names are ADA's own; only the resample_filter buffers are extra.
        StyleGAN2Config c;
        c.resolution = R;
        c.mapping_layers = n_mlp;
        for (const auto& [name, shape] : stylegan2_layout(c, with_d)) {
            const bool g = name[0] == 'G';
            add(name, (g ? p.g : p.d) + name.substr(2), SG2Xf::copy);
        }
        for (int64_t r = 4; r <= R; r *= 2) {
            const std::string b = p.g + "synthesis.b" + rs(r);
            add("", b + ".resample_filter", SG2Xf::filter1);
            if (r > 4) add("", b + ".conv0.resample_filter", SG2Xf::filter1);
            add("", b + ".conv1.resample_filter", SG2Xf::filter1);
        }
        if (with_d) {
            for (int64_t r = R; r >= 8; r /= 2) {
                const std::string b = p.d + "b" + rs(r);
                add("", b + ".resample_filter", SG2Xf::filter1);
                if (r == R) add("", b + ".fromrgb.resample_filter", SG2Xf::filter1);
                for (const char* l : {".conv0", ".conv1", ".skip"}) add("", b + l + ".resample_filter", SG2Xf::filter1);
            }
            if (R == 4) add("", p.d + "b4.fromrgb.resample_filter", SG2Xf::filter1);
            add("", p.d + "b4.conv.resample_filter", SG2Xf::filter1);
        }
        return t;
    }
    // Noise buffers: 0 at 4 px, then two per block (conv0, conv1).
    const auto noise_layer = [&](int64_t i) {
        if (i == 0) return std::string("G.synthesis.b4.conv1");
        const int64_t r = int64_t{8} << ((i - 1) / 2);
        return "G.synthesis.b" + rs(r) + (i % 2 ? ".conv0" : ".conv1");
    };
    int64_t L = 2;
    while ((int64_t{1} << L) < R) ++L;
    const int64_t n_noise = 2 * L - 3;
    if (f == SG2Format::tf) {
        const std::string m = p.g + "mapping/", s = p.g + "synthesis/";
        add("", p.g + "lod", SG2Xf::ignore);
        add("G.mapping.w_avg", p.w_avg, SG2Xf::copy);
        for (int64_t i = 0; i < n_mlp; ++i) {
            add("G.mapping.fc" + sg2_str(i) + ".weight", m + "Dense" + sg2_str(i) + "/weight", SG2Xf::transpose);
            add("G.mapping.fc" + sg2_str(i) + ".bias", m + "Dense" + sg2_str(i) + "/bias", SG2Xf::copy);
        }
        for (int64_t i = 0; i < n_noise; ++i) add(noise_layer(i) + ".noise_const", s + "noise" + sg2_str(i), SG2Xf::lead2);
        add("G.synthesis.b4.const", s + "4x4/Const/const", SG2Xf::lead1);
        const auto layer = [&](const std::string& canon, const std::string& src, bool flip) {
            add(canon + ".weight", src + "/weight", flip ? SG2Xf::tf_conv_flip : SG2Xf::tf_conv);
            add(canon + ".affine.weight", src + "/mod_weight", SG2Xf::transpose);
            add(canon + ".affine.bias", src + "/mod_bias", SG2Xf::plus_one);
            add(canon + ".noise_strength", src + "/noise_strength", SG2Xf::copy);
            add(canon + ".bias", src + "/bias", SG2Xf::copy);
        };
        for (int64_t r = 4; r <= R; r *= 2) {
            const std::string b = "G.synthesis.b" + rs(r), tb = s + rs(r) + "x" + rs(r);
            if (r == 4) layer(b + ".conv1", tb + "/Conv", false);
            else {
                layer(b + ".conv0", tb + "/Conv0_up", true);
                layer(b + ".conv1", tb + "/Conv1", false);
            }
            add(b + ".torgb.weight", tb + "/ToRGB/weight", SG2Xf::tf_conv);
            add(b + ".torgb.affine.weight", tb + "/ToRGB/mod_weight", SG2Xf::transpose);
            add(b + ".torgb.affine.bias", tb + "/ToRGB/mod_bias", SG2Xf::plus_one);
            add(b + ".torgb.bias", tb + "/ToRGB/bias", SG2Xf::copy);
        }
        if (!with_d) return t;
        for (int64_t r = R; r >= 4; r /= 2) {
            const std::string b = "D.b" + rs(r), tb = p.d + rs(r) + "x" + rs(r);
            if (r == R) {
                add(b + ".fromrgb.weight", tb + "/FromRGB/weight", SG2Xf::tf_conv);
                add(b + ".fromrgb.bias", tb + "/FromRGB/bias", SG2Xf::copy);
            }
            if (r == 4) break;
            add(b + ".conv0.weight", tb + "/Conv0/weight", SG2Xf::tf_conv);
            add(b + ".conv0.bias", tb + "/Conv0/bias", SG2Xf::copy);
            add(b + ".conv1.weight", tb + "/Conv1_down/weight", SG2Xf::tf_conv);
            add(b + ".conv1.bias", tb + "/Conv1_down/bias", SG2Xf::copy);
            add(b + ".skip.weight", tb + "/Skip/weight", SG2Xf::tf_conv);
        }
        add("D.b4.conv.weight", p.d + "4x4/Conv/weight", SG2Xf::tf_conv);
        add("D.b4.conv.bias", p.d + "4x4/Conv/bias", SG2Xf::copy);
        add("D.b4.fc.weight", p.d + "4x4/Dense0/weight", SG2Xf::transpose);
        add("D.b4.fc.bias", p.d + "4x4/Dense0/bias", SG2Xf::copy);
        add("D.b4.out.weight", p.d + "Output/weight", SG2Xf::transpose);
        add("D.b4.out.bias", p.d + "Output/bias", SG2Xf::copy);
        return t;
    }
    // rosinality
    add("G.mapping.w_avg", p.w_avg, SG2Xf::copy);
    for (int64_t i = 0; i < n_mlp; ++i) {
        add("G.mapping.fc" + sg2_str(i) + ".weight", p.g + "style." + sg2_str(i + 1) + ".weight", SG2Xf::copy);
        add("G.mapping.fc" + sg2_str(i) + ".bias", p.g + "style." + sg2_str(i + 1) + ".bias", SG2Xf::copy);
    }
    add("G.synthesis.b4.const", p.g + "input.input", SG2Xf::lead1);
    for (int64_t i = 0; i < n_noise; ++i)
        add(noise_layer(i) + ".noise_const", p.g + "noises.noise_" + sg2_str(i), SG2Xf::lead2);
    const auto layer = [&](const std::string& canon, const std::string& src) {
        add(canon + ".weight", src + ".conv.weight", SG2Xf::lead1);
        add(canon + ".affine.weight", src + ".conv.modulation.weight", SG2Xf::copy);
        add(canon + ".affine.bias", src + ".conv.modulation.bias", SG2Xf::copy);
        add(canon + ".noise_strength", src + ".noise.weight", SG2Xf::lead1);
        add(canon + ".bias", src + ".activate.bias", SG2Xf::copy);
    };
    const auto torgb = [&](const std::string& canon, const std::string& src) {
        add(canon + ".weight", src + ".conv.weight", SG2Xf::lead1);
        add(canon + ".affine.weight", src + ".conv.modulation.weight", SG2Xf::copy);
        add(canon + ".affine.bias", src + ".conv.modulation.bias", SG2Xf::copy);
        add(canon + ".bias", src + ".bias", SG2Xf::bias_1c11);
    };
    layer("G.synthesis.b4.conv1", p.g + "conv1");
    torgb("G.synthesis.b4.torgb", p.g + "to_rgb1");
    for (int64_t r = 8, k = 0; r <= R; r *= 2, ++k) {
        const std::string b = "G.synthesis.b" + rs(r);
        layer(b + ".conv0", p.g + "convs." + sg2_str(2 * k));
        add("", p.g + "convs." + sg2_str(2 * k) + ".conv.blur.kernel", SG2Xf::filter4);
        layer(b + ".conv1", p.g + "convs." + sg2_str(2 * k + 1));
        torgb(b + ".torgb", p.g + "to_rgbs." + sg2_str(k));
        add("", p.g + "to_rgbs." + sg2_str(k) + ".upsample.kernel", SG2Xf::filter4);
    }
    if (!with_d) return t;
    add("D.b" + rs(R) + ".fromrgb.weight", p.d + "convs.0.0.weight", SG2Xf::copy);
    add("D.b" + rs(R) + ".fromrgb.bias", p.d + "convs.0.1.bias", SG2Xf::copy);
    for (int64_t r = R, j = 1; r >= 8; r /= 2, ++j) {
        const std::string b = "D.b" + rs(r), s = p.d + "convs." + sg2_str(j);
        add(b + ".conv0.weight", s + ".conv1.0.weight", SG2Xf::copy);
        add(b + ".conv0.bias", s + ".conv1.1.bias", SG2Xf::copy);
        add("", s + ".conv2.0.kernel", SG2Xf::filter1);
        add(b + ".conv1.weight", s + ".conv2.1.weight", SG2Xf::copy);
        add(b + ".conv1.bias", s + ".conv2.2.bias", SG2Xf::copy);
        add("", s + ".skip.0.kernel", SG2Xf::filter1);
        add(b + ".skip.weight", s + ".skip.1.weight", SG2Xf::copy);
    }
    add("D.b4.conv.weight", p.d + "final_conv.0.weight", SG2Xf::copy);
    add("D.b4.conv.bias", p.d + "final_conv.1.bias", SG2Xf::copy);
    add("D.b4.fc.weight", p.d + "final_linear.0.weight", SG2Xf::copy);
    add("D.b4.fc.bias", p.d + "final_linear.0.bias", SG2Xf::copy);
    add("D.b4.out.weight", p.d + "final_linear.1.weight", SG2Xf::copy);
    add("D.b4.out.bias", p.d + "final_linear.1.bias", SG2Xf::copy);
    return t;
}

/// The source shape that `xf` turns into `canonical` (for tests against published key lists).
inline Shape sg2_source_shape(SG2Xf xf, const Shape& canonical) {
    Shape s = canonical;
    switch (xf) {
    case SG2Xf::lead1: s.insert(s.begin(), 1); break;
    case SG2Xf::lead2: s.insert(s.begin(), {1, 1}); break;
    case SG2Xf::bias_1c11: s = {1, canonical.at(0), 1, 1}; break;
    case SG2Xf::transpose: std::reverse(s.begin(), s.end()); break;
    case SG2Xf::tf_conv: case SG2Xf::tf_conv_flip:
        s = {canonical.at(2), canonical.at(3), canonical.at(1), canonical.at(0)};
        break;
    case SG2Xf::filter1: case SG2Xf::filter4: s = {4, 4}; break;
    default: break;
    }
    return s;
}

/// A tensor that shares t's storage under another shape of the same size.
inline Tensor sg2_reshaped(const Tensor& t, Shape shape) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = t.impl()->storage;
    impl->shape = std::move(shape);
    impl->dtype = t.dtype();
    return Tensor(std::move(impl));
}

/// One source value as a float32 host tensor; numbers (TF's numpy float32 scalars) become 0-d.
/// Returns an undefined tensor for anything else.
inline Tensor sg2_float_tensor(const PyObjectPtr& v) {
    if (!v) return {};
    if (v->kind == PK::floating || v->kind == PK::integer) {
        Tensor t = empty_cpu({}, DType::f32);
        t.data<float>()[0] = static_cast<float>(v->kind == PK::floating ? v->floating : static_cast<double>(v->integer));
        return t;
    }
    if (v->kind != PK::tensor || !v->tensor.defined()) return {};
    const Tensor& t = v->tensor;
    if (t.dtype() == DType::f32) return t;
    if (t.dtype() != DType::f64) return {}; // integer tensors are not weights
    Tensor out = empty_cpu(t.shape(), DType::f32);
    const double* s = t.data<double>();
    float* d = out.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<float>(s[i]);
    return out;
}

/// Applies xf to t. Returns an undefined tensor when t's shape does not fit xf.
inline Tensor sg2_apply(SG2Xf xf, const Tensor& t) {
    const Shape& s = t.shape();
    switch (xf) {
    case SG2Xf::copy: return t;
    case SG2Xf::lead1:
        if (s.empty() || s[0] != 1) return {};
        return sg2_reshaped(t, Shape(s.begin() + 1, s.end()));
    case SG2Xf::lead2:
        if (s.size() < 2 || s[0] != 1 || s[1] != 1) return {};
        return sg2_reshaped(t, Shape(s.begin() + 2, s.end()));
    case SG2Xf::bias_1c11:
        if (s.size() != 4 || s[0] != 1 || s[2] != 1 || s[3] != 1) return {};
        return sg2_reshaped(t, {s[1]});
    case SG2Xf::transpose: {
        if (s.size() != 2) return {};
        Tensor out = empty_cpu({s[1], s[0]}, DType::f32);
        const float* a = t.data<float>();
        float* b = out.data<float>();
        for (int64_t i = 0; i < s[0]; ++i)
            for (int64_t j = 0; j < s[1]; ++j) b[j * s[0] + i] = a[i * s[1] + j];
        return out;
    }
    case SG2Xf::tf_conv: case SG2Xf::tf_conv_flip: {
        if (s.size() != 4) return {};
        const int64_t kh = s[0], kw = s[1], I = s[2], O = s[3];
        const bool flip = xf == SG2Xf::tf_conv_flip;
        Tensor out = empty_cpu({O, I, kh, kw}, DType::f32);
        const float* a = t.data<float>();
        float* b = out.data<float>();
        for (int64_t o = 0; o < O; ++o)
            for (int64_t i = 0; i < I; ++i)
                for (int64_t y = 0; y < kh; ++y)
                    for (int64_t x = 0; x < kw; ++x) {
                        const int64_t sy = flip ? kh - 1 - y : y, sx = flip ? kw - 1 - x : x;
                        b[((o * I + i) * kh + y) * kw + x] = a[((sy * kw + sx) * I + i) * O + o];
                    }
        return out;
    }
    case SG2Xf::plus_one: {
        Tensor out = empty_cpu(s, DType::f32);
        const float* a = t.data<float>();
        float* b = out.data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) b[i] = a[i] + 1.0f;
        return out;
    }
    default: return t;
    }
}

/// True when t is outer([1,3,3,1], [1,3,3,1]) / 64 * scale.
inline bool sg2_is_filter(const Tensor& t, float scale) {
    if (t.shape() != Shape{4, 4}) return false;
    static const float k[4] = {1, 3, 3, 1};
    const float* p = t.data<float>();
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x)
            if (!(std::fabs(p[y * 4 + x] - k[y] * k[x] / 64.0f * scale) <= 1e-6f * scale)) return false;
    return true;
}

} // namespace detail
} // namespace vkgrad::models
