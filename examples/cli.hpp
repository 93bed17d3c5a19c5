// cli.hpp — what every example program needs from its command line: "--flag value" pairs and
// bare switches (unknown ones refused), typed values with errors that name the flag, the
// --device choice, and the image files of a folder. One copy, so the programs agree on how
// they read their flags and word their errors.
#pragma once
#include <vkgrad/vkgrad.hpp>

#include "image_folders.hpp"
#ifdef VKGRAD_WITH_VULKAN
#include <vkgrad/vulkan.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace cli {

using namespace vkgrad;
namespace fs = std::filesystem;

/// "a,b,,c" -> {"a", "b", "", "c"}: the items of a comma-separated flag value, empty ones kept
/// (for the caller to refuse).
inline std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> items;
    for (size_t pos = 0; pos <= s.size();) {
        const size_t comma = std::min(s.find(',', pos), s.size());
        items.push_back(s.substr(pos, comma - pos));
        pos = comma + 1;
    }
    return items;
}

struct Args {
    const char* prog = "";
    std::map<std::string, std::string> v;
    std::set<std::string> flags;

    bool has(const char* k) const { return v.count(k) > 0; }
    bool flag(const char* k) const { return flags.count(k) > 0; }
    std::string str(const char* k, const std::string& def = "") const {
        auto it = v.find(k);
        return it == v.end() ? def : it->second;
    }
    double num(const char* k, double def) const {
        auto it = v.find(k);
        if (it == v.end()) return def;
        size_t used = 0;
        double x = 0;
        try { x = std::stod(it->second, &used); } catch (...) { used = 0; }
        VKG_CHECK(used == it->second.size() && used > 0 && std::isfinite(x), prog, k, " '", it->second,
                  "' is not a number");
        return x;
    }
    int64_t integer(const char* k, int64_t def) const {
        const double x = num(k, static_cast<double>(def));
        VKG_CHECK(x == std::floor(x) && std::abs(x) < 1e15, prog, k, " '", str(k), "' is not an integer");
        return static_cast<int64_t>(x);
    }
    /// "1,1,2,4" -> {1, 1, 2, 4}; def when the flag is absent.
    std::vector<int64_t> list(const char* k, const std::vector<int64_t>& def) const {
        if (!has(k)) return def;
        std::vector<int64_t> out;
        const std::string s = str(k);
        for (const std::string& item : split_commas(s)) {
            size_t used = 0;
            long long x = 0;
            try { x = std::stoll(item, &used); } catch (...) { used = 0; }
            VKG_CHECK(used == item.size() && used > 0, prog, k, " '", s, "' is not a comma-separated list of integers");
            out.push_back(x);
        }
        return out;
    }
    /// requires: the flag is given. ensures: its value names an existing file.
    std::string file(const char* k, const char* hint = "") const {
        VKG_CHECK(has(k), prog, k, " is required", *hint ? " (" : "", hint, *hint ? ")" : "");
        const std::string p = str(k);
        VKG_CHECK(fs::is_regular_file(p), prog, k, " '", p, "' does not exist", *hint ? " (" : "", hint, *hint ? ")" : "");
        return p;
    }
};

/// "--flag value" pairs and the bare `switches`; anything else unknown is refused. --help
/// prints `usage` when given, else points to the comment at the top of the program's source.
/// ensures: returns 0 with `a` filled, or the exit code (2) after printing why.
inline int parse_args(int argc, char** argv, const char* prog, const std::set<std::string>& known,
                      const std::set<std::string>& switches, Args& a, const char* usage = nullptr) {
    a.prog = prog;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            if (usage) std::fputs(usage, stderr);
            else std::fprintf(stderr, "see the comment at the top of examples/%s.cpp for the flags\n", prog);
            return 2;
        }
        if (switches.count(k)) {
            a.flags.insert(k);
            continue;
        }
        if (!known.count(k)) {
            std::fprintf(stderr, "%s: unknown flag %s (see --help)\n", prog, k.c_str());
            return 2;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "%s: %s needs a value\n", prog, k.c_str());
            return 2;
        }
        a.v[k] = argv[++i];
    }
    return 0;
}

/// Prints the error that ends a program and returns its exit code (1). The program's name
/// leads the line once: most messages come from checks that already start with it.
inline int report_error(const char* prog, const std::exception& e) {
    const std::string msg = e.what(), lead = std::string(prog) + ": ";
    std::fprintf(stderr, "%s%s\n", msg.rfind(lead, 0) == 0 ? "" : lead.c_str(), msg.c_str());
    return 1;
}

/// A program's main: parse the flags, run, report an error once. requires: run(const Args&)
/// returns the exit code. ensures: 2 for bad flags or --help, 1 after an error.
template <class Run>
int main_with_flags(int argc, char** argv, const char* prog, const std::set<std::string>& known,
                    const std::set<std::string>& switches, Run run, const char* usage = nullptr) {
    Args a;
    if (const int rc = parse_args(argc, argv, prog, known, switches, a, usage)) return rc;
    try {
        return run(a);
    } catch (const std::exception& e) {
        return report_error(prog, e);
    }
}

inline Device pick_device(const std::string& name, const char* prog) {
    if (name == "cpu") return Device{};
#ifdef VKGRAD_WITH_VULKAN
    if (name == "vulkan") return vulkan::device(); // throws, saying why, without a device
#else
    VKG_CHECK(name != "vulkan", prog, "this build has no Vulkan support (install libvulkan-dev, rebuild)");
#endif
    ::vkgrad::detail::fail(prog, "--device must be cpu or vulkan, got '", name, "'");
}

/// The files of images_under (image_folders.hpp) as a list, in the order of their names.
inline std::vector<fs::path> image_files(const std::string& dir, const char* flag, const char* prog) {
    std::vector<fs::path> out;
    for (auto& [rel, path] : images_under(dir, flag, prog)) out.push_back(path);
    return out;
}

} // namespace cli
