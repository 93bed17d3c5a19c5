// vkgrad/io/module_weights.hpp — a module's weights from a released checkpoint or a vkgrad file.
//
// load_module_weights reads either format, told apart by the first bytes (not the name):
//  * safetensors (vkgrad's own, io::save_module_weights or an io::Checkpoint): every tensor, or
//    with `key` those named "<key>.<name>" (a Checkpoint's prefix), the prefix removed;
//  * a PyTorch file (zip or legacy torch.save, read by io::load_torch, which executes nothing):
//    the state dict is the dict under `key` when one is given, else the first of BasicSR's
//    "params_ema" and "params", then "state_dict", that is a dict; else the top-level dict itself
//    when it holds tensors directly (a bare torch.save(model.state_dict())).
// A "module." in front of every name (nn.DataParallel / DistributedDataParallel) is dropped.
// The names then have to match the module's state_dict() exactly, both ways, with the same
// shapes; dtypes are converted (f16 / f64 / f32 into the module's). Every error names the file.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../nn/module.hpp"
#include "safetensors.hpp"
#include "torch_file.hpp"

namespace vkgrad::io {

namespace detail {

/// "safetensors", "torch" or "" from the first bytes of the file at `path` (which must exist).
inline std::string sniff_weights_format(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    char b[9] = {};
    f.read(b, 9);
    const auto n = f.gcount();
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return "torch"; // zip
    if (n >= 2 && static_cast<unsigned char>(b[0]) == 0x80 && b[1] >= 2 && b[1] <= 5) return "torch"; // pickle PROTO
    if (n == 9 && b[8] == '{') return "safetensors"; // u64 header length, then the JSON header
    return "";
}

inline std::string list_keys(const std::vector<std::string>& keys, size_t most = 8) {
    std::string s;
    for (size_t i = 0; i < keys.size() && i < most; ++i) s += (i ? ", '" : "'") + keys[i] + "'";
    if (keys.size() > most) s += ", ... (" + std::to_string(keys.size()) + " in all)";
    return s.empty() ? "none" : s;
}

/// The state dict a PyTorch file holds, following the rule in the file comment; `where` is set
/// to a description of the place it was found ("'params' of 'f.pth'").
inline std::map<std::string, Tensor> torch_state_dict(const std::string& path, const std::string& key,
                                                      std::string& where) {
    const char* op = "load_module_weights";
    const PyObjectPtr root = load_torch(path);
    using K = PyObject::Kind;
    std::vector<std::string> top; // the top-level str keys, for messages
    if (root->kind == K::dict)
        for (const auto& kv : root->entries)
            if (kv.first && kv.first->kind == K::str) top.push_back(kv.first->text);
    PyObjectPtr sd;
    if (!key.empty()) {
        VKG_CHECK(root->kind == K::dict, op, "'", path, "' holds a ", root->describe(), ", not a dict with key '", key,
                  "'");
        sd = root->find(key);
        VKG_CHECK(sd != nullptr, op, "'", path, "' has no key '", key, "' (its keys: ", list_keys(top), ")");
        VKG_CHECK(sd->kind == K::dict, op, "'", path, "': '", key, "' is a ", sd->describe(), ", not a state dict");
        where = "'" + key + "' of '" + path + "'";
    } else if (root->kind == K::dict) {
        for (const char* k : {"params_ema", "params", "state_dict"}) {
            const PyObjectPtr p = root->find(k);
            if (p && p->kind == K::dict) {
                sd = p;
                where = "'" + std::string(k) + "' of '" + path + "'";
                break;
            }
        }
        if (!sd) {
            bool tensors = false;
            for (const auto& kv : root->entries) tensors = tensors || (kv.second && kv.second->kind == K::tensor);
            VKG_CHECK(tensors, op, "'", path, "' holds no state dict: no 'params_ema', 'params' or 'state_dict' and ",
                      "no tensors at the top level (its keys: ", list_keys(top), "); name one with `key`");
            sd = root;
            where = "'" + path + "'";
        }
    } else {
        ::vkgrad::detail::fail(op, "'", path, "' holds a ", root->describe(), ", not a dict of tensors");
    }
    std::map<std::string, Tensor> out;
    for (auto& [name, t] : flatten_tensors(sd)) out[name] = t;
    return out;
}

inline std::map<std::string, Tensor> safetensors_state_dict(SafetensorsFile&& f, const std::string& key,
                                                            std::string& where) {
    std::map<std::string, Tensor> out;
    const std::string prefix = key.empty() ? "" : key + ".";
    for (auto& [name, t] : f.tensors)
        if (name.compare(0, prefix.size(), prefix) == 0) out[name.substr(prefix.size())] = std::move(t);
    VKG_CHECK(!out.empty() || f.tensors.empty(), "load_module_weights", "'", f.path,
              "' has no tensor whose name starts with '", prefix, "'");
    where = key.empty() ? "'" + f.path + "'" : "'" + prefix + "*' of '" + f.path + "'";
    return out;
}

/// sd with a "module." in front of every name (DataParallel) dropped; as it is otherwise.
inline std::map<std::string, Tensor> drop_data_parallel_prefix(std::map<std::string, Tensor>&& sd) {
    const std::string dp = "module.";
    bool all_dp = !sd.empty();
    for (const auto& kv : sd) all_dp = all_dp && kv.first.compare(0, dp.size(), dp) == 0;
    if (!all_dp) return std::move(sd);
    std::map<std::string, Tensor> stripped;
    for (auto& [name, t] : sd) stripped[name.substr(dp.size())] = std::move(t);
    return stripped;
}

} // namespace detail

/// Reads the state dict held by the file at `path` (rules in the file comment) without loading
/// it into anything: names with "module." dropped, host tensors. `where`, when given, receives
/// where in the file they were found, for messages ("'params' of 'net.pth'").
/// requires: `path` is a safetensors or PyTorch file; `key` as in the file comment.
/// ensures: throws vkgrad::Error naming `path` when the file is missing, unreadable, of another
///          format, or holds no state dict where the rules look.
inline std::map<std::string, Tensor> read_state_dict(const std::string& path, const std::string& key = "",
                                                     std::string* where = nullptr) {
    const char* op = "load_module_weights";
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    VKG_CHECK(std::filesystem::exists(st), op, "cannot open '", path, "' (no such file)");
    VKG_CHECK(std::filesystem::is_regular_file(st), op, "cannot open '", path, "': it is not a regular file");
    const std::string format = detail::sniff_weights_format(path);
    VKG_CHECK(!format.empty(), op, "'", path, "' is neither a safetensors file nor a PyTorch (torch.save) file");
    std::string found;
    std::map<std::string, Tensor> sd = format == "torch" ? detail::torch_state_dict(path, key, found)
                                                         : detail::safetensors_state_dict(load_safetensors(path), key, found);
    if (where) *where = found;
    return detail::drop_data_parallel_prefix(std::move(sd));
}

/// read_state_dict's rules applied to a safetensors file already read (say, for its metadata
/// as well), so it need not be read twice; its tensors are moved out of `f`.
/// ensures: as read_state_dict, the messages naming f.path.
inline std::map<std::string, Tensor> read_state_dict(SafetensorsFile&& f, const std::string& key = "",
                                                     std::string* where = nullptr) {
    std::string found;
    std::map<std::string, Tensor> sd = detail::safetensors_state_dict(std::move(f), key, found);
    if (where) *where = found;
    return detail::drop_data_parallel_prefix(std::move(sd));
}

/// Loads a state dict already read (say, together with its file's metadata) into m, strictly;
/// `in` names where it came from in messages ("'weights.safetensors'"). The rules are those of
/// load_module_weights(m, path) below, which reads the file and calls this.
inline void load_module_weights(nn::Module& m, const std::map<std::string, Tensor>& sd, const std::string& in) {
    const char* op = "load_module_weights";
    const nn::NamedTensors mine = m.state_dict();
    std::set<std::string> expected;
    for (const auto& kv : mine) expected.insert(kv.first);
    size_t missing = 0;
    std::string first_missing;
    for (const auto& [name, t] : mine)
        if (!sd.count(name) && missing++ == 0) first_missing = name;
    VKG_CHECK(missing == 0, op, in, " does not have '", first_missing, "', which the ", m.name(), " needs (", missing,
              " of its ", mine.size(), " tensors are missing; the file holds ", sd.size(), " tensors)");
    for (const auto& [name, t] : sd)
        VKG_CHECK(expected.count(name), op, in, " has '", name, "', which the ", m.name(), " does not have (",
                  sd.size() - mine.size(), " unexpected tensors; a different configuration?)");
    for (const auto& [name, dst] : mine) {
        const Tensor& t = sd.at(name);
        VKG_CHECK(t.shape() == dst.shape(), op, in, ": '", name, "' has shape ", to_string(t.shape()), ", the ",
                  m.name(), " expects ", to_string(dst.shape()), " (a different configuration?)");
        VKG_CHECK(is_floating(t.dtype()) == is_floating(dst.dtype()), op, in, ": '", name, "' is ",
                  dtype_name(t.dtype()), ", the ", m.name(), " holds ", dtype_name(dst.dtype()));
    }
    try {
        m.load_state_dict(sd, true);
    } catch (const Error& e) {
        ::vkgrad::detail::fail(op, in, ": ", e.what());
    }
}

/// Loads the weights in the file at `path` into m, strictly.
/// requires: the state dict found in the file (read_state_dict's rules) has exactly the names of
///           m.state_dict() with the same shapes and floating dtypes where m's are floating.
/// ensures: m's parameters and buffers hold the file's values (converted to their dtypes, on
///          their devices); on any mismatch throws vkgrad::Error naming the file and the first
///          missing (in m's order), unexpected (in name order) or wrongly shaped (m's order) key, and m is
///          left unchanged.
inline void load_module_weights(nn::Module& m, const std::string& path, const std::string& key = "") {
    std::string in;
    const std::map<std::string, Tensor> sd = read_state_dict(path, key, &in);
    load_module_weights(m, sd, in);
}

/// Writes m.state_dict() (parameters and buffers, moved to the host) as a safetensors file with
/// string `metadata`, atomically (written to a temporary file, then renamed).
/// requires: the names of m.state_dict() are distinct (they are, for a Module).
/// ensures: load_module_weights(m2, path) restores an m2 built the same way to m's values; on
///          any error a file already at `path` is left as it was, and vkgrad::Error names `path`.
inline void save_module_weights(const nn::Module& m, const std::string& path,
                                const std::map<std::string, std::string>& metadata = {}) {
    NoGradGuard ng;
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& [name, t] : m.state_dict()) tensors.emplace_back(name, to(detach(t), Device{}));
    save_safetensors(path, tensors, metadata);
}

} // namespace vkgrad::io
