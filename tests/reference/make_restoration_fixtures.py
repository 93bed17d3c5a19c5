#!/usr/bin/python3
"""Writes tests/fixtures/restoration: outputs (and some gradients) of the NAFNet and HINet
references (restoration_torch.py, official BasicSR parameter names) for deterministic,
non-degenerate parameters, and a small BasicSR-style .pth file. manifest.json in that folder
repeats everything a test needs.

Parameter rule (copied exactly by tests/test_restoration_models.cpp). For every named parameter
(named_parameters() order does not matter: each tensor depends only on its own name), with
det_tensor/det_values from detparam.py, SEED = 7, computed in float64 and rounded once to float32:

    name ends in ".beta" or ".gamma" (NAFBlock)     value = det(shape, 7, name, 0.5)
    1-D and name ends in ".weight" (LayerNorm2d,    value = 1.0 + det(shape, 7, name, 0.2)
        InstanceNorm2d affine weights)                      (double addition, then one rounding)
    any other 1-D tensor (biases, norm biases)      value = det(shape, 7, name, 0.1)
    every tensor with 2+ dims (conv and transposed  value = det(shape, 7, name, sqrt(3 / fan_in)),
        conv weights)                                       fan_in = numel / shape[0]

(for ConvTranspose2d weights [in, out, k, k] this "fan_in" is out*k*k). U(-a, a) with
a = sqrt(3 / fan_in) has variance 1/fan_in, so signals keep their scale through the deep nets;
beta/gamma and the norm weights are non-zero and not one, so every branch of every block counts.

Inputs: x = det_tensor(shape, 11, "x", 1.0) (float32, values in [-1, 1)).
Gradient weights: w = det_tensor(out.shape, 13, "w", 1.0) (and "w1"/"w2" for HINet's two outputs).
Every reference is computed in float64 from the float32-rounded parameters and inputs, then
stored as float32 .npy.

Cases:
  nafnet_small    width 8, enc [1,1], middle 1, dec [1,1], x 1x3x37x45 (padded to 40x48 inside):
                  out, d sum(out*w)/dx, and d sum(out*w)/d encoders.0.0.conv2.weight;
                  ensemble2_out, ensemble8_out: self_ensemble(net, x, n) (restoration_torch.py)
  nafnet_gopro32  width 32, enc [1,1,1,28], middle 1, dec [1,1,1,1], x 1x3x64x64: out
  hinet_small     wf 8, depth 3, hin_position 1..4 (HIN at levels 1 and 2, not 0), x 1x3x32x32:
                  out1 (stage 1), out2 (stage 2), d sum(out1*w1 + out2*w2)/dx
  hinet_default   wf 64, depth 5, hin 0..4 (the code's defaults), x 1x3x64x64: out2
nafnet_small_basicsr.pth = torch.save({'params': state_dict}) of the nafnet_small network (float32,
torch's default zip format), as BasicSR saves its checkpoints.

Run with Debian's python3-torch (about a minute on 2 threads):
  /usr/bin/python3 tests/reference/make_restoration_fixtures.py
"""
import json
import math
import os
import time

import numpy as np
import torch

from detparam import det_tensor
from restoration_torch import HINet, NAFNet, self_ensemble

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "restoration")
SEED, X_SEED, W_SEED = 7, 11, 13


