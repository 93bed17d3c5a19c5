// vkgrad/ops/conv.hpp — conv2d and conv_transpose2d. Three kernels (the forward and its two
// adjoints) are each other's backward, so convolutions differentiate to any order:
//   y = conv2d(x, w):               dx = input_grad(g, w),   dw = weight_grad(x, g)
//   z = input_grad(gy, w):          dgy = conv2d(g, w),      dw = weight_grad(g, gy)
//   v = weight_grad(x, gy):         dx = input_grad(gy, g),  dgy = conv2d(x, g)
#pragma once
#include "elementwise.hpp"
#include "fwd.hpp"
#include "reduce.hpp"
#include "shape.hpp"

namespace vkgrad {

namespace detail {

inline std::string conv_desc(const ConvParams& p) {
    std::ostringstream s;
    s << "stride (" << p.stride[0] << "," << p.stride[1] << ") padding (" << p.padding[0] << "," << p.padding[1]
      << "," << p.padding[2] << "," << p.padding[3] << ") dilation (" << p.dilation[0] << "," << p.dilation[1]
      << ") groups " << p.groups;
    return s.str();
}

/// Validates a convolution of x_shape by w_shape and returns the output shape.
inline Shape conv_output_shape(const char* op, const Shape& x, const Shape& w, const ConvParams& p) {
    VKG_CHECK(x.size() == 4 && w.size() == 4, op, "needs a 4-d input [N, C, H, W] and weight [O, C/groups, kh, kw], got ",
              to_string(x), " and ", to_string(w));
    VKG_CHECK(p.groups >= 1 && p.stride[0] >= 1 && p.stride[1] >= 1 && p.dilation[0] >= 1 && p.dilation[1] >= 1,
              op, "invalid ", conv_desc(p));
    for (auto v : p.padding) VKG_CHECK(v >= 0, op, "negative padding: ", conv_desc(p));
    for (auto v : w) VKG_CHECK(v > 0, op, "weight ", to_string(w), " has an empty axis");
    VKG_CHECK(x[1] % p.groups == 0 && w[0] % p.groups == 0, op, "channels (in ", x[1], ", out ", w[0],
              ") are not divisible by groups ", p.groups);
    VKG_CHECK(x[1] / p.groups == w[1], op, "input ", to_string(x), " has ", x[1], " channels but weight ",
              to_string(w), " with groups ", p.groups, " expects ", w[1] * p.groups);
    const int64_t eh = p.dilation[0] * (w[2] - 1) + 1, ew = p.dilation[1] * (w[3] - 1) + 1;
    const int64_t ph = x[2] + p.padding[0] + p.padding[1], pw = x[3] + p.padding[2] + p.padding[3];
    VKG_CHECK(eh <= ph && ew <= pw, op, "kernel ", w[2], "x", w[3], " (extent ", eh, "x", ew,
              ") is larger than the padded input ", ph, "x", pw, " of ", to_string(x), " with ", conv_desc(p));
    return {x[0], w[0], (ph - eh) / p.stride[0] + 1, (pw - ew) / p.stride[1] + 1};
}

inline Tensor add_channel_bias(const char* op, const Tensor& y, const Tensor& bias) {
    if (!bias.defined()) return y;
    VKG_CHECK(bias.shape() == Shape{y.size(1)}, op, "bias ", to_string(bias.shape()), " does not match ", y.size(1),
              " output channels");
    return y + reshape(bias, {1, y.size(1), 1, 1});
}

} // namespace detail

/// torch.nn.functional.conv2d. With a bias, a backend's fused kernel (the CPU's, Vulkan's) adds
/// it as the output is stored; otherwise the bias is a second op (the same sums).
inline Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p) {
    Backend& be = dispatch_float("conv2d", {x, w});
    detail::conv_output_shape("conv2d", x.shape(), w.shape(), p);
    if (bias.defined()) {
        VKG_CHECK(bias.shape() == Shape{w.size(0)}, "conv2d", "bias ", to_string(bias.shape()), " does not match ",
                  w.size(0), " output channels");
        Tensor y;
        if (dispatch_float("conv2d", {x, w, bias}).fused_conv2d_bias(x, w, bias, p, y))
            return record(y, "conv2d", {x, w, bias}, [x, w, p](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                return grads(n[0] ? conv2d_input_grad(g, w, x.shape(), p) : Tensor(),
                             n[1] ? conv2d_weight_grad(x, g, w.shape(), p) : Tensor(),
                             n[2] ? reshape(sum(g, {0, 2, 3}, false), {g.size(1)}) : Tensor());
            });
    }
    Tensor y = record(be.conv2d(x, w, p), "conv2d", {x, w},
                      [x, w, p](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                          return grads(n[0] ? conv2d_input_grad(g, w, x.shape(), p) : Tensor(),
                                       n[1] ? conv2d_weight_grad(x, g, w.shape(), p) : Tensor());
                      });
    return detail::add_channel_bias("conv2d", y, bias);
}

