// vkgrad/core/backend.hpp — the primitive kernels every device must provide, and the one
// place where an op finds the backend of its inputs' device.
//
// The list is deliberately short (the tinygrad idea): everything in vkgrad/ops/ — including
// every backward pass — is written in terms of these primitives, so a new device only has to
// implement this interface to run forward, backward and double backward. (A few optional fused
// kernels at the end speed up hot composites where a backend offers them.)
#pragma once
#include <algorithm>
#include <array>
#include <vector>

#include "tensor.hpp"

namespace vkgrad {

enum class UnaryOp {
    neg, exp, log, sqrt, rsqrt, abs, sign, sigmoid, tanh, erf,
    relu,       // max(x, 0)
    leaky_relu, // a = negative slope
    gelu,       // exact (erf) form
    softplus,   // a = beta, b = threshold (torch semantics: linear above threshold)
    clamp,      // a = lo, b = hi (±inf for a missing bound)
    pow_scalar, // a = exponent
};

enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge };

enum class ReduceOp { sum, max, min };

enum class PadMode { constant, reflect, replicate };

/// Geometry of a 2-d convolution (torch.nn.functional.conv2d), with separate padding per side.
struct ConvParams {
    std::array<int64_t, 2> stride{1, 1};        // (h, w)
    std::array<int64_t, 4> padding{0, 0, 0, 0}; // top, bottom, left, right
    std::array<int64_t, 2> dilation{1, 1};      // (h, w)
    int64_t groups = 1;
    /// torch's form: the same stride, padding and dilation along both axes.
    static ConvParams torch(int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1) {
        return {{stride, stride}, {padding, padding, padding, padding}, {dilation, dilation}, groups};
    }
};

/// Primitive kernels. Inputs are contiguous tensors on this backend's device with a common
/// floating dtype unless stated; shapes are validated by the ops layer before the call, so
/// backends only check what the ops layer cannot know.
struct Backend {
    virtual ~Backend() = default;

    virtual Tensor empty(const Shape& shape, DType dtype) = 0;
    virtual void fill(const Tensor& t, double value) = 0;
    /// dst and src have equal numel and dtype.
    virtual void copy(const Tensor& dst, const Tensor& src) = 0;
    virtual Tensor cast(const Tensor& x, DType to) = 0;
    /// Host tensor -> this device, and this device -> a host tensor.
    virtual Tensor upload(const Tensor& host) = 0;
    virtual Tensor download(const Tensor& x) = 0;

    virtual Tensor unary(UnaryOp op, const Tensor& x, double a, double b) = 0;
    /// numpy-broadcast binary op; out has broadcast_shapes(a, b). Comparisons give 1 or 0.
    virtual Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) = 0;
    /// cond != 0 ? a : b, all three broadcast.
    virtual Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
    /// Reduces over the (sorted, unique) axes; the result keeps them with size 1.
    virtual Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int>& axes) = 0;
    /// op(a) @ op(b) over the last two axes, batch axes broadcast; op transposes when t* is set.
    virtual Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) = 0;

    // Layout kernels: any dtype (they move elements, except the *_add ones which sum).
    virtual Tensor permute(const Tensor& x, const std::vector<int>& perm) = 0;
    virtual Tensor expand(const Tensor& x, const Shape& shape) = 0;
    /// Elements start, start+step, ... (len of them) along dim.
    virtual Tensor slice(const Tensor& x, int dim, int64_t start, int64_t len, int64_t step) = 0;
    /// Adjoint of slice: zeros of `shape` with g written at the sliced positions.
    virtual Tensor unslice(const Tensor& g, const Shape& shape, int dim, int64_t start, int64_t step) = 0;
    virtual Tensor concat(const std::vector<Tensor>& xs, int dim) = 0;
    /// pads = (before, after) pairs from the last axis backwards, as torch.nn.functional.pad;
    /// negative pads crop.
    virtual Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, PadMode mode, double value) = 0;
    /// Adjoint of pad: sums g back onto the input positions each output element came from.
    virtual Tensor pad_adjoint(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& pads,
                               PadMode mode) = 0;
    virtual Tensor flip(const Tensor& x, const std::vector<int>& dims) = 0;
    /// idx: int64 vector of positions along dim.
    virtual Tensor index_select(const Tensor& x, int dim, const Tensor& idx) = 0;
    /// Adjoint of index_select: zeros of `shape`, then out[.., idx[j], ..] += src[.., j, ..].
    virtual Tensor index_add(const Shape& shape, int dim, const Tensor& idx, const Tensor& src) = 0;
    /// out[i][j][k] = x[i][index[i][j][k]][k] (dim = 1), index int64 of the output's shape.
    virtual Tensor gather(const Tensor& x, int dim, const Tensor& index) = 0;
    /// Adjoint of gather: zeros of `shape`, then out[i][index[i][j][k]][k] += src[i][j][k].
    virtual Tensor scatter_add(const Shape& shape, int dim, const Tensor& index, const Tensor& src) = 0;

    // Convolution: the forward and its two adjoints, each validated by the ops layer.
    /// x [N, C, H, W], w [O, C/groups, kh, kw] -> [N, O, Ho, Wo] (no bias).
    virtual Tensor conv2d(const Tensor& x, const Tensor& w, const ConvParams& p) = 0;
    /// d<conv2d(x, w), gy>/dx for x of x_shape: the transposed convolution of gy.
    virtual Tensor conv2d_input_grad(const Tensor& gy, const Tensor& w, const Shape& x_shape, const ConvParams& p) = 0;
    /// d<conv2d(x, w), gy>/dw for w of w_shape.
    virtual Tensor conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Shape& w_shape, const ConvParams& p) = 0;

    // Optional fused kernels. A composite op that dominates a model's time may also be done in
    // one kernel; false means "not on this backend", and the op is then composed from the
    // primitives above — the definition, which the tests hold every fused kernel against.

    /// conv2d with its bias (ops/conv.hpp): conv2d(x, w, p) + bias[O] per output channel, added
    /// while the output is in cache (no second pass over it).
    virtual bool fused_conv2d_bias(const Tensor& /*x*/, const Tensor& /*w*/, const Tensor& /*bias*/,
                                   const ConvParams& /*p*/, Tensor& /*y*/) {
        return false;
    }
    /// layer_norm2d's forward (ops/norm.hpp): x [N, C, H, W], weight and bias [C], one floating
    /// dtype. On true: y is set and, when `keep`, also xhat (x normalised) and r [N, 1, H, W]
    /// (1 / std), for the backward.
    virtual bool fused_layer_norm2d(const Tensor& /*x*/, const Tensor& /*weight*/, const Tensor& /*bias*/,
                                    double /*eps*/, bool /*keep*/, Tensor& /*y*/, Tensor& /*xhat*/, Tensor& /*r*/) {
        return false;
    }
    /// Its backward (the closed form in ops/norm.hpp) for an upstream g, from the forward's xhat
    /// and r: gx [N, C, H, W], gweight and gbias [C], each only when its `need` flag is set.
    virtual bool fused_layer_norm2d_grad(const Tensor& /*g*/, const Tensor& /*weight*/, const Tensor& /*xhat*/,
                                         const Tensor& /*r*/, const std::array<bool, 3>& /*need*/, Tensor& /*gx*/,
                                         Tensor& /*gweight*/, Tensor& /*gbias*/) {
        return false;
    }
    /// simple_gate (ops/layers.hpp): x [N, 2c, ...] -> y = x[:, :c] * x[:, c:].
    virtual bool fused_simple_gate(const Tensor& /*x*/, Tensor& /*y*/) { return false; }
    /// Its adjoint for an upstream g [N, c, ...]: gx = [g * x[:, c:], g * x[:, :c]] along axis 1.
    virtual bool fused_simple_gate_grad(const Tensor& /*x*/, const Tensor& /*g*/, Tensor& /*gx*/) { return false; }
    /// addcmul (ops/layers.hpp) with one scale per channel: a, x [N, C, ...] of one shape and s
    /// [1, C, 1, ...] -> y = a + x * s.
    virtual bool fused_addcmul_channel(const Tensor& /*a*/, const Tensor& /*x*/, const Tensor& /*s*/, Tensor& /*y*/) {
        return false;
    }
};

