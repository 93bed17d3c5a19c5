#!/usr/bin/python3
"""A PyTorch reference StyleGAN2 (skip generator + resnet discriminator), written from the spec in
shared/notes/stylegan2-formats-and-math.md sections 3.1-3.6, for making the C++ fixtures and for
benchmark comparisons. Plain float32 torch ops only (no custom kernels), so it runs on any CPU.

Parameter and buffer names and shapes are exactly NVIDIA stylegan2-ada-pytorch's flat names
(`named_parameters()` + `named_buffers()`), minus its constant `resample_filter` buffers: the FIR
filter K = outer([1,3,3,1]) / 64 is a module-level constant here.

    Generator:  mapping.fc{i}.{weight [w_dim, in], bias}, buffer mapping.w_avg [w_dim]
                synthesis.b4.const [C4, 4, 4]
                synthesis.b{r}.conv0.* (r >= 8, the up-sampling layer), synthesis.b{r}.conv1.*:
                    weight [O, I, 3, 3], bias [O], noise_strength [] (0-d),
                    affine.weight [I, w_dim], affine.bias [I] (the stored value includes the +1),
                    buffer noise_const [r, r]
                synthesis.b{r}.torgb.{weight [3, C, 1, 1], bias [3], affine.weight, affine.bias}
    Discriminator: b{R}.fromrgb.{weight [C(R), 3, 1, 1], bias}
                b{r}.conv0.{weight [C(r), C(r), 3, 3], bias}, b{r}.conv1.{weight [C(r/2), C(r), 3, 3], bias},
                b{r}.skip.weight [C(r/2), C(r), 1, 1]                                  r = R .. 8
                b4.conv.{weight [C4, C4 + mbstd_channels, 3, 3], bias}, b4.fc.{weight [C4, 16 C4], bias},
                b4.out.{weight [1, C4], bias [1]}

The math, in the order it is computed (lrelu(x) = max(x, 0.2 x); "act" = lrelu then * gain, then clamp):

* Equalised learning rate: a weight is used as W * lr_mul / sqrt(fan_in) (fan_in = I k k or in_features),
  a bias as b * lr_mul. lr_mul = cfg.lr_multiplier for mapping.fc*, 1 everywhere else.
* Mapping: x = z * rsqrt(mean(z^2, dim 1) + 1e-8); per layer x = lrelu(x @ W'^T + b') * sqrt(2);
  ws = w repeated num_ws = 2 log2(R) - 2 times. Truncation (skipped when psi == 1):
  ws[:, :cutoff] = w_avg + psi * (ws[:, :cutoff] - w_avg)   (cutoff None = all rows).
* Styles: s = w_l @ (A / sqrt(w_dim))^T + bA   (linear; addmm).
* Modulated conv (conv0/conv1), fused the grouped way:
  W' = W * (1/sqrt(I k k)) * s[n, None, :, None, None]  ([N, O, I, k, k]); d = rsqrt(sum_{I,k,k} W'^2 + 1e-8);
  W'' = W' * d[n, o]. (NVIDIA leaves out the 1/sqrt(I k k) before demodulation; it cancels, only the 1e-8
  sees the difference.)  conv1: conv2d(x, W''[n], pad 1), groups = N.
  conv0 (up): t = conv_transpose2d(x, W''[n] seen as [I, O, 3, 3], stride 2, pad 0) -> 2H+1;
  y = upfirdn2d(t, K * 4, pad (1, 1)) -> 2H. The stored weight is used as is (ADA layout: already the
  flipped TF kernel), no further flip.
  Then y += noise_strength * noise (const: the noise_const buffer; random: torch.randn [N, 1, r, r];
  none: skipped), y = act(y + b, gain sqrt(2), clamp conv_clamp).
* ToRGB: s = affine(w_l) / sqrt(I); y = conv1x1(x, W * s[n]) (no demodulation); y = y + b, clamped at
  +-conv_clamp. img = upfirdn2d(img, up 2, pad (2, 1), K * 4) + y (img is y at 4x4).
* Discriminator (resnet): x = act(conv1x1(img, Wf/sqrt(3)) + b, sqrt(2), clamp c). Per block r = R..8:
  s = conv1x1_stride2(upfirdn2d(x, K, pad (1, 1)), Ws / sqrt(C)) * sqrt(.5)           (no bias, no clamp)
  h = act(conv3x3(x, W0/sqrt(9C), pad 1) + b0, sqrt(2), clamp c)
  h = act(conv3x3_stride2_nopad(upfirdn2d(h, K, pad (2, 2)), W1/sqrt(9C)) + b1, sqrt(2)*sqrt(.5), clamp c*sqrt(.5))
  x = s + h                                                    (= (skip + conv) / sqrt(2) without clamping)
  Epilogue: minibatch stddev (G = min(group, N), group 0 = N; sample n in group column n % (N/G); population
  variance over the group, sqrt(var + 1e-8), mean over the C/F channels of each of F = mbstd_channels
  channel groups and H, W), concat -> act(conv3x3 + b, sqrt(2), clamp c), flatten NCHW,
  lrelu(fc)*sqrt(2) (no clamp), out = linear.
* Clamp (conv_clamp > 0 only, ADA semantics: clamp = conv_clamp * layer gain, applied after the activation
  gain): synthesis conv0/conv1 +-conv_clamp; ToRGB +-conv_clamp; D fromrgb, conv0, b4.conv +-conv_clamp;
  D conv1 +-conv_clamp*sqrt(.5) (its gain is sqrt(.5)); D skip, b4.fc, b4.out and the mapping never.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)
_K1 = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
FIR = (torch.outer(_K1, _K1) / torch.outer(_K1, _K1).sum()).float()  # [4, 4], sums to 1


@dataclass
class Config:
    resolution: int
    img_channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    lr_multiplier: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float = 0  # 0 = no clamping
    mbstd_group: int = 4  # 0 = the whole batch
    mbstd_channels: int = 1

    @property
    def log2(self):
        return int(round(math.log2(self.resolution)))

    @property
    def num_ws(self):
        return 2 * self.log2 - 2

    def channels(self, r):
        return min(self.channel_base // r, self.channel_max)

    def to_dict(self):
        return asdict(self)


# ---------------------------------------------------------------------------------------------- ops

# How the up-sampling conv's stride-2 transposed convolution is computed. Both give the same numbers
# up to float32 rounding order:
#   "transpose":   F.conv_transpose2d, what NVIDIA's code runs (on CPU torch 1.13 this is the
#                  aten::slow_conv_transpose2d, no oneDNN: ~70% of G's time at 256 px);
#   "zero_insert": insert a zero between pixels, then F.conv2d with the flipped, in/out-swapped
#                  kernel and pad 2 (4x the multiply-adds, but oneDNN: 3-4x faster on CPU).
UPCONV_IMPLS = ("transpose", "zero_insert")
_upconv_impl = "transpose"


def set_upconv_impl(name):
    global _upconv_impl
    assert name in UPCONV_IMPLS, name
    _upconv_impl = name


def conv_transpose_s2(x, w, groups):
    """conv_transpose2d(x, w, stride 2, pad 0, groups); w [groups*I, O/groups, k, k] -> 2H+k-2."""
    if _upconv_impl == "transpose":
        return F.conv_transpose2d(x, w, stride=2, groups=groups)
    n, c, h, wd = x.shape
    gi, og, k, _ = w.shape
    i = gi // groups
    xz = F.pad(x.reshape(n, c, h, 1, wd, 1), [0, 1, 0, 0, 0, 1]).reshape(n, c, 2 * h, 2 * wd)[:, :, :-1, :-1]
    wc = w.reshape(groups, i, og, k, k).transpose(1, 2).reshape(groups * og, i, k, k).flip([2, 3])
    return F.conv2d(xz, wc, padding=k - 1, groups=groups)


def upfirdn2d(x, up=1, down=1, pad=(0, 0), gain=1.0):
    """Insert up-1 zeros after each pixel, pad (before, after) on both axes, true-convolve with
    FIR * gain (per channel), keep every down-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    f = (FIR * gain).to(x.dtype).flip([0, 1])  # conv2d correlates; K is symmetric anyway
    x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def act(x, b, gain, clamp, lrelu=True):
    """ADA's bias_act: x + b, lrelu(0.2), * gain, clamp(+-clamp) when clamp > 0."""
    if b is not None:
        x = x + b.reshape(1, -1, *([1] * (x.dim() - 2)))
    if lrelu:
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp > 0:
        x = x.clamp(-clamp, clamp)
    return x


