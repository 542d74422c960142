"""Back to the analysis scale: the full-resolution hair mask from the hair cells of a 2×
detection (item 9 of :mod:`dermview.preprocess.hair`), and the grey-lightness tables it uses."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from dermview.preprocess.hair import HairSettings

_NEAR = np.ones((3, 3), np.uint8)


def _grey_lightness() -> np.ndarray:
    """LUT: 8-bit LUV lightness L of the neutral grey (v, v, v), v = 0-255 (OpenCV's own)."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)
    return np.ascontiguousarray(cv2.cvtColor(ramp, cv2.COLOR_RGB2Luv)[:, 0, 0])


#: L of the neutral grey of each luma value ("grey lightness": exact for neutral colours, within
#: a few levels of LUV L for skin and hair colours): the lightness of the light-hair cells and
#: of the refinement, where a full-size LUV conversion would cost more than the whole detection.
_GREY_L = _grey_lightness()
_LEVELS = np.arange(256)
#: Per L level l: 1 + the largest luma whose grey has L <= l (luma < this <=> L <= l).
_LUMA_BELOW = np.minimum(np.searchsorted(_GREY_L, _LEVELS, side="right"), 255).astype(np.uint8)
#: Per L level l: the smallest luma whose grey has L >= l, minus 1 (luma > this <=> L >= l).
_LUMA_ABOVE = np.maximum(np.searchsorted(_GREY_L, _LEVELS, side="left") - 1, 0).astype(np.uint8)


def _dark_limit(clo_l: np.ndarray, d_l: np.ndarray, fine_cells: np.ndarray | None, s: HairSettings) -> np.ndarray:
    """Per-cell L (uint8) at or below which a full-scale pixel of a dark hair cell is hair: the
    closing less the needed depth; in the cells only the fine pass found (``fine_cells``), the
    more permissive of that and a share of the background (a faint hair's pixels are a share
    of the background darker, not a depth)."""
    limit = cv2.subtract(clo_l, _edge_need(d_l, s.edge_min, s.edge_fraction))
    if fine_cells is not None:
        need = cv2.max(cv2.multiply(clo_l, s.fine_edge_rel, dtype=cv2.CV_8U), float(s.fine_edge_min))
        cv2.max(need, _edge_need(d_l, 0.0, s.fine_edge_fraction), dst=need)
        cv2.max(limit, cv2.bitwise_and(cv2.subtract(clo_l, need), fine_cells), dst=limit)
    return limit



def _edge_need(depth: np.ndarray, minimum: float, fraction: float) -> np.ndarray:
    """uint8 per cell: ``max(minimum, fraction × the largest depth within one cell)``."""
    return cv2.LUT(cv2.dilate(depth, _NEAR), _need_lut(minimum, fraction))


@functools.lru_cache(maxsize=8)
def _need_lut(minimum: float, fraction: float) -> np.ndarray:
    return np.clip(np.maximum(np.round(fraction * np.arange(256)), minimum), 0, 255).astype(np.uint8)


def _refine(
    luma: np.ndarray, cells8: np.ndarray, dark_limit: np.ndarray, light_limit: np.ndarray | None
) -> np.ndarray:
    """Hair mask at the analysis scale from the hair cells (uint8 0/255) of a 2× detection.

    A pixel of a hair cell is hair when its grey lightness (:data:`_GREY_L`; compared as
    ``luma`` uint8 ``(H, W)`` against the limits mapped to luma) is at most the cell's
    ``dark_limit`` (< 255) or at least its ``light_limit`` (> 0; uint8 L per cell). Even and odd rows are
    compared separately against the limits widened to W columns (no full-size upsampling).
    Returns bool ``(H, W)``.
    """
    h, w = luma.shape
    hk = cells8.shape[0]

    def wide(cells: np.ndarray) -> np.ndarray:  # each cell over its two columns
        return cv2.resize(cells, (w, hk), interpolation=cv2.INTER_NEAREST)

    # Hair where luma < below or luma > above; outside hair cells below = 0, above = 255: never.
    below = wide(cv2.bitwise_and(cv2.LUT(dark_limit, _LUMA_BELOW), cells8))
    out = np.empty((h, w), np.uint8)
    if light_limit is None:
        for r in (0, 1):
            cv2.compare(luma[r::2], below[: (h - r + 1) // 2], cv2.CMP_LT, dst=out[r::2])
        return cv2.threshold(out, 0, 1, cv2.THRESH_BINARY, dst=out)[1].view(bool)
    above = wide(cv2.bitwise_or(cv2.LUT(light_limit, _LUMA_ABOVE), cv2.bitwise_not(cells8)))
    for r in (0, 1):
        n = (h - r + 1) // 2
        cv2.inRange(luma[r::2], below[:n], above[:n], dst=out[r::2])
    return cv2.threshold(out, 0, 1, cv2.THRESH_BINARY_INV, dst=out)[1].view(bool)
