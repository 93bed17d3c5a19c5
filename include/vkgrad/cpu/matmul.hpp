// vkgrad/cpu/matmul.hpp — one matrix product of a batched matmul, on gemm.hpp.
#pragma once
#include "gemm.hpp"

namespace vkgrad::cpu {

/// C[M,N] = op(A) op(B), row-major, op = transpose when the flag is set.
template <class T> void matmul_block(const T* a, const T* b, T* c, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
    const MatView<const T> A = ta ? MatView<const T>{a, 1, M} : MatView<const T>{a, K, 1};
    const MatView<const T> B = tb ? MatView<const T>{b, 1, K} : MatView<const T>{b, N, 1};
    gemm<T>(M, N, K, A, B, c, N);
}

} // namespace vkgrad::cpu