def minibatch_std(x, group, num_channels=1):
    n, c, h, w = x.shape
    g = n if group == 0 else min(group, n)
    assert n % g == 0, f"batch {n} is not divisible by the mbstd group {g}"
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)  # sample n sits in column n % (N/G)
    y = y - y.mean(dim=0)
    y = y.square().mean(dim=0)
    y = (y + 1e-8).sqrt()
    y = y.mean(dim=[2, 3, 4])  # [N/G, F]
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


# ------------------------------------------------------------------------------------------- layers

class FC(nn.Module):
    def __init__(self, i, o, lr_mul=1.0, lrelu=False, bias_init=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i) / lr_mul)
        self.bias = nn.Parameter(torch.full([o], float(bias_init)))
        self.wg, self.lr_mul, self.lrelu = lr_mul / math.sqrt(i), lr_mul, lrelu

    def forward(self, x):
        w = self.weight * self.wg
        b = self.bias * self.lr_mul if self.lr_mul != 1 else self.bias
        if not self.lrelu:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return act(x.matmul(w.t()), b, SQRT2, 0)


class Mapping(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        for i in range(cfg.mapping_layers):
            setattr(self, f"fc{i}", FC(cfg.z_dim if i == 0 else cfg.w_dim, cfg.w_dim, cfg.lr_multiplier, lrelu=True))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z, psi=1.0, cutoff=None):
        x = z.to(self.fc0.weight.dtype)  # float32 normally; float64 when the module was .double()d
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.cfg.mapping_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, self.cfg.num_ws, 1)
        if psi != 1:
            k = self.cfg.num_ws if cutoff is None else cutoff
            head = self.w_avg + psi * (ws[:, :k] - self.w_avg)
            ws = torch.cat([head, ws[:, k:]], dim=1)
        return ws


