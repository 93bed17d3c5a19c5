// vkgrad/cpu/elementwise.hpp — CPU kernels for unary, binary (broadcast) and where.
#pragma once
#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "../core/backend.hpp"
#include "../core/parallel.hpp"

namespace vkgrad::cpu {

template <class T> using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// Elements per chunk of a parallel elementwise loop: large enough that a chunk costs more than
/// handing it to a thread, a multiple of every SIMD width so chunks start on packet boundaries.
inline constexpr int64_t kElementwiseGrain = int64_t{1} << 15;

template <class T> void unary_range(UnaryOp op, const T* xp, T* op_, int64_t n, double a, double b) {
    ConstArrayMap<T> x(xp, n);
    ArrayMap<T> o(op_, n);
    const T ta = static_cast<T>(a), tb = static_cast<T>(b);
    switch (op) {
    case UnaryOp::neg: o = -x; break;
    case UnaryOp::exp: o = x.exp(); break;
    case UnaryOp::log: o = x.log(); break;
    case UnaryOp::sqrt: o = x.sqrt(); break;
    case UnaryOp::rsqrt: o = x.rsqrt(); break;
    case UnaryOp::abs: o = x.abs(); break;
    case UnaryOp::sign: o = x.sign(); break;
    case UnaryOp::sigmoid: o = T(1) / (T(1) + (-x).exp()); break;
    case UnaryOp::tanh: o = x.tanh(); break;
    case UnaryOp::relu: o = (x > T(0)).select(x, T(0)); break;
    case UnaryOp::leaky_relu: o = (x > T(0)).select(x, x * ta); break;
    case UnaryOp::clamp: o = x.max(ta).min(tb); break;
    case UnaryOp::pow_scalar:
        if (a == 2) o = x.square();
        else if (a == 1) o = x;
        else o = x.pow(ta);
        break;
    case UnaryOp::erf:
        for (int64_t i = 0; i < n; ++i) op_[i] = std::erf(xp[i]);
        break;
    case UnaryOp::gelu:
        for (int64_t i = 0; i < n; ++i) op_[i] = xp[i] * T(0.5) * (T(1) + std::erf(xp[i] * T(M_SQRT1_2)));
        break;
    case UnaryOp::softplus:
        // torch: x when beta*x > threshold, else log1p(exp(beta*x)) / beta
        for (int64_t i = 0; i < n; ++i)
            op_[i] = xp[i] * ta > tb ? xp[i] : std::log1p(std::exp(xp[i] * ta)) / ta;
        break;
    }
}

/// unary_range over [0, n) on the thread pool, in chunks of kElementwiseGrain elements.
template <class T> void unary(UnaryOp op, const T* xp, T* op_, int64_t n, double a, double b) {
    parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) { unary_range(op, xp + lo, op_ + lo, hi - lo, a, b); });
}

template <class T> inline T binary_scalar(BinaryOp op, T x, T y) {
    switch (op) {
    case BinaryOp::add: return x + y;
    case BinaryOp::sub: return x - y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
    case BinaryOp::pow: return y == T(2) ? x * x : std::pow(x, y);
    case BinaryOp::maximum: return (x != x || x > y) ? x : y; // NaN propagates, as torch.maximum
    case BinaryOp::minimum: return (x != x || x < y) ? x : y;
    case BinaryOp::eq: return T(x == y);
    case BinaryOp::ne: return T(x != y);
    case BinaryOp::lt: return T(x < y);
    case BinaryOp::le: return T(x <= y);
    case BinaryOp::gt: return T(x > y);
    case BinaryOp::ge: return T(x >= y);
    }
    return T(0);
}

