#!/usr/bin/python3
"""Writes tests/fixtures/blur: images blurred by scipy.ndimage.convolve(mode='reflect') per
channel, the reference for vkgrad::data::blur_image (tests/test_motion_blur.cpp).

  img.npy, kernel.npy, blurred.npy              3x40x37 image, asymmetric 9x9 kernel
  small_img.npy, small_blurred.npy              2x5x3 image with the same kernel: the border
                                                extends further than the image (repeated reflection)

Run with Debian's python3-scipy:  /usr/bin/python3 tests/reference/make_blur_fixtures.py
"""
import os

import numpy as np
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "blur")


def blur(img, kernel):  # true convolution, 'reflect' = (d c b a | a b c d | d c b a), same size
    return np.stack([ndimage.convolve(c, kernel, mode="reflect") for c in img])


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240807)
    img = rng.uniform(0, 1, (3, 40, 37))
    img[:, 10:20, 5:15] += 0.5  # some structure, so a wrong border or orientation shows
    kernel = rng.uniform(0, 1, (9, 9)) ** 3
    kernel[:3, :] *= 4  # heavier at the top: asymmetric in both axes, so a flip shows
    kernel[:, :2] *= 3
    kernel /= kernel.sum()
    small = rng.uniform(0, 1, (2, 5, 3))
    arrays = {"img": img, "kernel": kernel, "blurred": blur(img, kernel),
              "small_img": small, "small_blurred": blur(small, kernel)}
    for name, a in arrays.items():
        np.save(os.path.join(OUT, name + ".npy"), a.astype(np.float64))
    print("wrote", ", ".join(sorted(arrays)), "to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