def modulated_weight(weight, styles, demodulate):
    """[N, O, I, k, k] per-sample weights; styles [N, I] already include any gain."""
    n = styles.shape[0]
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        d = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * d.reshape(n, -1, 1, 1, 1)
    return w


class SynthesisLayer(nn.Module):
    def __init__(self, i, o, w_dim, res, up, conv_clamp):
        super().__init__()
        self.affine = FC(w_dim, i, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(o, i, 3, 3))
        self.bias = nn.Parameter(torch.zeros(o))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(res, res))
        self.up, self.res, self.clamp = up, res, conv_clamp

    def forward(self, x, w, noise_mode="const"):
        n, i, h, _ = x.shape
        o = self.weight.shape[0]
        s = self.affine(w) * (1.0 / math.sqrt(i * 9))
        wt = modulated_weight(self.weight, s, True)  # [N, O, I, 3, 3]
        x = x.reshape(1, n * i, h, -1)
        if self.up == 1:
            y = F.conv2d(x, wt.reshape(n * o, i, 3, 3), padding=1, groups=n)
        else:
            wt = wt.transpose(1, 2).reshape(n * i, o, 3, 3)
            y = conv_transpose_s2(x, wt, n)
            y = upfirdn2d(y, pad=(1, 1), gain=4.0)
        y = y.reshape(n, o, self.res, self.res)
        if noise_mode == "const":
            y = y + self.noise_const * self.noise_strength
        elif noise_mode == "random":
            y = y + torch.randn(n, 1, self.res, self.res) * self.noise_strength
        else:
            assert noise_mode == "none", noise_mode
        return act(y, self.bias, SQRT2, self.clamp)


class ToRGB(nn.Module):
    def __init__(self, i, o, w_dim, conv_clamp):
        super().__init__()
        self.affine = FC(w_dim, i, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(o, i, 1, 1))
        self.bias = nn.Parameter(torch.zeros(o))
        self.clamp = conv_clamp

    def forward(self, x, w):
        n, i, h, wd = x.shape
        o = self.weight.shape[0]
        s = self.affine(w) * (1.0 / math.sqrt(i))
        wt = modulated_weight(self.weight, s, False).reshape(n * o, i, 1, 1)
        y = F.conv2d(x.reshape(1, n * i, h, wd), wt, groups=n).reshape(n, o, h, wd)
        return act(y, self.bias, 1.0, self.clamp, lrelu=False)


