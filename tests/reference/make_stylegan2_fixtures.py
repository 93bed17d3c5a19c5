#!/usr/bin/python3
"""Writes tests/fixtures/stylegan2: outputs of the reference StyleGAN2 (stylegan2_torch.py, checked
against NVIDIA's own outputs by check_stylegan2_torch.py) for deterministic parameters, so the C++
tests can check a full-size (config-f, up to 1024 px) generator and discriminator without stored
weights. manifest.json in that folder says everything a test needs: configs, inputs, psi, noise
mode, mbstd group, the parameter rule and every file with its shape.

Parameter rule (copied exactly by the C++ tests). For every named parameter AND buffer of the
module (NVIDIA stylegan2-ada-pytorch flat names, without the G./D. prefix and without the
constant `resample_filter` buffers), in float32, with det_tensor from detparam.py (seed 11):

    value = det_tensor(shape, 11, name, a)   a = 100.0 * sqrt(3.0)  for mapping.fc*.weight
                                             a = sqrt(3.0)          for every other name ending in ".weight"
                                                                    (conv, affine, torgb, D fromrgb/conv/skip/fc/out)
                                             a = 0.5                for mapping.w_avg
                                             a = 1.0                for everything else: biases, noise_strength,
                                                                    synthesis.b4.const, *.noise_const
    then, for every name ending in ".affine.bias":  value = value + 1.0 (a float32 addition on the
                                                    float32-rounded det value)

(a is a double: sqrt(3.0) = 1.7320508075688772, 100.0 * sqrt(3.0) = 173.20508075688772.)
U(-sqrt(3), sqrt(3)) has unit variance, like NVIDIA's N(0, 1) (mapping: N(0, 1/lr_mul^2)) weight
init. With a = 1 every layer would shrink its input-dependent signal by sqrt(1/3): the 8-layer
mapping then gives w with std 0.014 (so z hardly matters), and the config-f discriminator's logits
move by only 1.3e-5 (256 px) when its white-noise input is replaced by zeros, i.e. a D test would
not see its first layers. With sqrt(3): w std 1.0, and D(x) - D(0) = 0.05 (256 px), 0.12 (512 px).
0-d tensors (noise_strength) use element 0 of det_values. Names of G and D never collide.

Cases: g64 (small net at 64 px: G batch 2 psi 0.7, D batch 4 group 2, R1 and two of its parameter
gradients by double backward), g64c (the same nets with conv_clamp 0.5, so clamping is exercised),
g256 / g512 / g1024 (config-f G, batch 2 / 2 / 1, psi 1 / 1 / 0.5: z, w, a strided sample of the
image and per-channel stats), d512 (config-f D, batch 4, group 4), d256 (batch 2, whole-batch group).
All with noise_mode 'const' and the up-conv computed by F.conv_transpose2d as NVIDIA does.

Inputs: z = numpy.random.RandomState(seed).randn(N, z_dim).astype(float32) (seed 3 for g64, 0 for
the config-f generators); the D input is det_tensor([N, 3, R, R], 11, 'd_input', 1.0).

Output is bit-for-bit reproducible on one machine (checked by running it twice).
Run with Debian's python3-torch (about 1.5 minutes on 2 threads, most of it G 512/1024 and D 512):
  /usr/bin/python3 tests/reference/make_stylegan2_fixtures.py [--only g64,g256,...]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detparam import det_tensor  # noqa: E402
from stylegan2_torch import Config, Discriminator, Generator, state_names  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "stylegan2")
SEED = 11
SAMPLE_STEP = 997

PARAM_RULE = {
    "seed": SEED,
    "generator": "detparam det_tensor(shape, seed, name, a) over named_parameters() and named_buffers(); "
                 "names are NVIDIA stylegan2-ada-pytorch flat names without the G./D. prefix and without "
                 "resample_filter buffers",
    "a_rules_first_match_wins": [
        {"match": "mapping.fc*.weight", "a": "100.0 * sqrt(3.0) = 173.20508075688772 (double)"},
        {"match": "*.weight", "a": "sqrt(3.0) = 1.7320508075688772 (double)"},
        {"match": "mapping.w_avg", "a": 0.5},
        {"match": "everything else (biases, noise_strength, synthesis.b4.const, *.noise_const)", "a": 1.0}],
    "zero_dim_tensors": "noise_strength is 0-d: element 0 of det_values",
    "add_after": [{"match": "*.affine.bias", "add": 1.0, "arith": "float32(float32(det) + 1.0f)"}],
    "dtype": "float32",
}


def param_a(name):
    if name.endswith(".weight"):
        return (100.0 * math.sqrt(3.0)) if name.startswith("mapping.fc") else math.sqrt(3.0)
    if name == "mapping.w_avg":
        return 0.5
    return 1.0


def det_fill(module):
    with torch.no_grad():
        for name, t in state_names(module).items():
            v = det_tensor(tuple(t.shape), SEED, name, param_a(name))
            if name.endswith(".affine.bias"):
                v = v + np.float32(1.0)
            assert v.dtype == np.float32
            t.copy_(torch.from_numpy(np.array(v, dtype=np.float32, order="C")))
    return module.eval()


def randn(seed, n, d):
    return np.random.RandomState(seed).randn(n, d).astype(np.float32)


def save(name, arr, files, meaning):
    arr = np.ascontiguousarray(arr)
    np.save(os.path.join(OUT, name), arr)
    files[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "meaning": meaning}


def img_stats(img):
    x = img.astype(np.float64)
    return np.stack([x.mean(axis=(2, 3)), x.std(axis=(2, 3)), x.min(axis=(2, 3)), x.max(axis=(2, 3))], axis=-1)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def case_g64(cases, files):
    cfg = Config(resolution=64, z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024, channel_max=64,
                 mbstd_group=2)
    G, D = det_fill(Generator(cfg)), det_fill(Discriminator(cfg))
    z = randn(3, 2, 64)
    psi = 0.7
    with torch.no_grad():
        (ws, img), t = timed(lambda: (lambda w: (w, G.synthesis(w, "const")))(G.mapping(torch.from_numpy(z), psi)))
    save("g64_z.npy", z, files, "z = RandomState(3).randn(2, 64) as float32")
    save("g64_ws.npy", ws.numpy(), files, "mapped and truncated ws (psi 0.7, all rows)")
    save("g64_img.npy", img.numpy(), files, "G(z, psi 0.7, noise const)")
    x = torch.from_numpy(det_tensor([4, 3, 64, 64], SEED, "d_input", 1.0))
    with torch.no_grad():
        logits, td = timed(lambda: D(x, group=2))
    save("g64_dlogits.npy", logits.numpy(), files, "D(det d_input [4,3,64,64]), mbstd group 2")

    def r1(D, x):
        xr = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(D(xr, group=2).sum(), xr, create_graph=True)
        val = g.square().sum()
        gw = torch.autograd.grad(val, [D.b4.out.weight, D.b64.conv0.weight])
        return val, gw
    (val, (g_out, g_conv0)), tr = timed(lambda: r1(D, x))

    # The float32 noise floor of these numbers: the same model in float64.
    G.double()
    D.double()
    with torch.no_grad():
        img64 = G(torch.from_numpy(z).double(), psi)
        logits64 = D(x.double(), group=2)
    val64, (g_out64, g_conv064) = r1(D, x.double())

    def rel(a, b):
        return float((a.double() - b).abs().max() / b.abs().max())
    noise = {"img": rel(img, img64), "dlogits": rel(logits, logits64), "r1": rel(val.detach(), val64.detach()),
             "r1_grad_b4_out_weight": rel(g_out, g_out64), "r1_grad_b64_conv0_weight": rel(g_conv0, g_conv064)}
    save("g64_d_r1.npy", val.detach().reshape(1).numpy(), files,
         "R1 = sum over batch and C,H,W of (d D(x).sum() / dx)^2, stored as shape [1]")
    save("g64_d_r1_grad_b4_out_weight.npy", g_out.numpy(), files, "d R1 / d b4.out.weight (double backward)")
    save("g64_d_r1_grad_b64_conv0_weight.npy", g_conv0.numpy(), files, "d R1 / d b64.conv0.weight (double backward)")
    cases["g64"] = {
        "config": cfg.to_dict(), "num_ws": cfg.num_ws, "batch": 2, "z": "RandomState(3).randn(2, 64) float32",
        "psi": psi, "cutoff": None, "noise_mode": "const",
        "d": {"batch": 4, "mbstd_group": 2, "input": "det_tensor([4,3,64,64], 11, 'd_input', 1.0)"},
        "files": ["g64_z.npy", "g64_ws.npy", "g64_img.npy", "g64_dlogits.npy", "g64_d_r1.npy",
                  "g64_d_r1_grad_b4_out_weight.npy", "g64_d_r1_grad_b64_conv0_weight.npy"],
        "stats": {"img_min": float(img.min()), "img_max": float(img.max()), "ws_std": float(ws.std()),
                  "r1": float(val)},
        "fp32_vs_fp64_max_abs_diff_over_max_abs": noise,
    }
    print(f"g64: G {t:.2f} s, D {td:.2f} s, R1 + double backward {tr:.2f} s  "
          f"(img {img.min():.3f}..{img.max():.3f}, R1 {val.item():.5g}); fp32 vs fp64 (max|diff|/max|ref|): "
          + ", ".join(f"{k} {v:.2g}" for k, v in noise.items()), flush=True)


def case_g64_clamp(cases, files):
    """The g64 networks again with conv_clamp 0.5, small enough that most activations are clamped
    (natively trained ADA nets use 256, which these det parameters would never reach)."""
    clamp = 0.5
    cfg = Config(resolution=64, z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024, channel_max=64,
                 mbstd_group=2, conv_clamp=clamp)
    G, D = det_fill(Generator(cfg)), det_fill(Discriminator(cfg))
    z = randn(3, 2, 64)
    x = torch.from_numpy(det_tensor([4, 3, 64, 64], SEED, "d_input", 1.0))
    with torch.no_grad():
        img, t = timed(lambda: G(torch.from_numpy(z), 0.7, noise_mode="const"))
        logits, td = timed(lambda: D(x, group=2))
        cfg0 = Config(**{**cfg.to_dict(), "conv_clamp": 0})
        G0, D0 = det_fill(Generator(cfg0)), det_fill(Discriminator(cfg0))
        effect = {"img": float((img - G0(torch.from_numpy(z), 0.7)).abs().max()),
                  "dlogits": float((logits - D0(x, group=2)).abs().max())}
    save("g64c_img.npy", img.numpy(), files, "g64 with conv_clamp 0.5: G(g64_z, psi 0.7, noise const)")
    save("g64c_dlogits.npy", logits.numpy(), files, "g64 with conv_clamp 0.5: D(det d_input [4,3,64,64]), group 2")
    cases["g64c"] = {
        "config": cfg.to_dict(), "num_ws": cfg.num_ws, "batch": 2, "z": "RandomState(3).randn(2, 64) float32 (= g64_z.npy)",
        "psi": 0.7, "cutoff": None, "noise_mode": "const",
        "d": {"batch": 4, "mbstd_group": 2, "input": "det_tensor([4,3,64,64], 11, 'd_input', 1.0)"},
        "clamp_rule": "after bias, lrelu and gain: synthesis conv0/conv1 and ToRGB +-conv_clamp; D fromrgb, conv0, "
                      "b4.conv +-conv_clamp; D conv1 +-conv_clamp*sqrt(0.5) (gain sqrt(2)*sqrt(0.5)); "
                      "D skip, b4.fc, b4.out, mapping: never",
        "files": ["g64c_img.npy", "g64c_dlogits.npy"],
        "max_abs_change_vs_no_clamp": effect,
    }
    print(f"g64c: G {t:.2f} s, D {td:.2f} s  (img {img.min():.3f}..{img.max():.3f}; clamping changes img by "
          f"{effect['img']:.3g}, logits by {effect['dlogits']:.3g})", flush=True)


def config_f(resolution, **kw):
    return Config(resolution=resolution, **kw)


def case_g(cases, files, R, batch, psi):
    cfg = config_f(R)
    t0 = time.perf_counter()
    G = det_fill(Generator(cfg))
    tinit = time.perf_counter() - t0
    z = randn(0, batch, 512)
    with torch.no_grad():
        ws, tm = timed(lambda: G.mapping(torch.from_numpy(z), psi))
        img, t = timed(lambda: G.synthesis(ws, "const"))
    img = img.numpy()
    assert bool((ws == ws[:, :1]).all())
    name = f"g{R}"
    save(f"{name}_z.npy", z, files, f"z = RandomState(0).randn({batch}, 512) as float32")
    save(f"{name}_ws.npy", ws[:, 0].numpy(), files, f"mapped (psi {psi}) w, row 0 of ws: all rows are equal")
    idx = np.arange(0, img.size, SAMPLE_STEP)
    save(f"{name}_img_sample.npy", img.reshape(-1)[idx], files,
         f"image [{batch},3,{R},{R}] flattened in C order at indices arange(0, size, {SAMPLE_STEP})")
    save(f"{name}_img_stats.npy", img_stats(img), files, "per (n, c): [mean, std (ddof 0), min, max], float64")
    cases[name] = {
        "config": cfg.to_dict(), "num_ws": cfg.num_ws, "batch": batch, "z": f"RandomState(0).randn({batch}, 512) float32",
        "psi": psi, "cutoff": None, "noise_mode": "const", "image_shape": list(img.shape),
        "sample_indices": f"arange(0, {img.size}, {SAMPLE_STEP}) into the C-order flattened image",
        "files": [f"{name}_z.npy", f"{name}_ws.npy", f"{name}_img_sample.npy", f"{name}_img_stats.npy"],
        "stats": {"img_min": float(img.min()), "img_max": float(img.max()), "img_std": float(img.std()),
                  "w_std": float(ws[:, 0].std())},
    }
    print(f"{name}: det_fill {tinit:.2f} s, mapping {tm * 1e3:.1f} ms, synthesis {t:.2f} s  "
          f"(img {img.min():.3f}..{img.max():.3f}, std {img.std():.3f}; w std {ws[:, 0].std():.4f})", flush=True)


def case_d(cases, files, R, batch, group):
    cfg = config_f(R, mbstd_group=group)
    t0 = time.perf_counter()
    D = det_fill(Discriminator(cfg))
    tinit = time.perf_counter() - t0
    x = torch.from_numpy(det_tensor([batch, 3, R, R], SEED, "d_input", 1.0))
    with torch.no_grad():
        y, t = timed(lambda: D(x))
    name = f"d{R}"
    save(f"{name}_logits.npy", y.numpy(), files, f"D(det d_input [{batch},3,{R},{R}]), mbstd group {group}")
    cases[name] = {
        "config": cfg.to_dict(), "batch": batch, "mbstd_group": group,
        "input": f"det_tensor([{batch},3,{R},{R}], 11, 'd_input', 1.0)", "files": [f"{name}_logits.npy"],
        "logits": [float(v) for v in y.reshape(-1)],
    }
    print(f"{name}: det_fill {tinit:.2f} s, forward {t:.2f} s  (logits {y.reshape(-1).tolist()})", flush=True)


CASES = {
    "g64": case_g64,
    "g64c": case_g64_clamp,
    "g256": lambda c, f: case_g(c, f, 256, 2, 1.0),
    "g512": lambda c, f: case_g(c, f, 512, 2, 1.0),
    "g1024": lambda c, f: case_g(c, f, 1024, 1, 0.5),
    "d512": lambda c, f: case_d(c, f, 512, 4, 4),
    "d256": lambda c, f: case_d(c, f, 256, 2, 0),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated case names (default: all); "
                    "the manifest keeps the other cases' entries from the previous run")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    man_path = os.path.join(OUT, "manifest.json")
    cases, files = {}, {}
    if args.only and os.path.exists(man_path):
        old = json.load(open(man_path))
        cases, files = old["cases"], old["files"]
    todo = [c.strip() for c in args.only.split(",") if c.strip()] or list(CASES)
    for name in todo:
        CASES[name](cases, files)
    manifest = {
        "description": "StyleGAN2 (NVIDIA stylegan2-ada-pytorch semantics: skip G, resnet D, float32) outputs for "
                       "deterministic parameters, made by tests/reference/make_stylegan2_fixtures.py with the "
                       "reference model tests/reference/stylegan2_torch.py (which matches NVIDIA's outputs on "
                       "shared/data/stylegan2 to ~2e-6). config-f = channel_base 32768, channel_max 512, "
                       "z=w=512, 8 mapping layers, lr_multiplier 0.01, no conv_clamp.",
        "generated_with": f"torch {torch.__version__}, numpy {np.__version__}, CPU float32, 2 threads",
        "params": PARAM_RULE,
        "inputs": {"z": "numpy.random.RandomState(seed).randn(N, z_dim).astype(float32)",
                   "d_input": "det_tensor([N, 3, R, R], 11, 'd_input', 1.0)"},
        "truncation": "ws = w_avg + psi * (ws - w_avg) on all rows (no cutoff); skipped when psi == 1",
        "noise_mode": "const: y += noise_strength * noise_const after the conv, before bias + lrelu",
        "suggested_tolerance": "images: max|diff| <= 3e-5 * max|ref| (these images reach |36|; torch fp32 "
                               "itself is off its fp64 result by 3.3e-6 * max|ref| = 8e-5 absolute at 256 px); "
                               "D logits: 1e-4 absolute (fp32 vs fp64: 3.4e-6 at 256 px; D(x) - D(0) = 0.05); "
                               "ws: 1e-5 * max|ref|; R1 and its gradients: 1e-4 * max|ref| (fp64 gap in "
                               "cases.g64.fp32_vs_fp64_max_abs_diff_over_max_abs)",
        "cases": {k: cases[k] for k in CASES if k in cases},
        "files": dict(sorted(files.items())),
    }
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote", len(os.listdir(OUT)), "files to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
