#!/usr/bin/python3
"""Writes tests/fixtures/inception: pool3 features of FID's Inception-v3 (pytorch-fid's network:
torchvision's Inception-v3 with the TF graph's pooling differences, rebuilt here from
torchvision's blocks) for deterministic parameters and a 64x64 input resized to 299x299.

Run with Debian's python3-torch and python3-torchvision:
  /usr/bin/python3 tests/reference/make_inception_fixtures.py
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models import inception as tvi

from detparam import det_tensor

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "inception")
SEED = 9


def avg3(x):  # the FID graph's average pool ignores padded positions
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def forward_a(self, x):
    b5 = self.branch5x5_2(self.branch5x5_1(x))
    b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
    return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(avg3(x))], 1)


def forward_c(self, x):
    b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
    bd = x
    for i in range(1, 6):
        bd = getattr(self, f"branch7x7dbl_{i}")(bd)
    return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(avg3(x))], 1)


def forward_e(pool):
    def f(self, x):
        t = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        parts = [self.branch1x1(x), self.branch3x3_2a(t), self.branch3x3_2b(t), self.branch3x3dbl_3a(d),
                 self.branch3x3dbl_3b(d), self.branch_pool(pool(x))]
        return torch.cat(parts, 1)
    return f


def main():
    os.makedirs(OUT, exist_ok=True)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        getattr(net, name).forward = forward_a.__get__(getattr(net, name))
    for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
        getattr(net, name).forward = forward_c.__get__(getattr(net, name))
    net.Mixed_7b.forward = forward_e(avg3).__get__(net.Mixed_7b)
    net.Mixed_7c.forward = forward_e(lambda x: F.max_pool2d(x, 3, 1, 1)).__get__(net.Mixed_7c)
    with torch.no_grad():  # conv weights +-1/sqrt(fan_in); batch norms near the identity
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if t.dtype != torch.float32 or name.startswith("fc."):
                continue
            if name.endswith("conv.weight"):
                v = det_tensor(tuple(t.shape), SEED, name, 1 / math.sqrt(t[0].numel()), np.float64)
            elif name.endswith("running_var") or name.endswith("bn.weight"):
                v = 1 + det_tensor(tuple(t.shape), SEED, name, 0.3, np.float64)
            else:  # bn.bias, running_mean
                v = det_tensor(tuple(t.shape), SEED, name, 0.1, np.float64)
            t.copy_(torch.from_numpy(v).float())
    net.eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
            h = getattr(net, name)(h)
        h = F.max_pool2d(h, 3, 2)
        h = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(h))
        h = F.max_pool2d(h, 3, 2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            h = getattr(net, name)(h)
        pool3 = F.adaptive_avg_pool2d(h, 1).flatten(1)
    np.save(os.path.join(OUT, "x.npy"), x.numpy())
    np.save(os.path.join(OUT, "pool3.npy"), pool3.numpy())
    print("pool3", tuple(pool3.shape), float(pool3.abs().max()))


if __name__ == "__main__":
    main()
