// vkgrad/models/stylegan2_layers.hpp — the building blocks of StyleGAN2 (Karras et al. 2020).
//
// Every layer uses the "equalised learning rate": weights are stored at unit scale and
// multiplied at run time by lr_mul / sqrt(fan_in) (biases by lr_mul), so Adam's step is the
// same size for every layer. Parameter names and layouts are NVIDIA stylegan2-ada-pytorch's,
// so a converted checkpoint loads key for key. The FIR filter [1,3,3,1] (outer product,
// normalised) is a constant of the architecture and not stored.
//
// Everything is composed of differentiable vkgrad ops, so gradients of any order flow
// through (R1 needs D's double backward) and the same code runs on the CPU and on Vulkan.
#pragma once
#include <cmath>
#include <memory>
#include <string>

#include "../core/random.hpp"
#include "../nn/init.hpp"
#include "../nn/module.hpp"
#include "../ops/conv.hpp"
#include "../ops/creation.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/linalg.hpp"
#include "../ops/reduce.hpp"
#include "../ops/resample.hpp"
#include "../ops/shape.hpp"
#include "stylegan2_config.hpp"

namespace vkgrad::models::sg2 {

inline constexpr double kLreluSlope = 0.2;
inline const double kLreluGain = std::sqrt(2.0); // keeps the activations' second moment through leaky ReLU

/// StyleGAN2's bias_act for 'lrelu' / 'linear': (act(x + b) * gain), then clamped to +-clamp
/// when clamp > 0. b is per channel (axis 1) and may be undefined.
inline Tensor bias_act(const Tensor& x, const Tensor& b, bool lrelu, double gain, double clamp_to = 0) {
    Tensor y = x;
    if (b.defined()) {
        Shape bs(x.dim(), 1);
        bs[1] = b.size(0);
        y = y + reshape(b, bs);
    }
    if (lrelu) y = leaky_relu(y, kLreluSlope);
    if (gain != 1) y = y * gain;
    if (clamp_to > 0) y = clamp(y, -clamp_to, clamp_to);
    return y;
}

/// The separable FIR filter [1,3,3,1] / 8 on x's device (its outer product sums to 1).
inline Tensor fir_filter(const Tensor& like) {
    return from_vector(std::vector<double>{0.125, 0.375, 0.375, 0.125}, {4}, {like.dtype(), like.device()});
}
/// 2x upsampling by zero insertion and the FIR filter (gain 4 keeps the mean).
inline Tensor upsample2d(const Tensor& x) { return upfirdn2d(x, fir_filter(x), 2, 1, {2, 1, 2, 1}, 4.0); }
/// The FIR filter alone, padded by p on every side (before a stride-2 convolution).
inline Tensor blur(const Tensor& x, int64_t p) { return upfirdn2d(x, fir_filter(x), 1, 1, {p, p, p, p}, 1.0); }

/// Fully connected layer: y = act(x (W * lr_mul / sqrt(in))^T + b * lr_mul) * gain.
class EqualLinear : public nn::Module {
public:
    Tensor weight; ///< [out, in], initialised N(0, 1 / lr_mul^2)
    Tensor bias;   ///< [out], initialised to bias_init / lr_mul; undefined without bias
    double lr_mul, weight_gain;
    bool lrelu;

    EqualLinear(int64_t in, int64_t out, Generator& gen, bool lrelu_act, double lr_multiplier = 1.0,
                double bias_init = 0.0, bool with_bias = true)
        : lr_mul(lr_multiplier), weight_gain(lr_multiplier / std::sqrt(static_cast<double>(in))), lrelu(lrelu_act) {
        weight = register_parameter("weight", randn({out, in}, gen) / lr_multiplier);
        if (with_bias) bias = register_parameter("bias", full({out}, bias_init / lr_multiplier));
    }
    Tensor forward(const Tensor& x) override {
        const Tensor b = bias.defined() ? (lr_mul == 1 ? bias : bias * lr_mul) : Tensor();
        return bias_act(linear(x, weight * weight_gain), b, lrelu, lrelu ? kLreluGain : 1.0);
    }
    std::string name() const override { return "EqualLinear"; }
};

/// Discriminator convolution: optional blur + stride-2 downsampling, bias, lrelu and clamp.
/// `gain` multiplies the output (the residual blocks use sqrt(1/2)).
class EqualConv2d : public nn::Module {
public:
    Tensor weight; ///< [out, in, k, k], N(0, 1)
    Tensor bias;   ///< [out] zeros, or undefined
    int64_t kernel;
    bool down, lrelu;
    double gain, conv_clamp, weight_gain;

