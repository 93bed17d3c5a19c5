#!/usr/bin/python3
"""Writes tests/fixtures/backbones: torchvision's VGG16, VGG19, AlexNet and SqueezeNet 1.1
feature taps, and LPIPS distances and input gradients (written out from the reference
formula with the real heads from weights/lpips/), for deterministic backbone parameters
(tests/reference/detparam.py; each weight uniform in +-1/sqrt(fan_in), each bias in +-0.1),
so no pretrained weights are needed.

Run with Debian's python3-torch and python3-torchvision:
  /usr/bin/python3 tests/reference/make_backbone_fixtures.py
"""
import math
import os

import numpy as np
import torch
import torchvision

from detparam import det_tensor

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "backbones")
WEIGHTS = os.path.join(HERE, "..", "..", "weights", "lpips")
SEED = 5


def det_fill(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            a = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.1
            p.copy_(torch.from_numpy(det_tensor(tuple(p.shape), SEED, name, a, np.float64)).float())
    return model.eval()


def taps(features, x, after):
    out, h = [], x
    for i, layer in enumerate(features):
        h = layer(h)
        if i in after:
            out.append(h)
        if i == max(after):
            break
    return out


NETS = {  # the LPIPS taps (and VGG19's relu3_2 = 13, relu4_2 = 22 for the contextual loss)
    "vgg16": (torchvision.models.vgg16, [3, 8, 15, 22, 29]),
    "vgg19": (torchvision.models.vgg19, [3, 8, 13, 22, 35]),
    "alex": (torchvision.models.alexnet, [1, 4, 7, 9, 11]),
    "squeeze": (torchvision.models.squeezenet1_1, [1, 4, 7, 9, 10, 11, 12]),
}
SAVED = {"vgg16": [15, 29], "vgg19": [13, 22, 35], "alex": [4, 11], "squeeze": [4, 12]}  # later taps depend on all before
LPIPS_TAPS = {"alex": "alex", "vgg": "vgg16", "squeeze": "squeeze"}


def lpips(net, feats_x, feats_y, heads):
    total = 0
    for l, (fx, fy) in enumerate(zip(feats_x, feats_y)):
        nx = fx / (torch.sqrt(torch.sum(fx ** 2, dim=1, keepdim=True)) + 1e-10)
        ny = fy / (torch.sqrt(torch.sum(fy ** 2, dim=1, keepdim=True)) + 1e-10)
        w = heads[f"lin{l}.model.1.weight"]
        total = total + torch.nn.functional.conv2d((nx - ny) ** 2, w).mean(dim=(2, 3), keepdim=True)
    return total


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    y = torch.rand(2, 3, 64, 64, generator=g)
    np.save(os.path.join(OUT, "x.npy"), x.numpy())
    np.save(os.path.join(OUT, "y.npy"), y.numpy())
    models = {}
    for name, (make, after) in NETS.items():
        m = det_fill(make(weights=None))
        models[name] = m
        with torch.no_grad():
            for i, t in zip(after, taps(m.features, x[:1], after)):
                if i in SAVED[name]:
                    np.save(os.path.join(OUT, f"{name}_tap{i}.npy"), t.numpy())
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)
    for net, backbone in LPIPS_TAPS.items():
        heads = torch.load(os.path.join(WEIGHTS, f"{net}.pth"), map_location="cpu")
        xr = x.clone().requires_grad_()
        sx, sy = ((2 * xr - 1) - shift) / scale, ((2 * y - 1) - shift) / scale  # inputs in [0, 1]
        after = NETS[backbone][1]
        d = lpips(net, taps(models[backbone].features, sx, after), taps(models[backbone].features, sy, after), heads)
        (gx,) = torch.autograd.grad(d.sum(), xr)
        np.save(os.path.join(OUT, f"lpips_{net}.npy"), d.detach().numpy())
        np.save(os.path.join(OUT, f"lpips_{net}_grad.npy"), gx.numpy())
    print("wrote", len(os.listdir(OUT)), "files")


if __name__ == "__main__":
    main()
