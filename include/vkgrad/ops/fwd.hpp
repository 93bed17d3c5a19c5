// vkgrad/ops/fwd.hpp — the catalogue of differentiable ops, declared in one place.
//
// Backward rules are written with these same ops, so the files that define them refer to one
// another; declaring everything here first lets each file stay about one kind of op. Every op
// is differentiable (to any order) in all its floating inputs unless noted.
// Unless stated, inputs must share device and dtype, and binary ops broadcast like numpy.
#pragma once
#include <array>
#include <vector>

#include "../core/backend.hpp"
#include "../core/tensor.hpp"

namespace vkgrad {

// ---- elementwise (ops/elementwise.hpp) ----------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b); ///< d/db is 0 where a == 0 and b >= 0, as torch
Tensor pow(const Tensor& x, double p);
Tensor maximum(const Tensor& a, const Tensor& b); ///< ties share the gradient equally, as torch
Tensor minimum(const Tensor& a, const Tensor& b);
// Comparisons return 1 or 0 in the inputs' dtype and carry no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// cond != 0 ? a : b (cond gets no gradient).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x); ///< gradient sign(x), 0 at 0, as torch
Tensor sign(const Tensor& x);
Tensor erf(const Tensor& x);
/// Requires lo <= hi; pass ±infinity for a one-sided clamp. Gradient flows where lo <= x <= hi.
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x); ///< exact form x * Phi(x)
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);

// ---- reductions (ops/reduce.hpp) ----------------------------------------------------------
// `axes` may be negative and in any order; empty means all axes. keepdim keeps them as size 1.
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// amax/amin semantics: tied maxima share the gradient equally.
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
/// sum((x - mean)^2) / (n - correction); correction 1 is torch's default (unbiased).
Tensor var(const Tensor& x, const std::vector<int64_t>& axes = {}, int64_t correction = 1, bool keepdim = false);
/// Sums g down to `shape` (the adjoint of broadcasting); requires shape to broadcast to g's.
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- linear algebra (ops/linalg.hpp) ------------------------------------------------------
/// torch.matmul: 1-d operands are promoted and the added axis removed; batch axes broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
/// op(a) @ op(b) over the last two axes, op = transpose where ta / tb; both at least 2-d.
Tensor matmul_t(const Tensor& a, const Tensor& b, bool ta, bool tb);
/// x [..., in] @ weight[out, in]^T + bias[out] (bias may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- shape and layout (ops/shape.hpp) -----------------------------------------------------
/// A view sharing storage; one entry may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start = 0, int64_t end = -1);
Tensor unsqueeze(const Tensor& x, int64_t axis);
Tensor squeeze(const Tensor& x, int64_t axis);
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
/// Broadcast to `shape` (numpy rules; copies).
Tensor expand(const Tensor& x, const Shape& shape);
/// Python-style x[start:end:step] along axis: negative start/end count from the end and are
/// clamped to the axis; step >= 1.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
/// x[start : start+length] along axis; requires the range to lie inside the axis.
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length);
/// Adjoint of slice: zeros of `shape` with g at positions start, start+step, ... along axis.
Tensor unslice(const Tensor& g, const Shape& shape, int64_t axis, int64_t start, int64_t step = 1);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
/// Pieces of the given sizes along axis; the sizes must add up to the axis length.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);
/// Pieces of `size` along axis (the last may be shorter), as torch.split with an int.
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t axis);
/// torch.nn.functional.pad: pads = (before, after) pairs from the last axis backwards;
/// constant pads may be negative (crop); reflect needs pad < size, replicate a non-empty axis.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, PadMode mode = PadMode::constant, double value = 0.0);
/// Adjoint of reflect/replicate pad: sums g back onto the positions it was copied from.
Tensor pad_adjoint(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& pads, PadMode mode);
Tensor flip(const Tensor& x, const std::vector<int64_t>& axes);

// ---- indexing (ops/indexing.hpp) ----------------------------------------------------------
// Index tensors are int64 on the same device as the data and get no gradient.
/// Entries idx[0], idx[1], ... of x along axis; idx is 1-d.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& idx);
/// Zeros of `shape` with src[.., j, ..] added at position idx[j] along axis (index_select's adjoint).
Tensor index_add(const Shape& shape, int64_t axis, const Tensor& idx, const Tensor& src);
/// torch.gather: out[i][j] = x[i][index[i][j]] (axis 1); index has x's rank and no larger sizes.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
/// Zeros of `shape`, then out[i][index[i][j]] += src[i][j] (axis 1) — gather's adjoint.
Tensor scatter_add(const Shape& shape, int64_t axis, const Tensor& index, const Tensor& src);

// ---- convolution (ops/conv.hpp) -----------------------------------------------------------
/// torch.nn.functional.conv2d. x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or
/// undefined. Requires C and O divisible by groups, stride and dilation >= 1, padding >= 0,
/// and a kernel no larger than the padded input. Differentiable to any order.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const ConvParams& p = {});
/// torch.nn.functional.conv_transpose2d. y [N, Cin, H, W], weight [Cin, Cout/groups, kh, kw];
/// output_padding (h, w) must be smaller than the stride or the dilation.
Tensor conv_transpose2d(const Tensor& y, const Tensor& weight, const Tensor& bias = Tensor(), const ConvParams& p = {},
                        std::array<int64_t, 2> output_padding = {0, 0});
/// The adjoints of conv2d: d<conv2d(x, w), gy>/dx for x of x_shape (a transposed convolution),
/// and d<conv2d(x, w), gy>/dw for w of w_shape. Each is the other's and conv2d's backward.
Tensor conv2d_input_grad(const Tensor& gy, const Tensor& weight, const Shape& x_shape, const ConvParams& p);
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Shape& w_shape, const ConvParams& p);

} // namespace vkgrad
