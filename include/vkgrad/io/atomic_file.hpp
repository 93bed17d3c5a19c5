// vkgrad/io/atomic_file.hpp — write a file completely or not at all.
//
// Data goes to a temporary file beside the target, which is renamed over the target only
// after every byte was written and flushed; a crash or error never leaves a half-written
// file under the real name.
#pragma once
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "../core/error.hpp"

namespace vkgrad::io {

/// Calls write(stream) on a temporary file, then renames it to `path`. Throws (naming the path)
/// on any failure and removes the temporary file.
inline void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
    const std::string tmp = path + ".partial";
    try {
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            VKG_CHECK(f.good(), "write", "cannot open '", tmp, "' for writing");
            write(f);
            f.flush();
            VKG_CHECK(f.good(), "write", "writing '", tmp, "' failed (disk full?)");
        }
        VKG_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "write", "cannot rename '", tmp, "' to '", path, "'");
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
}

} // namespace vkgrad::io
