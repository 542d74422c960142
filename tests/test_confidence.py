"""Confidence per mask: the baseline, the features and the shipped estimator."""

import numpy as np
import pytest

from dermview.confidence import (
    LinearEstimator,
    baseline_confidence,
    estimate_jaccard,
    mask_features,
    soft_jaccard,
)
from dermview.postprocess import mask_from_prob


def _disc(shape, r, c, radius):
    rr, cc = np.ogrid[:shape[0], :shape[1]]
    return (rr - r) ** 2 + (cc - c) ** 2 <= radius ** 2


def _crisp_prob():
    """A confident model: ~0.99 on a disc, ~0.01 elsewhere, a two-pixel soft edge."""
    import cv2

    lesion = _disc((192, 256), 96, 127.5, 50).astype(np.float32)
    return np.clip(cv2.GaussianBlur(lesion, (5, 5), 0), 0.01, 0.99)


def _unsure_prob():
    """An unsure model: a faint blob at 0.3-0.6 and a second half-believed blob."""
    p = np.full((192, 256), 0.02, np.float32)
    p[_disc(p.shape, 96, 90, 45)] = 0.55
    p[_disc(p.shape, 96, 190, 35)] = 0.4
    return p


def test_perfect_mask_scores_high_and_a_wrong_one_low():
    prob = _crisp_prob()
    good = mask_from_prob(prob, 0.5)
    wrong = _disc(prob.shape, 30, 30, 20)          # a mask somewhere else
    assert estimate_jaccard(prob, good) > 0.85
    assert estimate_jaccard(prob, wrong) < estimate_jaccard(prob, good) - 0.3
    unsure = _unsure_prob()
    assert estimate_jaccard(unsure, mask_from_prob(unsure, 0.5)) < estimate_jaccard(prob, good) - 0.1
    for p, m in ((prob, good), (prob, wrong), (unsure, unsure > 0.5)):
        assert 0.0 <= estimate_jaccard(p, m) <= 1.0


def test_baseline_and_soft_jaccard_values():
    p = np.array([[0.0, 1.0], [0.75, 0.25]], np.float32)
    # above 0.05: 1.0, 0.75, 0.25 → |p - 0.5| = 0.5, 0.25, 0.25 → mean 1/3, ×2
    assert baseline_confidence(p) == pytest.approx(2 / 3)
    assert baseline_confidence(np.zeros((3, 3), np.float32)) == 0.0
    m = p >= 0.5
    # Σ_mask p = 1.75; |mask| = 2; Σ_outside p = 0.25
    assert soft_jaccard(p, m) == pytest.approx(1.75 / 2.25)
    assert soft_jaccard(m.astype(np.float32), m) == pytest.approx(1.0)


def test_features_cover_flip_and_large_maps():
    prob = _crisp_prob()
    m = prob >= 0.5
    f = mask_features(prob, m, prob_flip=prob[:, ::-1].copy())
    assert f["flip_jaccard"] == pytest.approx(1.0, abs=0.02)   # a centred disc is symmetric
    assert f["components"] == 1 and 0.95 < f["solidity"] <= 1.0
    big = np.kron(prob, np.ones((8, 8), np.float32))           # 1536×2048: measured downscaled
    fb = mask_features(big, big >= 0.5)
    assert fb["soft_jaccard"] == pytest.approx(f["soft_jaccard"], abs=0.02)
    with pytest.raises(ValueError):
        mask_features(prob, m[:10])


def test_linear_estimator_round_trip():
    est = LinearEstimator(("a", "b"), (0.0, 1.0), (1.0, 2.0), (0.5, -0.5), 0.5)
    assert est({"a": 0.2, "b": 1.0}) == pytest.approx(0.6)
    assert est({"a": 10.0, "b": 1.0}) == 1.0                   # clipped to [0, 1]
    assert LinearEstimator.from_dict(est.to_dict()) == est
