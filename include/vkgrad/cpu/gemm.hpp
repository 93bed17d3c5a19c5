// vkgrad/cpu/gemm.hpp — C (+)= A B for strided operands: a packed SGEMM for float (AVX-512
// or AVX2 with FMA), Eigen for everything else.
//
// The float kernel follows the usual GotoBLAS/BLIS structure: B is packed in KC x NR panels,
// A in MR x KC panels, and an MR x NR register tile runs over KC: 8 x 32 with AVX-512 (16 zmm
// accumulators), 6 x 16 with AVX2 (12 ymm). Eigen's SGEMM reached ~60 GFLOP/s per core on the
// machines here, the AVX2 kernel ~80, the AVX-512 one ~75 more. Every element of C is the
// same chain of fused multiply-adds over k, block by block, whatever the tile, so both kernels
// give the same bits (a test holds them to it); and as the blocking is fixed, for given sizes
// every element is summed in the same order on any thread: callers that split work by shape
// stay bitwise deterministic. The packing buffers are per thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "../core/error.hpp"
#include "../core/parallel.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VKGRAD_HAVE_SGEMM 1
#endif

namespace vkgrad::cpu {

/// A matrix view: element (i, j) is at data[i * rs + j * cs]; one of rs, cs is 1.
template <class T> struct MatView {
    T* data;
    int64_t rs, cs;
};

/// Rows of A packed together (the float kernel's MC): a caller may cut a product's rows at
/// multiples of this and hand each piece its part of a LeftOperand.
constexpr int64_t kGemmRowBlock = 96;

#ifdef VKGRAD_HAVE_SGEMM
namespace sgemm_detail {
constexpr int KC = 256, MC = static_cast<int>(kGemmRowBlock), NC = 2048;

/// The vector operations a micro-kernel needs, for one register type.
template <class V> struct Lanes;
template <> struct Lanes<__m256> {
    static constexpr int width = 8;
    static __m256 zero() { return _mm256_setzero_ps(); }
    static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
    static __m256 splat(const float* p) { return _mm256_broadcast_ss(p); }
    static __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
    static __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
};
#ifdef __AVX512F__
template <> struct Lanes<__m512> {
    static constexpr int width = 16;
    static __m512 zero() { return _mm512_setzero_ps(); }
    static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
    static __m512 splat(const float* p) { return _mm512_set1_ps(*p); }
    static __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
    static __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
};
#endif

/// C[MR x NR] = (acc ? C : 0) + Ap[kc x MR] * Bp[kc x NR] with registers V, two to a row of the
/// tile (NR = 2 width): 2 MR accumulators stay in registers over the whole of kc.
template <class V, int Rows> struct Tile {
    using L = Lanes<V>;
    static constexpr int MR = Rows, NR = 2 * L::width;
    static void run(int kc, const float* A, const float* B, float* C, int64_t ldc, bool acc) {
        V c[2 * MR];
        for (auto& r : c) r = L::zero();
        for (int k = 0; k < kc; ++k, A += MR, B += NR) {
            const V b0 = L::load(B), b1 = L::load(B + L::width);
            for (int i = 0; i < MR; ++i) {
                const V a = L::splat(A + i);
                c[2 * i] = L::fma(a, b0, c[2 * i]);
                c[2 * i + 1] = L::fma(a, b1, c[2 * i + 1]);
            }
        }
        for (int i = 0; i < MR; ++i) {
            float* row = C + i * ldc;
            if (acc) {
                c[2 * i] = L::add(c[2 * i], L::load(row));
                c[2 * i + 1] = L::add(c[2 * i + 1], L::load(row + L::width));
            }
            L::store(row, c[2 * i]);
            L::store(row + L::width, c[2 * i + 1]);
        }
    }
};

/// The kernels by tile width NR: 6 x 16 in ymm registers (AVX2 has 16: 12 accumulators), and
/// with AVX-512 8 x 32 in zmm (32 registers: 16 accumulators; 8 rows, so NAFNet's 32, 64,
/// 128 ... output channels fill whole tiles).
template <int NR> struct MicroKernel;
template <> struct MicroKernel<16> : Tile<__m256, 6> {};
#ifdef __AVX512F__
template <> struct MicroKernel<32> : Tile<__m512, 8> {};
constexpr int kWidestNR = 32;
#else
constexpr int kWidestNR = 16;
#endif

/// Packs rows [ic, ic+mc) and columns [pc, pc+kc) of A into MR-row panels (zero-padded).
/// Each panel is written in order, reading MR rows side by side (A is mostly row-major).
template <int MR> void pack_a_block(MatView<const float> A, int64_t ic, int64_t mc, int64_t pc, int kc, float* dst) {
    for (int64_t i = 0; i < mc; i += MR, dst += MR * kc) {
        const int64_t h = std::min<int64_t>(MR, mc - i);
        const float* src[MR];
        for (int t = 0; t < MR; ++t) src[t] = A.data + (ic + i + std::min<int64_t>(t, h - 1)) * A.rs + pc * A.cs;
        if (h == MR && A.cs == 1) {
            for (int k = 0; k < kc; ++k)
                for (int t = 0; t < MR; ++t) dst[k * MR + t] = src[t][k];
        } else {
            for (int k = 0; k < kc; ++k)
                for (int t = 0; t < MR; ++t) dst[k * MR + t] = t < h ? src[t][k * A.cs] : 0.f;
        }
    }
}
template <int MR> int64_t padded_rows(int64_t mc) { return (mc + MR - 1) / MR * MR; }

/// All of A [M x K] packed once, for callers that multiply the same A by many B (a
/// convolution's weights by every tile), in MR-row panels for the kernel of that MR: block
/// (ic, pc) sits at ic * K + pc * padded_rows(mc).
template <int MR> std::vector<float> pack_a(int64_t M, int64_t K, MatView<const float> A) {
    std::vector<float> out(static_cast<size_t>(padded_rows<MR>(M) * K));
    const int64_t mblocks = (M + MC - 1) / MC, kblocks = (K + KC - 1) / KC;
    // a 512 x 4608 weight is 9 MB: packing it is worth both cores (a pure copy, so any order)
    parallel_for(mblocks * kblocks, 8, [&](int64_t lo, int64_t hi) {
        for (int64_t b = lo; b < hi; ++b) {
            const int64_t ic = b / kblocks * MC, pc = b % kblocks * KC, mc = std::min<int64_t>(MC, M - ic);
            pack_a_block<MR>(A, ic, mc, pc, static_cast<int>(std::min<int64_t>(KC, K - pc)),
                             out.data() + ic * K + pc * padded_rows<MR>(mc));
        }
    });
    return out;
}

/// pack_b's full panels of a transposed B (unit stride down its columns) with AVX-512 gathers:
/// a row of a panel takes NR / 16 instructions, and the lines one gather touches serve the next
/// 15 rows from L1. False (nothing done) without AVX-512 or when the columns lie too far apart
/// for 32-bit offsets.
template <int NR>
bool pack_b_gather([[maybe_unused]] MatView<const float> B, [[maybe_unused]] int64_t pc, [[maybe_unused]] int kc,
                   [[maybe_unused]] int64_t jc, [[maybe_unused]] int64_t full, [[maybe_unused]] float* Bp) {
#ifdef __AVX512F__
    if constexpr (NR % 16 == 0) {
        if (B.rs != 1 || B.cs > std::numeric_limits<int32_t>::max() / NR) return false;
        alignas(64) int32_t step[16];
        for (int t = 0; t < 16; ++t) step[t] = static_cast<int32_t>(t * B.cs);
        const __m512i idx = _mm512_load_si512(step);
        for (int64_t j = 0; j < full; j += NR) {
            const float* src = B.data + pc + (jc + j) * B.cs;
            float* d = Bp + j * kc;
            for (int k = 0; k < kc; ++k)
                for (int h = 0; h < NR; h += 16)
                    _mm512_storeu_ps(d + k * NR + h, _mm512_i32gather_ps(idx, src + k + h * B.cs, 4));
        }
        return true;
    }
#endif
    return false;
}

/// Packs B[pc .. pc+kc, jc .. jc+nc) into kc x NR panels (panel j at Bp + j kc), zero-padded
/// on the right. The source is read along its unit stride, so that memory is walked in order:
/// row by row across all panels when B is row-major (a 1x1 convolution's input), down the
/// columns when it is transposed (the weight gradient's x^T, whose columns lie a whole image
/// plane apart: read across them, every element was on another page).
template <int NR> void pack_b(MatView<const float> B, int64_t pc, int kc, int64_t jc, int64_t nc, float* Bp) {
    const int64_t full = nc / NR * NR;
    if (B.cs == 1) {
        for (int k = 0; k < kc; ++k) {
            const float* src = B.data + (pc + k) * B.rs + jc;
            for (int64_t j = 0; j < full; j += NR) std::memcpy(Bp + j * kc + k * NR, src + j, NR * sizeof(float));
        }
    } else if (!pack_b_gather<NR>(B, pc, kc, jc, full, Bp)) {
        for (int64_t j = 0; j < full; j += NR)
            for (int t = 0; t < NR; ++t) {
                const float* src = B.data + pc * B.rs + (jc + j + t) * B.cs;
                float* d = Bp + j * kc + t;
                for (int k = 0; k < kc; ++k) d[k * NR] = src[k * B.rs];
            }
    }
    if (full < nc) { // the last, partial panel
        float* d = Bp + full * kc;
        for (int k = 0; k < kc; ++k)
            for (int t = 0; t < NR; ++t)
                d[k * NR + t] = full + t < nc ? B.data[(pc + k) * B.rs + (jc + full + t) * B.cs] : 0.f;
    }
}

/// The product with tiles of NR columns (a MicroKernel this build has); sgemm uses the widest.
/// a_packed must come from pack_a<MicroKernel<NR>::MR>.
template <int NR>
void sgemm_nr(int64_t M, int64_t N, int64_t K, MatView<const float> A, MatView<const float> B, float* C, int64_t ldc,
              bool accumulate, const float* a_packed) {
    constexpr int MR = MicroKernel<NR>::MR;
    static_assert(MC % MR == 0, "a packed block of A must hold whole register tiles");
    if (K == 0) {
        for (int64_t i = 0; i < M && !accumulate; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
        return;
    }
    thread_local std::vector<float> apack, bpack;
    apack.resize(static_cast<size_t>(MC * KC));
    bpack.resize(static_cast<size_t>(KC * (NC + NR)));
    float* Ap = apack.data();
    float* Bp = bpack.data();
    alignas(64) float edge[MR * NR];
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = std::min<int64_t>(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int kc = static_cast<int>(std::min<int64_t>(KC, K - pc));
            const bool acc = accumulate || pc > 0;
            pack_b<NR>(B, pc, kc, jc, nc, Bp);
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = std::min<int64_t>(MC, M - ic);
                const float* Ab = a_packed ? a_packed + ic * K + pc * padded_rows<MR>(mc) : Ap;
                if (!a_packed) pack_a_block<MR>(A, ic, mc, pc, kc, Ap);
                for (int64_t j = 0; j < nc; j += NR) {
                    const int64_t w = std::min<int64_t>(NR, nc - j);
                    for (int64_t i = 0; i < mc; i += MR) {
                        const int64_t h = std::min<int64_t>(MR, mc - i);
                        float* c = C + (ic + i) * ldc + jc + j;
                        if (w == NR && h == MR) {
                            MicroKernel<NR>::run(kc, Ab + i * kc, Bp + j * kc, c, ldc, acc);
                        } else {
                            MicroKernel<NR>::run(kc, Ab + i * kc, Bp + j * kc, edge, NR, false);
                            for (int64_t a = 0; a < h; ++a)
                                for (int64_t b = 0; b < w; ++b)
                                    c[a * ldc + b] = (acc ? c[a * ldc + b] : 0.f) + edge[a * NR + b];
                        }
                    }
                }
            }
        }
    }
}

inline void sgemm(int64_t M, int64_t N, int64_t K, MatView<const float> A, MatView<const float> B, float* C,
                  int64_t ldc, bool accumulate, const float* a_packed) {
    sgemm_nr<kWidestNR>(M, N, K, A, B, C, ldc, accumulate, a_packed);
}
} // namespace sgemm_detail
#endif

