"""Grow from a seed (magic wand) on RGB: the region of similar colour connected to a click.

```python
dist = SeedDistance(rgb, (row, col))               # once per seed (keep it while dragging)
region = grow_from_seed(rgb, (row, col), tolerance=12.0, distance=dist)
mask = apply_region(mask, region, add=True)        # add=False cuts it out
```

:class:`SeedDistance` measures ΔE only over a window round the seed, widened while the
region reaches its edge (the whole-image map, :func:`colour_distance`, took a second per
click on a 24-MP image); the region is the same.

Similarity is the CIE76 colour difference ΔE (CIE L*a*b*, the unit a person sees: about 2.3
is just noticeable) between each pixel, lightly smoothed, and the mean colour of a small disc
around the seed; the region is the 8-connected part of ``ΔE ≤ tolerance`` that holds the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from typing import Any

import cv2
import numpy as np

#: Radius (px) of the disc whose mean colour the seed stands for.
SEED_RADIUS = 2


def _check(rgb: np.ndarray, seed: tuple[int, int]) -> tuple[np.ndarray, int, int]:
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    r, c = int(seed[0]), int(seed[1])
    if not (0 <= r < rgb.shape[0] and 0 <= c < rgb.shape[1]):
        raise ValueError(f"seed ({r}, {c}) is outside the {rgb.shape[0]}×{rgb.shape[1]} image")
    return rgb, r, c


def _lab(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """float32 CIELAB of the lightly smoothed image inside ``box`` (r0, r1, c0, c1): the
    numbers the whole image's would have there (the blur reads one pixel beyond the box)."""
    r0, r1, c0, c1 = box
    h, w = rgb.shape[:2]
    p0, p1, q0, q1 = max(r0 - 1, 0), min(r1 + 1, h), max(c0 - 1, 0), min(c1 + 1, w)
    smooth = cv2.GaussianBlur(rgb[p0:p1, q0:q1], (3, 3), 0).astype(np.float32) / np.float32(255)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB)  # float input: L in 0-100, a/b in ±127
    return lab[r0 - p0:r1 - p0, c0 - q0:c1 - q0]


def _seed_colour(rgb: np.ndarray, r: int, c: int) -> np.ndarray:
    """Mean CIELAB of the disc of :data:`SEED_RADIUS` round the seed."""
    h, w = rgb.shape[:2]
    box = (max(r - SEED_RADIUS, 0), min(r + SEED_RADIUS + 1, h),
           max(c - SEED_RADIUS, 0), min(c + SEED_RADIUS + 1, w))
    disc = np.zeros((box[1] - box[0], box[3] - box[2]), np.uint8)
    cv2.circle(disc, (c - box[2], r - box[0]), SEED_RADIUS, 1, -1)
    return _lab(rgb, box)[disc.astype(bool)].mean(axis=0)


def _distance(lab: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """float32 ΔE of ``lab`` (h, w, 3) from ``ref`` (3,): ``sqrt(((lab - ref) ** 2).sum(2))``
    summed channel by channel in place (the same float32 operations, in the same order,
    without the (h, w, 3) temporaries)."""
    acc = None
    for k in range(3):
        d = np.subtract(lab[..., k], ref[k], dtype=np.float32)
        np.multiply(d, d, out=d)
        acc = d if acc is None else np.add(acc, d, out=acc)
    return np.sqrt(acc, out=acc)


def colour_distance(rgb: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """float32 ``(H, W)`` ΔE (CIE76, L* in 0-100) of every pixel from the seed's colour.

    Args:
        rgb: uint8 ``(H, W, 3)``.
        seed: ``(row, col)`` inside the image.
    """
    rgb, r, c = _check(rgb, seed)
    return _distance(_lab(rgb, (0, rgb.shape[0], 0, rgb.shape[1])), _seed_colour(rgb, r, c))


class SeedDistance:
    """:func:`colour_distance` of one seed, computed over a window round the seed (first
    ``window`` px square) that is widened, four times in area each time, while the region
    asked for reaches an edge of the window inside the image: the region is the one the
    whole image's map gives.

    Args:
        rgb: uint8 ``(H, W, 3)``.
        seed: ``(row, col)`` inside the image.
        window: side of the first window, px.
    """

    def __init__(self, rgb: np.ndarray, seed: tuple[int, int], window: int = 512) -> None:
        self.rgb, r, c = _check(rgb, seed)
        self.seed = (r, c)
        self.ref = _seed_colour(self.rgb, r, c)
        self._half = max(int(window) // 2, 2)
        self.box = (0, 0, 0, 0)
        self.dist = np.zeros((0, 0), np.float32)
        self._widen()

    def _widen(self) -> None:
        (r, c), k, (h, w) = self.seed, self._half, self.rgb.shape[:2]
        if 4 * k * k >= h * w / 4:  # a window near the image's size: take it whole at once
            k = max(h, w)
        self.box = (max(r - k, 0), min(r + k, h), max(c - k, 0), min(c + k, w))
        self.dist = _distance(_lab(self.rgb, self.box), self.ref)
        self._half *= 2

    @property
    def whole(self) -> bool:
        """The window is the whole image."""
        return self.box == (0, self.rgb.shape[0], 0, self.rgb.shape[1])

    def region(self, tolerance: float, widening: Callable[[], ContextManager[Any]] = nullcontext
               ) -> tuple[tuple[int, int], np.ndarray]:
        """``((row0, col0), bool (h, w))``: the grown region in its bounding box, whose top
        left is at ``(row0, col0)`` of the image; the window is widened inside
        ``with widening():`` (a wait cursor: the whole of a 24-MP image takes a second)."""
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        h, w = self.rgb.shape[:2]
        while True:
            r0, r1, c0, c1 = self.box
            near = (self.dist <= np.float32(tolerance)).astype(np.uint8)
            sr, sc = self.seed[0] - r0, self.seed[1] - c0
            near[sr, sc] = 1
            _, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
            i = labels[sr, sc]
            x, y = int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP])
            bw, bh = int(stats[i, cv2.CC_STAT_WIDTH]), int(stats[i, cv2.CC_STAT_HEIGHT])
            cut = ((r0 > 0 and y == 0) or (r1 < h and y + bh == r1 - r0)
                   or (c0 > 0 and x == 0) or (c1 < w and x + bw == c1 - c0))
            if not cut or self.whole:
                return (r0 + y, c0 + x), labels[y:y + bh, x:x + bw] == i
            with widening():
                self._widen()

    def full_region(self, tolerance: float,
                    widening: Callable[[], ContextManager[Any]] = nullcontext) -> np.ndarray:
        """bool ``(H, W)``: :meth:`region` in the whole image."""
        (r0, c0), region = self.region(tolerance, widening)
        out = np.zeros(self.rgb.shape[:2], bool)
        out[r0:r0 + region.shape[0], c0:c0 + region.shape[1]] = region
        return out


def grow_from_seed(rgb: np.ndarray, seed: tuple[int, int], tolerance: float,
                   distance: np.ndarray | SeedDistance | None = None) -> np.ndarray:
    """bool ``(H, W)``: pixels within ``tolerance`` ΔE of the seed's colour, 8-connected to it.

    Args:
        rgb: uint8 ``(H, W, 3)``.
        seed: ``(row, col)``.
        tolerance: ΔE ≥ 0 (0 = only the seed's exact colour; ~5-30 is useful on skin).
        distance: :func:`colour_distance` or :class:`SeedDistance` of this seed, if
            already computed.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if distance is None or isinstance(distance, SeedDistance):
        grower = SeedDistance(rgb, seed) if distance is None else distance
        return grower.full_region(tolerance)
    dist = distance
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