/// The axes of an elementwise loop after dropping axes of size 1 and merging axes that are
/// contiguous in every operand, so runs along the last axis are as long as the layouts allow.
template <size_t K> struct RowLayout {
    Shape out;                 ///< merged extents (empty: a single element)
    std::array<Shape, K> st;   ///< per-operand strides of the merged axes
    RowLayout(const Shape& out_in, const std::array<Shape, K>& st_in) {
        for (size_t d = 0; d < out_in.size(); ++d) {
            if (out_in[d] == 1) continue;
            bool merge = !out.empty();
            for (size_t k = 0; k < K && merge; ++k) merge = st[k].back() == st_in[k][d] * out_in[d];
            if (merge) {
                out.back() *= out_in[d];
                for (size_t k = 0; k < K; ++k) st[k].back() = st_in[k][d];
            } else {
                out.push_back(out_in[d]);
                for (size_t k = 0; k < K; ++k) st[k].push_back(st_in[k][d]);
            }
        }
    }
    int64_t inner() const { return out.empty() ? 1 : out.back(); }
    int64_t rows() const { return inner() == 0 ? 0 : numel(out) / inner(); }
    /// Each operand's element offset at the start of row r (r in row-major order).
    std::array<int64_t, K> row_offsets(int64_t r) const {
        std::array<int64_t, K> off{};
        if (out.empty()) return off;
        for (size_t d = out.size() - 1; d-- > 0 && r > 0;) {
            const int64_t i = r % out[d];
            r /= out[d];
            for (size_t k = 0; k < K; ++k) off[k] += i * st[k][d];
        }
        return off;
    }
};

/// Calls body(offsets, inner, steps) for every run along the innermost axis of `out`, where
/// offsets[k] is the element offset of operand k at the start of the run, steps[k] its stride
/// along the run, and strides[k] its per-axis strides. Runs visit `out` in row-major order.
/// Axes of size 1 are dropped and axes that are contiguous in every operand are merged first,
/// so runs are as long as the layouts allow.
template <size_t K, class Body>
void for_each_row(const Shape& out_in, const std::array<Shape, K>& st_in, Body&& body) {
    const RowLayout<K> L(out_in, st_in);
    std::array<int64_t, K> off{}, step{};
    if (L.out.empty()) { // a single element
        body(off, int64_t(1), step);
        return;
    }
    const auto& out = L.out;
    const auto& st = L.st;
    const size_t nd = out.size();
    const int64_t inner = L.inner(), rows = L.rows();
    for (size_t k = 0; k < K; ++k) step[k] = st[k][nd - 1];
    Shape idx(nd, 0);
    for (int64_t r = 0; r < rows; ++r) {
        body(const_cast<const std::array<int64_t, K>&>(off), inner, step);
        for (size_t d = nd - 1; d-- > 0;) { // odometer over the outer axes
            if (++idx[d] < out[d]) {
                for (size_t k = 0; k < K; ++k) off[k] += st[k][d];
                break;
            }
            for (size_t k = 0; k < K; ++k) off[k] -= st[k][d] * (out[d] - 1);
            idx[d] = 0;
        }
    }
}

/// for_each_row on the thread pool: the runs are cut into pieces of at most kElementwiseGrain
/// elements, and body(offsets, n, steps, pos) is called once per piece, pos being the piece's
/// row-major position in `out`. Pieces depend on the shapes alone and every element is computed
/// by one call, so the results do not depend on the thread count.
template <size_t K, class Body>
void for_each_piece(const Shape& out_in, const std::array<Shape, K>& st_in, Body&& body) {
    const RowLayout<K> L(out_in, st_in);
    const int64_t inner = L.inner(), rows = L.rows();
    if (rows == 0) return;
    std::array<int64_t, K> step{};
    if (!L.out.empty())
        for (size_t k = 0; k < K; ++k) step[k] = L.st[k].back();
    const int64_t per_row = (inner + kElementwiseGrain - 1) / kElementwiseGrain; // pieces in a row
    // Short rows are grouped so that a task still holds about kElementwiseGrain elements.
    const int64_t rows_per_task = per_row > 1 ? 1 : std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1));
    const int64_t tasks = per_row > 1 ? rows * per_row : (rows + rows_per_task - 1) / rows_per_task;
    parallel_for(tasks, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t t = lo; t < hi; ++t) {
            if (per_row > 1) {
                const int64_t r = t / per_row, b = (t % per_row) * kElementwiseGrain;
                auto off = L.row_offsets(r);
                for (size_t k = 0; k < K; ++k) off[k] += b * step[k];
                body(const_cast<const std::array<int64_t, K>&>(off), std::min(kElementwiseGrain, inner - b), step,
                     r * inner + b);
            } else {
                for (int64_t r = t * rows_per_task; r < std::min(rows, (t + 1) * rows_per_task); ++r)
                    body(L.row_offsets(r), inner, step, r * inner);
            }
        }
    });
}

