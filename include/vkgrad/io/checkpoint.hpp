// vkgrad/io/checkpoint.hpp — a training run's state in one safetensors file.
//
// Modules, optimizers, random generators and loose tensors go in under name prefixes
// ("G.", "opt_G.", ...), next to string metadata (step counts, configuration). The file is
// plain safetensors, so Python reads it with any safetensors reader. It is written
// atomically: a crash mid-save leaves the previous checkpoint intact. Restoring checks every
// name, shape and kind of dtype against the receiving object before changing anything.
#pragma once
#include <array>
#include <map>
#include <string>

#include "../core/random.hpp"
#include "../nn/module.hpp"
#include "../optim/optimizer.hpp"
#include "safetensors.hpp"

namespace vkgrad::io {

class Checkpoint {
public:
    std::map<std::string, std::string> metadata;

    // --- building ---
    /// The module's state_dict as "<prefix>.<key>".
    void add(const std::string& prefix, const nn::Module& m) {
        for (auto& [k, t] : m.state_dict()) add(prefix + "." + k, t);
    }
    /// The optimizer's state_dict as "<prefix>.<key>".
    void add(const std::string& prefix, const optim::Optimizer& o) {
        for (auto& [k, t] : o.state_dict()) add(prefix + "." + k, t);
    }
    /// The generator's state as an int64 tensor [6] called `name`.
    void add(const std::string& name, const Generator& g) {
        const auto st = g.state();
        std::vector<int64_t> v(st.begin(), st.end()); // two's-complement bit pattern of each word
        add(name, from_vector(v, {DType::i64}));
    }
    void add(const std::string& name, const Tensor& t) {
        for (auto& [n, old] : file_.tensors)
            VKG_CHECK(n != name, "Checkpoint::add", "'", name, "' was added twice");
        NoGradGuard ng;
        file_.tensors.emplace_back(name, to(detach(t), Device{})); // device tensors are saved from the host
    }

    // --- files ---
    void save(const std::string& path) const { save_safetensors(path, file_.tensors, metadata); }
    static Checkpoint load(const std::string& path) {
        Checkpoint c;
        c.file_ = load_safetensors(path);
        c.metadata = c.file_.metadata;
        return c;
    }

    // --- restoring ---
    bool contains(const std::string& name) const { return file_.contains(name); }
    const Tensor& tensor(const std::string& name) const { return file_.at(name); }
    /// Copies "<prefix>.<key>" into each of the module's tensors. Every key must be there with
    /// the module's shape and a dtype of the same kind (floating or integer); the file may not
    /// hold other "<prefix>." entries. Nothing is changed unless all of it checks out.
    void restore(const std::string& prefix, nn::Module& m) const {
        const auto sd = m.state_dict();
        for (auto& [k, t] : sd) check_slot(prefix + "." + k, t);
        check_no_extra(prefix, sd.size());
        NoGradGuard ng;
        for (auto& [k, t] : sd) copy_(t, tensor(prefix + "." + k));
    }
    /// Restores an optimizer built over the same parameters (its load_state_dict checks them).
    void restore(const std::string& prefix, optim::Optimizer& o) const {
        std::map<std::string, Tensor> sd;
        for (auto& [n, t] : file_.tensors)
            if (n.compare(0, prefix.size() + 1, prefix + ".") == 0) sd[n.substr(prefix.size() + 1)] = t;
        try {
            o.load_state_dict(sd);
        } catch (const Error& e) {
            ::vkgrad::detail::fail("Checkpoint::restore", "'", file_.path, "', optimizer '", prefix, "': ", e.what());
        }
    }
    void restore(const std::string& name, Generator& g) const {
        const Tensor& t = tensor(name);
        VKG_CHECK(t.dtype() == DType::i64 && t.shape() == Shape{6}, "Checkpoint::restore", "'", file_.path, "': '", name,
                  "' is not a generator state (int64 [6]), it is ", dtype_name(t.dtype()), " ", to_string(t.shape()));
        std::array<uint64_t, 6> st;
        const int64_t* p = t.data<int64_t>();
        for (int i = 0; i < 6; ++i) st[i] = static_cast<uint64_t>(p[i]);
        g.set_state(st);
    }

private:
    void check_slot(const std::string& name, const Tensor& dst) const {
        VKG_CHECK(contains(name), "Checkpoint::restore", "'", file_.path, "' has no tensor '", name, "'");
        const Tensor& t = tensor(name);
        VKG_CHECK(t.shape() == dst.shape(), "Checkpoint::restore", "'", file_.path, "': '", name, "' has shape ",
                  to_string(t.shape()), ", the module expects ", to_string(dst.shape()));
        VKG_CHECK(is_floating(t.dtype()) == is_floating(dst.dtype()), "Checkpoint::restore", "'", file_.path, "': '",
                  name, "' is ", dtype_name(t.dtype()), ", the module holds ", dtype_name(dst.dtype()));
    }
    void check_no_extra(const std::string& prefix, size_t expected) const {
        size_t n = 0;
        for (auto& [k, t] : file_.tensors)
            if (k.compare(0, prefix.size() + 1, prefix + ".") == 0) ++n;
        VKG_CHECK(n == expected, "Checkpoint::restore", "'", file_.path, "' has ", n, " tensors under '", prefix,
                  ".', the module has ", expected, " (a different architecture?)");
    }
    SafetensorsFile file_;
};

} // namespace vkgrad::io
