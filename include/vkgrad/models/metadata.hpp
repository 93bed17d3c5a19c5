// vkgrad/models/metadata.hpp — a model's configuration as safetensors "__metadata__" strings.
//
// A trained model file carries its architecture next to its weights, so programs rebuild the
// network from the file alone. Every config (NAFNet, HINet, StyleGAN2, the prior's encoder and
// fusion network) writes plain key -> string entries and reads them back through MetadataReader,
// whose errors name the config, the file and the key: a damaged or foreign file says what is
// wrong instead of building a network of the wrong shape.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace vkgrad::models {

/// "1,1,2,4" for {1, 1, 2, 4}: how integer lists are stored.
inline std::string join_ints(const std::vector<int64_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
}

class MetadataReader {
public:
    /// `owner` (the config's name) and `what` (the file) appear in every error.
    MetadataReader(const std::map<std::string, std::string>& m, std::string owner, std::string what)
        : m_(m), owner_(std::move(owner)), what_(std::move(what)) {}

    bool has(const char* key) const { return m_.count(key) > 0; }
    /// Requires the key; throws naming it otherwise.
    const std::string& str(const char* key) const {
        auto it = m_.find(key);
        VKG_CHECK(it != m_.end(), owner_.c_str(), "'", what_, "': __metadata__ has no '", key, "'");
        return it->second;
    }
    /// The whole string must be an integer.
    int64_t integer(const char* key) const { return parse_int(str(key), key); }
    /// The whole string must be a number.
    double real(const char* key) const {
        const std::string& s = str(key);
        size_t used = 0;
        double v = 0;
        try { v = std::stod(s, &used); } catch (...) { used = 0; }
        VKG_CHECK(used == s.size() && used > 0, owner_.c_str(), "'", what_, "': __metadata__ '", key, "' = '", s,
                  "' is not a number");
        return v;
    }
    /// A comma-separated integer list (join_ints); "" is the empty list.
    std::vector<int64_t> list(const char* key) const {
        std::vector<int64_t> v;
        const std::string& s = str(key);
        for (size_t pos = 0; pos <= s.size() && !s.empty();) {
            const size_t comma = std::min(s.find(',', pos), s.size());
            v.push_back(parse_int(s.substr(pos, comma - pos), key));
            pos = comma + 1;
        }
        return v;
    }
    /// Requires metadata "arch" == arch: a file of another network is refused by name.
    void expect_arch(const char* arch) const {
        VKG_CHECK(str("arch") == arch, owner_.c_str(), "'", what_, "' holds a '", str("arch"), "' network, not a '",
                  arch, "'");
    }

private:
    int64_t parse_int(const std::string& s, const char* key) const {
        size_t used = 0;
        long long v = 0;
        try { v = std::stoll(s, &used); } catch (...) { used = 0; }
        VKG_CHECK(used == s.size() && used > 0, owner_.c_str(), "'", what_, "': __metadata__ '", key, "' = '", s,
                  "' is not an integer");
        return static_cast<int64_t>(v);
    }
    const std::map<std::string, std::string>& m_;
    std::string owner_, what_;
};

} // namespace vkgrad::models