    EqualConv2d(int64_t in, int64_t out, int64_t k, Generator& gen, bool downsample, bool lrelu_act, bool with_bias,
                double out_gain = 1.0, double clamp_to = 0)
        : kernel(k), down(downsample), lrelu(lrelu_act), gain(out_gain), conv_clamp(clamp_to),
          weight_gain(1.0 / std::sqrt(static_cast<double>(in * k * k))) {
        weight = register_parameter("weight", randn({out, in, k, k}, gen));
        if (with_bias) bias = register_parameter("bias", zeros({out}));
    }
    Tensor forward(const Tensor& x) override {
        const Tensor w = weight * weight_gain;
        Tensor y;
        if (!down) {
            y = conv2d(x, w, Tensor(), ConvParams::torch(1, kernel / 2));
        } else if (kernel == 1) { // blur to H-1, then keep every other pixel: the same as a stride-2 1x1 conv
            y = conv2d(blur(x, 1), w, Tensor(), ConvParams::torch(2, 0));
        } else {                  // blur pads by (k+1)/2 so the unpadded stride-2 conv halves the size
            y = conv2d(blur(x, (kernel + 1) / 2), w, Tensor(), ConvParams::torch(2, 0));
        }
        const double act_gain = (lrelu ? kLreluGain : 1.0) * gain;
        return bias_act(y, bias, lrelu, act_gain, conv_clamp > 0 ? conv_clamp * gain : 0.0);
    }
    std::string name() const override { return "EqualConv2d"; }
};

enum class NoiseMode { constant, random, none }; ///< stored buffers / fresh N(0,1) / no noise

/// The modulated 3x3 convolution of the synthesis network (optionally upsampling 2x), with
/// demodulation, noise injection, bias, lrelu and clamp.
///   s = affine(w)                      per-sample scales of the input channels
///   y = conv(x * s, W) * d,  d[n,o] = 1 / sqrt(sum_{i,k} (W[o,i,k] s[n,i])^2 + 1e-8)
/// which equals the paper's conv with per-sample weights W s d (one GEMM for the whole batch
/// instead of a grouped convolution). Upsampling: a stride-2 transposed conv, then the FIR
/// filter (pad 1, gain 4).
class SynthesisLayer : public nn::Module {
public:
    std::shared_ptr<EqualLinear> affine;
    Tensor weight;         ///< [out, in, 3, 3], N(0, 1)
    Tensor noise_strength; ///< 0-d, 0 at init
    Tensor bias;           ///< [out], 0 at init
    Tensor noise_const;    ///< buffer [r, r], N(0, 1)
    int64_t resolution;
    bool up;
    double conv_clamp;

    SynthesisLayer(int64_t in, int64_t out, int64_t w_dim, int64_t res, bool upsample, double clamp_to, Generator& gen)
        : resolution(res), up(upsample), conv_clamp(clamp_to) {
        affine = register_module("affine", std::make_shared<EqualLinear>(w_dim, in, gen, false, 1.0, 1.0));
        weight = register_parameter("weight", randn({out, in, 3, 3}, gen));
        noise_strength = register_parameter("noise_strength", zeros({}));
        bias = register_parameter("bias", zeros({out}));
        noise_const = register_buffer("noise_const", randn({res, res}, gen));
    }