inline Tensor conv2d_input_grad(const Tensor& gy, const Tensor& w, const Shape& xs, const ConvParams& p) {
    Backend& be = dispatch_float("conv_transpose2d", {gy, w});
    const Shape ys = detail::conv_output_shape("conv_transpose2d", xs, w.shape(), p);
    VKG_CHECK(gy.shape() == ys, "conv_transpose2d", "input ", to_string(gy.shape()), " does not produce ", to_string(xs),
              " with weight ", to_string(w.shape()), " and ", detail::conv_desc(p), " (it would need ", to_string(ys),
              ")");
    return record(be.conv2d_input_grad(gy, w, xs, p), "conv_transpose2d", {gy, w},
                  [gy, w, p](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      return grads(n[0] ? conv2d(g, w, Tensor(), p) : Tensor(),
                                   n[1] ? conv2d_weight_grad(g, gy, w.shape(), p) : Tensor());
                  });
}

inline Tensor conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Shape& ws, const ConvParams& p) {
    Backend& be = dispatch_float("conv2d_weight_grad", {x, gy});
    const Shape ys = detail::conv_output_shape("conv2d_weight_grad", x.shape(), ws, p);
    VKG_CHECK(gy.shape() == ys, "conv2d_weight_grad", "gradient ", to_string(gy.shape()), " does not match output ",
              to_string(ys));
    return record(be.conv2d_weight_grad(x, gy, ws, p), "conv2d_weight_grad", {x, gy},
                  [x, gy, p](const Tensor& g, const Tensor&, const std::vector<bool>& n) {
                      return grads(n[0] ? conv2d_input_grad(gy, g, x.shape(), p) : Tensor(),
                                   n[1] ? conv2d(x, g, Tensor(), p) : Tensor());
                  });
}

inline Tensor conv_transpose2d(const Tensor& y, const Tensor& w, const Tensor& bias, const ConvParams& p,
                               std::array<int64_t, 2> op) {
    VKG_CHECK(y.defined() && w.defined() && y.dim() == 4 && w.dim() == 4, "conv_transpose2d",
              "needs a 4-d input and weight [Cin, Cout/groups, kh, kw]");
    for (int a = 0; a < 2; ++a)
        VKG_CHECK(op[a] >= 0 && (op[a] < p.stride[a] || op[a] < p.dilation[a]), "conv_transpose2d", "output_padding (",
                  op[0], ",", op[1], ") must be smaller than the stride or the dilation: ", detail::conv_desc(p));
    // The output is the input of the convolution whose weight is w: [N, Cout, Ho, Wo].
    const Shape& s = y.shape();
    const int64_t ho = (s[2] - 1) * p.stride[0] - p.padding[0] - p.padding[1] + p.dilation[0] * (w.size(2) - 1) + op[0] + 1;
    const int64_t wo = (s[3] - 1) * p.stride[1] - p.padding[2] - p.padding[3] + p.dilation[1] * (w.size(3) - 1) + op[1] + 1;
    VKG_CHECK(ho > 0 && wo > 0, "conv_transpose2d", "output size ", ho, "x", wo, " is not positive for input ",
              to_string(s), " and ", detail::conv_desc(p));
    const Tensor z = conv2d_input_grad(y, w, {s[0], w.size(1) * p.groups, ho, wo}, p);
    return detail::add_channel_bias("conv_transpose2d", z, bias);
}

} // namespace vkgrad