/// A reduction's input as [A, R, B] with R the reduced (sorted, unique) axes: x itself when
/// they are adjacent, otherwise x with them moved last (B = 1) by the backend's permute.
/// Axes of size 1 are left out of the adjacency test (they have no extent in memory), so a
/// per-channel sum of a batch of one, over axes {0, 2, 3}, reads x in place instead of copying it.
/// Shared by every backend's reduce so they agree on the layout.
struct ReduceView {
    Tensor src;
    int64_t A = 1, R = 1, B = 1;
};
inline ReduceView reduce_view(Backend& backend, const Tensor& x, const std::vector<int>& axes) {
    ReduceView v{x};
    const auto reduced = [&](int d) { return std::binary_search(axes.begin(), axes.end(), d); };
    // Along the axes of extent > 1: before the reduced run (A), in it (R), after it (B).
    int phase = 0;
    bool adjacent = true;
    for (int d = 0; d < static_cast<int>(x.dim()); ++d) {
        const int64_t n = x.shape()[static_cast<size_t>(d)];
        if (n == 1) continue;
        if (reduced(d)) {
            if (phase == 2) adjacent = false;
            phase = 1;
            v.R *= n;
        } else {
            if (phase == 1) phase = 2;
            (phase == 0 ? v.A : v.B) *= n;
        }
    }
    if (adjacent) return v;
    std::vector<int> perm;
    for (int d = 0; d < static_cast<int>(x.dim()); ++d)
        if (!reduced(d)) perm.push_back(d);
    perm.insert(perm.end(), axes.begin(), axes.end());
    v.src = backend.permute(x, perm);
    v.A *= v.B; // every kept axis now comes first, the reduced ones last
    v.B = 1;
    return v;
}

/// The sizes of op(a) @ op(b) over the last two axes: [M, K] @ [K, N], with the batch axes
/// of a and b and their broadcast, and the output shape batch + [M, N].
struct MatmulShape {
    int64_t M, K, N;
    Shape abatch, bbatch, batch, out;
};
inline MatmulShape matmul_shape(const Shape& as, const Shape& bs, bool ta, bool tb) {
    const size_t na = as.size(), nb = bs.size();
    MatmulShape m;
    m.M = ta ? as[na - 1] : as[na - 2];
    m.K = ta ? as[na - 2] : as[na - 1];
    m.N = tb ? bs[nb - 2] : bs[nb - 1];
    m.abatch = Shape(as.begin(), as.end() - 2);
    m.bbatch = Shape(bs.begin(), bs.end() - 2);
    m.batch = broadcast_shapes(m.abatch, m.bbatch, "matmul");
    m.out = m.batch;
    m.out.push_back(m.M);
    m.out.push_back(m.N);
    return m;
}

/// Backends by device type. The CPU one is built in (vkgrad/cpu/backend.hpp); others
/// register themselves here when their header is included and their context is created.
inline Backend*& backend_slot(DeviceType t) {
    static std::array<Backend*, 2> slots{};
    return slots[static_cast<size_t>(t)];
}

} // namespace vkgrad
