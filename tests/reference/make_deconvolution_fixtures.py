#!/usr/bin/python3
"""Writes tests/fixtures/blur/deconv_*.npy: the reference for vkgrad::data::deconvolve
(tests/test_deconvolution.cpp), computed another way than vkgrad computes it.

deconvolve(y, k, x_R, lam) is defined as the minimiser of |k * x - y|^2 + lam |x - x_R|^2 over
images x on a P x Q torus that holds y and x_R extended by reflection (scipy's 'reflect':
d c b a | a b c d | d c b a, repeated), the image at offset (pad, pad) with pad = k's size and
P = the smallest 2,3,5-smooth size >= H + 2 pad (likewise Q); the answer is x's H x W window
there. vkgrad solves it per frequency with FFTs; here the normal equations
(K^T K + lam I) x = K^T y + lam x_R are solved in the pixel domain by conjugate gradients, with
K applied as a circular convolution (scipy.ndimage.convolve, mode='wrap').

  deconv_prior.npy     3x40x37 prior x_R (random, smooth-ish)
  deconv_expected.npy  deconvolve(blurred.npy, kernel.npy, deconv_prior.npy, 0.05)

Uses img/kernel/blurred.npy from make_blur_fixtures.py. Run with Debian's python3-scipy:
  /usr/bin/python3 tests/reference/make_deconvolution_fixtures.py
"""
import os

import numpy as np
from scipy import ndimage
from scipy.sparse.linalg import LinearOperator, cg

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "blur")
LAM = 0.05


def smooth_size(n):  # smallest m >= n with prime factors 2, 3, 5 only
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def reflect_index(p, n):
    p %= 2 * n
    return p if p < n else 2 * n - 1 - p


def deconvolve(y, k, prior, lam):
    C, H, W = y.shape
    pad = k.shape[0]
    P, Q = smooth_size(H + 2 * pad), smooth_size(W + 2 * pad)
    rows = [reflect_index(i - pad, H) for i in range(P)]
    cols = [reflect_index(j - pad, W) for j in range(Q)]
    out = np.empty_like(y)
    for c in range(C):
        yt, pt = y[c][np.ix_(rows, cols)], prior[c][np.ix_(rows, cols)]
        K = lambda x: ndimage.convolve(x, k, mode="wrap")
        Kt = lambda x: ndimage.correlate(x, k, mode="wrap")
        A = LinearOperator((P * Q, P * Q), dtype=np.float64,
                           matvec=lambda v: (Kt(K(v.reshape(P, Q))) + lam * v.reshape(P, Q)).ravel())
        b = (Kt(yt) + lam * pt).ravel()
        x, info = cg(A, b, x0=pt.ravel(), tol=1e-14, atol=0, maxiter=5000)
        assert info == 0, info
        out[c] = x.reshape(P, Q)[pad:pad + H, pad:pad + W]
    return out


def main():
    y = np.load(os.path.join(OUT, "blurred.npy"))
    k = np.load(os.path.join(OUT, "kernel.npy"))
    rng = np.random.default_rng(20261202)
    prior = ndimage.uniform_filter(rng.uniform(0, 1, y.shape), size=(1, 3, 3))
    expected = deconvolve(y, k, prior, LAM)
    np.save(os.path.join(OUT, "deconv_prior.npy"), prior.astype(np.float64))
    np.save(os.path.join(OUT, "deconv_expected.npy"), expected.astype(np.float64))
    print("wrote deconv_prior, deconv_expected to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