template <class T, class F>
void binary_loop(const T* a, const Shape& as, const T* b, const Shape& bs, T* o, const Shape& os, F f) {
    // Contiguous runs get loops with unit or zero strides written out, so they vectorise.
    auto run = [&f](const T* pa, int64_t sa, const T* pb, int64_t sb, T* out, int64_t n) {
        if (sa == 1 && sb == 1)
            for (int64_t i = 0; i < n; ++i) out[i] = f(pa[i], pb[i]);
        else if (sa == 1 && sb == 0)
            for (int64_t i = 0, y = 0; i < n; ++i) out[i] = f(pa[i], pb[y]);
        else if (sa == 0 && sb == 1)
            for (int64_t i = 0, x = 0; i < n; ++i) out[i] = f(pa[x], pb[i]);
        else
            for (int64_t i = 0; i < n; ++i) out[i] = f(pa[i * sa], pb[i * sb]);
    };
    // Elementwise, so cutting the work into pieces changes no result: every element is computed
    // the same way whichever piece and thread it falls in.
    const int64_t n = numel(os);
    const bool sa = numel(as) == 1 && bs == os, sb = numel(bs) == 1 && as == os;
    if ((as == os && bs == os) || sa || sb)
        parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
            run(sa ? a : a + lo, sa ? 0 : 1, sb ? b : b + lo, sb ? 0 : 1, o + lo, hi - lo);
        });
    else {
        const std::array<Shape, 2> st{broadcast_strides(as, os), broadcast_strides(bs, os)};
        for_each_piece<2>(os, st,
                          [&](const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& s,
                              int64_t pos) { run(a + off[0], s[0], b + off[1], s[1], o + pos, len); });
    }
}

template <class T>
void binary(BinaryOp op, const T* a, const Shape& as, const T* b, const Shape& bs, T* o, const Shape& os) {
    // Dispatch on the op outside the loop so each loop body inlines to a vectorisable form.
    switch (op) {
    case BinaryOp::add: return binary_loop(a, as, b, bs, o, os, [](T x, T y) { return x + y; });
    case BinaryOp::sub: return binary_loop(a, as, b, bs, o, os, [](T x, T y) { return x - y; });
    case BinaryOp::mul: return binary_loop(a, as, b, bs, o, os, [](T x, T y) { return x * y; });
    case BinaryOp::div: return binary_loop(a, as, b, bs, o, os, [](T x, T y) { return x / y; });
    default: return binary_loop(a, as, b, bs, o, os, [op](T x, T y) { return binary_scalar(op, x, y); });
    }
}

template <class T>
void where(const T* c, const Shape& cs, const T* a, const Shape& as, const T* b, const Shape& bs, T* o,
           const Shape& os) {
    const std::array<Shape, 3> st{broadcast_strides(cs, os), broadcast_strides(as, os), broadcast_strides(bs, os)};
    for_each_piece<3>(os, st, [&](const std::array<int64_t, 3>& off, int64_t len, const std::array<int64_t, 3>& s,
                                  int64_t pos) {
        T* out = o + pos;
        for (int64_t i = 0; i < len; ++i)
            out[i] = c[off[0] + i * s[0]] != T(0) ? a[off[1] + i * s[1]] : b[off[2] + i * s[2]];
    });
}

} // namespace vkgrad::cpu
