// examples/image_folders.hpp — the image files of a folder tree, named by their relative paths.
// blur apply, deblur, evaluate and the training programs all read folders this way, so that one
// program's output folder is the next one's input: blur apply --in celebahq/src writes
// female/..., male/...; deblur mirrors them; evaluate pairs them with the sharp ones. Small on
// purpose: blur and evaluate include it without the rest of cli.hpp.
#pragma once
#include <vkgrad/core/error.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>

namespace cli {

/// Every PNG/JPEG under dir, subfolders included (linked folders followed), keyed by its path
/// relative to dir with '/' separators, sorted by that key. The key is taken lexically, not
/// with fs::relative, which resolves symlinks: a linked file's target path ("../../x.png")
/// would put its output outside the output folder.
/// ensures: non-empty, or an error naming prog, flag and dir.
inline std::map<std::string, std::filesystem::path> images_under(const std::string& dir, const char* flag,
                                                                 const char* prog) {
    namespace fs = std::filesystem;
    VKG_CHECK(fs::is_directory(dir), prog, flag, " '", dir, "' is not a directory");
    std::map<std::string, fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!e.is_regular_file() || (ext != ".png" && ext != ".jpg" && ext != ".jpeg")) continue;
        const fs::path rel = e.path().lexically_relative(dir);
        VKG_CHECK(!rel.empty() && rel.is_relative() && *rel.begin() != "..", prog, "'", e.path().string(),
                  "' has no relative name under '", dir, "'");
        out[rel.generic_string()] = e.path();
    }
    VKG_CHECK(!out.empty(), prog, flag, " '", dir, "' holds no PNG or JPEG images (subfolders searched too)");
    return out;
}

/// The output name of each input of images_under for a program that writes one PNG per input:
/// the same relative path with extension .png. ensures: every input has one, and no two inputs
/// share one (x.jpg and x.png beside each other are an error naming both).
inline std::map<std::string, std::string> png_names(const std::map<std::string, std::filesystem::path>& images,
                                                    const char* prog) {
    std::map<std::string, std::string> out, taken; // input -> output, output -> input
    for (const auto& [rel, path] : images) {
        const std::string o = std::filesystem::path(rel).replace_extension(".png").generic_string();
        VKG_CHECK(!taken.count(o), prog, "'", rel, "' and '", taken[o], "' would both be written as '", o, "'");
        taken[o] = rel;
        out[rel] = o;
    }
    return out;
}

} // namespace cli
