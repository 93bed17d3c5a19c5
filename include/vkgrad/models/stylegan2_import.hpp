// vkgrad/models/stylegan2_import.hpp — published StyleGAN2 checkpoints → vkgrad's one StyleGAN2
// file (a safetensors file whose names, layouts and metadata stylegan2_config.hpp describes).
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
//
// The configuration is inferred from the tensors (resolution from the largest block, z/w dims
// and mapping depth from the mapping layers, channel counts C(r) from the conv weights) and from
// the attributes each format stores (ADA conv_clamp, lr_multiplier, mbstd group; TF static_kwargs).
// Every tensor of the canonical layout must be found with the shape the inferred configuration
// gives; tensors nobody expects are reported as warnings, not errors. Conditional networks
// (c_dim > 0) and non-default architectures are refused.
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
#include "stylegan2_formats.hpp"

namespace vkgrad::models {

/// A converted checkpoint, in memory.
struct StyleGAN2Checkpoint {
    StyleGAN2Config config;
    std::string source_format; ///< "nvidia-tf", "nvidia-ada" or "rosinality"
    std::string container;     ///< how the file was stored: "torch zip", "torch legacy" or "pickle protocol N"
    std::string source;        ///< the input file's name (no directories)
    /// Canonical "G.*" and "D.*" names (stylegan2_config.hpp), float32, contiguous, host, in
    /// stylegan2_layout() order.
    std::vector<std::pair<std::string, Tensor>> tensors;
    bool has_discriminator = false;
    std::vector<std::string> warnings; ///< e.g. unexpected source tensors that were ignored
};

namespace detail {

using io::PyObject;
using io::PyObjectPtr;
using PK = PyObject::Kind;

/// Source tensors (or numbers) by full path, in file order.
struct SG2Source {
    std::vector<std::pair<std::string, PyObjectPtr>> items;
    std::unordered_map<std::string, size_t> index;
    void add(const std::string& name, const PyObjectPtr& v, std::vector<std::string>& warnings) {
        if (!index.emplace(name, items.size()).second) {
            warnings.push_back("'" + name + "' appears twice; the first one is used");
            return;
        }
        items.emplace_back(name, v);
    }
    PyObjectPtr find(const std::string& name) const {
        auto it = index.find(name);
        return it == index.end() ? nullptr : items[it->second].second;
    }
};

/// The state dict of an nn.Module value: a persistent/opaque object's state or a plain dict,
/// when it has the module fields. nullptr otherwise.
inline PyObjectPtr sg2_module_dict(const PyObjectPtr& m) {
    if (!m) return nullptr;
    const PyObjectPtr d = m->kind == PK::object ? m->state : m->kind == PK::dict ? m : nullptr;
    if (d && d->kind == PK::dict && (d->find("_parameters") || d->find("_modules"))) return d;
    return nullptr;
}

/// A scalar attribute (None, bool, int, float, str) worth keeping.
inline bool sg2_is_scalar(const PyObjectPtr& v) {
    return v && (v->kind == PK::none || v->kind == PK::boolean || v->kind == PK::integer ||
                 v->kind == PK::floating || v->kind == PK::str);
}

/// Walks an nn.Module tree: tensors of _parameters/_buffers under `prefix` + dotted names into
/// `src`, plain scalar attributes into `attrs` (without `prefix`). Depth and node count are
/// bounded, and a module reachable twice is walked once.
inline void sg2_walk_module(const PyObjectPtr& m, const std::string& prefix, const std::string& rel, int depth,
                            SG2Source& src, std::map<std::string, PyObjectPtr>& attrs,
                            std::unordered_set<const PyObject*>& seen, std::vector<std::string>& warnings,
                            const std::string& what) {
    const PyObjectPtr d = sg2_module_dict(m);
    if (!d) {
        warnings.push_back("ignored submodule '" + prefix + rel + "' (" + m->describe() + ")");
        return;
    }
    VKG_CHECK(depth < 32 && seen.size() < 100000, "import_stylegan2", "'", what, "': modules nest too deeply at '",
              prefix, rel, "'");
    if (!seen.insert(d.get()).second) return;
    for (const char* field : {"_parameters", "_buffers"}) {
        const PyObjectPtr f = d->find(field);
        if (!f || f->kind != PK::dict) continue;
        for (const auto& [k, v] : f->entries) {
            if (k->kind != PK::str || !v || v->is_none()) continue;
            if (v->kind != PK::tensor) {
                warnings.push_back("ignored non-tensor " + std::string(field + 1) + " '" + prefix + rel + k->text +
                                   "' (" + v->describe() + ")");
                continue;
            }
            src.add(prefix + rel + k->text, v, warnings);
        }
    }
    for (const auto& [k, v] : d->entries)
        if (k->kind == PK::str && !k->text.empty() && k->text[0] != '_' && sg2_is_scalar(v)) attrs[rel + k->text] = v;
    if (const PyObjectPtr mods = d->find("_modules"); mods && mods->kind == PK::dict)
        for (const auto& [k, v] : mods->entries)
            if (k->kind == PK::str && v && !v->is_none())
                sg2_walk_module(v, prefix, rel + k->text + ".", depth + 1, src, attrs, seen, warnings, what);
}

/// What the format-specific readers collect from the value tree.
struct SG2Parsed {
    SG2Format format = SG2Format::ada;
    SG2Source src;
    SG2Prefixes prefixes;
    bool has_d = false;
    std::map<std::string, PyObjectPtr> g_attrs, d_attrs; ///< ADA module attributes
    PyObjectPtr g_init_kwargs;                          ///< ADA G's _init_kwargs
    PyObjectPtr g_kwargs, d_kwargs, mapping_kwargs;      ///< TF static_kwargs
    std::vector<std::string> warnings;
};

inline bool sg2_is_tf_network(const PyObjectPtr& v) {
    return v && v->kind == PK::dict && v->name == "dnnlib.tflib.network.Network";
}
inline bool sg2_tensor_dict(const PyObjectPtr& v) {
    if (!v || v->kind != PK::dict) return false;
    for (const auto& kv : v->entries)
        if (kv.second && kv.second->kind == PK::tensor) return true;
    return false;
}

/// The keys of a dict, for error messages.
inline std::string sg2_keys(const PyObjectPtr& d) {
    std::string s;
    size_t n = 0;
    for (const auto& kv : d->entries) {
        if (n == 12) {
            s += ", ...";
            break;
        }
        s += (n++ ? ", " : "") + (kv.first->kind == PK::str ? "'" + kv.first->text.substr(0, 40) + "'" : kv.first->describe());
    }
    return "{" + s + "}";
}

/// TF: a Network's variables (and its components', as "component/name") under `prefix`.
inline void sg2_tf_variables(const PyObjectPtr& net, const std::string& prefix, int depth, SG2Source& src,
                             std::vector<std::string>& warnings, const std::string& what) {
    const char* op = "import_stylegan2";
    VKG_CHECK(depth < 8, op, "'", what, "': TF network components nest too deeply at '", prefix, "'");
    const PyObjectPtr vars = net->find("variables");
    VKG_CHECK(vars && (vars->kind == PK::list || vars->kind == PK::tuple), op, "'", what, "': TF network '", prefix,
              "' has no variables list");
    for (const auto& item : vars->items) {
        VKG_CHECK(item && (item->kind == PK::tuple || item->kind == PK::list) && item->items.size() == 2 &&
                      item->items[0]->kind == PK::str,
                  op, "'", what, "': TF network '", prefix, "' has a malformed variable entry (",
                  item ? item->describe() : "null", "), expected (name, value)");
        src.add(prefix + item->items[0]->text, item->items[1], warnings);
    }
    if (const PyObjectPtr comps = net->find("components"); comps && comps->kind == PK::dict)
        for (const auto& [k, v] : comps->entries) {
            if (k->kind != PK::str) continue;
            VKG_CHECK(sg2_is_tf_network(v), op, "'", what, "': TF component '", prefix, k->text, "' is a ",
                      v ? v->describe() : "null", ", not a Network");
            sg2_tf_variables(v, prefix + k->text + "/", depth + 1, src, warnings, what);
        }
}

inline SG2Parsed sg2_parse_tf(const PyObjectPtr& root, const std::string& what) {
    const char* op = "import_stylegan2";
    SG2Parsed p;
    p.format = SG2Format::tf;
    std::vector<PyObjectPtr> nets;
    if (sg2_is_tf_network(root)) nets.push_back(root);
    else
        for (const auto& v : root->items)
            if (sg2_is_tf_network(v)) nets.push_back(v);
    const auto has_synthesis = [](const PyObjectPtr& n) {
        const PyObjectPtr c = n->find("components");
        return c && c->find("synthesis") && c->find("mapping");
    };
    PyObjectPtr g, d;
    if (root->kind == PK::tuple && root->items.size() == 3 && nets.size() == 3) {
        g = root->items[2]; // (G, D, Gs): Gs is the averaged generator
        d = root->items[1];
    } else {
        for (const auto& n : nets) {
            if (has_synthesis(n)) g = n; // the last generator: Gs when G comes first
            else if (!d) d = n;
        }
    }
    VKG_CHECK(g && has_synthesis(g), op, "'", what, "' holds TF networks but no generator with 'mapping' and ",
              "'synthesis' components");
    if (!(root->kind == PK::tuple && root->items.size() == 3) && nets.size() > 1)
        p.warnings.push_back("TF pickle is not the usual (G, D, Gs) tuple; using the last generator found");
    p.prefixes = {"Gs/", "D/", "Gs/dlatent_avg"};
    sg2_tf_variables(g, "Gs/", 0, p.src, p.warnings, what);
    p.g_kwargs = g->find("static_kwargs");
    if (const PyObjectPtr c = g->find("components"))
        if (const PyObjectPtr m = c->find("mapping")) p.mapping_kwargs = m->find("static_kwargs");
    if (d) {
        p.has_d = true;
        sg2_tf_variables(d, "D/", 0, p.src, p.warnings, what);
        p.d_kwargs = d->find("static_kwargs");
    }
    return p;
}

inline void sg2_add_state_dict(const PyObjectPtr& d, const std::string& prefix, SG2Source& src,
                               std::vector<std::string>& warnings) {
    for (const auto& [k, v] : d->entries) {
        if (k->kind != PK::str) {
            warnings.push_back("ignored entry with a " + k->describe() + " key under '" + prefix + "'");
            continue;
        }
        src.add(prefix + k->text, v, warnings);
    }
}

/// ADA: a network value that is a module object or a state dict.
inline void sg2_ada_network(const PyObjectPtr& net, const std::string& prefix, SG2Parsed& p,
                            std::map<std::string, PyObjectPtr>& attrs, const std::string& what) {
    if (sg2_module_dict(net)) {
        std::unordered_set<const PyObject*> seen;
        sg2_walk_module(net, prefix, "", 0, p.src, attrs, seen, p.warnings, what);
        return;
    }
    VKG_CHECK(net->kind == PK::dict, "import_stylegan2", "'", what, "': network '", prefix.substr(0, prefix.size() - 1),
              "' is a ", net->describe(), ", neither a module nor a state dict");
    sg2_add_state_dict(net, prefix, p.src, p.warnings);
}

inline SG2Parsed sg2_parse(const PyObjectPtr& root, const std::string& what) {
    const char* op = "import_stylegan2";
    const auto present = [&](const char* key) {
        const PyObjectPtr v = root->find(key);
        return v && !v->is_none() ? v : nullptr;
    };
    if (sg2_is_tf_network(root)) return sg2_parse_tf(root, what);
    if (root->kind == PK::tuple || root->kind == PK::list) {
        for (const auto& v : root->items)
            if (sg2_is_tf_network(v)) return sg2_parse_tf(root, what);
        ::vkgrad::detail::fail(op, "'", what, "' is not a StyleGAN2 checkpoint: it holds a ", root->describe(), " of ",
                               root->items.size(), " items, none a TF network (dnnlib.tflib.network.Network)");
    }
    SG2Parsed p;
    if (sg2_module_dict(root)) { // a lone pickled module
        p.prefixes = {"G.", "D.", "G.mapping.w_avg"};
        sg2_ada_network(root, "G.", p, p.g_attrs, what);
        if (const PyObjectPtr d = sg2_module_dict(root)) p.g_init_kwargs = d->find("_init_kwargs");
        return p;
    }
    VKG_CHECK(root->kind == PK::dict, op, "'", what, "' is not a StyleGAN2 checkpoint: its top-level value is: ",
              root->describe(), " (expected NVIDIA's {G_ema, D, ...}, rosinality's {g_ema, latent_avg, ...} or TF's ",
              "(G, D, Gs))");
    if (const PyObjectPtr g = present("G_ema") ? present("G_ema") : present("G")) {
        if (!present("G_ema")) p.warnings.push_back("no G_ema in the file: using G, which is not the averaged generator");
        p.prefixes = {"G_ema.", "D.", "G_ema.mapping.w_avg"};
        if (!present("G_ema")) p.prefixes = {"G.", "D.", "G.mapping.w_avg"};
        sg2_ada_network(g, p.prefixes.g, p, p.g_attrs, what);
        if (const PyObjectPtr d = sg2_module_dict(g)) p.g_init_kwargs = d->find("_init_kwargs");
        if (const PyObjectPtr d = present("D")) {
            p.has_d = true;
            sg2_ada_network(d, "D.", p, p.d_attrs, what);
        }
        return p;
    }
    if (const PyObjectPtr g = present("g_ema") ? present("g_ema") : present("g")) {
        p.format = SG2Format::ros;
        const bool ema = present("g_ema") != nullptr;
        if (!ema) p.warnings.push_back("no g_ema in the file: using g, which is not the averaged generator");
        VKG_CHECK(g->kind == PK::dict, op, "'", what, "': '", ema ? "g_ema" : "g", "' is a ", g->describe(),
                  ", not a state dict");
        p.prefixes = {ema ? "g_ema." : "g.", "d.", "latent_avg"};
        sg2_add_state_dict(g, p.prefixes.g, p.src, p.warnings);
        if (const PyObjectPtr la = present("latent_avg")) p.src.add("latent_avg", la, p.warnings);
        if (const PyObjectPtr d = present("d")) {
            VKG_CHECK(d->kind == PK::dict, op, "'", what, "': 'd' is a ", d->describe(), ", not a state dict");
            p.has_d = true;
            sg2_add_state_dict(d, "d.", p.src, p.warnings);
        }
        static const std::set<std::string> known = {"g_ema", "g", "d", "latent_avg", "g_optim", "d_optim", "args",
                                                    "ada_aug_p"};
        for (const auto& kv : root->entries)
            if (kv.first->kind == PK::str && !known.count(kv.first->text))
                p.warnings.push_back("ignored top-level entry '" + kv.first->text + "'");
        return p;
    }
    if (sg2_tensor_dict(root)) { // a bare generator state dict
        if (root->find("synthesis.b4.const") || root->find("mapping.fc0.weight")) {
            p.prefixes = {"", "", "mapping.w_avg"};
            sg2_add_state_dict(root, "", p.src, p.warnings);
            return p;
        }
        if (root->find("input.input") || root->find("conv1.conv.weight") || root->find("style.1.weight")) {
            p.format = SG2Format::ros;
            p.prefixes = {"", "", "latent_avg"};
            sg2_add_state_dict(root, "", p.src, p.warnings);
            return p;
        }
    }
    ::vkgrad::detail::fail(op, "'", what, "' is not a StyleGAN2 checkpoint: a dict with keys ", sg2_keys(root),
                           "; expected NVIDIA's G_ema/G/D, rosinality's g_ema/latent_avg, TF's (G, D, Gs) tuple, "
                           "or a generator state dict");
}

/// Parses a decimal int at s[pos...] (at most 9 digits); -1 if there is none.
inline int64_t sg2_int_at(const std::string& s, size_t pos, size_t& end) {
    int64_t v = 0;
    end = pos;
    while (end < s.size() && end - pos < 10 && s[end] >= '0' && s[end] <= '9') v = v * 10 + (s[end++] - '0');
    if (end == pos || end - pos > 9) return -1;
    return v;
}
inline bool sg2_block_res(int64_t r) { return r >= 4 && r <= 65536 && (r & (r - 1)) == 0; }

/// Resolution and mapping depth suggested by the source names (the largest index found, so a
/// gap makes a key missing rather than silently shrinking the network). 0 when none is found.
inline std::pair<int64_t, int64_t> sg2_scan(const SG2Parsed& p) {
    int64_t R = 0, n = 0;
    const auto starts = [](const std::string& s, const std::string& pre) { return s.compare(0, pre.size(), pre) == 0; };
    const auto noise_res = [](int64_t i) { return i == 0 ? int64_t{4} : i >= 1 && i <= 30 ? int64_t{8} << ((i - 1) / 2) : 0; };
    for (const auto& [name, v] : p.src.items) {
        size_t end = 0;
        const std::string& g = p.prefixes.g;
        if (!starts(name, g)) continue;
        const std::string k = name.substr(g.size());
        int64_t r = 0, m = -1;
        if (p.format == SG2Format::ada) {
            if (starts(k, "synthesis.b")) {
                r = sg2_int_at(k, 11, end);
                if (end >= k.size() || k[end] != '.') r = 0;
            } else if (starts(k, "mapping.fc")) {
                m = sg2_int_at(k, 10, end);
                if (end >= k.size() || k[end] != '.') m = -1;
            }
        } else if (p.format == SG2Format::tf) {
            if (starts(k, "synthesis/noise")) r = noise_res(sg2_int_at(k, 15, end));
            else if (starts(k, "synthesis/")) {
                const int64_t a = sg2_int_at(k, 10, end);
                size_t e2 = 0;
                if (end < k.size() && k[end] == 'x' && sg2_int_at(k, end + 1, e2) == a && e2 < k.size() && k[e2] == '/')
                    r = a;
            } else if (starts(k, "mapping/Dense")) {
                m = sg2_int_at(k, 13, end);
                if (end >= k.size() || k[end] != '/') m = -1;
            }
        } else {
            if (starts(k, "to_rgbs.")) {
                const int64_t i = sg2_int_at(k, 8, end);
                r = i >= 0 && i <= 13 ? int64_t{8} << i : 0;
            } else if (starts(k, "convs.")) {
                const int64_t i = sg2_int_at(k, 6, end);
                r = i >= 0 && i <= 27 ? int64_t{8} << (i / 2) : 0;
            } else if (starts(k, "noises.noise_")) {
                r = noise_res(sg2_int_at(k, 13, end));
            } else if (starts(k, "style.")) {
                m = sg2_int_at(k, 6, end) - 1;
                if (end >= k.size() || k[end] != '.') m = -1;
            } else if (starts(k, "input.input") || starts(k, "conv1.") || starts(k, "to_rgb1.")) {
                r = 4;
            }
        }
        if (sg2_block_res(r)) R = std::max(R, r);
        if (m >= 0 && m < 1024) n = std::max(n, m + 1);
    }
    return {R, n};
}

/// A converted tensor and where it came from.
struct SG2Converted {
    Tensor tensor;
    std::string source;
    Shape source_shape;
};

inline std::string sg2_format_name(SG2Format f) {
    return f == SG2Format::ada ? "nvidia-ada" : f == SG2Format::tf ? "nvidia-tf" : "rosinality";
}

/// A number from a kwargs dict or attribute; `fallback` when absent; None → `none_value`.
inline double sg2_number(const PyObjectPtr& v, double fallback, double none_value, const std::string& name,
                         const std::string& what) {
    if (!v) return fallback;
    if (v->is_none()) return none_value;
    VKG_CHECK(v->kind == PK::integer || v->kind == PK::floating || v->kind == PK::boolean, "import_stylegan2", "'",
              what, "': '", name, "' is a ", v->describe(), ", expected a number");
    VKG_CHECK(std::isfinite(v->as_double()), "import_stylegan2", "'", what, "': '", name, "' is ", v->as_double());
    return v->as_double();
}
/// An integer count from a kwargs dict or attribute (0 ≤ value ≤ 2^20); `fallback` when absent;
/// None → `none_value`.
inline int64_t sg2_count(const PyObjectPtr& v, int64_t fallback, int64_t none_value, const std::string& name,
                         const std::string& what) {
    if (!v) return fallback;
    if (v->is_none()) return none_value;
    VKG_CHECK(v->kind == PK::integer && v->integer >= 0 && v->integer <= (int64_t{1} << 20), "import_stylegan2", "'",
              what, "': '", name, "' is ", v->kind == PK::integer ? std::to_string(v->integer) : v->describe(),
              ", expected a small non-negative integer");
    return v->integer;
}
inline PyObjectPtr sg2_attr(const std::map<std::string, PyObjectPtr>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? nullptr : it->second;
}
inline PyObjectPtr sg2_kw(const PyObjectPtr& d, const char* k) { return d && d->kind == PK::dict ? d->find(k) : nullptr; }

/// The whole conversion of a loaded value tree; `what` names the file in every error.
inline StyleGAN2Checkpoint sg2_convert(const PyObjectPtr& root, const std::string& what) {
    const char* op = "import_stylegan2";
    SG2Parsed p = sg2_parse(root, what);
    StyleGAN2Checkpoint out;
    out.source_format = sg2_format_name(p.format);
    out.has_discriminator = p.has_d;
    out.warnings = std::move(p.warnings);
    const std::string fmt = "'" + what + "' (" + out.source_format + ")";

    // --- conditional networks and other architectures are refused up front ---
    const auto conditional = [&](const std::string& why) {
        ::vkgrad::detail::fail(op, fmt, ": conditional networks are not supported (", why, ")");
    };
    if (p.format == SG2Format::ada) {
        for (const char* k : {"c_dim", "mapping.c_dim"})
            if (sg2_number(sg2_attr(p.g_attrs, k), 0, 0, k, what) > 0) conditional(std::string("G ") + k + " > 0");
        if (sg2_number(sg2_attr(p.d_attrs, "c_dim"), 0, 0, "c_dim", what) > 0) conditional("D c_dim > 0");
        for (const auto& [name, v] : p.src.items) {
            if (name.compare(0, p.prefixes.g.size() + 14, p.prefixes.g + "mapping.embed.") == 0 ||
                (p.has_d && name.compare(0, 10, "D.mapping.") == 0))
                conditional("'" + name + "' is present");
        }
        for (const auto& [k, v] : p.g_attrs)
            if (k.size() > 13 && k.compare(k.size() - 13, 13, ".architecture") == 0 && v->kind == PK::str &&
                v->text != "skip")
                ::vkgrad::detail::fail(op, fmt, ": G architecture '", v->text.substr(0, 40), "' (", k,
                                       ") is not supported; only 'skip' is");
        for (const auto& [k, v] : p.d_attrs)
            if (k.size() > 13 && k.compare(k.size() - 13, 13, ".architecture") == 0 && v->kind == PK::str &&
                v->text != "resnet")
                ::vkgrad::detail::fail(op, fmt, ": D architecture '", v->text.substr(0, 40), "' (", k,
                                       ") is not supported; only 'resnet' is");
    } else if (p.format == SG2Format::tf) {
        if (sg2_number(sg2_kw(p.g_kwargs, "label_size"), 0, 0, "label_size", what) > 0) conditional("G label_size > 0");
        if (sg2_number(sg2_kw(p.d_kwargs, "label_size"), 0, 0, "label_size", what) > 0) conditional("D label_size > 0");
        for (const auto& [name, v] : p.src.items)
            if (name.find("LabelConcat") != std::string::npos || name.find("LabelEmbed") != std::string::npos)
                conditional("'" + name + "' is present");
        const auto arch = [&](const PyObjectPtr& kw, const char* want, const char* net) {
            const PyObjectPtr a = sg2_kw(kw, "architecture");
            if (a && a->kind == PK::str && a->text != want)
                ::vkgrad::detail::fail(op, fmt, ": ", net, " architecture '", a->text.substr(0, 40),
                                       "' is not supported; only '", want, "' is");
        };
        arch(p.g_kwargs, "skip", "G");
        arch(p.d_kwargs, "resnet", "D");
        for (const PyObjectPtr& kw : {p.g_kwargs, p.d_kwargs}) {
            const PyObjectPtr k = sg2_kw(kw, "resample_kernel");
            if (!k || k->is_none()) continue;
            bool ok = (k->kind == PK::list || k->kind == PK::tuple) && k->items.size() == 4;
            for (size_t i = 0; ok && i < 4; ++i)
                ok = k->items[i]->kind == PK::integer && k->items[i]->integer == (i == 0 || i == 3 ? 1 : 3);
            VKG_CHECK(ok, op, fmt, ": resample_kernel ", k->describe(), " is not supported; only [1, 3, 3, 1] is");
        }
    }

    // --- shape of the network from the names, then the conversion table ---
    const auto [R, n_mlp] = sg2_scan(p);
    VKG_CHECK(R >= 4, op, fmt, ": no StyleGAN2 synthesis blocks found (", p.src.items.size(),
              " tensors, none named like a generator layer): not a StyleGAN2 checkpoint");
    VKG_CHECK(n_mlp >= 1, op, fmt, ": no mapping network layers found (expected source key '",
              p.format == SG2Format::ada ? p.prefixes.g + "mapping.fc0.weight"
              : p.format == SG2Format::tf ? p.prefixes.g + "mapping/Dense0/weight"
                                          : p.prefixes.g + "style.1.weight",
              "')");
    const std::vector<SG2Entry> table = sg2_table(p.format, R, n_mlp, p.has_d, p.prefixes);

    std::map<std::string, SG2Converted> conv;
    std::map<std::string, std::string> source_of; // canonical → source, for messages
    std::unordered_set<std::string> used;
    for (const SG2Entry& e : table) {
        if (!e.canonical.empty()) source_of[e.canonical] = e.source;
        const PyObjectPtr v = p.src.find(e.source);
        if (!v) continue;
        used.insert(e.source);
        if (e.xf == SG2Xf::ignore) continue;
        const Tensor t = sg2_float_tensor(v);
        VKG_CHECK(t.defined(), op, fmt, ": source key '", e.source, "' is a ",
                  v->kind == PK::tensor ? dtype_name(v->tensor.dtype()) + std::string(" tensor") : v->describe(),
                  ", expected a floating-point tensor",
                  e.canonical.empty() ? std::string() : " (for '" + e.canonical + "')");
        if (e.xf == SG2Xf::filter1 || e.xf == SG2Xf::filter4) {
            VKG_CHECK(sg2_is_filter(t, e.xf == SG2Xf::filter4 ? 4.0f : 1.0f), op, fmt, ": source key '", e.source,
                      "' (shape ", to_string(t.shape()), ") is not the FIR filter outer([1,3,3,1])/64",
                      e.xf == SG2Xf::filter4 ? "*4" : "", " that vkgrad implements: other filters are not supported");
            continue;
        }
        Tensor c = sg2_apply(e.xf, t);
        VKG_CHECK(c.defined(), op, fmt, ": source key '", e.source, "' has shape ", to_string(t.shape()),
                  ", which does not fit its layout transform to '", e.canonical, "'");
        conv[e.canonical] = {c, e.source, t.shape()};
    }
    for (const auto& [name, v] : p.src.items)
        if (!used.count(name))
            out.warnings.push_back("ignored unexpected " + (v && v->kind == PK::tensor ? std::string("tensor") : v ? v->describe() : "value") +
                                   " '" + name + "'" + (v && v->kind == PK::tensor ? " " + to_string(v->tensor.shape()) : ""));

    const auto missing = [&](const std::string& canonical) {
        auto it = source_of.find(canonical);
        ::vkgrad::detail::fail(op, fmt, ": missing tensor '", canonical, "' (source key '",
                               it == source_of.end() ? std::string("?") : it->second, "')",
                               canonical == "G.mapping.w_avg" && p.format == SG2Format::ros
                                   ? "; rosinality training checkpoints lack latent_avg, which cannot be re-estimated "
                                     "exactly: convert one written by convert_weight.py, or an NVIDIA pickle"
                                   : "");
    };
    const auto dim = [&](const std::string& canonical, size_t axis) -> int64_t {
        auto it = conv.find(canonical);
        if (it == conv.end()) missing(canonical);
        const Shape& s = it->second.tensor.shape();
        VKG_CHECK(s.size() > axis, op, fmt, ": tensor '", it->second.source, "' (for '", canonical, "') has shape ",
                  to_string(it->second.source_shape), ", too few dimensions");
        return s[axis];
    };

    // --- the configuration ---
    StyleGAN2Config c;
    c.resolution = R;
    c.mapping_layers = n_mlp;
    c.w_dim = dim("G.mapping.fc0.weight", 0);
    c.z_dim = dim("G.mapping.fc0.weight", 1);
    c.img_channels = dim("G.synthesis.b4.torgb.weight", 0);
    std::vector<std::pair<int64_t, int64_t>> ch; // (r, C(r))
    for (int64_t r = 4; r <= R; r *= 2) ch.emplace_back(r, dim("G.synthesis.b" + std::to_string(r) + ".conv1.weight", 0));
    int64_t cmax = 0, base = 0;
    for (const auto& [r, n] : ch) cmax = std::max(cmax, n);
    for (const auto& [r, n] : ch) base = std::max(base, n < cmax ? n * r : cmax * r);
    c.channel_max = cmax;
    c.channel_base = base;
    bool consistent = cmax >= 1;
    std::string counts;
    for (const auto& [r, n] : ch) {
        consistent = consistent && n >= 1 && c.channels(r) == n;
        counts += (counts.empty() ? "" : ", ") + std::string("C(") + std::to_string(r) + ") = " + std::to_string(n);
    }
    VKG_CHECK(consistent, op, fmt, ": the generator's channel counts (", counts,
              ") do not follow C(r) = min(channel_base / r, channel_max) for any channel_base, channel_max");

    PyObjectPtr mbstd_channels; // when the file states it
    std::string mbstd_name = "minibatch-stddev channels";
    if (p.format == SG2Format::ada) {
        // The mapping lr multiplier: an explicit attribute, the constructor's mapping_kwargs, or
        // FullyConnectedLayer's bias_gain (which is the lr multiplier), else NVIDIA's default.
        const PyObjectPtr lr_attr = sg2_attr(p.g_attrs, "mapping.lr_multiplier");
        const PyObjectPtr lr_kwarg = sg2_kw(sg2_kw(p.g_init_kwargs, "mapping_kwargs"), "lr_multiplier");
        c.lr_multiplier = lr_attr    ? sg2_number(lr_attr, 0.01, 0.01, "mapping.lr_multiplier", what)
                          : lr_kwarg ? sg2_number(lr_kwarg, 0.01, 0.01, "mapping_kwargs.lr_multiplier", what)
                                     : sg2_number(sg2_attr(p.g_attrs, "mapping.fc0.bias_gain"), 0.01, 0.01,
                                                  "mapping.fc0.bias_gain", what);
        // conv_clamp: one value for all G layers (None = no clamping = 0).
        std::set<double> g_clamp, d_clamp;
        for (auto* side : {&p.g_attrs, &p.d_attrs})
            for (const auto& [k, v] : *side)
                if (k.size() >= 10 && k.compare(k.size() - 10, 10, "conv_clamp") == 0)
                    (side == &p.g_attrs ? g_clamp : d_clamp).insert(sg2_number(v, 0, 0, k, what));
        VKG_CHECK(g_clamp.size() <= 1, op, fmt, ": G layers use different conv_clamp values (", g_clamp.size(),
                  " distinct); not supported");
        c.conv_clamp = g_clamp.empty() ? 0 : *g_clamp.begin();
        if (!d_clamp.empty() && (d_clamp.size() > 1 || *d_clamp.begin() != c.conv_clamp))
            out.warnings.push_back("D's conv_clamp differs from G's; the file records G's (" +
                                   std::to_string(c.conv_clamp) + ")");
        c.mbstd_group = sg2_count(sg2_attr(p.d_attrs, "b4.mbstd.group_size"), 4, 0, "b4.mbstd.group_size", what);
        mbstd_channels = sg2_attr(p.d_attrs, "b4.mbstd.num_channels");
        mbstd_name = "b4.mbstd.num_channels";
    } else if (p.format == SG2Format::tf) {
        const PyObjectPtr lr = sg2_kw(p.g_kwargs, "mapping_lrmul") ? sg2_kw(p.g_kwargs, "mapping_lrmul")
                                                                  : sg2_kw(p.mapping_kwargs, "mapping_lrmul");
        c.lr_multiplier = sg2_number(lr, 0.01, 0.01, "mapping_lrmul", what);
        c.conv_clamp = 0;
        // TF D_stylegan2 defaults to group 4 (NVIDIA's legacy.py would use the whole batch).
        c.mbstd_group = sg2_count(sg2_kw(p.d_kwargs, "mbstd_group_size"), 4, 0, "mbstd_group_size", what);
        mbstd_channels = sg2_kw(p.d_kwargs, "mbstd_num_features");
        mbstd_name = "mbstd_num_features";
    } else {
        c.lr_multiplier = 0.01; // rosinality's lr_mlp default; not stored
        c.conv_clamp = 0;
        c.mbstd_group = 4; // rosinality's stddev_group (its stddev_feat is 1, as the shapes show)
    }
    // Minibatch-stddev channels: the epilogue conv's input channels are C(4) + that number.
    c.mbstd_channels = sg2_count(mbstd_channels, 1, 0, mbstd_name, what);
    if (p.has_d) {
        const int64_t n = dim("D.b4.conv.weight", 1) - c.channels(4);
        if (!mbstd_channels) c.mbstd_channels = n;
        VKG_CHECK(n == c.mbstd_channels, op, fmt, ": tensor '", conv["D.b4.conv.weight"].source, "' has ",
                  dim("D.b4.conv.weight", 1), " input channels, expected C(4) + mbstd channels (", mbstd_name,
                  ") = ", c.channels(4), " + ", c.mbstd_channels);
    }
    try {
        c.validate();
    } catch (const Error& e) {
        ::vkgrad::detail::fail(op, fmt, ": inferred an invalid configuration: ", e.what());
    }
    out.config = c;

    // --- every canonical tensor, with the shape the configuration gives ---
    for (const auto& [name, shape] : stylegan2_layout(c, p.has_d)) {
        auto it = conv.find(name);
        if (it == conv.end()) missing(name);
        const SG2Converted& x = it->second;
        VKG_CHECK(x.tensor.shape() == shape, op, fmt, ": tensor '", x.source, "' (for '", name, "') has shape ",
                  to_string(x.source_shape), x.source_shape == x.tensor.shape() ? "" : " → " + to_string(x.tensor.shape()),
                  ", expected ", to_string(shape), " for ", describe(c));
        out.tensors.emplace_back(name, x.tensor);
    }
    return out;
}

/// How the bytes are stored, from the first bytes; throws for anything that is neither a zip
/// archive nor a pickle (protocol 2–5 header, or the first opcode of a protocol 0/1 one).
inline std::string sg2_container(const std::string& d, const std::string& what) {
    const char* op = "import_stylegan2";
    VKG_CHECK(!d.empty(), op, "'", what, "' is empty");
    if (d.size() >= 4 && d.compare(0, 4, "PK\x03\x04") == 0) return "torch zip";
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    if (d.size() >= sizeof legacy && std::equal(legacy, legacy + sizeof legacy, reinterpret_cast<const unsigned char*>(d.data())))
        return "torch legacy";
    if (d.size() >= 2 && static_cast<unsigned char>(d[0]) == 0x80 && d[1] >= 2 && d[1] <= 5)
        return "pickle protocol " + std::to_string(static_cast<int>(d[1]));
    // Protocols 0 and 1 have no header; these are the opcodes such a pickle of a dict or tuple starts with.
    if (d[0] == '(' || d[0] == '}' || d[0] == ')' || d[0] == 'c' || d[0] == ']') return "pickle protocol 0/1";
    std::string head;
    for (size_t i = 0; i < std::min<size_t>(d.size(), 8); ++i) {
        static const char* hex = "0123456789abcdef";
        const auto b = static_cast<unsigned char>(d[i]);
        head += std::string(i ? " " : "") + hex[b >> 4] + hex[b & 15];
    }
    ::vkgrad::detail::fail(op, "'", what, "' is not a StyleGAN2 checkpoint: it is neither a zip archive (torch.save) ",
                           "nor a pickle (first bytes ", head, ")");
}

} // namespace detail

/// Reads a StyleGAN2 checkpoint (NVIDIA TF pickle, NVIDIA stylegan2-ada-pytorch pickle, or a
/// rosinality .pt in zip or legacy format) and converts it to vkgrad's names and layouts.
/// Requires nothing of the file. Ensures: a valid config, every tensor of
/// stylegan2_layout(config, has_discriminator) (in that order) with exactly that shape, float32 on
/// the host. Throws vkgrad::Error naming `path` for anything that is not a supported StyleGAN2
/// checkpoint (damaged, missing or misshapen tensors, conditional networks, other architectures).
/// Nothing in the file is executed.
inline StyleGAN2Checkpoint import_stylegan2(const std::string& path) {
    try {
        auto bytes = std::make_shared<const std::string>(io::read_file(path, "import_stylegan2"));
        const std::string container = detail::sg2_container(*bytes, path);
        StyleGAN2Checkpoint out;
        {
            io::PyObjectPtr root = io::detail::load_torch_buffer(bytes, path, 0);
            bytes.reset();
            out = detail::sg2_convert(root, path);
        }
        out.container = container;
        out.source = std::filesystem::path(path).filename().string();
        return out;
    } catch (const Error& e) {
        const std::string msg = e.what();
        if (msg.find(path) != std::string::npos) throw;
        throw Error("import_stylegan2: '" + path + "': " + msg); // e.g. a PyObject accessor's message
    }
}

/// Writes a converted checkpoint as one safetensors file: the tensors under their canonical names
/// and __metadata__ = config.to_metadata() + source_format + source. Requires a checkpoint from
/// import_stylegan2 (valid config; "G."/"D." float32 host tensors). Atomic: on any error `out` is
/// left as it was and no partial file remains.
inline void save_stylegan2(const StyleGAN2Checkpoint& ckpt, const std::string& out) {
    ckpt.config.validate();
    for (const auto& [name, t] : ckpt.tensors)
        VKG_CHECK((name.compare(0, 2, "G.") == 0 || name.compare(0, 2, "D.") == 0) && t.defined() &&
                      t.dtype() == DType::f32,
                  "save_stylegan2", "'", out, "': tensor '", name, "' is not a float32 G.* or D.* tensor");
    auto meta = ckpt.config.to_metadata();
    meta["source_format"] = ckpt.source_format;
    std::string src = ckpt.source;
    if (!io::detail::valid_utf8(src))
        for (char& ch : src)
            if (static_cast<unsigned char>(ch) >= 0x80) ch = '?';
    meta["source"] = src;
    io::save_safetensors(out, ckpt.tensors, meta);
}

/// A converted file read back: the configuration and the tensors, split by network.
struct StyleGAN2Weights {
    StyleGAN2Config config;
    std::string source_format, source; ///< from the metadata ("" if absent)
    std::map<std::string, Tensor> G;    ///< names without "G." ("mapping.fc0.weight", ...)
    std::map<std::string, Tensor> D;    ///< names without "D."; empty when the file has no discriminator
    bool has_discriminator() const { return !D.empty(); }
    /// G's tensor `name`; throws an Error naming it when absent.
    const Tensor& g(const std::string& name) const { return get(G, "G.", name); }
    /// D's tensor `name`; throws an Error naming it when absent.
    const Tensor& d(const std::string& name) const { return get(D, "D.", name); }

private:
    static const Tensor& get(const std::map<std::string, Tensor>& m, const char* net, const std::string& name) {
        auto it = m.find(name);
        VKG_CHECK(it != m.end(), "StyleGAN2Weights", "no tensor '", net, name, "'");
        return it->second;
    }
};

/// Reads a file written by save_stylegan2 (build/weights/convert). Requires nothing of the file.
/// Ensures: config valid, and every tensor of stylegan2_layout(config, has D) present as float32
/// with its shape; throws an Error naming the file (and the tensor) otherwise.
inline StyleGAN2Weights load_stylegan2(const std::string& safetensors_path) {
    const char* op = "load_stylegan2";
    io::SafetensorsFile f = io::load_safetensors(safetensors_path);
    StyleGAN2Weights w;
    w.config = StyleGAN2Config::from_metadata(f.metadata, safetensors_path);
    if (auto it = f.metadata.find("source_format"); it != f.metadata.end()) w.source_format = it->second;
    if (auto it = f.metadata.find("source"); it != f.metadata.end()) w.source = it->second;
    for (auto& [name, t] : f.tensors) {
        const bool g = name.compare(0, 2, "G.") == 0, d = name.compare(0, 2, "D.") == 0;
        VKG_CHECK(g || d, op, "'", safetensors_path, "': tensor '", name, "' is neither G.* nor D.*");
        (g ? w.G : w.D)[name.substr(2)] = t;
    }
    for (const auto& [name, shape] : stylegan2_layout(w.config, !w.D.empty())) {
        const auto& m = name[0] == 'G' ? w.G : w.D;
        auto it = m.find(name.substr(2));
        VKG_CHECK(it != m.end(), op, "'", safetensors_path, "': missing tensor '", name, "' for ", describe(w.config));
        VKG_CHECK(it->second.dtype() == DType::f32 && it->second.shape() == shape, op, "'", safetensors_path,
                  "': tensor '", name, "' is ", dtype_name(it->second.dtype()), " ", to_string(it->second.shape()),
                  ", expected float32 ", to_string(shape));
    }
    return w;
}

} // namespace vkgrad::models
