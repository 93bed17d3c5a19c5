"""Deterministic parameters, the Python twin of include/vkgrad/testing/detparam.hpp.

    key   = splitmix64(seed ^ fnv1a64(name))
    u_i   = (splitmix64(key + i) >> 11) * 2**-53          in [0, 1)
    value = a * (2 u_i - 1)                               in [-a, a)

All 64-bit arithmetic wraps, as in C++; numpy's uint64 arrays do the same.
"""
import numpy as np

_M = (1 << 64) - 1


def fnv1a64(name: str) -> int:
    h = 0xCBF29CE484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001B3) & _M
    return h


def _splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def det_values(seed: int, name: str, n: int, a: float) -> np.ndarray:
    """float64 values of elements 0..n-1 of parameter `name`."""
    with np.errstate(over="ignore"):
        key = _splitmix64(np.array([(seed ^ fnv1a64(name)) & _M], dtype=np.uint64))[0]
        v = _splitmix64(key + np.arange(n, dtype=np.uint64))
    u = (v >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return a * (2.0 * u - 1.0)


def det_tensor(shape, seed, name, a, dtype=np.float32):
    n = int(np.prod(shape)) if len(shape) else 1
    return det_values(seed, name, n, a).reshape(shape).astype(dtype)


def det_init(module, seed, a):
    """Fill every parameter of a torch module, named as named_parameters() names it."""
    import torch
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(det_tensor(tuple(p.shape), seed, name, a, np.float64)).to(p.dtype))
