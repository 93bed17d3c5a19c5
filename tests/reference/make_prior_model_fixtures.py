#!/usr/bin/python3
"""Writes tests/fixtures/prior_models: outputs and gradients of the inversion encoder and the
fusion network references (prior_models_torch.py, the C++ modules' parameter names) for
deterministic, non-degenerate parameters and buffers. manifest.json in that folder repeats
everything a test needs.

Parameter rule (copied exactly by tests/test_prior_models.cpp). For every named parameter and
BatchNorm buffer (each tensor depends only on its own name), with det_tensor from detparam.py,
SEED = 7, computed in float64 and rounded once to float32; first match wins:

    name ends in ".running_mean"                   value = det(shape, 7, name, 0.1)
    name ends in ".running_var"                    value = 1.0 + det(shape, 7, name, 0.2)   (> 0)
    name ends in ".num_batches_tracked"            left at 0
    name ends in ".linear.weight" (EqualLinear)    value = det(shape, 7, name, sqrt(3))
                                                           (the layer scales it by 1/sqrt(in) itself)
    1-D and name ends in ".weight" (BatchNorm)     value = 1.0 + det(shape, 7, name, 0.2)
    any other 1-D tensor (biases)                  value = det(shape, 7, name, 0.1)
    every tensor with 2+ dims (conv weights)       value = det(shape, 7, name, sqrt(3 / fan_in)),
                                                           fan_in = numel / shape[0]

U(-a, a) with a = sqrt(3 / fan_in) has variance 1 / fan_in, so signals keep their scale through
the convs; BN's statistics and affine parameters are neither 0 nor 1, so every term counts.

Inputs: det_tensor(shape, 11, name, 1.0) float32 for "x" (encoder), "x_r", "x_g" (fusion) and
"w_avg"; gradient weights det_tensor(output shape, 13, name, 1.0) for "w", "w1", "w2".
Every reference is computed in float64 from the float32-rounded values, stored as float32 .npy.

Cases:
  encoder_eval     input 64, 2 convs per stage, max 32 / min 8 channels, feature_channels 16,
                   w_dim 32, num_ws 10 (3 medium + 3 fine heads, no lat0); eval mode (running
                   statistics); x 1x3x64x64: features, ws
  encoder_train    as encoder_eval but w_dim 24 (so lat0 exists); training mode (batch
                   statistics); x 2x3x64x64: features, ws, d L/dx and d L/d latlayer1.weight with
                   L = sum(features * w1) + sum(ws * w2), and the running_mean / running_var of
                   trunk.0.bn and of the tail trunk.4.bn after that one forward
  encoder_default  the defaults (input 256, 3 convs per stage, 512 / 32 channels, 512 features,
                   w_dim 512, num_ws 16), eval mode, x 1x3x256x256: ws, and of the features only
                   the per-channel mean and standard deviation over 16x16 (population, [512]
                   each) and channels 0..3 (features[:, :4])
  fusion           width 8, 2 blocks, x_r and x_g 2x3x24x20: out, d sum(out * w)/dx_r and /dx_g

Run with Debian's python3-torch (about a minute on 2 threads):
  /usr/bin/python3 tests/reference/make_prior_model_fixtures.py
"""
import json
import math
import os
import time

import numpy as np
import torch

from detparam import det_tensor
from prior_models_torch import FusionNet, InversionEncoder

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "prior_models")
SEED, X_SEED, W_SEED = 7, 11, 13

SMALL = dict(input_size=64, convs_per_stage=2, max_channels=32, min_channels=8, feature_channels=16, w_dim=32,
             num_ws=10)
SMALL_TRAIN = dict(SMALL, w_dim=24)
DEFAULT = dict(input_size=256, convs_per_stage=3, max_channels=512, min_channels=32, feature_channels=512, w_dim=512,
               num_ws=16)
FUSION = dict(img_channels=3, width=8, blocks=2)


