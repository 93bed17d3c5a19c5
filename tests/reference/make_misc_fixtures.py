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


class LayerNorm2d(torch.nn.Module):
    """NAFNet's LayerNorm2d (weight/bias parameters, eps 1e-6)."""

    def __init__(self, c):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(c))
        self.bias = torch.nn.Parameter(torch.zeros(c))

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return self.weight.view(1, -1, 1, 1) * (x - mu) / (var + 1e-6).sqrt() + self.bias.view(1, -1, 1, 1)


class SmallCNN(torch.nn.Module):
    """Every image module once; tests/test_nn.cpp builds the same network. No bias feeds a
    normalisation that removes it (conv -> batch norm, conv -> instance norm): such a bias has a
    gradient of exactly zero, which would compare rounding noise."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(8)
        self.act = torch.nn.PReLU(8)
        self.down = torch.nn.Conv2d(8, 16, 2, stride=2, bias=False)
        self.norm = LayerNorm2d(16)
        self.inorm = torch.nn.InstanceNorm2d(16, affine=True)
        self.dw = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.up = torch.nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.shuffle = torch.nn.PixelShuffle(2)
        self.pool = torch.nn.AvgPool2d(2)

    def forward(self, x):
        x = self.act(self.bn(self.conv1(x)))
        x = self.dw(self.norm(self.inorm(self.down(x))))
        return self.pool(self.shuffle(self.up(x)))


def cnn():
    d = os.path.join(FIX, "nn")
    m = SmallCNN()
    det_init(m, 7, 0.4)
    x = torch.from_numpy(np.random.RandomState(2).uniform(-1, 1, (2, 3, 8, 6)).astype(np.float32))
    y = m(x)
    y.square().mean().backward()
    np.save(os.path.join(d, "cnn_x.npy"), x.numpy())
    np.save(os.path.join(d, "cnn_y.npy"), y.detach().numpy())
    np.save(os.path.join(d, "cnn_running_var.npy"), m.bn.running_var.numpy())
    with open(os.path.join(d, "cnn_state.txt"), "w") as f:
        for name, t in m.state_dict().items():
            f.write(f"{name} {','.join(map(str, t.shape))}\n")
    for name, p in m.named_parameters():
        np.save(os.path.join(d, f"cnn_grad_{name}.npy"), p.grad.numpy())


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
    cnn()
    detparam()
    print("misc fixtures written")