    /// x [N, in, r', r'] (r' = r/2 when upsampling), w [N, w_dim]; `rng` is used by NoiseMode::random.
    Tensor forward(const Tensor& x, const Tensor& w, NoiseMode noise, Generator* rng) {
        const int64_t N = x.size(0), O = weight.size(0), I = weight.size(1);
        const Tensor s = affine->forward(w);                                           // [N, I]
        const Tensor wsq = sum(weight * weight, {2, 3});                               // [O, I]
        const Tensor d = rsqrt(matmul_t(s * s, wsq, false, true) + 1e-8);              // [N, O]
        const Tensor xs = x * reshape(s, {N, I, 1, 1});
        Tensor y;
        if (up) {
            y = conv_transpose2d(xs, transpose(weight, 0, 1), Tensor(), ConvParams::torch(2, 0));
            y = upfirdn2d(y, fir_filter(y), 1, 1, {1, 1, 1, 1}, 4.0);
        } else {
            y = conv2d(xs, weight, Tensor(), ConvParams::torch(1, 1));
        }
        y = y * reshape(d, {N, O, 1, 1});
        if (noise == NoiseMode::constant) {
            y = y + reshape(noise_const, {1, 1, resolution, resolution}) * noise_strength;
        } else if (noise == NoiseMode::random) {
            VKG_CHECK(rng, "SynthesisLayer", "NoiseMode::random needs a Generator");
            y = y + randn({N, 1, resolution, resolution}, *rng, {y.dtype(), y.device()}) * noise_strength;
        }
        return bias_act(y, bias, true, kLreluGain, conv_clamp);
    }
    std::string name() const override { return "SynthesisLayer"; }
};

/// ToRGB: a modulated 1x1 convolution without demodulation, bias, clamp.
class ToRGBLayer : public nn::Module {
public:
    std::shared_ptr<EqualLinear> affine;
    Tensor weight; ///< [img_channels, in, 1, 1]
    Tensor bias;   ///< [img_channels]
    double conv_clamp;

    ToRGBLayer(int64_t in, int64_t out, int64_t w_dim, double clamp_to, Generator& gen) : conv_clamp(clamp_to) {
        affine = register_module("affine", std::make_shared<EqualLinear>(w_dim, in, gen, false, 1.0, 1.0));
        weight = register_parameter("weight", randn({out, in, 1, 1}, gen));
        bias = register_parameter("bias", zeros({out}));
    }
    Tensor forward(const Tensor& x, const Tensor& w) {
        const int64_t N = x.size(0), I = weight.size(1);
        const Tensor s = affine->forward(w) * (1.0 / std::sqrt(static_cast<double>(I)));
        const Tensor y = conv2d(x * reshape(s, {N, I, 1, 1}), weight);
        return bias_act(y, bias, false, 1.0, conv_clamp);
    }
    std::string name() const override { return "ToRGBLayer"; }
};

/// Minibatch standard deviation (Karras et al. 2018): appends, per group of `group` samples,
/// the average over features of their standard deviation across the group, as `channels`
/// extra feature maps. Sample n belongs to group column n % (N / G), G = min(group, N)
/// (group 0: the whole batch). Requires N divisible by G and C by `channels`.
inline Tensor minibatch_stddev(const Tensor& x, int64_t group, int64_t channels) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t G = group > 0 ? std::min(group, N) : N;
    VKG_CHECK(N % G == 0, "minibatch_stddev", "batch ", N, " is not divisible by the group size ", G,
              " (use a batch that is a multiple of it, or set the group size, e.g. --mbstd-group)");
    VKG_CHECK(C % channels == 0, "minibatch_stddev", C, " channels are not divisible by ", channels);
    const int64_t M = N / G, F = channels;
    Tensor y = reshape(x, {G, M, F, C / F, H, W});
    y = y - mean(y, {0}, true);
    y = sqrt(mean(y * y, {0}) + 1e-8);                   // [M, F, c, H, W]
    y = reshape(mean(y, {2, 3, 4}), {1, M, F, 1, 1});    // [1, M, F, 1, 1]
    y = reshape(expand(y, {G, M, F, H, W}), {N, F, H, W});
    return concat({x, y}, 1);
}

} // namespace vkgrad::models::sg2