class SynthesisBlock(nn.Module):
    def __init__(self, cfg, r):
        super().__init__()
        c = cfg.channels(r)
        if r == 4:
            self.const = nn.Parameter(torch.randn(c, 4, 4))
        else:
            self.conv0 = SynthesisLayer(cfg.channels(r // 2), c, cfg.w_dim, r, 2, cfg.conv_clamp)
        self.conv1 = SynthesisLayer(c, c, cfg.w_dim, r, 1, cfg.conv_clamp)
        self.torgb = ToRGB(c, cfg.img_channels, cfg.w_dim, cfg.conv_clamp)
        self.r = r

    def forward(self, x, img, ws, noise_mode):
        """ws: [N, 3, w_dim] (b4: [N, 2, w_dim]); the last row is the ToRGB's."""
        if self.r == 4:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
        y = self.torgb(x, ws[:, -1])
        img = y if img is None else upfirdn2d(img, up=2, pad=(2, 1), gain=4.0) + y
        return x, img


class Synthesis(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.resolutions = [2 ** k for k in range(2, cfg.log2 + 1)]
        for r in self.resolutions:
            setattr(self, f"b{r}", SynthesisBlock(cfg, r))

    def forward(self, ws, noise_mode="const"):
        x = img = None
        for r in self.resolutions:
            k = int(round(math.log2(r)))
            idx = [0, 1] if r == 4 else [2 * k - 5, 2 * k - 4, 2 * k - 3]  # torgb of r shares conv0 of 2r's w
            x, img = getattr(self, f"b{r}")(x, img, ws[:, idx], noise_mode)
        return img


class Generator(nn.Module):
    """G(z, psi, cutoff, noise_mode) -> image [N, 3, R, R]; G.mapping(z, psi, cutoff) -> ws
    [N, num_ws, w_dim] (the submodule itself, so its parameters are named mapping.*);
    G.synthesis(ws, noise_mode) -> image."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.synthesis = Synthesis(cfg)
        self.mapping = Mapping(cfg)

    def forward(self, z, psi=1.0, cutoff=None, noise_mode="const"):
        return self.synthesis(self.mapping(z, psi, cutoff), noise_mode)


class DConv(nn.Module):
    def __init__(self, i, o, k, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i, k, k))
        if bias:
            self.bias = nn.Parameter(torch.zeros(o))
        else:
            self.bias = None
        self.wg = 1.0 / math.sqrt(i * k * k)

    def w(self):
        return self.weight * self.wg


class DBlock(nn.Module):
    def __init__(self, cfg, r, first):
        super().__init__()
        c, co = cfg.channels(r), cfg.channels(r // 2)
        if first:
            self.fromrgb = DConv(cfg.img_channels, c, 1)
        self.conv0 = DConv(c, c, 3)
        self.conv1 = DConv(c, co, 3)
        self.skip = DConv(c, co, 1, bias=False)
        self.first, self.clamp = first, cfg.conv_clamp

    def forward(self, x, img):
        c = self.clamp
        if self.first:
            x = act(F.conv2d(img, self.fromrgb.w()), self.fromrgb.bias, SQRT2, c)
        s = F.conv2d(upfirdn2d(x, pad=(1, 1)), self.skip.w(), stride=2)
        s = act(s, None, SQRT_HALF, 0, lrelu=False)
        h = act(F.conv2d(x, self.conv0.w(), padding=1), self.conv0.bias, SQRT2, c)
        h = F.conv2d(upfirdn2d(h, pad=(2, 2)), self.conv1.w(), stride=2)
        h = act(h, self.conv1.bias, SQRT2 * SQRT_HALF, c * SQRT_HALF)
        return s + h


class DEpilogue(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg.channels(4)
        self.conv = DConv(c + cfg.mbstd_channels, c, 3)
        self.fc = FC(16 * c, c, lrelu=True)
        self.out = FC(c, 1)
        self.cfg = cfg

    def forward(self, x, group=None):
        g = self.cfg.mbstd_group if group is None else group
        x = minibatch_std(x, g, self.cfg.mbstd_channels)
        x = act(F.conv2d(x, self.conv.w(), padding=1), self.conv.bias, SQRT2, self.cfg.conv_clamp)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.resolutions = [2 ** k for k in range(cfg.log2, 2, -1)]
        for r in self.resolutions:
            setattr(self, f"b{r}", DBlock(cfg, r, r == cfg.resolution))
        self.b4 = DEpilogue(cfg)

    def forward(self, img, group=None):
        """group overrides cfg.mbstd_group (0 = whole batch)."""
        x = None
        for r in self.resolutions:
            x = getattr(self, f"b{r}")(x, img)
        return self.b4(x, group)


# ------------------------------------------------------------------------------------ state dicts

def state_names(module):
    """{dotted name: tensor} over named_parameters() and named_buffers()."""
    d = dict(module.named_parameters())
    d.update(dict(module.named_buffers()))
    return d


def load_flat(module, flat, strict=True):
    """Copies a {name: tensor-like} dict into the module's parameters and buffers; names of
    `resample_filter` buffers in `flat` are ignored. Returns the names that were loaded."""
    own = state_names(module)
    src = {k: v for k, v in flat.items() if not k.endswith("resample_filter")}
    if strict:
        missing, extra = sorted(set(own) - set(src)), sorted(set(src) - set(own))
        assert not missing and not extra, f"missing {missing}, unexpected {extra}"
    with torch.no_grad():
        for k, t in own.items():
            v = torch.as_tensor(np.asarray(src[k]) if not torch.is_tensor(src[k]) else src[k])
            assert tuple(v.shape) == tuple(t.shape), f"{k}: {tuple(v.shape)} vs {tuple(t.shape)}"
            t.copy_(v.to(t.dtype))
    return sorted(own)
