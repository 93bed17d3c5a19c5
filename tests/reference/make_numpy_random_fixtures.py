#!/usr/bin/python3
"""Writes tests/fixtures/numpy_random/: streams of numpy's legacy np.random.RandomState, which
StyleGAN scripts use to turn a seed into a latent (RandomState(seed).randn(1, 512)). The C++
twin, vkgrad::NumpyRandomState (include/vkgrad/core/numpy_random.hpp), must match them bit for
bit, so everything is kept as float64 (raw 32-bit words as uint32).

Run with Debian's numpy:  /usr/bin/python3 tests/reference/make_numpy_random_fixtures.py
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "numpy_random")
SEEDS = list(range(10)) + [85, 2**32 - 1]


def init_genrand(seed):
    """MT19937's init_genrand key, to confirm that RandomState(int) seeds that way."""
    key = [seed]
    for i in range(1, 624):
        key.append((1812433253 * (key[-1] ^ (key[-1] >> 30)) + i) & 0xFFFFFFFF)
    return np.array(key, dtype=np.uint32)


def main():
    os.makedirs(OUT, exist_ok=True)
    for s in SEEDS:
        name, key, pos, has_gauss, _ = np.random.RandomState(s).get_state()
        assert name == "MT19937" and pos == 624 and has_gauss == 0
        assert np.array_equal(key, init_genrand(s)), f"seed {s}: not init_genrand"
        np.save(os.path.join(OUT, f"randn_seed{s}.npy"), np.random.RandomState(s).randn(1, 512))

    # randn continues one stream across calls, cached second normal included
    rs = np.random.RandomState(7)
    parts = np.concatenate([rs.randn(7), rs.randn(121)])
    full = np.random.RandomState(7).randn(4, 32)
    assert np.array_equal(parts, full.ravel())
    np.save(os.path.join(OUT, "randn_seed7_4x32.npy"), full)

    np.save(os.path.join(OUT, "random_sample_seed1.npy"), np.random.RandomState(1).random_sample(16))

    # The raw tempered MT19937 words. randint over the full uint32 range returns them unchanged.
    raw = np.random.RandomState(5)._bit_generator.random_raw(16).astype(np.uint32)
    assert np.array_equal(raw, np.random.RandomState(5).randint(0, 2**32, size=16, dtype=np.uint32))
    np.save(os.path.join(OUT, "randint_u32_seed5.npy"), raw)

    # An odd randn leaves a cached normal; random_sample draws past it and the next randn uses it.
    rs = np.random.RandomState(3)
    mixed = np.concatenate([rs.randn(3), rs.random_sample(4), rs.randn(3)])
    np.save(os.path.join(OUT, "mixed_seed3.npy"), mixed)
    print("numpy_random fixtures written (numpy", np.__version__ + ")")


if __name__ == "__main__":
    main()
