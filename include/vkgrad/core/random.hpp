// vkgrad/core/random.hpp — an explicit, seeded random generator.
//
// There is no global generator: everything random (randn, rand, initialisers, dropout)
// takes a Generator&, so a run is reproducible from its seeds alone and two threads never
// share hidden state. The stream is xoshiro256** seeded by splitmix64, and normals come
// from Box–Muller, written out here so results do not depend on the standard library.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "error.hpp"

namespace vkgrad {

/// splitmix64 finaliser: a bijective 64-bit mix (Steele, Lea, Flood 2014).
inline uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

class Generator {
public:
    explicit Generator(uint64_t seed = 0) { manual_seed(seed); }

    void manual_seed(uint64_t seed) {
        uint64_t x = seed;
        for (auto& w : s_) w = splitmix64(x++);
        has_spare_ = false;
    }
    /// Next 64 random bits (xoshiro256**, Blackman & Vigna 2018).
    uint64_t next_u64() {
        const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return r;
    }
    /// Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1;
        do u1 = uniform();
        while (u1 <= 0.0);
        const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * uniform();
        spare_ = r * std::sin(th);
        has_spare_ = true;
        return r * std::cos(th);
    }

    /// The whole state as six 64-bit words (the four xoshiro words, whether a Gaussian is
    /// cached, that Gaussian's bits), so a checkpoint can resume the exact random stream.
    std::array<uint64_t, 6> state() const {
        uint64_t spare_bits;
        std::memcpy(&spare_bits, &spare_, sizeof spare_bits);
        return {s_[0], s_[1], s_[2], s_[3], has_spare_ ? 1u : 0u, spare_bits};
    }
    void set_state(const std::array<uint64_t, 6>& st) {
        VKG_CHECK((st[0] | st[1] | st[2] | st[3]) != 0 && st[4] <= 1, "Generator::set_state",
                  "not a generator state (all-zero words or a bad flag)");
        for (int i = 0; i < 4; ++i) s_[i] = st[i];
        has_spare_ = st[4] != 0;
        std::memcpy(&spare_, &st[5], sizeof spare_);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
    double spare_ = 0;
    bool has_spare_ = false;
};

} // namespace vkgrad
