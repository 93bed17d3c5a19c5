#!/usr/bin/python3
"""Writes tests/fixtures/{npy,nn,detparam}: numpy files of every flavour the .npy reader
accepts or must reject, a PyTorch MLP with deterministic parameters, and reference values of
the deterministic-parameter generator.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_misc_fixtures.py
"""
import os

import numpy as np
import torch

from detparam import det_init, det_values

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")


def npy_files():
    d = os.path.join(FIX, "npy")
    os.makedirs(d, exist_ok=True)
    base = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.25 - 3
    np.save(os.path.join(d, "expect.npy"), base)  # what every variant below must load as
    np.save(os.path.join(d, "f32.npy"), base.astype(np.float32))
    np.save(os.path.join(d, "f16.npy"), base.astype(np.float16))
    np.save(os.path.join(d, "f64_big_endian.npy"), base.astype(">f8"))
    np.save(os.path.join(d, "f32_fortran.npy"), np.asfortranarray(base.astype(np.float32)))
    ints = (np.arange(24).reshape(2, 3, 4) - 5)
    np.save(os.path.join(d, "int_expect.npy"), ints.astype(np.int64))
    np.save(os.path.join(d, "i32.npy"), ints.astype(np.int32))
    np.save(os.path.join(d, "i16_big_endian.npy"), ints.astype(">i2"))
    np.save(os.path.join(d, "u8.npy"), (ints % 7).astype(np.uint8))
    np.save(os.path.join(d, "bool.npy"), ints > 0)
    np.save(os.path.join(d, "scalar.npy"), np.float32(2.5))
    np.save(os.path.join(d, "complex.npy"), base.astype(np.complex64))
    with open(os.path.join(d, "v2.npy"), "wb") as f:  # version 2.0 header (4-byte length)
        np.lib.format.write_array(f, base.astype(np.float32), version=(2, 0))


def mlp():
    d = os.path.join(FIX, "nn")
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.GELU(),
                            torch.nn.Linear(8, 3))
    det_init(m, 42, 0.5)
    x = torch.from_numpy(np.random.RandomState(1).uniform(-1, 1, (5, 4)).astype(np.float32))
    y = m(x)
    y.square().mean().backward()
    np.save(os.path.join(d, "mlp_x.npy"), x.numpy())
    np.save(os.path.join(d, "mlp_y.npy"), y.detach().numpy())
    with open(os.path.join(d, "mlp_names.txt"), "w") as f:
        for name, p in m.named_parameters():
            f.write(f"{name} {','.join(map(str, p.shape))}\n")
            np.save(os.path.join(d, f"mlp_grad_{name}.npy"), p.grad.numpy())


def detparam():
    d = os.path.join(FIX, "detparam")
    os.makedirs(d, exist_ok=True)
    rows = [(0, "weight", 7, 1.0), (42, "layers.0.conv.weight", 1000, 0.05), (2**63 + 5, "", 5, 3.0),
            (123456789, "synthesis.b1024.torgb.affine.bias", 64, 0.2)]
    with open(os.path.join(d, "cases.txt"), "w") as f:
        for i, (seed, name, n, a) in enumerate(rows):
            v = det_values(seed, name, n, a)
            np.save(os.path.join(d, f"case{i}_f64.npy"), v)
            np.save(os.path.join(d, f"case{i}_f32.npy"), v.astype(np.float32))
            f.write(f"{seed} {n} {a!r} {name if name else '-'}\n")


if __name__ == "__main__":
    npy_files()
    mlp()
    detparam()
    print("misc fixtures written")
