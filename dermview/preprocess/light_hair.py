"""Light (white / grey) hair: openings of the inverted lightness, low chroma, thin and long
(item 8 of :mod:`dermview.preprocess.hair`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from dermview.preprocess.components import _at_least, _grow, _thin_long
from dermview.preprocess.morphology import _valley
from dermview.preprocess.refine import _edge_need

if TYPE_CHECKING:
    from dermview.preprocess.hair import HairSettings


def _low_chroma(luv: np.ndarray, max_chroma: float) -> np.ndarray:
    """Bool per 8-bit LUV pixel ``(..., 3)``: chroma ``(u - 96)² + (v - 136)²`` <= ``max_chroma²``
    (white / grey: neutral u, v = 96, 136)."""
    uv = luv[..., 1:].astype(np.int32) - np.array([96, 136], np.int32)
    return (uv * uv).sum(axis=-1) <= int(max_chroma**2)


def light_hair(rgb: np.ndarray, diffs: tuple[np.ndarray, ...], along2: np.ndarray, clo: np.ndarray, mask: np.ndarray,
                seed_ok: np.ndarray, valid8: np.ndarray, s: HairSettings, k: int) -> tuple[int, np.ndarray | None]:
    """Light (white / grey) hair from channel 3 of the detection maps (the inverted lightness;
    ``diffs``: the difference image's channels, as :func:`cv2.split` gives them):
    adds its cells to ``mask`` (uint8, in place); returns (hairs found, per-cell light limit of
    the refinement or None)."""
    ratio10 = int(round(10 * s.trough_ratio))
    bright = diffs[3]  # L - opening(L)
    along_b = cv2.extractChannel(along2, 1)  # L - max_θ erosion_θ(L)
    lseeds = cv2.bitwise_and(_at_least(bright, s.light_t_high), _valley(along_b, cv2.max(bright, 1), ratio10))
    cv2.bitwise_and(lseeds, cv2.bitwise_not(mask), dst=lseeds)
    cv2.bitwise_and(lseeds, seed_ok, dst=lseeds)
    if not cv2.countNonZero(lseeds):
        return 0, None

    def white_or_grey(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Low chroma, on the brightest value of each channel in the cell."""
        luv_cells = cv2.cvtColor(_cell_max(rgb, r, c, k)[:, None, :], cv2.COLOR_RGB2Luv)[:, 0]
        return _low_chroma(luv_cells, s.light_max_chroma)

    lcores, n_light = _thin_long(lseeds, s.light_max_half_width / k, s.light_min_length / k, s.min_elongation,
                                 pixel_test=white_or_grey)
    if not n_light:
        return 0, None
    lallowed = cv2.bitwise_and(_at_least(bright, s.light_t_high / 2), valid8)
    cv2.bitwise_or(mask, _grow(lcores, lallowed, max(1, round(s.light_grow / k))), dst=mask)
    opened = cv2.bitwise_not(cv2.extractChannel(clo, 3))
    return n_light, cv2.add(opened, _edge_need(bright, s.light_edge_min, s.edge_fraction))



def _cell_max(rgb: np.ndarray, r: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Per-channel maximum of ``rgb`` over the k×k cells ``(r, c)`` (cells whose pixels all lie
    inside the image): uint8 ``(N, 3)``."""
    if k == 1:
        return rgb[r, c]
    w = rgb.shape[1]
    flat = rgb.reshape(-1, 3)
    i = 2 * r * w + 2 * c
    return np.maximum(np.maximum(flat[i], flat[i + 1]), np.maximum(flat[i + w], flat[i + w + 1]))

