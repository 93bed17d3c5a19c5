// vkgrad/cpu/backend.hpp — the CPU backend: the Backend interface on host memory, with the
// kernels of the neighbouring files.
#pragma once
#include <algorithm>
#include <numeric>

#include "../core/backend.hpp"
#include "conv.hpp"
#include "elementwise.hpp"
#include "fused.hpp"
#include "layout.hpp"
#include "matmul.hpp"
#include "reduce.hpp"

namespace vkgrad::cpu {

template <class F> decltype(auto) visit_float(DType t, const char* op, F&& f) {
    VKG_CHECK(is_floating(t), op, "needs a floating tensor (float32 or float64), got ", dtype_name(t));
    return t == DType::f32 ? f(static_cast<float*>(nullptr)) : f(static_cast<double*>(nullptr));
}

class CpuBackend final : public Backend {
public:
    Tensor empty(const Shape& shape, DType dtype) override { return empty_cpu(shape, dtype); }

    void fill(const Tensor& t, double v) override {
        visit_dtype(t.dtype(), [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            std::fill_n(t.data<T>(), t.numel(), static_cast<T>(v));
        });
    }
    void copy(const Tensor& dst, const Tensor& src) override {
        std::memcpy(dst.raw_data(), src.raw_data(), static_cast<size_t>(src.numel()) * dtype_size(src.dtype()));
    }
    Tensor cast(const Tensor& x, DType to) override {
        Tensor out = empty(x.shape(), to);
        visit_dtype(to, [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const auto v = x.to_vector<T>();
            std::copy(v.begin(), v.end(), out.data<T>());
        });
        return out;
    }
    Tensor upload(const Tensor& host) override { return host; }
    Tensor download(const Tensor& x) override { return x; }

