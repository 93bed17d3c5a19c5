// tests/fuzz/replay.hpp — how fuzz_readers feeds one input to a reader; shared with the unit
// test that replays every input the fuzzer ever found (tests/fixtures/fuzz/).
#pragma once
#include <memory>
#include <string>

#include <vkgrad/io/pickle.hpp>
#include <vkgrad/io/safetensors.hpp>
#include <vkgrad/io/torch_file.hpp>
#include <vkgrad/io/zip.hpp>

namespace vkgrad::fuzz {

/// Runs reader `which` (0 pickle, 1 zip, 2 torch file, 3 safetensors) on `bytes`. Must return
/// or throw vkgrad::Error; anything else is a bug.
inline void feed(int which, std::string bytes) {
    auto buf = std::make_shared<const std::string>(std::move(bytes));
    switch (which % 4) {
    case 0: io::unpickle(*buf, 0, "fuzz", {}); break;
    case 1: {
        io::ZipReader z(buf, "fuzz");
        for (const auto& e : z.entries()) (void)z.data(e);
        break;
    }
    case 2: io::flatten_tensors(io::detail::load_torch_buffer(buf, "fuzz", 0)); break;
    default: io::parse_safetensors(*buf, "fuzz"); break;
    }
}

} // namespace vkgrad::fuzz