def param_value(name, shape):
    """float32 numpy array of the rule above, or None for tensors left alone."""
    n = int(np.prod(shape)) if len(shape) else 1
    if name.endswith(".running_mean"):
        v = det_tensor(shape, SEED, name, 0.1, np.float64)
    elif name.endswith(".running_var"):
        v = 1.0 + det_tensor(shape, SEED, name, 0.2, np.float64)
    elif name.endswith(".num_batches_tracked"):
        return None
    elif name.endswith(".linear.weight"):
        v = det_tensor(shape, SEED, name, math.sqrt(3.0), np.float64)
    elif len(shape) == 1 and name.endswith(".weight"):
        v = 1.0 + det_tensor(shape, SEED, name, 0.2, np.float64)
    elif len(shape) == 1:
        v = det_tensor(shape, SEED, name, 0.1, np.float64)
    else:
        v = det_tensor(shape, SEED, name, math.sqrt(3.0 / (n // shape[0])), np.float64)
    return v.astype(np.float32)


def det_fill(model):
    """Fills parameters and buffers (float32 values) and returns the model in float64."""
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            v = param_value(name, tuple(t.shape))
            if v is not None:
                t.copy_(torch.from_numpy(v))
    return model.double()


def det_input(shape, seed, name):
    return torch.from_numpy(det_tensor(shape, seed, name, 1.0, np.float32)).double()


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    files = {}

    def record(case, name, t):
        np.save(os.path.join(OUT, name + ".npy"), t.detach().float().numpy())
        files[name + ".npy"] = {"case": case, "shape": list(t.shape)}

    # (a) small encoder, eval mode
    t0 = time.time()
    net = det_fill(InversionEncoder(**SMALL)).eval()
    with torch.no_grad():
        feats, ws = net(det_input((1, 3, 64, 64), X_SEED, "x"), det_input((SMALL["w_dim"],), X_SEED, "w_avg"))
    record("encoder_eval", "encoder_eval_features", feats)
    record("encoder_eval", "encoder_eval_ws", ws)
    n_small = len(net.state_dict())
    print(f"encoder_eval    {time.time() - t0:.1f} s, |features| max {feats.abs().max():.3g} std {feats.std():.3g}, "
          f"ws std {ws.std():.3g}")

    # (b) small encoder with lat0, training mode: batch statistics, gradients, running stats
    t0 = time.time()
    net = det_fill(InversionEncoder(**SMALL_TRAIN)).train()
    x = det_input((2, 3, 64, 64), X_SEED, "x").requires_grad_(True)
    feats, ws = net(x, det_input((SMALL_TRAIN["w_dim"],), X_SEED, "w_avg"))
    w1 = det_input(tuple(feats.shape), W_SEED, "w1")
    w2 = det_input(tuple(ws.shape), W_SEED, "w2")
    probe = "latlayer1.weight"
    gx, gw = torch.autograd.grad((feats * w1).sum() + (ws * w2).sum(), [x, dict(net.named_parameters())[probe]])
    tail = f"trunk.{len(net.trunk) - 1}.bn"
    assert tail == "trunk.4.bn"
    record("encoder_train", "encoder_train_features", feats)
    record("encoder_train", "encoder_train_ws", ws)
    record("encoder_train", "encoder_train_gx", gx)
    record("encoder_train", "encoder_train_gw", gw)
    record("encoder_train", "encoder_train_trunk0_running_mean", net.trunk[0].bn.running_mean)
    record("encoder_train", "encoder_train_trunk0_running_var", net.trunk[0].bn.running_var)
    record("encoder_train", "encoder_train_tail_running_mean", net.trunk[-1].bn.running_mean)
    record("encoder_train", "encoder_train_tail_running_var", net.trunk[-1].bn.running_var)
    n_train = len(net.state_dict())
    print(f"encoder_train   {time.time() - t0:.1f} s, |features| max {feats.abs().max():.3g}, ws std {ws.std():.3g}, "
          f"|gx| max {gx.abs().max():.3g}")

    # (c) the default encoder (163 M parameters), eval mode, summaries of the features only
    t0 = time.time()
    net = det_fill(InversionEncoder(**DEFAULT)).eval()
    nparams = sum(p.numel() for p in net.parameters())
    n_default = len(net.state_dict())
    with torch.no_grad():
        feats, ws = net(det_input((1, 3, 256, 256), X_SEED, "x"), det_input((DEFAULT["w_dim"],), X_SEED, "w_avg"))
    record("encoder_default", "encoder_default_ws", ws)
    record("encoder_default", "encoder_default_features_mean", feats.mean((2, 3)))
    record("encoder_default", "encoder_default_features_std", feats.std((2, 3), unbiased=False))
    record("encoder_default", "encoder_default_features_first4", feats[:, :4])
    print(f"encoder_default {time.time() - t0:.1f} s, {nparams} parameters, |features| max "
          f"{feats.abs().max():.3g} std {feats.std():.3g}, ws std {ws.std():.3g}")
    del net

    # (d) fusion network
    t0 = time.time()
    net = det_fill(FusionNet(**FUSION))
    x_r = det_input((2, 3, 24, 20), X_SEED, "x_r").requires_grad_(True)
    x_g = det_input((2, 3, 24, 20), X_SEED, "x_g").requires_grad_(True)
    out = net(x_r, x_g)
    w = det_input(tuple(out.shape), W_SEED, "w")
    g_r, g_g = torch.autograd.grad((out * w).sum(), [x_r, x_g])
    record("fusion", "fusion_out", out)
    record("fusion", "fusion_gx_r", g_r)
    record("fusion", "fusion_gx_g", g_g)
    n_fusion = len(net.state_dict())
    print(f"fusion          {time.time() - t0:.1f} s, |out| max {out.abs().max():.3g}")

    manifest = {
        "description": "InversionEncoder and FusionNet (vkgrad's parameter names) for deterministic parameters, made "
                       "by tests/reference/make_prior_model_fixtures.py with tests/reference/prior_models_torch.py; "
                       "references computed in float64 from float32-rounded parameters, buffers and inputs, stored "
                       "as float32",
        "generated_with": f"torch {torch.__version__}, numpy {np.__version__}, CPU float64",
        "params": {
            "seed": SEED,
            "generator": "detparam det_tensor(shape, seed, name, a) over named_parameters() and named_buffers(), "
                         "computed in float64, rounded once to float32",
            "rules_first_match_wins": [
                {"match": "*.running_mean", "value": "det(0.1)"},
                {"match": "*.running_var", "value": "1.0 + det(0.2) (double add)"},
                {"match": "*.num_batches_tracked", "value": "0 (untouched)"},
                {"match": "*.linear.weight (EqualLinear)", "value": "det(sqrt(3))"},
                {"match": "1-D *.weight (BatchNorm2d)", "value": "1.0 + det(0.2) (double add)"},
                {"match": "other 1-D (biases)", "value": "det(0.1)"},
                {"match": "2+ dims (conv weights)", "value": "det(sqrt(3 / fan_in)), fan_in = numel / shape[0]"},
            ],
        },
        "inputs": {"x, x_r, x_g, w_avg": "det_tensor(shape, 11, name, 1.0) float32",
                   "w, w1, w2": "det_tensor(output shape, 13, name, 1.0) float32"},
        "cases": {
            "encoder_eval": {"arch": "InversionEncoder", "config": SMALL, "mode": "eval", "x": [1, 3, 64, 64],
                             "state_dict_entries": n_small},
            "encoder_train": {"arch": "InversionEncoder", "config": SMALL_TRAIN, "mode": "train", "x": [2, 3, 64, 64],
                              "state_dict_entries": n_train,
                              "grads": "of sum(features * w1) + sum(ws * w2) w.r.t. x (gx) and " + probe + " (gw)",
                              "running_stats": "trunk.0.bn and trunk.4.bn (the tail) after the one forward"},
            "encoder_default": {"arch": "InversionEncoder", "config": DEFAULT, "mode": "eval", "x": [1, 3, 256, 256],
                                "parameters": nparams, "state_dict_entries": n_default,
                                "stored": "ws; features mean and population std over (H, W); features[:, :4]"},
            "fusion": {"arch": "FusionNet", "config": FUSION, "x_r": [2, 3, 24, 20], "x_g": [2, 3, 24, 20],
                       "state_dict_entries": n_fusion, "grads": "of sum(out * w) w.r.t. x_r and x_g"},
        },
        "files": files,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
