// vkgrad/core/numpy_random.hpp — numpy's legacy RandomState(seed), bit for bit.
//
// StyleGAN (TF and NVIDIA PyTorch) scripts turn a seed into a latent with
// np.random.RandomState(seed).randn(N, z_dim), so "seed 85" only names the same image in C++
// if that stream is reproduced exactly. This is MT19937 seeded with init_genrand(seed), 53-bit
// doubles from two 32-bit draws, and the polar Box–Muller of numpy's legacy generator, which
// keeps the second value of each pair for the next call. It is not vkgrad's own Generator.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "error.hpp"
#include "graph.hpp" // Tensor, and ~TensorImpl so a file using only this header links

namespace vkgrad {

class NumpyRandomState {
public:
    /// requires: seed in [0, 2^32), as numpy's RandomState(int) accepts (every uint32 is legal).
    /// ensures:  the state equals np.random.RandomState(seed) right after construction.
    explicit NumpyRandomState(uint32_t seed) {
        mt_[0] = seed;
        for (uint32_t i = 1; i < n; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
        pos_ = n; // the first draw regenerates the whole block
    }

    /// ensures: returns the next tempered MT19937 output (genrand_int32), advancing the stream by one word.
    uint32_t next_u32() {
        if (pos_ >= n) twist();
        uint32_t y = mt_[pos_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    /// ensures: returns a double in [0, 1) with 53 random bits, as RandomState.random_sample();
    ///          consumes two 32-bit words (27 high bits of the first, 26 of the second).
    double random_sample() {
        const uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
        // a * 2^26 is exact, so a fused multiply-add would round identically.
        return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    /// ensures: returns the next standard normal of RandomState.standard_normal()/randn(): the cached
    ///          second value of the last pair if there is one, else a fresh polar Box–Muller pair
    ///          whose first member (f * x2) is returned and second (f * x1) cached.
    double gauss() {
        if (has_gauss_) {
            has_gauss_ = false;
            const double g = gauss_;
            gauss_ = 0.0;
            return g;
        }
        double x1, x2, r2;
        do {
            x1 = 2.0 * random_sample() - 1.0;
            x2 = 2.0 * random_sample() - 1.0;
            // Both squares are rounded before the sum: with -march=native a compiler may otherwise
            // fuse x1*x1 + x2*x2 into an FMA and change r2 in its last bit (numpy rounds each).
            volatile double s1 = x1 * x1, s2 = x2 * x2;
            r2 = s1 + s2;
        } while (r2 >= 1.0 || r2 == 0.0);
        const double f = std::sqrt(-2.0 * std::log(r2) / r2);
        gauss_ = f * x1;
        has_gauss_ = true;
        return f * x2;
    }

    /// requires: n >= 0.
    /// ensures:  returns the next n values of gauss() in order, as RandomState.randn(n); a later call
    ///           continues the same stream (an odd n leaves a cached value for the next call).
    std::vector<double> randn(int64_t count) {
        VKG_CHECK(count >= 0, "NumpyRandomState::randn", "count must be >= 0, got ", count);
        std::vector<double> v(static_cast<size_t>(count));
        for (double& x : v) x = gauss();
        return v;
    }

    /// requires: every dimension of shape >= 0.
    /// ensures:  returns a float64 cpu tensor of `shape` filled in C order, as RandomState.randn(*shape).
    Tensor randn(const Shape& shape) {
        Tensor t = empty_cpu(shape, DType::f64); // checks the shape before anything is drawn
        double* p = t.data<double>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = gauss();
        return t;
    }

private:
    static constexpr uint32_t n = 624, m = 397;

    void twist() {
        constexpr uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix_a = 0x9908b0dfu;
        for (uint32_t i = 0; i < n; ++i) {
            const uint32_t y = (mt_[i] & upper) | (mt_[(i + 1) % n] & lower);
            mt_[i] = mt_[(i + m) % n] ^ (y >> 1) ^ ((y & 1u) ? matrix_a : 0u);
        }
        pos_ = 0;
    }

    std::array<uint32_t, n> mt_{};
    uint32_t pos_ = n;
    bool has_gauss_ = false;
    double gauss_ = 0.0;
};

} // namespace vkgrad
