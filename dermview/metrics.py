"""Segmentation metrics on boolean masks (vectorised numpy / OpenCV, no torch).

Conventions for empty masks (``pred`` = prediction, ``gt`` = ground truth, both ``bool``
``(H, W)`` of the same shape):

- Dice and Jaccard: 1.0 when both masks are empty (perfect agreement), 0.0 when only one is.
- Sensitivity (recall of lesion pixels): 1.0 when ``gt`` has no lesion (nothing to miss).
- Specificity (recall of background): 1.0 when ``gt`` has no background.
- Boundary distances: 0.0 when both masks are empty; the image diagonal (the worst possible
  value) when exactly one is empty.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from dermview.errors import MaskError
from dermview.masks import boundary

#: ISIC 2018 challenge: a Jaccard index below this scores 0.
ISIC_JACCARD_FLOOR = 0.65

#: Metric names in report order (keys of :func:`evaluate_masks`).
METRIC_NAMES = (
    "dice", "jaccard", "thresholded_jaccard", "accuracy", "sensitivity", "specificity",
    "boundary_mean_px", "boundary_hd95_px",
)
#: The metrics of :data:`METRIC_NAMES` for which lower is better (distances in px).
LOWER_IS_BETTER = frozenset({"boundary_mean_px", "boundary_hd95_px"})


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise MaskError(
            f"Masks differ in size: prediction {pred.shape[::-1]} vs ground truth "
            f"{gt.shape[::-1]} (width×height); they cannot be compared"
        )
    return pred.astype(bool, copy=False), gt.astype(bool, copy=False)


def confusion(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int, int]:
    """Pixel counts ``(tp, fp, fn, tn)`` of lesion (True) vs background."""
    pred, gt = _pair(pred, gt)
    n = pred.size
    p = int(np.count_nonzero(pred))
    g = int(np.count_nonzero(gt))
    tp = int(np.count_nonzero(pred & gt))
    return tp, p - tp, g - tp, n - p - g + tp


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice coefficient ``2|P∩G| / (|P|+|G|)`` in ``[0, 1]``; 1.0 when both are empty."""
    tp, fp, fn, _ = confusion(pred, gt)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """Jaccard index (IoU) ``|P∩G| / |P∪G|`` in ``[0, 1]``; 1.0 when both are empty."""
    tp, fp, fn, _ = confusion(pred, gt)
    return _ratio(tp, tp + fp + fn)


def thresholded_jaccard(pred: np.ndarray, gt: np.ndarray,
                        floor: float = ISIC_JACCARD_FLOOR) -> float:
    """Jaccard index, set to 0 when below ``floor`` (0.65, as the ISIC challenge scores)."""
    j = jaccard(pred, gt)
    return j if j >= floor else 0.0


def pixel_accuracy(pred: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of pixels labelled correctly, in ``[0, 1]``."""
    tp, fp, fn, tn = confusion(pred, gt)
    return _ratio(tp + tn, tp + fp + fn + tn)


def sensitivity(pred: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of lesion pixels found ``tp / (tp + fn)``; 1.0 when ``gt`` is empty."""
    tp, _, fn, _ = confusion(pred, gt)
    return _ratio(tp, tp + fn)


def specificity(pred: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of background pixels kept ``tn / (tn + fp)``; 1.0 when ``gt`` is all lesion."""
    _, fp, _, tn = confusion(pred, gt)
    return _ratio(tn, tn + fp)


def contour_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray | None:
    """Distances in pixels from each boundary pixel of one mask to the nearest boundary pixel of
    the other, both directions concatenated (``float32``). ``None`` if a mask is empty."""
    pred, gt = _pair(pred, gt)
    cp, cg = boundary(pred), boundary(gt)
    if not cp.any() or not cg.any():
        return None
    # distanceTransform gives each pixel's distance to the nearest zero pixel.
    d_to_g = cv2.distanceTransform((~cg).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_to_p = cv2.distanceTransform((~cp).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.concatenate([d_to_g[cp], d_to_p[cg]])


def _boundary(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    pred, gt = _pair(pred, gt)
    pe, ge = not pred.any(), not gt.any()
    if pe and ge:
        return 0.0, 0.0
    if pe or ge:
        worst = math.hypot(*pred.shape)
        return worst, worst
    d = contour_distances(pred, gt)
    assert d is not None
    return float(d.mean()), float(np.percentile(d, 95))


def boundary_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean symmetric contour distance in pixels (0 = identical outlines)."""
    return _boundary(pred, gt)[0]


def hausdorff95(pred: np.ndarray, gt: np.ndarray) -> float:
    """95th percentile of the symmetric contour distances in pixels."""
    return _boundary(pred, gt)[1]


def evaluate_masks(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one prediction/ground-truth pair."""
    tp, fp, fn, tn = confusion(pred, gt)
    j = _ratio(tp, tp + fp + fn)
    mean_d, hd95 = _boundary(pred, gt)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "jaccard": j,
        "thresholded_jaccard": j if j >= ISIC_JACCARD_FLOOR else 0.0,
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "boundary_mean_px": mean_d,
        "boundary_hd95_px": hd95,
    }


def macro_average(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over images (each image counts once). Empty input → empty dict."""
    if not rows:
        return {}
    return {k: float(np.mean([r[k] for r in rows])) for k in METRIC_NAMES if k in rows[0]}
