"""Grow from a seed (magic wand) on RGB: the region of similar colour connected to a click.

```python
dist = colour_distance(rgb, (row, col))            # once per seed (cache it while dragging)
region = grow_from_seed(rgb, (row, col), tolerance=12.0, distance=dist)
mask = apply_region(mask, region, add=True)        # add=False cuts it out
```

Similarity is the CIE76 colour difference ΔE (CIE L*a*b*, the unit a person sees: about 2.3
is just noticeable) between each pixel, lightly smoothed, and the mean colour of a small disc
around the seed; the region is the 8-connected part of ``ΔE ≤ tolerance`` that holds the seed.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Radius (px) of the disc whose mean colour the seed stands for.
SEED_RADIUS = 2


def colour_distance(rgb: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """float32 ``(H, W)`` ΔE (CIE76, L* in 0-100) of every pixel from the seed's colour.

    Args:
        rgb: uint8 ``(H, W, 3)``.
        seed: ``(row, col)`` inside the image.
    """
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    r, c = int(seed[0]), int(seed[1])
    if not (0 <= r < rgb.shape[0] and 0 <= c < rgb.shape[1]):
        raise ValueError(f"seed ({r}, {c}) is outside the {rgb.shape[0]}×{rgb.shape[1]} image")
    smooth = cv2.GaussianBlur(rgb, (3, 3), 0).astype(np.float32) / np.float32(255)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB)  # float input: L in 0-100, a/b in ±127
    disc = np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(disc, (c, r), SEED_RADIUS, 1, -1)
    ref = lab[disc.astype(bool)].mean(axis=0)
    return np.sqrt(((lab - ref) ** 2).sum(axis=2)).astype(np.float32)


def grow_from_seed(rgb: np.ndarray, seed: tuple[int, int], tolerance: float,
                   distance: np.ndarray | None = None) -> np.ndarray:
    """bool ``(H, W)``: pixels within ``tolerance`` ΔE of the seed's colour, 8-connected to it.

    Args:
        rgb: uint8 ``(H, W, 3)``.
        seed: ``(row, col)``.
        tolerance: ΔE ≥ 0 (0 = only the seed's exact colour; ~5-30 is useful on skin).
        distance: :func:`colour_distance` of this seed, if already computed.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    dist = colour_distance(rgb, seed) if distance is None else distance
    near = (dist <= np.float32(tolerance)).astype(np.uint8)
    r, c = int(seed[0]), int(seed[1])
    near[r, c] = 1
    _, labels = cv2.connectedComponents(near, connectivity=8)
    return labels == labels[r, c]


def apply_region(mask: np.ndarray, region: np.ndarray, add: bool = True) -> np.ndarray:
    """``mask | region`` (add) or ``mask & ~region`` (cut); bool ``(H, W)`` in and out."""
    mask = np.asarray(mask, bool)
    region = np.asarray(region, bool)
    if mask.shape != region.shape:
        raise ValueError(f"mask {mask.shape} and region {region.shape} differ in shape")
    return (mask | region) if add else (mask & ~region)