    Tensor unary(UnaryOp op, const Tensor& x, double a, double b) override {
        Tensor out = empty(x.shape(), x.dtype());
        visit_float(x.dtype(), "unary", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            cpu::unary<T>(op, x.data<T>(), out.data<T>(), x.numel(), a, b);
        });
        return out;
    }
    Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) override {
        Tensor out = empty(broadcast_shapes(a.shape(), b.shape(), "binary"), a.dtype());
        visit_float(a.dtype(), "binary", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            cpu::binary<T>(op, a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.data<T>(), out.shape());
        });
        return out;
    }
    Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) override {
        const Shape s = broadcast_shapes(broadcast_shapes(c.shape(), a.shape(), "where"), b.shape(), "where");
        Tensor out = empty(s, a.dtype());
        visit_float(a.dtype(), "where", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            cpu::where<T>(c.data<T>(), c.shape(), a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.data<T>(), s);
        });
        return out;
    }

    Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int>& axes) override {
        Shape keep = x.shape();
        for (int a : axes) keep[static_cast<size_t>(a)] = 1;
        Tensor out = empty(keep, x.dtype());
        const ReduceView v = reduce_view(*this, x, axes);
        visit_float(x.dtype(), "reduce", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            reduce_arb<T>(op, v.src.data<T>(), out.data<T>(), v.A, v.R, v.B);
        });
        return out;
    }

    Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) override {
        const MatmulShape m = matmul_shape(a.shape(), b.shape(), ta, tb);
        const int64_t M = m.M, K = m.K, N = m.N;
        const Shape& batch = m.batch;
        Tensor out = empty(m.out, a.dtype());
        const int64_t nbatch = numel(batch);
        // Offsets of each batch's matrix in a and b, honouring broadcast batch axes.
        std::vector<int64_t> offa, offb;
        offa.reserve(static_cast<size_t>(nbatch));
        offb.reserve(static_cast<size_t>(nbatch));
        const std::array<Shape, 2> st{broadcast_strides(m.abatch, batch), broadcast_strides(m.bbatch, batch)};
        for_each_row<2>(batch, st, [&](const std::array<int64_t, 2>& o, int64_t inner, const std::array<int64_t, 2>& s) {
            for (int64_t i = 0; i < inner; ++i) {
                offa.push_back(o[0] + i * s[0]);
                offb.push_back(o[1] + i * s[1]);
            }
        });
        const int64_t sa = M * K, sb = K * N;
        visit_float(a.dtype(), "matmul", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const T* pa = a.data<T>();
            const T* pb = b.data<T>();
            T* pc = out.data<T>();
            for (int64_t i = 0; i < nbatch; ++i)
                matmul_block<T>(pa + offa[static_cast<size_t>(i)] * sa, pb + offb[static_cast<size_t>(i)] * sb, pc + i * M * N,
                        M, N, K, ta, tb);
        });
        return out;
    }

    Tensor permute(const Tensor& x, const std::vector<int>& perm) override {
        const Shape st = contiguous_strides(x.shape());
        Shape os(perm.size()), ps(perm.size());
        for (size_t i = 0; i < perm.size(); ++i) {
            os[i] = x.shape()[static_cast<size_t>(perm[i])];
            ps[i] = st[static_cast<size_t>(perm[i])];
        }
        return gather_strided(x, 0, ps, os);
    }
    Tensor expand(const Tensor& x, const Shape& shape) override {
        return gather_strided(x, 0, broadcast_strides(x.shape(), shape), shape);
    }
    Tensor slice(const Tensor& x, int dim, int64_t start, int64_t len, int64_t step) override {
        Shape st = contiguous_strides(x.shape()), os = x.shape();
        const int64_t off = start * st[static_cast<size_t>(dim)];
        st[static_cast<size_t>(dim)] *= step;
        os[static_cast<size_t>(dim)] = len;
        return gather_strided(x, off, st, os);
    }
    Tensor unslice(const Tensor& g, const Shape& shape, int dim, int64_t start, int64_t step) override {
        Tensor out = empty(shape, g.dtype());
        fill(out, 0);
        Shape st = contiguous_strides(shape);
        const int64_t off = start * st[static_cast<size_t>(dim)];
        st[static_cast<size_t>(dim)] *= step;
        visit_elem(g.dtype(), [&](auto* tag) {
            using E = std::remove_pointer_t<decltype(tag)>;
            const E* src = static_cast<const E*>(g.raw_data());
            E* dst = static_cast<E*>(out.raw_data()) + off;
            int64_t lin = 0;
            for_each_row<1>(g.shape(), {st}, [&](const std::array<int64_t, 1>& o, int64_t inner, const std::array<int64_t, 1>& s) {
                for (int64_t i = 0; i < inner; ++i) dst[o[0] + i * s[0]] = src[lin++];
            });
        });
        return out;
    }
    Tensor concat(const std::vector<Tensor>& xs, int dim) override {
        Shape os = xs[0].shape();
        os[static_cast<size_t>(dim)] = 0;
        for (const auto& x : xs) os[static_cast<size_t>(dim)] += x.shape()[static_cast<size_t>(dim)];
        Tensor out = empty(os, xs[0].dtype());
        int64_t outer, inner;
        split_at(os, dim, outer, inner);
        const size_t es = dtype_size(out.dtype());
        auto* dst = static_cast<std::byte*>(out.raw_data());
        const int64_t row = os[static_cast<size_t>(dim)] * inner; // output elements per outer index
        int64_t at = 0;
        for (const auto& x : xs) {
            const int64_t chunk = x.shape()[static_cast<size_t>(dim)] * inner;
            const auto* src = static_cast<const std::byte*>(x.raw_data());
            for (int64_t o = 0; o < outer; ++o)
                std::memcpy(dst + static_cast<size_t>(o * row + at) * es, src + static_cast<size_t>(o * chunk) * es,
                            static_cast<size_t>(chunk) * es);
            at += chunk;
        }
        return out;
    }
    Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, PadMode mode, double value) override {
        const auto tables = pad_tables(x.shape(), pads, mode);
        Shape os(x.dim());
        for (size_t d = 0; d < os.size(); ++d) os[d] = static_cast<int64_t>(tables[d].size());
        Tensor out = empty(os, x.dtype());
        visit_dtype(x.dtype(), [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const T* src = x.data<T>();
            T* dst = out.data<T>();
            const T v = static_cast<T>(value);
            for_each_pad(x.shape(), tables, [&](int64_t o, int64_t s) { dst[o] = s < 0 ? v : src[s]; });
        });
        return out;
    }
    Tensor pad_adjoint(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& pads,
                       PadMode mode) override {
        const auto tables = pad_tables(in_shape, pads, mode);
        Tensor out = empty(in_shape, g.dtype());
        fill(out, 0);
        visit_float(g.dtype(), "pad_adjoint", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const T* src = g.data<T>();
            T* dst = out.data<T>();
            for_each_pad(in_shape, tables, [&](int64_t o, int64_t s) {
                if (s >= 0) dst[s] += src[o];
            });
        });
        return out;
    }
    Tensor flip(const Tensor& x, const std::vector<int>& dims) override {
        Shape st = contiguous_strides(x.shape());
        int64_t off = 0;
        for (int d : dims) {
            off += (x.shape()[static_cast<size_t>(d)] - 1) * st[static_cast<size_t>(d)];
            st[static_cast<size_t>(d)] = -st[static_cast<size_t>(d)];
        }
        return gather_strided(x, off, st, x.shape());
    }
    Tensor index_select(const Tensor& x, int dim, const Tensor& idx) override {
        Shape os = x.shape();
        const int64_t D = os[static_cast<size_t>(dim)], J = idx.numel();
        os[static_cast<size_t>(dim)] = J;
        Tensor out = empty(os, x.dtype());
        int64_t outer, inner;
        split_at(os, dim, outer, inner);
        const int64_t* ix = idx.data<int64_t>();
        for (int64_t j = 0; j < J; ++j)
            VKG_CHECK(ix[j] >= 0 && ix[j] < D, "index_select", "index ", ix[j], " is out of range for size ", D);
        const size_t es = dtype_size(x.dtype());
        const auto* src = static_cast<const std::byte*>(x.raw_data());
        auto* dst = static_cast<std::byte*>(out.raw_data());
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t j = 0; j < J; ++j)
                std::memcpy(dst + static_cast<size_t>((o * J + j) * inner) * es,
                            src + static_cast<size_t>((o * D + ix[j]) * inner) * es, static_cast<size_t>(inner) * es);
        return out;
    }
    Tensor index_add(const Shape& shape, int dim, const Tensor& idx, const Tensor& src) override {
        Tensor out = empty(shape, src.dtype());
        fill(out, 0);
        const int64_t D = shape[static_cast<size_t>(dim)], J = idx.numel();
        int64_t outer, inner;
        split_at(shape, dim, outer, inner);
        const int64_t* ix = idx.data<int64_t>();
        for (int64_t j = 0; j < J; ++j)
            VKG_CHECK(ix[j] >= 0 && ix[j] < D, "index_add", "index ", ix[j], " is out of range for size ", D);
        visit_float(src.dtype(), "index_add", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const T* s = src.data<T>();
            T* d = out.data<T>();
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t j = 0; j < J; ++j)
                    for (int64_t i = 0; i < inner; ++i) d[(o * D + ix[j]) * inner + i] += s[(o * J + j) * inner + i];
        });
        return out;
    }
    Tensor gather(const Tensor& x, int dim, const Tensor& index) override {
        Tensor out = empty(index.shape(), x.dtype());
        visit_elem(x.dtype(), [&](auto* tag) {
            using E = std::remove_pointer_t<decltype(tag)>;
            const E* s = static_cast<const E*>(x.raw_data());
            E* d = static_cast<E*>(out.raw_data());
            for_each_gather(index.shape(), index.data<int64_t>(), dim, contiguous_strides(x.shape()),
                            x.shape()[static_cast<size_t>(dim)], "gather",
                            [&](int64_t lin, int64_t off) { d[lin] = s[off]; });
        });
        return out;
    }
    Tensor scatter_add(const Shape& shape, int dim, const Tensor& index, const Tensor& src) override {
        Tensor out = empty(shape, src.dtype());
        fill(out, 0);
        visit_float(src.dtype(), "scatter_add", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            const T* s = src.data<T>();
            T* d = out.data<T>();
            for_each_gather(index.shape(), index.data<int64_t>(), dim, contiguous_strides(shape),
                            shape[static_cast<size_t>(dim)], "scatter_add",
                            [&](int64_t lin, int64_t off) { d[off] += s[lin]; });
        });
        return out;
    }

    Tensor conv2d(const Tensor& x, const Tensor& w, const ConvParams& p) override {
        Tensor y = empty(conv_out_shape(x.shape(), w.shape(), p), x.dtype());
        visit_float(x.dtype(), "conv2d", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            conv2d_forward<T>(x.data<T>(), w.data<T>(), y.data<T>(), conv_geom(x.shape(), w.shape(), y.shape(), p));
        });
        return y;
    }
    Tensor conv2d_input_grad(const Tensor& gy, const Tensor& w, const Shape& xs, const ConvParams& p) override {
        Tensor gx = empty(xs, gy.dtype());
        visit_float(gy.dtype(), "conv2d_input_grad", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            cpu::conv2d_input_grad<T>(gy.data<T>(), w.data<T>(), gx.data<T>(), conv_geom(xs, w.shape(), gy.shape(), p));
        });
        return gx;
    }
    Tensor conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Shape& ws, const ConvParams& p) override {
        Tensor gw = empty(ws, x.dtype());
        visit_float(x.dtype(), "conv2d_weight_grad", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            cpu::conv2d_weight_grad<T>(x.data<T>(), gy.data<T>(), gw.data<T>(), conv_geom(x.shape(), ws, gy.shape(), p));
        });
        return gw;
    }

    bool fused_conv2d_bias(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p, Tensor& y) override {
        y = empty(conv_out_shape(x.shape(), w.shape(), p), x.dtype());
        visit_float(x.dtype(), "conv2d", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            conv2d_forward<T>(x.data<T>(), w.data<T>(), y.data<T>(), conv_geom(x.shape(), w.shape(), y.shape(), p),
                              bias.data<T>());
        });
        return true;
    }
    bool fused_layer_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, bool keep, Tensor& y,
                            Tensor& xhat, Tensor& r) override {
        const int64_t N = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
        y = empty(x.shape(), x.dtype());
        xhat = keep ? empty(x.shape(), x.dtype()) : Tensor();
        r = keep ? empty({N, 1, x.size(2), x.size(3)}, x.dtype()) : Tensor();
        visit_float(x.dtype(), "layer_norm2d", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            layer_norm2d_forward<T>(x.data<T>(), weight.data<T>(), bias.data<T>(), static_cast<T>(eps), N, C, P,
                                    y.data<T>(), keep ? xhat.data<T>() : nullptr, keep ? r.data<T>() : nullptr);
        });
        return true;
    }
    bool fused_layer_norm2d_grad(const Tensor& g, const Tensor& weight, const Tensor& xhat, const Tensor& r,
                                 const std::array<bool, 3>& need, Tensor& gx, Tensor& gweight, Tensor& gbias) override {
        if (!is_floating(g.dtype()) || g.dtype() != xhat.dtype() || g.dtype() != weight.dtype() || g.shape() != xhat.shape())
            return false;
        const int64_t N = g.size(0), C = g.size(1), P = g.size(2) * g.size(3);
        gx = need[0] ? empty(g.shape(), g.dtype()) : Tensor();
        gweight = need[1] ? empty(weight.shape(), g.dtype()) : Tensor();
        gbias = need[2] ? empty(weight.shape(), g.dtype()) : Tensor();
        visit_float(g.dtype(), "layer_norm2d", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            layer_norm2d_backward<T>(g.data<T>(), weight.data<T>(), xhat.data<T>(), r.data<T>(), N, C, P,
                                     need[0] ? gx.data<T>() : nullptr, need[1] ? gweight.data<T>() : nullptr,
                                     need[2] ? gbias.data<T>() : nullptr);
        });
        return true;
    }
    bool fused_simple_gate(const Tensor& x, Tensor& y) override {
        if (!is_floating(x.dtype())) return false;
        Shape s = x.shape();
        s[1] /= 2;
        y = empty(s, x.dtype());
        visit_float(x.dtype(), "simple_gate", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            simple_gate_forward<T>(x.data<T>(), y.data<T>(), x.size(0), y.numel() / std::max<int64_t>(x.size(0), 1));
        });
        return true;
    }
    bool fused_simple_gate_grad(const Tensor& x, const Tensor& g, Tensor& gx) override {
        if (!is_floating(x.dtype())) return false;
        gx = empty(x.shape(), x.dtype());
        visit_float(x.dtype(), "simple_gate", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            simple_gate_backward<T>(x.data<T>(), g.data<T>(), gx.data<T>(), x.size(0),
                                    g.numel() / std::max<int64_t>(x.size(0), 1));
        });
        return true;
    }
    bool fused_addcmul_channel(const Tensor& a, const Tensor& x, const Tensor& s, Tensor& y) override {
        if (!is_floating(a.dtype())) return false;
        const int64_t N = a.size(0), C = a.size(1), inner = C == 0 || N == 0 ? 0 : a.numel() / (N * C);
        y = empty(a.shape(), a.dtype());
        visit_float(a.dtype(), "addcmul", [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            addcmul_channel<T>(a.data<T>(), x.data<T>(), s.data<T>(), y.data<T>(), N, C, inner);
        });
        return true;
    }

private:
    static Shape conv_out_shape(const Shape& x, const Shape& w, const ConvParams& p) {
        const int64_t ho = (x[2] + p.padding[0] + p.padding[1] - p.dilation[0] * (w[2] - 1) - 1) / p.stride[0] + 1;
        const int64_t wo = (x[3] + p.padding[2] + p.padding[3] - p.dilation[1] * (w[3] - 1) - 1) / p.stride[1] + 1;
        return {x[0], w[0], ho, wo};
    }
    Tensor gather_strided(const Tensor& x, int64_t off, const Shape& strides, const Shape& os) {
        Tensor out = empty(os, x.dtype());
        if (out.numel() == 0) return out;
        visit_elem(x.dtype(), [&](auto* tag) {
            using E = std::remove_pointer_t<decltype(tag)>;
            strided_copy<E>(static_cast<const E*>(x.raw_data()), off, strides, static_cast<E*>(out.raw_data()), os);
        });
        return out;
    }
};

/// The process's CPU backend (stateless, so one shared instance is enough).
inline Backend& backend() {
    static CpuBackend b;
    return b;
}

} // namespace vkgrad::cpu