/// A matrix prepared for repeated use as the left operand of gemm (packed when the float
/// kernel is available; otherwise just the view).
template <class T> struct LeftOperand {
    MatView<const T> view;
    int64_t K;
    std::vector<float> packed;
    LeftOperand(int64_t M, int64_t K_, MatView<const T> A) : view(A), K(K_) {
#ifdef VKGRAD_HAVE_SGEMM
        if constexpr (std::is_same_v<T, float>)
            packed = sgemm_detail::pack_a<sgemm_detail::MicroKernel<sgemm_detail::kWidestNR>::MR>(M, K, A);
#endif
        (void)M;
    }
    /// The packing of rows m0.. (m0 a multiple of kGemmRowBlock), for gemm's a_packed; null
    /// when nothing was packed.
    const float* packed_from(int64_t m0) const {
        VKG_CHECK(m0 % kGemmRowBlock == 0, "LeftOperand", "rows cut at ", m0, ", inside a packed block");
        return packed.empty() ? nullptr : packed.data() + m0 * K;
    }
};

/// C[M x N] (row-major, leading dimension ldc) = (accumulate ? C : 0) + A[M x K] B[K x N].
/// `a_packed` (LeftOperand::packed_from) skips packing A again.
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, MatView<const T> A, MatView<const T> B, T* C, int64_t ldc,
          bool accumulate = false, const float* a_packed = nullptr) {
#ifdef VKGRAD_HAVE_SGEMM
    // Thin products (a depthwise convolution's 1 x 9 weights) waste most of a 6x16 tile and
    // pay packing for nothing; Eigen's GEMV-like paths serve them better. The choice depends
    // on the sizes only, so it does not break determinism.
    if constexpr (std::is_same_v<T, float>) if (M >= 16 && N >= 16 && K >= 16) {
        sgemm_detail::sgemm(M, N, K, A, B, C, ldc, accumulate, a_packed);
        return;
    }
#endif
    (void)a_packed;
    // Eigen needs a unit stride on one side to vectorise: view each operand row- or column-major.
    using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
    using Outer = Eigen::OuterStride<>;
    auto with_view = [](MatView<const T> v, int64_t rows, int64_t cols, auto&& f) {
        if (v.cs == 1) f(Eigen::Map<const RowMat, 0, Outer>(v.data, rows, cols, Outer(v.rs)));
        else f(Eigen::Map<const ColMat, 0, Outer>(v.data, rows, cols, Outer(v.cs))); // v.rs == 1
    };
    Eigen::Map<RowMat, 0, Outer> c(C, M, N, Outer(ldc));
    with_view(A, M, K, [&](const auto& a) {
        with_view(B, K, N, [&](const auto& b) {
            if (accumulate) c.noalias() += a * b;
            else c.noalias() = a * b;
        });
    });
}

} // namespace vkgrad::cpu
