#!/usr/bin/python3
"""Checks tests/reference/stylegan2_torch.py against NVIDIA's own outputs on the tiny shared
fixture (shared/data/stylegan2/ada_tiny_p3.pkl and ref_*.f32; see that folder's README).

The pickle is read with a stub unpickler: `torch_utils.persistence._reconstruct_persistent_obj`
returns its meta dict and `dnnlib.util.EasyDict` is a plain dict, so no NVIDIA code is needed;
tensors are rebuilt by torch itself. The flat state dict is the walk over `_parameters`,
`_buffers` and `_modules` joined with '.'.

  /usr/bin/python3 tests/reference/check_stylegan2_torch.py [--data DIR] [--tol 1e-5]
Exits 1 when a max |diff| is above --tol.
"""
import argparse
import os
import pickle
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylegan2_torch  # noqa: E402
from stylegan2_torch import Config, Discriminator, Generator, load_flat  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data", "stylegan2"))
if not os.path.isdir(DEFAULT_DATA):
    DEFAULT_DATA = "/work/shared/data/stylegan2"


class _EasyDict(dict):
    pass


def _reconstruct_persistent_obj(meta):
    return meta


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch_utils.persistence" and name == "_reconstruct_persistent_obj":
            return _reconstruct_persistent_obj
        if module == "dnnlib.util" and name == "EasyDict":
            return _EasyDict
        return super().find_class(module, name)


def flatten(meta, prefix=""):
    state = meta["state"] if "state" in meta else meta
    out = {}
    for k, v in state.get("_parameters", {}).items():
        if v is not None:
            out[prefix + k] = v.detach()
    for k, v in state.get("_buffers", {}).items():
        if v is not None:
            out[prefix + k] = v
    for k, child in state.get("_modules", {}).items():
        if child is not None:
            out.update(flatten(child, prefix + k + "."))
    return out


def load_ada(path):
    with open(path, "rb") as f:
        data = StubUnpickler(f).load()
    return {k: flatten(data[k]) for k in ("G", "D", "G_ema")}


def f32(data, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(data, name), dtype="<f4").reshape(shape))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    nets = load_ada(os.path.join(args.data, "ada_tiny_p3.pkl"))
    cfg = Config(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=128, channel_max=32,
                 mbstd_group=4)
    G, D = Generator(cfg).eval(), Discriminator(cfg).eval()
    nG = load_flat(G, nets["G_ema"])
    nD = load_flat(D, nets["D"])
    p4 = load_ada(os.path.join(args.data, "ada_tiny_p4.pkl"))
    same = all(torch.equal(torch.as_tensor(p4[m][k]), torch.as_tensor(v)) for m in nets for k, v in nets[m].items())
    print(f"ada_tiny_p4.pkl holds the same tensors as p3: {same}")
    assert same and all(set(p4[m]) == set(nets[m]) for m in nets)
    print(f"loaded G_ema: {len(nG)} tensors ({len(nets['G_ema'])} in the pickle incl. resample_filter), "
          f"D: {len(nD)} ({len(nets['D'])})")

    z = f32(args.data, "ref_z_4x32.f32", (4, 32))
    worst = 0.0
    imgs = {}
    with torch.no_grad():
        for psi, name in ((1.0, "ref_img_psi1_4x3x16x16.f32"), (0.7, "ref_img_psi0.7_4x3x16x16.f32")):
            ref = f32(args.data, name, (4, 3, 16, 16))
            imgs[psi] = ref
            for impl in stylegan2_torch.UPCONV_IMPLS:
                stylegan2_torch.set_upconv_impl(impl)
                img = G(z, psi=psi, noise_mode="const")
                d = (img - ref).abs().max().item()
                worst = max(worst, d)
                print(f"G psi={psi} (up-conv {impl}): max|diff| = {d:.3g}   "
                      f"(ref range {ref.min().item():.3f} .. {ref.max().item():.3f})")
            stylegan2_torch.set_upconv_impl("transpose")
        x = torch.cat([imgs[1.0], imgs[0.7]]).clamp(-1, 1)
        for group, name in ((4, "ref_dlogits_8x1.f32"), (0, "ref_dlogits_groupN_8x1.f32")):
            ref = f32(args.data, name, (8, 1))
            y = D(x, group=group)
            d = (y - ref).abs().max().item()
            worst = max(worst, d)
            print(f"D group={group}: max|diff| = {d:.3g}   (ref max|logit| {ref.abs().max().item():.3f})")
        other = D(x, group=0) - D(x, group=4)
        print(f"D group 4 vs whole batch differ by {other.abs().max().item():.3g} (must be clearly non-zero)")
    print(f"worst {worst:.3g}, tolerance {args.tol:g}: {'OK' if worst <= args.tol else 'FAIL'}")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
