// vkgrad/cpu/layout.hpp — CPU kernels that move elements: permute, expand, slice, flip,
// concat, pad, and the index ops with their scatter-add adjoints.
#pragma once
#include <cstring>
#include <vector>

#include "elementwise.hpp"

namespace vkgrad::cpu {

/// dst (contiguous, shape `out`) [i] = src[off + sum_d i_d * strides[d]]; strides may be 0
/// (expand) or negative (flip). E is any type of the element's size.
template <class E> void strided_copy(const E* src, int64_t off, const Shape& strides, E* dst, const Shape& out) {
    for_each_row<1>(out, {strides}, [&](const std::array<int64_t, 1>& o, int64_t inner, const std::array<int64_t, 1>& st) {
        const E* p = src + off + o[0];
        const int64_t s_in = st[0];
        if (s_in == 1) std::memcpy(dst, p, sizeof(E) * static_cast<size_t>(inner));
        else
            for (int64_t i = 0; i < inner; ++i) dst[i] = p[i * s_in];
        dst += inner;
    });
}

/// Calls f(E*) with the unsigned integer type that has the element size of dtype t.
template <class F> void visit_elem(DType t, F&& f) {
    if (dtype_size(t) == 4) f(static_cast<uint32_t*>(nullptr));
    else f(static_cast<uint64_t*>(nullptr));
}

/// For one padded axis: the source position of each output position, or -1 (constant fill).
inline std::vector<int64_t> pad_table(int64_t in, int64_t before, int64_t after, PadMode mode) {
    const int64_t out = in + before + after;
    std::vector<int64_t> t(static_cast<size_t>(std::max<int64_t>(out, 0)));
    for (int64_t o = 0; o < out; ++o) {
        int64_t i = o - before;
        if (i < 0 || i >= in) {
            if (mode == PadMode::constant) i = -1;
            else if (mode == PadMode::replicate) i = i < 0 ? 0 : in - 1;
            else {
                i = i < 0 ? -i : i;                 // reflect about the first element
                if (i >= in) i = 2 * (in - 1) - i;  // and about the last (pads < in, so once)
            }
        }
        t[static_cast<size_t>(o)] = i;
    }
    return t;
}

/// Visits every output element of a pad: f(out_linear, src_linear or -1). Tables per axis.
template <class F> void for_each_pad(const Shape& in, const std::vector<std::vector<int64_t>>& tables, F&& f) {
    const size_t nd = in.size();
    if (nd == 0) return f(int64_t(0), int64_t(0));
    const Shape st = contiguous_strides(in);
    const std::vector<int64_t>& last = tables.back(); // last axis has stride 1
    const auto inner = static_cast<int64_t>(last.size());
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < nd; ++d) rows *= static_cast<int64_t>(tables[d].size());
    std::vector<size_t> idx(nd - 1, 0);
    int64_t o = 0;
    for (int64_t r = 0; r < rows && inner > 0; ++r) {
        int64_t base = 0; // source offset of this row, -1 inside a constant border
        for (size_t d = 0; d + 1 < nd && base >= 0; ++d) {
            const int64_t i = tables[d][idx[d]];
            base = i < 0 ? -1 : base + i * st[d];
        }
        for (int64_t k = 0; k < inner; ++k, ++o) f(o, base < 0 || last[static_cast<size_t>(k)] < 0 ? -1 : base + last[static_cast<size_t>(k)]);
        for (size_t d = nd - 1; d-- > 0;) { // odometer over the outer axes
            if (++idx[d] < tables[d].size()) break;
            idx[d] = 0;
        }
    }
}

inline std::vector<std::vector<int64_t>> pad_tables(const Shape& in, const std::vector<int64_t>& pads,
                                                   PadMode mode) {
    std::vector<std::vector<int64_t>> t(in.size());
    for (size_t d = 0; d < in.size(); ++d) {
        const size_t k = in.size() - 1 - d; // pads run from the last axis backwards
        const int64_t before = 2 * k < pads.size() ? pads[2 * k] : 0;
        const int64_t after = 2 * k + 1 < pads.size() ? pads[2 * k + 1] : 0;
        t[d] = pad_table(in[d], before, after, mode);
    }
    return t;
}

/// Splits shape around `dim` into outer * size(dim) * inner.
inline void split_at(const Shape& s, int dim, int64_t& outer, int64_t& inner) {
    outer = 1;
    inner = 1;
    for (int d = 0; d < dim; ++d) outer *= s[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(dim) + 1; d < s.size(); ++d) inner *= s[d];
}

/// Visits every element of `index` (shape ishape): f(linear position in index, offset in a
/// tensor of strides `st` with the index's value substituted along dim).
template <class F>
void for_each_gather(const Shape& ishape, const int64_t* index, int dim, const Shape& st, int64_t dim_size,
                     const char* op, F&& f) {
    Shape st0 = st;
    st0[static_cast<size_t>(dim)] = 0;
    int64_t lin = 0;
    for_each_row<1>(ishape, {st0}, [&](const std::array<int64_t, 1>& o, int64_t inner, const std::array<int64_t, 1>& s) {
        const int64_t s_in = s[0];
        for (int64_t i = 0; i < inner; ++i, ++lin) {
            const int64_t v = index[lin];
            VKG_CHECK(v >= 0 && v < dim_size, op, "index ", v, " is out of range for size ", dim_size,
                      " along dim ", dim);
            f(lin, o[0] + i * s_in + v * st[static_cast<size_t>(dim)]);
        }
    });
}

} // namespace vkgrad::cpu
