#!/usr/bin/python3
"""Writes tests/fixtures/metrics: PSNR and SSIM from scikit-image (and the BasicSR Y-channel
convention) on small synthetic images and on real Kodak photographs from ../shared/data with
two degradations the C++ test rebuilds exactly; and the Fréchet distance from scipy's sqrtm.

Run with Debian's python3-skimage/python3-scipy:  /usr/bin/python3 tests/reference/make_metric_fixtures.py
"""
import os

import numpy as np
from PIL import Image
from scipy import linalg
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "metrics")
KODAK = os.path.join(HERE, "..", "..", "..", "shared", "data", "natural", "kodak24")


def luma(img):  # BT.601 on [0, 255] RGB -> Y in [16, 235], not rounded (BasicSR's to_y_channel)
    x = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def psnr_y(a, b):
    d = luma(a) - luma(b)
    return 10 * np.log10(255.0 ** 2 / np.mean(d * d))


def metrics(a, b):  # a, b uint8 [H, W, 3]
    return [peak_signal_noise_ratio(b, a, data_range=255), psnr_y(a, b),
            structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                  data_range=255, channel_axis=-1),
            structural_similarity(luma(a), luma(b), gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=255)]


def degrade(img, kind):  # rebuilt bit for bit by tests/test_metrics.cpp
    if kind == 0:  # a shift by (1, 2) pixels, wrapping around
        return np.roll(img, (1, 2), axis=(0, 1))
    h, w, _ = img.shape
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    noise = (y * 7 + x * 13 + c * 5) % 21 - 10
    return np.clip(img.astype(np.int64) + noise, 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, (37, 29, 3)).astype(np.uint8)
    b = np.clip(a.astype(np.int64) + rng.randint(-30, 31, a.shape), 0, 255).astype(np.uint8)
    np.save(os.path.join(OUT, "synthetic_a.npy"), a)
    np.save(os.path.join(OUT, "synthetic_b.npy"), b)
    np.save(os.path.join(OUT, "synthetic_metrics.npy"), np.array(metrics(a, b)))
    if os.path.isdir(KODAK):
        rows = []
        for name in ("kodim01.png", "kodim02.png", "kodim03.png"):
            img = np.asarray(Image.open(os.path.join(KODAK, name)).convert("RGB"))
            rows.append([metrics(degrade(img, k), img) for k in (0, 1)])
        np.save(os.path.join(OUT, "kodak_metrics.npy"), np.array(rows))  # [image, degradation, metric]
    else:
        print("../shared/data absent: kodak_metrics.npy not written")
    f1 = rng.randn(500, 24).astype(np.float32)
    f2 = (rng.randn(500, 24) @ (rng.randn(24, 24) * 0.3) + 0.5).astype(np.float32)
    np.save(os.path.join(OUT, "fid_f1.npy"), f1)
    np.save(os.path.join(OUT, "fid_f2.npy"), f2)
    x1, x2 = f1.astype(np.float64), f2.astype(np.float64)
    m1, m2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    d = m1 - m2
    np.save(os.path.join(OUT, "fid_value.npy"), np.array(d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
