#!/usr/bin/python3
"""Writes tests/fixtures/ops/: forward and gradient fixtures for every core op, from PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_op_fixtures.py
For each case it stores the inputs, the output, a random grad_output and the gradient of
every differentiable input, as .npy, and a line in tests/fixtures/ops/cases.txt:

    <case> <op> <n_inputs> <grad|nograd> [key=value ...]

The C++ harness (tests/test_ops_fixtures.cpp) maps <op> and the parameters to vkgrad calls.
Inputs are drawn away from kinks (|x| > 0.05 for abs, distinct values for max), so the same
cases also serve the finite-difference checks. Parameter `const=i,j` marks inputs that are
not differentiated (masks for where).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "ops")
rng = np.random.RandomState(2026)
cases = []


def rnd(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def away(*shape, gap=0.05):
    """Uniform in [-2, 2] with |x| >= gap (no kinks for abs/relu/sign)."""
    x = rnd(*shape)
    return np.where(np.abs(x) < gap, np.sign(x + 1e-9) * gap * 2, x).astype(np.float32)


def distinct(*shape):
    """A random permutation of well-separated values: no ties for max/min."""
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float32) * 0.1 - n * 0.05).reshape(shape)


def case(name, op, inputs, fn, grad=True, **params):
    ts = []
    const = {int(i) for i in str(params.get("const", "")).split(",") if i != ""}
    for i, x in enumerate(inputs):
        t = torch.from_numpy(np.array(x))
        if t.is_floating_point() and grad and i not in const:
            t.requires_grad_(True)
        ts.append(t)
    out = fn(*ts)
    d = os.path.join(ROOT, name)
    for i, x in enumerate(inputs):
        np.save(f"{d}.in{i}.npy", np.array(x))
    np.save(f"{d}.out.npy", out.detach().numpy().astype(np.float32))
    if grad:
        gout = torch.from_numpy(rnd(*out.shape))
        diff = [i for i, t in enumerate(ts) if t.requires_grad and i not in const]
        gs = torch.autograd.grad(out, [ts[i] for i in diff], gout, allow_unused=True)
        np.save(f"{d}.gout.npy", gout.numpy())
        for i, g in zip(diff, gs):
            g = torch.zeros_like(ts[i]) if g is None else g
            np.save(f"{d}.grad{i}.npy", g.numpy().astype(np.float32))
    kv = " ".join(f"{k}={v}" for k, v in params.items())
    cases.append(f"{name} {op} {len(inputs)} {'grad' if grad else 'nograd'} {kv}".strip())


def sl(x, axis, start, end, step):
    idx = [slice(None)] * x.dim()
    idx[axis] = slice(start, end, step)
    return x[tuple(idx)]


def upfirdn2d_ref(x, f, up, down, pads, gain):
    """StyleGAN2-ADA's reference upfirdn2d (flip_filter=False), written with plain torch ops."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(pads[0], 0), max(pads[1], 0), max(pads[2], 0), max(pads[3], 0)])
    x = x[:, :, max(-pads[2], 0): x.shape[2] - max(-pads[3], 0), max(-pads[0], 0): x.shape[3] - max(-pads[1], 0)]
    f = f * (gain ** (f.ndim / 2))
    f = f.flip(list(range(f.ndim)))
    k = f.shape[0]
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None, :].repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def mbstd_ref(x, group_size, num_channels):
    """StyleGAN2-ADA's MinibatchStdLayer."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = y - y.mean(dim=0)
    y = y.square().mean(dim=0)
    y = (y + 1e-8).sqrt()
    y = y.mean(dim=[2, 3, 4])
    y = y.reshape(-1, f, 1, 1)
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


def layer_norm2d_ref(x, w, b, eps=1e-6):
    """NAFNet's LayerNorm2d forward."""
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    y = (x - mu) / (var + eps).sqrt()
    return w.view(1, -1, 1, 1) * y + b.view(1, -1, 1, 1)


