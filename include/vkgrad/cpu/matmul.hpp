// vkgrad/cpu/matmul.hpp — batched matrix product on Eigen's GEMM.
#pragma once
#include <Eigen/Core>

#include "elementwise.hpp"

namespace vkgrad::cpu {

/// C[M,N] = op(A) op(B), row-major, op = transpose when the flag is set.
template <class T> void gemm(const T* a, const T* b, T* c, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<Mat> C(c, M, N);
    Eigen::Map<const Mat> A(a, ta ? K : M, ta ? M : K);
    Eigen::Map<const Mat> B(b, tb ? N : K, tb ? K : N);
    if (!ta && !tb) C.noalias() = A * B;
    else if (ta && !tb) C.noalias() = A.transpose() * B;
    else if (!ta && tb) C.noalias() = A * B.transpose();
    else C.noalias() = A.transpose() * B.transpose();
}

} // namespace vkgrad::cpu
