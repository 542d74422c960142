"""From a lesion probability map to a clean lesion mask (pure numpy / OpenCV, no torch).

``mask_from_prob(prob, t)`` = threshold, keep the lesion (largest component and the pieces
close to it), fill its holes; if nothing passes the threshold but the map still has a clear
peak, the region around the peak is returned instead of an empty mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from dermview.errors import ParameterError
from dermview.masks import fill_holes

#: Default gap, as a fraction of the image diagonal, within which other components are kept
#: together with the largest one (a lesion split by a thin bright band stays whole).
MERGE_FRACTION = 0.01

#: A probability map whose maximum is at least this is taken to have a lesion even when
#: nothing passes the threshold.
MIN_PEAK = 0.25


def _check_prob(prob: np.ndarray) -> np.ndarray:
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise ValueError(f"a probability map must be 2-D, got shape {prob.shape}")
    return prob


def threshold_mask(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Lesion mask ``prob >= threshold``.

    Args:
        prob: ``(H, W)`` float probabilities in ``[0, 1]``.
        threshold: in ``[0, 1]``.

    Returns:
        ``bool`` ``(H, W)``.
    """
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ParameterError(f"The threshold must be between 0 and 1, got {threshold}")
    return _check_prob(prob) >= np.float32(threshold)


#: Above this many components, :func:`clean_mask` decides with whole-image array operations
#: instead of a loop over component bounding boxes.
_LOOP_LIMIT = 256


def clean_mask(mask: np.ndarray, merge_distance: float | None = None,
               fill: bool = True) -> np.ndarray:
    """Keep the lesion: the largest 8-connected component plus every component that comes
    within ``merge_distance`` pixels of it; then fill holes.

    Work is proportional to the image once (labelling) plus the area around the largest
    component and the bounding boxes of the others, so 24 MP masks stay fast.

    Args:
        mask: ``bool`` ``(H, W)``.
        merge_distance: in pixels; default 1% of the image diagonal (about 6 px at 512×384).
        fill: fill holes (background not connected to the border).

    Returns:
        ``bool`` ``(H, W)``; empty when ``mask`` is empty.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    if not mask.any():
        return np.zeros_like(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    out = mask.copy()
    if n > 2:
        if merge_distance is None:
            merge_distance = MERGE_FRACTION * float(np.hypot(*mask.shape))
        big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        h, w = mask.shape
        reach = int(np.ceil(merge_distance)) + 1
        x, y, bw, bh = (int(v) for v in stats[big, :4])
        y0, y1 = max(0, y - reach), min(h, y + bh + reach)
        x0, x1 = max(0, x - reach), min(w, x + bw + reach)
        # Distance of every pixel near the largest component to it; nothing outside this box
        # can be within merge_distance.
        dist = cv2.distanceTransform((labels[y0:y1, x0:x1] != big).view(np.uint8),
                                     cv2.DIST_L2, cv2.DIST_MASK_5)
        near = dist <= merge_distance
        if n - 2 > _LOOP_LIMIT:
            keep = np.zeros(n, dtype=bool)
            keep[np.unique(labels[y0:y1, x0:x1][near])] = True
            keep[0] = False
            out = keep[labels]
        else:
            for k in range(1, n):
                if k == big:
                    continue
                kx, ky, kw, kh = (int(v) for v in stats[k, :4])
                iy0, iy1 = max(ky, y0), min(ky + kh, y1)
                ix0, ix1 = max(kx, x0), min(kx + kw, x1)
                if iy0 < iy1 and ix0 < ix1:
                    own = labels[iy0:iy1, ix0:ix1] == k
                    if near[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0][own].any():
                        continue
                box = out[ky:ky + kh, kx:kx + kw]
                box[labels[ky:ky + kh, kx:kx + kw] == k] = False
    return fill_holes(out) if fill else out


def peak_region(prob: np.ndarray, min_peak: float = MIN_PEAK) -> np.ndarray:
    """The region around the maximum of ``prob``: pixels at least half the peak value,
    8-connected to the peak. Empty when the peak is below ``min_peak``."""
    prob = _check_prob(prob)
    peak = float(prob.max()) if prob.size else 0.0
    if peak < min_peak:
        return np.zeros(prob.shape, dtype=bool)
    region = prob >= np.float32(0.5 * peak)
    _, labels = cv2.connectedComponents(region.view(np.uint8), connectivity=8)
    r, c = np.unravel_index(int(np.argmax(prob)), prob.shape)
    return labels == labels[r, c]


def mask_from_prob(prob: np.ndarray, threshold: float = 0.5, clean: bool = True,
                   min_peak: float = MIN_PEAK) -> np.ndarray:
    """Threshold a probability map and (optionally) clean the result.

    When nothing passes the threshold but ``prob`` peaks at ``min_peak`` or more, the
    :func:`peak_region` is returned, so a faint lesion still yields a mask to correct.
    Set ``min_peak`` above 1 to allow empty masks.

    Returns:
        ``bool`` ``(H, W)``.
    """
    mask = threshold_mask(prob, threshold)
    if not mask.any():
        mask = peak_region(prob, min_peak)
    return clean_mask(mask) if clean else mask
