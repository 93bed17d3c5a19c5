#!/usr/bin/python3
"""A NAFNet training step, vkgrad against PyTorch, on the configurations we train and ship.

Run with Debian's python3-torch:  /usr/bin/python3 bench/compare_nafnet.py [--build DIR] [--reps N]
Both run at 2 threads, interleaved request by request after a warm-up; each number is the
median of --reps (default 5) repetitions. "step" is forward, PSNR loss and backward; the
PyTorch network is tests/reference/restoration_torch.py's NAFNet (its LayerNorm2d composed of
tensor ops, as vkgrad's). Ratios are vkgrad / torch (below 1: vkgrad is faster). GFLOP/s count
the convolutions' multiply-adds only (x2 for the forward, x6 for a step: backward is about two
forwards), so they undercount the elementwise work both sides also do.
"""
import math
import os
import sys

import torch

from interleave import Interleaved, parse_args, timed_ms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from restoration_torch import NAFNet  # noqa: E402

# (name, N, H, W, width, enc, middle, dec)
CONFIGS = [
    ("shipped 32 @384", 1, 384, 384, 32, (1, 1, 2, 4), 2, (1, 1, 1, 1)),  # the default model's training crops
    ("shipped 32 @512", 1, 512, 512, 32, (1, 1, 2, 4), 2, (1, 1, 1, 1)),  # deblur on a 512 px face
    ("width 16 @256", 1, 256, 256, 16, (1, 1, 2, 4), 2, (1, 1, 1, 1)),  # the earlier default model
    ("width 16 @442", 1, 442, 442, 16, (1, 1, 2, 4), 2, (1, 1, 1, 1)),
    ("grown 16 @384", 1, 384, 384, 16, (1, 1, 2, 20), 2, (1, 1, 1, 1)),
    ("GoPro 32 @256", 1, 256, 256, 32, (1, 1, 1, 28), 1, (1, 1, 1, 1)),
]


def conv_flops(net, x):
    total = [0.0]

    def hook(m, inp, out):
        total[0] += 2.0 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return total[0]


def torch_step(net, x, target, mode):
    if mode == "fwd":
        with torch.no_grad():
            net(x)
    else:
        net.zero_grad()
        loss = 10 / math.log(10) * torch.log(((net(x) - target) ** 2).mean(dim=(1, 2, 3)) + 1e-8).mean()
        loss.backward()


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.set_num_threads(2)
    vk = Interleaved(args.build, "bench_nafnet")
    print(f"{'config':<18}{'fwd vk':>9}{'fwd torch':>10}{'ratio':>7}{'step vk':>9}{'step torch':>11}{'ratio':>7}"
          f"{'GF/s vk':>9}{'GF/s t':>8}", flush=True)
    for name, n, h, w, width, enc, middle, dec in CONFIGS:
        if args.filter not in name:
            continue
        torch.manual_seed(0)
        net = NAFNet(3, width, middle, enc, dec)
        x, target = torch.rand(n, 3, h, w), torch.rand(n, 3, h, w)
        fl = conv_flops(net, x)
        res = {}
        for mode in ("fwd", "step"):
            req = f"{n} {h} {w} {width} {','.join(map(str, enc))} {middle} {','.join(map(str, dec))} {mode}"
            res[mode] = vk.medians(req, lambda: timed_ms(lambda: torch_step(net, x, target, mode)), args.reps)
        (fv, ft), (sv, st) = res["fwd"], res["step"]
        print(f"{name:<18}{fv:>9.1f}{ft:>10.1f}{fv / ft:>7.2f}{sv:>9.1f}{st:>11.1f}{sv / st:>7.2f}"
              f"{3 * fl / sv / 1e6:>9.1f}{3 * fl / st / 1e6:>8.1f}", flush=True)
    vk.close()


if __name__ == "__main__":
    main()
