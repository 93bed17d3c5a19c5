// vkgrad/cpu/reduce.hpp — CPU reductions (sum, max, min) over any set of axes.
//
// The input is viewed as [A, R, B] with R the (merged) reduced axes; reductions over
// non-adjacent axes first move them to the end with a permute. Sums accumulate in float64:
// a float32 running sum over a million positive pixels drifts by ~1e-4 relative, where
// PyTorch's cascaded summation stays near 1e-7; double accumulation is simpler and better.
#pragma once
#include <algorithm>
#include <limits>

#include <Eigen/Core>

#include "elementwise.hpp"

namespace vkgrad::cpu {

template <class T> T reduce_identity(ReduceOp op) {
    if (op == ReduceOp::sum) return T(0);
    return op == ReduceOp::max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
}

/// out[a, b] = reduce_r x[a, r, b]
template <class T> void reduce_arb(ReduceOp op, const T* x, T* out, int64_t A, int64_t R, int64_t B) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    for (int64_t a = 0; a < A; ++a) {
        const T* xa = x + a * R * B;
        T* oa = out + a * B;
        if (B == 1) {
            Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> v(xa, R);
            oa[0] = R == 0 ? reduce_identity<T>(op)
                           : (op == ReduceOp::sum ? static_cast<T>(v.template cast<double>().sum())
                              : op == ReduceOp::max ? v.maxCoeff()
                                                    : v.minCoeff());
        } else if (op == ReduceOp::sum) {
            Eigen::Map<const Mat> m(xa, R, B);
            Eigen::Array<double, 1, Eigen::Dynamic> acc = Eigen::Array<double, 1, Eigen::Dynamic>::Zero(B);
            for (int64_t r = 0; r < R; ++r) acc += m.row(r).array().template cast<double>();
            Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>(oa, B) = acc.template cast<T>();
        } else {
            Eigen::Map<const Mat> m(xa, R, B);
            Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>> o(oa, B);
            o.setConstant(reduce_identity<T>(op));
            for (int64_t r = 0; r < R; ++r) {
                if (op == ReduceOp::max) o = o.max(m.row(r).array());
                else o = o.min(m.row(r).array());
            }
        }
    }
}

} // namespace vkgrad::cpu
