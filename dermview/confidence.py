"""Confidence per mask: an estimate, in ``[0, 1]``, of the Jaccard between a lesion mask and
what an expert would draw, from the probability map the model already produced.

```python
conf = estimate_jaccard(prob, mask)          # the shipped estimator (see below)
feats = mask_features(prob, mask)            # every candidate signal, by name
baseline_confidence(prob)                    # the one-line baseline
```

The candidates were compared on the segmenter's validation split by
``benchmarks/bench_refine.py`` (held-out ROC AUC for telling Jaccard < 0.65, Spearman with the
true Jaccard; results in ``docs/results/bench_refine.json``). The shipped estimator is
:data:`ESTIMATOR`. Everything here is numpy/OpenCV; no torch, no Qt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: Probability maps larger than this (long side, px) are measured on an area-downscaled copy.
WORK_SIDE = 512

#: The probability band counted as "the model is unsure".
UNSURE_LOW, UNSURE_HIGH = 0.1, 0.9


def _small(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        return arr
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(arr, size, interpolation=cv2.INTER_AREA)


def _check(prob: np.ndarray, mask: np.ndarray | None = None) -> None:
    if prob.ndim != 2:
        raise ValueError(f"a probability map must be 2-D, got shape {prob.shape}")
    if mask is not None and mask.shape != prob.shape:
        raise ValueError(f"mask {mask.shape} and probability {prob.shape} differ in shape")


def baseline_confidence(prob: np.ndarray) -> float:
    """The baseline: mean distance from 0.5 of the probabilities above 0.05, times 2 (so in
    ``[0, 1]``; 1 = every such pixel is 0 or 1). 0 when no pixel is above 0.05."""
    prob = np.asarray(prob, np.float32)
    _check(prob)
    sel = prob[prob > 0.05]
    return float(2.0 * np.abs(sel - 0.5).mean()) if sel.size else 0.0


def soft_jaccard(prob: np.ndarray, mask: np.ndarray) -> float:
    """Expected overlap of ``mask`` with a lesion drawn from ``prob``:
    ``Σ_mask p / (|mask| + Σ_outside p)``, in ``[0, 1]`` (1 when ``prob`` is the mask itself)."""
    p = _small(np.asarray(prob, np.float32))
    m = _small(np.asarray(mask, np.uint8)) > 0 if p.shape != mask.shape else np.asarray(mask, bool)
    inside = float(p[m].sum())
    den = float(m.sum()) + float(p[~m].sum())
    return inside / den if den > 0 else 1.0


def mask_features(prob: np.ndarray, mask: np.ndarray,
                  prob_flip: np.ndarray | None = None) -> dict[str, float]:
    """Every candidate signal for one mask, each a float (most in ``[0, 1]``).

    Args:
        prob: float ``(H, W)`` lesion probability in ``[0, 1]``.
        mask: bool ``(H, W)`` the mask to judge (usually thresholded + cleaned ``prob``).
        prob_flip: optional float ``(H, W)`` probability of the horizontally flipped image,
            flipped back; adds the flip-agreement features.

    Returns:
        ``baseline``, ``soft_jaccard``, ``unsure_ratio`` (pixels with p in the unsure band /
        mask pixels), ``band_mean`` (mean p inside the mask), ``outside_mass`` (Σ p outside the
        mask / mask pixels), ``area`` (mask fraction of the image), ``border`` (fraction of the
        image border the mask touches), ``solidity`` (mask area / convex hull area),
        ``components`` (number of connected regions of p ≥ 0.5), and with ``prob_flip``:
        ``flip_jaccard`` (Jaccard of the two thresholded maps), ``flip_diff`` (mean |p - p_flip|
        over the union of the two masks).
    """
    prob = np.asarray(prob, np.float32)
    mask = np.asarray(mask, bool)
    _check(prob, mask)
    p = _small(prob)
    m = (_small(mask.astype(np.uint8) * 255) >= 128) if p.shape != mask.shape else mask
    n = max(int(m.sum()), 1)
    unsure = (p > UNSURE_LOW) & (p < UNSURE_HIGH)
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
    n_comp = cv2.connectedComponents((p >= 0.5).view(np.uint8) if p.dtype == bool
                                     else (p >= 0.5).astype(np.uint8), connectivity=8)[0] - 1
    feats = {
        "baseline": baseline_confidence(p),
        "soft_jaccard": soft_jaccard(p, m),
        "unsure_ratio": float(unsure.sum()) / n,
        "band_mean": float(p[m].mean()) if m.any() else 0.0,
        "outside_mass": float(p[~m].sum()) / n,
        "area": float(m.mean()),
        "border": float(border.mean()),
        "solidity": _solidity(m),
        "components": float(n_comp),
    }
    if prob_flip is not None:
        q = _small(np.asarray(prob_flip, np.float32))
        a, b = p >= 0.5, q >= 0.5
        union = a | b
        feats["flip_jaccard"] = float((a & b).sum()) / max(int(union.sum()), 1)
        feats["flip_diff"] = float(np.abs(p - q)[union].mean()) if union.any() else 0.0
    return feats


def _solidity(mask: np.ndarray) -> float:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    hull = cv2.convexHull(np.concatenate(contours))
    hull_area = float(cv2.contourArea(hull))
    return min(1.0, float(mask.sum()) / hull_area) if hull_area > 0 else 0.0


@dataclass(frozen=True)
class LinearEstimator:
    """``clip(intercept + Σ coef_i · (x_i - mean_i) / scale_i, 0, 1)`` over named features,
    fitted by ``benchmarks/bench_refine.py`` (ridge regression on the validation split)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def __call__(self, feats: dict[str, float]) -> float:
        x = np.array([feats[k] for k in self.names], np.float64)
        z = (x - np.array(self.mean)) / np.array(self.scale)
        return float(np.clip(self.intercept + z @ np.array(self.coef), 0.0, 1.0))

    def to_dict(self) -> dict:
        return {"names": list(self.names), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> LinearEstimator:
        return cls(tuple(d["names"]), tuple(map(float, d["mean"])),
                   tuple(map(float, d["scale"])), tuple(map(float, d["coef"])),
                   float(d["intercept"]))

    @classmethod
    def load(cls, path: str | Path) -> LinearEstimator:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8"))["estimator"])


#: The shipped estimator: a ridge regression over :func:`mask_features` (probability-map
#: features only, no extra network pass), fitted by ``benchmarks/bench_refine.py
#: --write-estimator`` on the validation split.
ESTIMATOR_FILE = "confidence.json"

_ESTIMATOR: LinearEstimator | None = None


def _estimator() -> LinearEstimator:
    global _ESTIMATOR
    if _ESTIMATOR is None:
        from dermview.paths import models_dir

        _ESTIMATOR = LinearEstimator.load(models_dir() / ESTIMATOR_FILE)
    return _ESTIMATOR


def estimate_jaccard(prob: np.ndarray, mask: np.ndarray) -> float:
    """Estimated Jaccard, in ``[0, 1]``, between ``mask`` and an expert's outline.

    Args:
        prob: float ``(H, W)`` the segmenter's lesion probability, in ``[0, 1]``.
        mask: bool ``(H, W)`` the mask made from it.
    """
    return _estimator()(mask_features(prob, mask))
