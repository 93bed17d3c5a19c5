// vkgrad/io/read_file.hpp — a whole file into memory, with errors that name it.
//
// Every reader (images, safetensors, PyTorch files) parses from memory, so they share this
// one way in: a missing file, a directory (which an ifstream opens without complaint and then
// reads nothing from) or a failed read is an Error naming `op` and the path.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "../core/error.hpp"

namespace vkgrad::io {

/// The bytes of the file at `path`. Requires a regular file of at most `max_bytes` bytes
/// (larger ones are refused before anything is read, saying `what` they were meant to be).
inline std::string read_file(const std::string& path, const char* op, uint64_t max_bytes = UINT64_MAX,
                             const char* what = "a file") {
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    VKG_CHECK(std::filesystem::exists(st), op, "cannot open '", path, "' (no such file)");
    VKG_CHECK(!std::filesystem::is_directory(st), op, "cannot open '", path, "': it is a directory, not a regular file");
    std::ifstream f(path, std::ios::binary);
    VKG_CHECK(f.good(), op, "cannot open '", path, "'");
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    VKG_CHECK(size >= 0, op, "cannot read '", path, "'");
    VKG_CHECK(static_cast<uint64_t>(size) <= max_bytes, op, "'", path, "' is too large (", size, " bytes) to be ", what);
    f.seekg(0);
    std::string bytes(static_cast<size_t>(size), '\0');
    f.read(bytes.data(), size);
    VKG_CHECK(f.gcount() == size, op, "reading '", path, "' failed");
    return bytes;
}

} // namespace vkgrad::io
