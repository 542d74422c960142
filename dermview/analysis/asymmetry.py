"""A: asymmetry about the lesion's two principal axes, in shape and in colour (PH2 scale 0-2).

The lesion is rotated so that its principal axes lie along the rows and columns of a square
canvas centred on its centroid (``CANVAS`` px, the lesion scaled to fit), then mirrored
about each axis:

* shape score: the fraction of the lesion not covered by its mirror image (0 = symmetric);
* colour score: the mean CIELAB difference (ΔE) between each point and its mirror point,
  on the smoothed colours, where the lesion overlaps its mirror image.

An axis is asymmetric when ``shape + asym_color_weight × colour > asym_threshold``; the
asymmetry is the number of asymmetric axes: 0 symmetric about both, 1 about one, 2 about none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermview.analysis.params import AnalysisParams
from dermview.analysis.size import Axes

#: Side (px) of the canvas the lesion is mirrored on; the lesion spans about 90 % of it.
CANVAS = 128


@dataclass(frozen=True)
class Asymmetry:
    """Asymmetry scores about the (major, minor) principal axes.

    Attributes:
        shape: non-overlap of the lesion and its mirror image, 0-1, per axis.
        color: mean ΔE between mirrored points, per axis.
        score: the combined score per axis (``shape + weight × color``).
        asymmetric: whether each axis is asymmetric (score above the threshold).
        value: 0, 1 or 2, the number of asymmetric axes (PH2 / Stolz A).
    """

    shape: tuple[float, float]
    color: tuple[float, float]
    score: tuple[float, float]
    asymmetric: tuple[bool, bool]
    value: int


def canonical(image: np.ndarray, mask: np.ndarray, axes: Axes,
              size: int = CANVAS) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (``(h, w, C)`` float32) and ``mask`` warped onto a ``size``² canvas: the
    centroid at the centre, the major axis along the columns, the minor along the rows.

    Returns ``(image, mask)``: ``float32`` ``(size, size, C)`` and ``bool`` ``(size, size)``.
    """
    import cv2

    cr, cc = axes.centroid
    er, ec = axes.major
    ys, xs = np.nonzero(mask)
    reach = np.sqrt(((ys - cr) ** 2 + (xs - cc) ** 2).max()) + 1.0
    s = 0.45 * size / reach
    rot = np.array([[ec, er], [-er, ec]], np.float64)  # (x, y): major axis → +x
    centre = np.array([(size - 1) / 2, (size - 1) / 2])
    lin = s * rot
    off = centre - lin @ np.array([cc, cr])
    m = np.hstack([lin, off[:, None]]).astype(np.float64)
    warped = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    wmask = cv2.warpAffine(mask.astype(np.float32), m, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5
    if warped.ndim == 2:
        warped = warped[..., None]
    return warped, wmask


def mirror_scores(lab_c: np.ndarray, mask_c: np.ndarray) -> tuple[tuple[float, float],
                                                                    tuple[float, float]]:
    """Shape and colour asymmetry about the canvas's horizontal (major) and vertical (minor)
    centre lines; see the module docstring. Returns ``((shape_major, shape_minor),
    (color_major, color_minor))``."""
    area = max(int(mask_c.sum()), 1)
    shape, color = [], []
    for axis in (0, 1):  # flipping rows mirrors about the major axis (horizontal line)
        fm = np.flip(mask_c, axis=axis)
        shape.append(float((mask_c & ~fm).sum()) / area)
        both = mask_c & fm
        if both.any():
            diff = lab_c - np.flip(lab_c, axis=axis)
            color.append(float(np.sqrt((diff[both] ** 2).sum(axis=1)).mean()))
        else:
            color.append(0.0)
    return (shape[0], shape[1]), (color[0], color[1])


def assess_asymmetry(lab: np.ndarray, mask: np.ndarray, axes: Axes,
                     params: AnalysisParams) -> Asymmetry:
    """Asymmetry of the lesion (see the module docstring).

    Args:
        lab: ``float32`` ``(h, w, 3)`` smoothed CIELAB image at the analysis scale.
        mask: ``bool`` ``(h, w)`` lesion.
        axes: its principal axes at the same scale.
    """
    lab_c, mask_c = canonical(lab, mask, axes)
    shape, color = mirror_scores(lab_c, mask_c)
    w = params.asym_color_weight
    score = (shape[0] + w * color[0], shape[1] + w * color[1])
    asym = (score[0] > params.asym_threshold, score[1] > params.asym_threshold)
    return Asymmetry(shape, color, score, asym, int(sum(asym)))
