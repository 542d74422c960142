"""C: the dermoscopic colours in a lesion (white, red, light/dark brown, blue-grey, black).

Which colours are present: one logistic regression per colour
(:class:`~dermview.analysis.color_model.ColorModel`, ``AnalysisParams.color_model``) on
colour features of the lesion measured against the surrounding skin, pixel and region
statistics (:mod:`dermview.analysis.color_features`) on a copy blurred half as much as the
map's (``lesion.fine_lab``), each with its own decision cut, all fitted on the PH2 experts'
labels. The rule's C (``n_colors``) is the number of colours present (at least
1: the most likely one when none reaches its cut).

Where they are (the colour map, and the ``shares``): each lesion pixel (lightly smoothed) is
converted to CIELAB, shifted towards where it would be if the surrounding skin had the
reference skin colour (a white balance on the skin, by the fraction ``skin_balance``), and
named after the nearest colour prototype (``AnalysisParams.prototypes``) within
``color_max_distance`` ΔE; the map keeps the pixels of the colours present. Without a colour
model (``color_model=None``) a colour is present when its share reaches its
``color_min_share`` (the share rule, the benchmark's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermview.analysis.color_features import color_features
from dermview.analysis.params import COLOR_NAMES, AnalysisParams

#: CIELAB of normal skin under the dermatoscope the prototypes refer to (median skin colour
#: of the PH2 images); each image's skin is shifted onto it.
REFERENCE_SKIN: tuple[float, float, float] = (74.0, 13.0, 16.0)


@dataclass(frozen=True)
class Colors:
    """Colours found in the lesion.

    Attributes:
        shares: fraction (0-1) of the lesion each colour covers, COLOR_NAMES order.
        present: whether each colour reaches its minimum share.
        n_colors: how many are present (the rule's C; at least 1 for a lesion).
        labels: ``uint8`` ``(h, w)`` map of the analysed crop (analysis scale; see
            ``LesionAnalysis.color_labels`` for the full-size map): 0 = outside the lesion,
            unnamed or named after a colour not present, ``k`` = COLOR_NAMES[k-1].
        skin_lab: the skin colour (CIELAB) the image was balanced on.
    """

    shares: tuple[float, ...]
    present: tuple[bool, ...]
    n_colors: int
    labels: np.ndarray
    skin_lab: tuple[float, float, float]

    def as_dict(self) -> dict[str, bool]:
        return dict(zip(COLOR_NAMES, self.present, strict=True))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an RGB ``uint8`` image: ``float32`` ``(H, W, 3)``, L* 0-100."""
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def skin_colour(lab: np.ndarray, mask: np.ndarray, band_px: float) -> np.ndarray:
    """Median CIELAB of a ring of skin around the lesion (from ``band_px`` to ``2 band_px``
    px outside it; very dark pixels such as frame and hair left out); the median outside the
    lesion when the ring is empty, :data:`REFERENCE_SKIN` when that is too; shape (3,)."""
    import cv2

    k = max(1.0, float(band_px))
    dout = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    light = lab[..., 0] > 25
    ring = (dout > k) & (dout <= 2 * k) & light
    if ring.sum() < 20:
        ring = ~mask & light
    if ring.sum() < 20:
        return np.asarray(REFERENCE_SKIN, np.float32)
    return np.median(lab[ring], axis=0).astype(np.float32)


def name_pixels(lab: np.ndarray, skin: np.ndarray, params: AnalysisParams) -> np.ndarray:
    """Index (1..6, 0 = unnamed) of the nearest colour prototype of each CIELAB value, each
    prototype compared with the value balanced on the skin by that colour's ``skin_balance``;
    ``(..., 3)`` → ``uint8`` ``(...)``."""
    protos = np.asarray(params.prototypes, np.float32)
    bal = np.asarray(params.skin_balance, np.float32)[:, None]
    # comparing x + b_c (ref - skin) with p_c is comparing x with p_c - b_c (ref - skin)
    eff = protos - bal * (np.asarray(REFERENCE_SKIN, np.float32) - np.asarray(skin, np.float32))
    flat = lab.reshape(-1, 3).astype(np.float32)
    # |x - p|² = |x|² - 2 x·p + |p|²
    d2 = (flat * flat).sum(axis=1, keepdims=True) - 2 * flat @ eff.T + (eff * eff).sum(axis=1)
    idx = np.argmin(d2, axis=1)
    near = d2[np.arange(len(idx)), idx]
    out = (idx + 1).astype(np.uint8)
    out[near > params.color_max_distance ** 2] = 0
    return out.reshape(lab.shape[:-1])


def find_colors(lab: np.ndarray, mask: np.ndarray, params: AnalysisParams,
                skin: np.ndarray, feature_lab: np.ndarray | None = None) -> Colors:
    """Colours of the lesion.

    Args:
        lab: ``float32`` ``(h, w, 3)`` CIELAB of the (smoothed) image at the analysis scale.
        mask: ``bool`` ``(h, w)`` lesion at the same scale.
        params: prototypes and thresholds.
        skin: CIELAB of the surrounding skin (:func:`skin_colour`).
        feature_lab: CIELAB (same shape as ``lab``) the colour model's features are measured
            on (``lesion.fine_lab``, lighter smoothing); ``lab`` when not given.
    """
    pixels = lab[mask]
    names = name_pixels(pixels, skin, params)
    area = max(int(mask.sum()), 1)
    counts = np.bincount(names, minlength=len(COLOR_NAMES) + 1)[1:]
    shares = tuple(float(c) / area for c in counts)
    if params.color_model is not None:
        flab = lab if feature_lab is None else feature_lab
        margin = params.color_model.decision(color_features(flab, mask, skin))
        present = tuple(bool(m >= 0) for m in margin)
        best = int(np.argmax(margin))
    else:
        present = tuple(s >= t and s > 0 for s, t in zip(shares, params.color_min_share, strict=True))
        best = int(np.argmax(counts))
    if not any(present):  # a lesion has at least one colour: the most likely one
        present = tuple(i == best for i in range(len(COLOR_NAMES)))
    keep = np.r_[False, np.asarray(present, bool)]
    labels = np.zeros(mask.shape, np.uint8)
    labels[mask] = np.where(keep[names], names, 0)
    return Colors(shares, present, int(sum(present)), labels,
                  (float(skin[0]), float(skin[1]), float(skin[2])))