def image_ops():
    x = rnd(2, 3, 7, 6)
    case("avg_pool_k2", "avg_pool2d", [rnd(2, 3, 6, 8)], lambda t: F.avg_pool2d(t, 2), k=2, stride=2, pad=0)
    case("avg_pool_k3s2p1", "avg_pool2d", [x], lambda t: F.avg_pool2d(t, 3, 2, 1), k=3, stride=2, pad=1)
    d = distinct(2, 2, 7, 6)
    case("max_pool_k2", "max_pool2d", [d], lambda t: F.max_pool2d(t, 2), k=2, stride=2, pad=0)
    case("max_pool_k3s2p1", "max_pool2d", [d], lambda t: F.max_pool2d(t, 3, 2, 1), k=3, stride=2, pad=1)
    case("adaptive_avg_5x3", "adaptive_avg_pool2d", [x], lambda t: F.adaptive_avg_pool2d(t, (5, 3)), h=5, w=3)
    case("adaptive_avg_1", "adaptive_avg_pool2d", [x], lambda t: F.adaptive_avg_pool2d(t, 1), h=1, w=1)
    for mode in ["nearest", "bilinear", "bicubic"]:
        for (ho, wo) in [(11, 9), (4, 3)]:
            acs = [False] if mode == "nearest" else [False, True]
            for ac in acs:
                kw = {} if mode == "nearest" else {"align_corners": ac}
                case(f"interp_{mode}_{ho}x{wo}_{int(ac)}", "interpolate", [x],
                     lambda t, m=mode, s=(ho, wo), kw=kw: F.interpolate(t, size=s, mode=m, **kw),
                     h=ho, w=wo, mode=mode, align_corners=int(ac))
    case("pixel_shuffle", "pixel_shuffle", [rnd(2, 8, 3, 4)], lambda t: F.pixel_shuffle(t, 2), r=2)
    case("pixel_unshuffle", "pixel_unshuffle", [rnd(1, 2, 6, 4)], lambda t: F.pixel_unshuffle(t, 2), r=2)
    fir = np.array([1, 3, 3, 1], dtype=np.float32)
    fir /= fir.sum()
    fir2 = np.outer(fir, fir).astype(np.float32)
    for name, f, up, down, pads, gain in [
        ("up2", fir, 2, 1, (2, 1, 2, 1), 4.0),  # StyleGAN2's upsample: pad (f+up-1)//2 ...
        ("down2", fir, 1, 2, (1, 1, 1, 1), 1.0),
        ("blur_2d", fir2, 1, 1, (1, 2, 2, 1), 1.0),
        ("crop", fir, 1, 1, (-1, 2, 1, -2), 1.0),
        ("up2_down2_2d", fir2, 2, 2, (1, 1, 1, 1), 2.0),
    ]:
        case(f"upfirdn_{name}", "upfirdn2d", [rnd(1, 2, 5, 6), f],
             lambda t, ff, up=up, down=down, pads=pads, gain=gain: upfirdn2d_ref(t, ff, up, down, pads, gain),
             up=up, down=down, pads=",".join(map(str, pads)), gain=gain, const="1")
    c = 4
    case("layer_norm2d", "layer_norm2d", [rnd(2, c, 3, 5), rnd(c), rnd(c)], layer_norm2d_ref)
    case("instance_norm", "instance_norm", [rnd(2, c, 4, 5), rnd(c), rnd(c)],
         lambda t, w, b: F.instance_norm(t, weight=w, bias=b))
    case("half_instance_norm", "half_instance_norm", [rnd(2, c, 4, 5), rnd(2), rnd(2)],
         lambda t, w, b: torch.cat([F.instance_norm(t[:, :2], weight=w, bias=b), t[:, 2:]], 1), channels=2)
    case("batch_norm_train", "batch_norm", [rnd(3, c, 2, 3), rnd(c), rnd(c)],
         lambda t, w, b: F.batch_norm(t, None, None, w, b, True), training=1)
    rm, rv = rnd(c), rnd(c, lo=0.5, hi=2)
    case("batch_norm_eval", "batch_norm", [rnd(3, c, 2, 3), rnd(c), rnd(c), rm, rv],
         lambda t, w, b, m, v: F.batch_norm(t, m, v, w, b, False), training=0, const="3,4")
    case("pixel_norm", "pixel_norm", [rnd(2, 5, 3)], lambda t: t * (t.square().mean(1, keepdim=True) + 1e-8).rsqrt())
    case("prelu_channel", "prelu", [away(2, 3, 4), rnd(3)], F.prelu)
    case("prelu_shared", "prelu", [away(2, 3, 4), rnd(1)], F.prelu)
    case("simple_gate", "simple_gate", [rnd(2, 6, 3, 2)], lambda t: t[:, :3] * t[:, 3:])
    b = rnd(3)
    case("bias_act", "bias_act", [rnd(2, 3, 4, 2) * 0.5, b],
         lambda t, bb: F.leaky_relu(t + bb.view(1, -1, 1, 1), 0.2) * math.sqrt(2), clamp=-1)
    y = away(2, 3, 4, 2) * 3
    case("bias_act_clamp", "bias_act", [y, np.zeros(3, np.float32)],
         lambda t, bb: (F.leaky_relu(t + bb.view(1, -1, 1, 1), 0.2) * math.sqrt(2)).clamp(-2.5, 2.5), clamp=2.5)
    # Groups of at least 3: the std of a group of two is |a - b| / 2, linear in x, so its true
    # second derivatives are ~1e-8 and the second-order check would compare rounding noise
    # (~1e-10) against the 1e-6 floor of relerr. Members are kept apart (offset by their group
    # index) so no group sits near the kink of the square root.
    def grouped(n, g, *rest):
        m = n // g
        return (rnd(n, *rest, lo=-0.3, hi=0.3) + (np.arange(n) // m).reshape(n, *[1] * len(rest))).astype(np.float32)
    case("mbstd_g4", "minibatch_stddev", [grouped(8, 4, 4, 3, 2)], lambda t: mbstd_ref(t, 4, 1), group=4, channels=1)
    case("mbstd_g3_f2", "minibatch_stddev", [grouped(6, 3, 4, 2, 3)], lambda t: mbstd_ref(t, 3, 2), group=3,
         channels=2)
    case("mbstd_small_batch", "minibatch_stddev", [grouped(3, 3, 2, 2, 2)], lambda t: mbstd_ref(t, 4, 1), group=4,
         channels=1)


def main():
    os.makedirs(ROOT, exist_ok=True)
    for f in os.listdir(ROOT):
        os.remove(os.path.join(ROOT, f))

    # --- binary arithmetic with broadcasting
    for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul)]:
        case(f"{op}_same", op, [rnd(3, 4), rnd(3, 4)], fn)
        case(f"{op}_bcast", op, [rnd(2, 1, 4), rnd(3, 1)], fn)
        case(f"{op}_scalar", op, [rnd(2, 3), rnd()], fn)
    case("div_same", "div", [rnd(3, 4), rnd(3, 4, lo=0.5, hi=2)], torch.div)
    case("div_bcast", "div", [rnd(4, 1, 3), rnd(2, 1, lo=-2, hi=-0.5)], torch.div)
    case("pow_tt", "pow", [rnd(3, 4, lo=0.3, hi=2), rnd(3, 4, lo=-2, hi=2)], torch.pow)
    case("pow_bcast", "pow", [rnd(2, 3, lo=0.3, hi=2), rnd(3, lo=0.5, hi=3)], torch.pow)
    for p in [3.0, 0.5, -1.5, 2.0]:
        tag = str(p).replace("-", "m").replace(".", "p")
        case(f"pow_scalar_{tag}", "pow_scalar", [rnd(3, 5, lo=0.3, hi=2)], lambda x, p=p: torch.pow(x, p), p=p)
    case("maximum", "maximum", [rnd(3, 4), rnd(4)], torch.maximum)
    case("minimum", "minimum", [rnd(2, 1, 3), rnd(4, 3)], torch.minimum)
    a = np.round(rnd(3, 4) * 2) / 2
    b = np.round(rnd(4) * 2) / 2  # half-integers: some equal pairs
    for op, fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le), ("gt", torch.gt),
                   ("ge", torch.ge)]:
        case(f"cmp_{op}", op, [a, b], lambda x, y, fn=fn: fn(x, y).float(), grad=False)
    cond = (rnd(3, 1) > 0).astype(np.float32)
    case("where", "where", [cond, rnd(3, 4), rnd(4)], lambda c, x, y: torch.where(c > 0, x, y), const="0")

    # --- unary math and activations
    case("neg", "neg", [rnd(2, 5)], torch.neg)
    case("exp", "exp", [rnd(2, 5)], torch.exp)
    case("log", "log", [rnd(2, 5, lo=0.2, hi=3)], torch.log)
    case("sqrt", "sqrt", [rnd(2, 5, lo=0.2, hi=3)], torch.sqrt)
    case("rsqrt", "rsqrt", [rnd(2, 5, lo=0.2, hi=3)], torch.rsqrt)
    case("abs", "abs", [away(2, 5)], torch.abs)
    case("sign", "sign", [away(2, 5)], torch.sign)
    case("erf", "erf", [rnd(2, 5)], torch.erf)
    case("clamp", "clamp", [away(3, 5)], lambda x: torch.clamp(x, -0.5, 0.7), lo=-0.5, hi=0.7)
    case("clamp_min", "clamp", [away(3, 5)], lambda x: torch.clamp(x, min=0.3), lo=0.3, hi="inf")
    case("relu", "relu", [away(3, 5)], torch.relu)
    case("leaky_relu", "leaky_relu", [away(3, 5)], lambda x: F.leaky_relu(x, 0.2), slope=0.2)
    case("sigmoid", "sigmoid", [rnd(3, 5, lo=-4, hi=4)], torch.sigmoid)
    case("tanh", "tanh", [rnd(3, 5)], torch.tanh)
    case("gelu", "gelu", [rnd(3, 5, lo=-3, hi=3)], F.gelu)
    case("softplus", "softplus", [rnd(3, 5, lo=-5, hi=5)], F.softplus, beta=1.0, threshold=20.0)
    case("softplus_thr", "softplus", [away(3, 5) * 2], lambda x: F.softplus(x, beta=2.0, threshold=1.5),
         beta=2.0, threshold=1.5)

    # --- reductions
    x = rnd(2, 3, 4)
    case("sum_all", "sum", [x], lambda t: t.sum())
    case("sum_1_keep", "sum", [x], lambda t: t.sum(1, keepdim=True), axes="1", keepdim=1)
    case("sum_02", "sum", [x], lambda t: t.sum((0, 2)), axes="0,2")
    case("mean_last", "mean", [x], lambda t: t.mean(-1), axes="-1")
    case("mean_all", "mean", [x], lambda t: t.mean())
    d = distinct(2, 3, 4)
    case("max_all", "max", [d], lambda t: t.max())
    case("max_1", "max", [d], lambda t: torch.amax(t, 1), axes="1")
    case("min_02_keep", "min", [d], lambda t: torch.amin(t, (0, 2), keepdim=True), axes="0,2", keepdim=1)
    case("var_1", "var", [x], lambda t: torch.var(t, 1), axes="1", correction=1)
    case("var_all_pop", "var", [x], lambda t: torch.var(t, unbiased=False), correction=0)
    case("var_02_keep", "var", [x], lambda t: torch.var(t, (0, 2), keepdim=True), axes="0,2", correction=1,
         keepdim=1)

    # --- linear algebra
    case("matmul_2d", "matmul", [rnd(3, 4), rnd(4, 5)], torch.matmul)
    case("matmul_batch", "matmul", [rnd(2, 3, 4), rnd(4, 5)], torch.matmul)
    case("matmul_bcast", "matmul", [rnd(2, 1, 3, 4), rnd(3, 4, 2)], torch.matmul)
    case("matmul_vec_mat", "matmul", [rnd(4), rnd(2, 4, 3)], torch.matmul)
    case("matmul_mat_vec", "matmul", [rnd(3, 4), rnd(4)], torch.matmul)
    case("matmul_dot", "matmul", [rnd(5), rnd(5)], torch.matmul)
    case("linear", "linear", [rnd(5, 4), rnd(3, 4), rnd(3)], F.linear)
    case("linear_3d", "linear", [rnd(2, 3, 4), rnd(6, 4), rnd(6)], F.linear)
    case("linear_nobias", "linear", [rnd(2, 4), rnd(3, 4)], F.linear)

    # --- shape and layout
    case("reshape", "reshape", [rnd(2, 3, 4)], lambda t: t.reshape(4, -1), shape="4,-1")
    case("permute", "permute", [rnd(2, 3, 4)], lambda t: t.permute(2, 0, 1), perm="2,0,1")
    case("transpose", "transpose", [rnd(2, 3, 4)], lambda t: t.transpose(0, 2), a=0, b=2)
    case("expand", "expand", [rnd(3, 1)], lambda t: t.expand(2, 3, 4), shape="2,3,4")
    case("slice_step", "slice", [rnd(3, 9)], lambda t: sl(t, 1, 1, 8, 3), axis=1, start=1, end=8, step=3)
    case("slice_neg", "slice", [rnd(5, 4)], lambda t: sl(t, 0, -4, -1, 1), axis=0, start=-4, end=-1, step=1)
    case("narrow", "narrow", [rnd(2, 6, 3)], lambda t: t.narrow(1, 2, 3), axis=1, start=2, length=3)
    case("concat", "concat", [rnd(2, 3), rnd(2, 1), rnd(2, 4)], lambda *t: torch.cat(t, 1), axis=1)
    case("concat0", "concat", [rnd(1, 3), rnd(2, 3)], lambda *t: torch.cat(t, 0), axis=0)
    for k in range(3):
        case(f"split_{k}", "split", [rnd(7, 2)], lambda t, k=k: torch.split(t, 3, 0)[k], size=3, axis=0, piece=k)
    case("split_sizes", "split", [rnd(2, 6)], lambda t: torch.split(t, [1, 5], 1)[1], sizes="1,5", axis=1, piece=1)
    x4 = rnd(2, 3, 5, 6)
    case("pad_constant", "pad", [x4], lambda t: F.pad(t, (1, 2, 0, 3), value=0.5), pads="1,2,0,3",
         mode="constant", value=0.5)
    case("pad_crop", "pad", [x4], lambda t: F.pad(t, (-1, 2, 1, -2)), pads="-1,2,1,-2", mode="constant")
    case("pad_reflect", "pad", [x4], lambda t: F.pad(t, (2, 3, 1, 4), mode="reflect"), pads="2,3,1,4",
         mode="reflect")
    case("pad_replicate", "pad", [x4], lambda t: F.pad(t, (3, 0, 2, 5), mode="replicate"), pads="3,0,2,5",
         mode="replicate")
    case("pad_reflect_1d", "pad", [rnd(2, 3, 7)], lambda t: F.pad(t, (6, 6), mode="reflect"), pads="6,6",
         mode="reflect")
    case("flip", "flip", [rnd(2, 3, 4)], lambda t: torch.flip(t, (0, 2)), axes="0,2")
    idx = np.array([2, 0, 2, 1], dtype=np.int64)
    case("index_select", "index_select", [rnd(3, 5), idx], lambda t, i: torch.index_select(t, 0, i), axis=0)
    case("index_select_1", "index_select", [rnd(2, 3, 4), idx], lambda t, i: torch.index_select(t, 2, i), axis=2)
    gi = rng.randint(0, 4, size=(3, 5)).astype(np.int64)
    case("gather", "gather", [rnd(3, 4), gi], lambda t, i: torch.gather(t, 1, i), axis=1)
    gi0 = rng.randint(0, 3, size=(2, 4)).astype(np.int64)
    case("gather0", "gather", [rnd(3, 4), gi0], lambda t, i: torch.gather(t, 0, i), axis=0)
    case("index_add", "index_add", [rnd(2, 4), idx], lambda s, i: torch.zeros(2, 3).index_add(1, i, s), axis=1, shape="2,3")
    case("scatter_add", "scatter_add", [rnd(3, 5), gi], lambda s, i: torch.zeros(3, 4).scatter_add(1, i, s), axis=1,
         shape="3,4")
    case("unsqueeze", "unsqueeze", [rnd(2, 3)], lambda t: t.unsqueeze(1), axis=1)
    case("squeeze", "squeeze", [rnd(2, 1, 3)], lambda t: t.squeeze(1), axis=1)
    case("flatten", "flatten", [rnd(2, 3, 4, 5)], lambda t: t.flatten(1, 2), start=1, end=2)

    # --- convolution: (x shape, w shape, stride, pad t/b/l/r, dilation, groups, bias)
    convs = [
        ("conv_3x3", (2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
        ("conv_s2", (1, 2, 9, 8), (3, 2, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, True),
        ("conv_asym_pad", (1, 2, 5, 6), (3, 2, 3, 2), (1, 2), (0, 2, 1, 0), (1, 1), 1, False),
        ("conv_dilated", (1, 2, 9, 9), (2, 2, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, True),
        ("conv_groups", (2, 4, 6, 5), (6, 2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, True),
        ("conv_depthwise", (1, 3, 6, 7), (3, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 3, True),
        ("conv_1x1", (2, 3, 4, 5), (5, 3, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
        ("conv_2x2_s2", (1, 3, 6, 8), (6, 3, 2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, True),
        ("conv_4x4", (1, 2, 8, 7), (2, 2, 4, 4), (2, 1), (1, 2, 2, 1), (1, 1), 1, False),
        ("conv_7x7", (1, 2, 9, 10), (2, 2, 7, 7), (1, 1), (3, 3, 3, 3), (1, 1), 1, True),
        ("conv_1x1_s2", (1, 4, 7, 7), (3, 4, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1, False),
    ]
    for name, xs, ws, st, pd, dl, g, bias in convs:
        ins = [rnd(*xs), rnd(*ws) * 0.5] + ([rnd(ws[0])] if bias else [])
        def f(x, w, b=None, st=st, pd=pd, dl=dl, g=g):
            return F.conv2d(F.pad(x, (pd[2], pd[3], pd[0], pd[1])), w, b, st, 0, dl, g)
        case(name, "conv2d", ins, f, stride=f"{st[0]},{st[1]}", pad=",".join(map(str, pd)),
             dilation=f"{dl[0]},{dl[1]}", groups=g)
    # transposed: (y shape, w shape [Cin, Cout/g, kh, kw], stride, symmetric pad, output_padding, dilation, groups)
    tconvs = [
        ("convT_s2", (1, 3, 4, 5), (3, 2, 3, 3), 2, 1, (1, 1), 1, 1, True),
        ("convT_s1", (2, 2, 5, 4), (2, 3, 3, 3), 1, 1, (0, 0), 1, 1, False),
        ("convT_groups", (1, 4, 3, 4), (4, 1, 4, 4), 2, 1, (0, 1), 1, 2, True),
        ("convT_dilated", (1, 2, 4, 4), (2, 2, 3, 3), 1, 0, (0, 0), 2, 1, True),
    ]
    for name, ys, ws, st, pd, op, dl, g, bias in tconvs:
        ins = [rnd(*ys), rnd(*ws) * 0.5] + ([rnd(ws[1] * g)] if bias else [])
        def f(y, w, b=None, st=st, pd=pd, op=op, dl=dl, g=g):
            return F.conv_transpose2d(y, w, b, st, pd, op, g, dl)
        case(name, "conv_transpose2d", ins, f, stride=f"{st},{st}", pad=f"{pd},{pd},{pd},{pd}",
             dilation=f"{dl},{dl}", groups=g, output_padding=f"{op[0]},{op[1]}")

    image_ops()

    with open(os.path.join(ROOT, "cases.txt"), "w") as f:
        f.write("\n".join(cases) + "\n")
    print(f"{len(cases)} cases written to {os.path.normpath(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