def param_value(name, shape):
    """float32 numpy array of the parameter rule above."""
    n = int(np.prod(shape))
    if name.endswith(".beta") or name.endswith(".gamma"):
        v = det_tensor(shape, SEED, name, 0.5, np.float64)
    elif len(shape) == 1 and name.endswith(".weight"):
        v = 1.0 + det_tensor(shape, SEED, name, 0.2, np.float64)
    elif len(shape) == 1:
        v = det_tensor(shape, SEED, name, 0.1, np.float64)
    else:
        v = det_tensor(shape, SEED, name, math.sqrt(3.0 / (n // shape[0])), np.float64)
    return v.astype(np.float32)


def det_fill(model):
    """Fills the parameters (float32 values) and returns the model in float64, eval mode."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(param_value(name, tuple(p.shape))))
    return model.double().eval()


def det_input(shape, seed, name):
    return torch.from_numpy(det_tensor(shape, seed, name, 1.0, np.float32)).double()


def save(name, t):
    np.save(os.path.join(OUT, name + ".npy"), t.detach().float().numpy())


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    files = {}

    def record(case, name, t):
        save(name, t)
        files[name + ".npy"] = {"case": case, "shape": list(t.shape)}

    # (a) small NAFNet: odd size, so the padding and the crop are exercised; gradients too
    t0 = time.time()
    small = dict(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    net = det_fill(NAFNet(**small))
    x = det_input((1, 3, 37, 45), X_SEED, "x").requires_grad_(True)
    out = net(x)
    w = det_input(tuple(out.shape), W_SEED, "w")
    probe = "encoders.0.0.conv2.weight"
    gx, gw = torch.autograd.grad((out * w).sum(), [x, dict(net.named_parameters())[probe]])
    record("nafnet_small", "nafnet_small_out", out)
    record("nafnet_small", "nafnet_small_gx", gx)
    record("nafnet_small", "nafnet_small_gw", gw)
    with torch.no_grad():
        ident = lambda v: v * 1.0
        assert torch.equal(self_ensemble(ident, x, 8), x)  # the maps back undo the maps
        for n in (2, 8):
            record("nafnet_small", f"nafnet_small_ensemble{n}_out", self_ensemble(net, x, n))
    sd = {k: v.detach().float().clone() for k, v in net.state_dict().items()}
    torch.save({"params": sd}, os.path.join(OUT, "nafnet_small_basicsr.pth"))
    print(f"nafnet_small   {time.time() - t0:.1f} s, |out| max {out.abs().max():.3g}")

    # (a2) the same network with test-time local pooling: local_pool 24 makes every level's window
    # smaller than its map (40x48 -> 24, 20x24 -> 12, 10x12 -> 6); 44 covers the height but not
    # the width at every level (44 >= 40, < 48), the mixed case
    for b in (24, 44):
        net = det_fill(NAFNet(**small, local_pool=b))
        x = det_input((1, 3, 37, 45), X_SEED, "x").requires_grad_(True)
        out = net(x)
        (gx,) = torch.autograd.grad((out * det_input(tuple(out.shape), W_SEED, "w")).sum(), [x])
        record("nafnet_small_local", f"nafnet_small_local{b}_out", out)
        record("nafnet_small_local", f"nafnet_small_local{b}_gx", gx)

    # (b) the GoPro width-32 configuration (17.1 M parameters)
    t0 = time.time()
    net = det_fill(NAFNet(img_channel=3, width=32, middle_blk_num=1, enc_blk_nums=[1, 1, 1, 28],
                          dec_blk_nums=[1, 1, 1, 1]))
    nparams = sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        out = net(det_input((1, 3, 64, 64), X_SEED, "x"))
    record("nafnet_gopro32", "nafnet_gopro32_out", out)
    print(f"nafnet_gopro32 {time.time() - t0:.1f} s, {nparams} parameters, |out| max {out.abs().max():.3g}")

    # (c) small HINet: HIN at levels 1..2 only, both stages, input gradient through both outputs
    t0 = time.time()
    net = det_fill(HINet(in_chn=3, wf=8, depth=3, relu_slope=0.2, hin_position_left=1, hin_position_right=4))
    x = det_input((1, 3, 32, 32), X_SEED, "x").requires_grad_(True)
    out1, out2 = net(x)
    w1 = det_input(tuple(out1.shape), W_SEED, "w1")
    w2 = det_input(tuple(out2.shape), W_SEED, "w2")
    (gx,) = torch.autograd.grad((out1 * w1).sum() + (out2 * w2).sum(), [x])
    record("hinet_small", "hinet_small_out1", out1)
    record("hinet_small", "hinet_small_out2", out2)
    record("hinet_small", "hinet_small_gx", gx)
    print(f"hinet_small    {time.time() - t0:.1f} s, |out2| max {out2.abs().max():.3g}")

    # (d) the default HINet (wf 64, depth 5, 88.7 M parameters)
    t0 = time.time()
    net = det_fill(HINet())
    nparams_h = sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        out = net(det_input((1, 3, 64, 64), X_SEED, "x"))[1]
    record("hinet_default", "hinet_default_out", out)
    print(f"hinet_default  {time.time() - t0:.1f} s, {nparams_h} parameters, |out| max {out.abs().max():.3g}")

    manifest = {
        "description": "NAFNet and HINet (official BasicSR parameter names) for deterministic parameters, made by "
                       "tests/reference/make_restoration_fixtures.py with tests/reference/restoration_torch.py; "
                       "references computed in float64 from float32-rounded parameters and inputs, stored as float32",
        "generated_with": f"torch {torch.__version__}, numpy {np.__version__}, CPU float64",
        "params": {
            "seed": SEED,
            "generator": "detparam det_tensor(shape, seed, name, a) over named_parameters(), computed in float64, "
                         "rounded once to float32",
            "rules_first_match_wins": [
                {"match": "*.beta, *.gamma", "value": "det(0.5)"},
                {"match": "1-D *.weight (LayerNorm2d, InstanceNorm2d)", "value": "1.0 + det(0.2) (double add)"},
                {"match": "other 1-D (biases)", "value": "det(0.1)"},
                {"match": "2+ dims (conv weights)", "value": "det(sqrt(3 / fan_in)), fan_in = numel / shape[0]"},
            ],
        },
        "inputs": {"x": "det_tensor(shape, 11, 'x', 1.0) float32",
                   "w, w1, w2": "det_tensor(output shape, 13, name, 1.0) float32"},
        "cases": {
            "nafnet_small": {"arch": "NAFNet", "img_channel": 3, "width": 8, "enc_blk_nums": [1, 1],
                             "middle_blk_num": 1, "dec_blk_nums": [1, 1], "x": [1, 3, 37, 45],
                             "grads": "of sum(out * w) w.r.t. x (gx) and " + probe + " (gw)",
                             "pth": "nafnet_small_basicsr.pth = torch.save({'params': float32 state_dict})",
                             "ensembles": "ensemble{2,8}_out = self_ensemble(net, x, n): mean over the first "
                                          "n of the 8 flips/transposes, each mapped back"},
            "nafnet_small_local": {"arch": "NAFNet", "as": "nafnet_small", "local_pool": [24, 44],
                                   "outputs": "local{B}_out and local{B}_gx (of sum(out * w) w.r.t. x)"},
            "nafnet_gopro32": {"arch": "NAFNet", "img_channel": 3, "width": 32, "enc_blk_nums": [1, 1, 1, 28],
                               "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1], "x": [1, 3, 64, 64],
                               "parameters": nparams},
            "hinet_small": {"arch": "HINet", "in_chn": 3, "wf": 8, "depth": 3, "relu_slope": 0.2,
                            "hin_position_left": 1, "hin_position_right": 4, "x": [1, 3, 32, 32],
                            "outputs": "out1 = stage 1, out2 = stage 2",
                            "grads": "of sum(out1 * w1) + sum(out2 * w2) w.r.t. x (gx)"},
            "hinet_default": {"arch": "HINet", "in_chn": 3, "wf": 64, "depth": 5, "relu_slope": 0.2,
                              "hin_position_left": 0, "hin_position_right": 4, "x": [1, 3, 64, 64],
                              "outputs": "out = stage 2", "parameters": nparams_h},
        },
        "files": files,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
