"""Synthetic lesions of three kinds for the classifier tests."""

from __future__ import annotations

import numpy as np


def synthetic_lesions(n_per_class: int = 3, size: int = 64, seed: int = 0):
    """Three kinds of lesion on noisy skin: dark round, light brown with bright streaks,
    blue-grey blotchy. Returns uint8 images (N, S, S, 3), bool masks (N, S, S), labels (N,)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    imgs, masks, labels = [], [], []
    for c in range(3):
        for _ in range(n_per_class):
            cy, cx = rng.uniform(0.4, 0.6, 2) * size
            r = rng.uniform(0.2, 0.3) * size
            m = (ys - cy) ** 2 + (xs - cx) ** 2 < r * r
            img = np.full((size, size, 3), (225, 185, 165), np.float64)
            img += rng.normal(0, 6, img.shape)
            if c == 0:
                img[m] = (60, 35, 30)
            elif c == 1:
                img[m] = (170, 120, 80)
                img[m & ((xs // 3) % 2 == 0)] = (245, 235, 200)
            else:
                blot = rng.random((size // 8, size // 8)) > 0.5
                blot = np.kron(blot, np.ones((8, 8), bool))
                img[m] = (110, 120, 150)
                img[m & blot] = (40, 50, 90)
            imgs.append(np.clip(img, 0, 255).astype(np.uint8))
            masks.append(m)
            labels.append(c)
    return np.stack(imgs), np.stack(masks), np.array(labels)
