"""B: the border: irregularity of the outline and the abruptness of the pigment cut-off.

Shape: compactness ``P² / (4π A)`` (1 for a disc, larger for ragged outlines) and solidity
(area / area of the convex hull; both from :mod:`dermview.analysis.size`).

Abruptness (Stolz's B, 0-8): the border is cut into eighths by angle about the centroid,
starting at the major axis. In each eighth, the median lightness (CIELAB L*) is compared in
bands either side of the border: the *inner* step between the bands within ``d`` of it, the
*outer* step between the bands from ``d`` to ``3d`` (``d = border_band`` × equivalent
diameter). A sharp cut-off makes almost the whole step within ``d`` (ratio near 1); pigment
fading out gradually does not. An eighth is abrupt when ``inner / outer ≥ border_abrupt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermview.analysis.params import AnalysisParams
from dermview.analysis.size import Axes, Size

N_SECTORS = 8


@dataclass(frozen=True)
class Border:
    """Border measures.

    Attributes:
        compactness: ``P² / (4π A)`` ≥ about 1 (full-size mask).
        solidity: area / convex area, 0-1.
        abruptness: per eighth, the ratio of the inner to the outer lightness step, 0-1
            (``nan`` where an eighth has no skin outside it, e.g. at the image edge).
        abrupt: per eighth, whether the cut-off is abrupt.
        score: number of abrupt eighths, 0-8 (the rule's B).
    """

    compactness: float
    solidity: float
    abruptness: tuple[float, ...]
    abrupt: tuple[bool, ...]
    score: int


def _sector_of(rows: np.ndarray, cols: np.ndarray, axes: Axes) -> np.ndarray:
    """Eighth (0-7) of pixels (row, col) by their angle about the centroid from the major axis."""
    dr = rows.astype(np.float32) - axes.centroid[0]
    dc = cols.astype(np.float32) - axes.centroid[1]
    u = dr * axes.major[0] + dc * axes.major[1]
    v = dr * axes.minor[0] + dc * axes.minor[1]
    ang = np.arctan2(v, u)  # -pi..pi
    return ((ang + np.pi) / (2 * np.pi) * N_SECTORS).astype(np.int32) % N_SECTORS


def abruptness(light: np.ndarray, mask: np.ndarray, axes: Axes, band_px: float,
               valid: np.ndarray | None = None) -> tuple[float, ...]:
    """Inner/outer lightness-step ratio per eighth of the border (see the module docstring).

    Args:
        light: ``float32`` ``(h, w)`` lightness (L*, 0-100).
        mask: ``bool`` ``(h, w)`` lesion.
        axes: principal axes at this scale.
        band_px: ``d`` in px (≥ 1).
        valid: ``bool`` ``(h, w)`` pixels usable as skin (``None`` = all).
    """
    import cv2

    d = max(1.0, float(band_px))
    m8 = mask.astype(np.uint8)
    din = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    dout = cv2.distanceTransform(1 - m8, cv2.DIST_L2, 3)
    ok = np.ones(mask.shape, bool) if valid is None else valid
    bands = {
        "in1": mask & (din <= d), "out1": ~mask & (dout <= d) & ok,
        "in2": mask & (din > d) & (din <= 3 * d), "out2": ~mask & (dout > d) & (dout <= 3 * d) & ok,
    }
    sel = {}
    for k, b in bands.items():
        rows, cols = np.nonzero(b)
        sel[k] = (_sector_of(rows, cols, axes), light[rows, cols])
    out = []
    for k in range(N_SECTORS):
        med = {}
        for name, (sec, val) in sel.items():
            v = val[sec == k]
            med[name] = float(np.median(v)) if v.size >= 3 else np.nan
        inner = med["out1"] - med["in1"]
        outer = med["out2"] - med["in2"]
        if not np.isfinite(inner) or not np.isfinite(outer) or outer <= 1.0:
            out.append(float("nan") if not np.isfinite(outer) else 0.0)
            continue
        out.append(float(np.clip(inner / outer, 0.0, 1.0)))
    return tuple(out)


def assess_border(light: np.ndarray, mask: np.ndarray, axes: Axes, size: Size,
                  params: AnalysisParams, valid: np.ndarray | None = None) -> Border:
    """Border measures of a lesion.

    Args:
        light: ``float32`` ``(h, w)`` L* at the analysis scale; ``mask`` and ``axes`` at it too.
        size: the full-size measurements (compactness and solidity).
        params: ``border_band`` and ``border_abrupt``.
        valid: pixels usable as skin at the analysis scale (frame excluded), or ``None``.
    """
    compact = size.perimeter_px ** 2 / (4 * np.pi * size.area_px)
    solidity = min(1.0, size.area_px / size.convex_area_px) if size.convex_area_px > 0 else 1.0
    eq_d = float(np.sqrt(4 * mask.sum() / np.pi))
    ratios = abruptness(light, mask, axes, params.border_band * eq_d, valid)
    abrupt = tuple(bool(np.isfinite(r) and r >= params.border_abrupt) for r in ratios)
    return Border(compact, solidity, ratios, abrupt, int(sum(abrupt)))
