// libFuzzer target over vkgrad's file readers: the first input byte picks the reader (pickle,
// zip, torch file of any format, safetensors), the rest is the file. Every input must either
// load or throw vkgrad::Error — a crash, a sanitizer report or another exception is a finding.
//
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -isystem /usr/include/eigen3 \
//       tests/fuzz/fuzz_readers.cpp -o fuzz_readers
//   FUZZ_READER=0 ./fuzz_readers -max_total_time=600 corpus/   (seeds: tests/fuzz/make_corpus.sh;
//   FUZZ_READER pins the reader, otherwise the first byte picks it)
// Crashing inputs found this way are kept in tests/fixtures/fuzz/ and replayed by the unit tests.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "replay.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    // FUZZ_READER=0..3 pins one reader, so each can be given its own time budget
    static const int pinned = std::getenv("FUZZ_READER") ? std::atoi(std::getenv("FUZZ_READER")) : -1;
    const int which = pinned >= 0 ? pinned : data[0];
    try {
        vkgrad::fuzz::feed(which, std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    } catch (const vkgrad::Error&) {
    }
    return 0;
}
