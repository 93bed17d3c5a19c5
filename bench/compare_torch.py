#!/usr/bin/python3
"""vkgrad's conv2d against PyTorch's (oneDNN) on the shapes of the real networks.

Run with Debian's python3-torch:  /usr/bin/python3 bench/compare_torch.py [--build DIR] [--reps N]
Both run at 2 threads in the same process tree, interleaved request by request, after a
warm-up; each number is the median of --reps (default 5) repetitions. Forward+backward times
the input, weight and bias gradients with a grad_output of ones. Ratios are vkgrad / torch
(below 1: vkgrad is faster). The last line is the geometric mean of the forward+backward
ratios over the whole table.
"""
import math

import torch
import torch.nn.functional as F

from interleave import Interleaved, parse_args, timed_ms

# (name, N, C, H, W, O, k, stride, pad, groups)
SHAPES = [
    ("sg2 3x3 512 @8", 4, 512, 8, 8, 512, 3, 1, 1, 1),
    ("sg2 3x3 512 @16", 4, 512, 16, 16, 512, 3, 1, 1, 1),
    ("sg2 3x3 512 @32", 4, 512, 32, 32, 512, 3, 1, 1, 1),
    ("sg2 3x3 512 @64", 4, 512, 64, 64, 512, 3, 1, 1, 1),
    ("sg2 3x3 256 @128", 4, 256, 128, 128, 256, 3, 1, 1, 1),
    ("sg2 3x3 128 @256", 4, 128, 256, 256, 128, 3, 1, 1, 1),
    ("sg2 3x3 64 @512", 4, 64, 512, 512, 64, 3, 1, 1, 1),
    ("sg2 1x1 512->512 @32", 4, 512, 32, 32, 512, 1, 1, 0, 1),
    ("sg2 1x1 512->3 @64", 4, 512, 64, 64, 3, 1, 1, 0, 1),
    ("sg2 1x1 64->3 @512", 4, 64, 512, 512, 3, 1, 1, 0, 1),
    ("naf 3x3 intro 3->32", 4, 3, 256, 256, 32, 3, 1, 1, 1),
    ("naf 1x1 expand 32->64", 4, 32, 256, 256, 64, 1, 1, 0, 1),
    ("naf 3x3 dw 64", 4, 64, 256, 256, 64, 3, 1, 1, 64),
    ("naf 2x2 s2 down 32->64", 4, 32, 256, 256, 64, 2, 2, 0, 1),
    ("naf 3x3 ending 32->3", 4, 32, 256, 256, 3, 3, 1, 1, 1),
    ("fusion 3x3 64 @512", 1, 64, 512, 512, 64, 3, 1, 1, 1),
]


def flops(n, c, h, w, o, k, s, p, g):
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    return 2.0 * n * o * ho * wo * (c // g) * k * k


def torch_conv(x, w, b, s, p, g, mode):
    if mode == "fwd":
        with torch.no_grad():
            F.conv2d(x, w, b, s, p, 1, g)
    else:
        xr, wr, br = x.detach().requires_grad_(), w.detach().requires_grad_(), b.detach().requires_grad_()
        y = F.conv2d(xr, wr, br, s, p, 1, g)
        y.backward(torch.ones_like(y))


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.set_num_threads(2)
    vk = Interleaved(args.build, "bench_conv")
    print(f"{'shape':<24}{'fwd vk':>9}{'fwd torch':>10}{'ratio':>7}{'f+b vk':>9}{'f+b torch':>10}{'ratio':>7}"
          f"{'GF/s vk':>9}{'GF/s t':>8}", flush=True)
    ratios = []
    for name, n, c, h, w, o, k, s, p, g in SHAPES:
        if args.filter not in name:
            continue
        x, wt, b = torch.randn(n, c, h, w), torch.randn(o, c // g, k, k) * 0.05, torch.randn(o)
        res = {}
        for mode in ("fwd", "fwdbwd"):
            res[mode] = vk.medians(f"{n} {c} {h} {w} {o} {k} {k} {s} {p} {g} {mode}",
                                   lambda: timed_ms(lambda: torch_conv(x, wt, b, s, p, g, mode)), args.reps)
        fv, ft = res["fwd"]
        bv, bt = res["fwdbwd"]
        fl = flops(n, c, h, w, o, k, s, p, g)
        ratios.append(bv / bt)
        print(f"{name:<24}{fv:>9.2f}{ft:>10.2f}{fv / ft:>7.2f}{bv:>9.2f}{bt:>10.2f}{bv / bt:>7.2f}"
              f"{fl / fv / 1e6:>9.1f}{fl / ft / 1e6:>8.1f}", flush=True)
    vk.close()
    print(f"geomean fwd+bwd ratio: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")


if __name__ == "__main__":
    main()
