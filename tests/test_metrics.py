"""Metrics on known answers, empty-mask conventions, and post-processing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dermview import metrics as M
from dermview.errors import MaskError, ParameterError
from dermview.masks import boundary
from dermview.postprocess import (
    clean_mask,
    fill_holes,
    mask_from_prob,
    peak_region,
    threshold_mask,
)


def rect(shape, r0, r1, c0, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def test_known_overlap():
    # 10×10 image; pred = rows 0-3 (40 px), gt = rows 2-5 (40 px); overlap 20 px.
    pred = rect((10, 10), 0, 4, 0, 10)
    gt = rect((10, 10), 2, 6, 0, 10)
    assert M.confusion(pred, gt) == (20, 20, 20, 40)
    assert M.dice(pred, gt) == pytest.approx(0.5)
    assert M.jaccard(pred, gt) == pytest.approx(20 / 60)
    assert M.thresholded_jaccard(pred, gt) == 0.0
    assert M.pixel_accuracy(pred, gt) == pytest.approx(0.6)
    assert M.sensitivity(pred, gt) == pytest.approx(0.5)
    assert M.specificity(pred, gt) == pytest.approx(40 / 60)


def test_thresholded_jaccard_keeps_values_above_floor():
    gt = rect((20, 20), 0, 10, 0, 20)  # 200 px
    pred = rect((20, 20), 0, 8, 0, 20)  # 160 px inside gt → J = 0.8
    assert M.jaccard(pred, gt) == pytest.approx(0.8)
    assert M.thresholded_jaccard(pred, gt) == pytest.approx(0.8)
    assert M.thresholded_jaccard(pred, gt, floor=0.81) == 0.0
    # exactly at the floor counts: 13 of 20 ground-truth pixels, nothing else → J = 0.65
    g20 = rect((10, 10), 0, 2, 0, 10)
    p13 = rect((10, 10), 0, 1, 0, 10) | rect((10, 10), 1, 2, 0, 3)
    assert M.thresholded_jaccard(p13, g20) == pytest.approx(0.65)
    p12 = rect((10, 10), 0, 1, 0, 10) | rect((10, 10), 1, 2, 0, 2)
    assert M.thresholded_jaccard(p12, g20) == 0.0


def test_identical_and_disjoint():
    a = rect((30, 40), 5, 20, 5, 30)
    b = rect((30, 40), 22, 28, 32, 38)
    r = M.evaluate_masks(a, a)
    assert r["dice"] == r["jaccard"] == r["accuracy"] == r["sensitivity"] == r["specificity"] == 1
    assert r["boundary_mean_px"] == 0 and r["boundary_hd95_px"] == 0
    assert M.dice(a, b) == 0 and M.jaccard(a, b) == 0 and M.sensitivity(b, a) == 0


def test_dice_jaccard_relation_random():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.random((37, 53)) > 0.6
        g = rng.random((37, 53)) > 0.4
        d, j = M.dice(p, g), M.jaccard(p, g)
        assert d == pytest.approx(2 * j / (1 + j))
        inter, union = np.logical_and(p, g).sum(), np.logical_or(p, g).sum()
        assert j == pytest.approx(inter / union)


def test_empty_mask_conventions():
    empty = np.zeros((10, 12), bool)
    full = np.ones((10, 12), bool)
    some = rect((10, 12), 2, 5, 2, 5)
    r = M.evaluate_masks(empty, empty)
    assert r["dice"] == r["jaccard"] == r["thresholded_jaccard"] == 1.0
    assert r["sensitivity"] == r["specificity"] == r["accuracy"] == 1.0
    assert r["boundary_mean_px"] == 0.0
    assert M.dice(empty, some) == 0.0 and M.dice(some, empty) == 0.0
    assert M.sensitivity(some, empty) == 1.0  # nothing to miss
    assert M.specificity(empty, full) == 1.0  # no background to keep
    assert M.boundary_error(empty, some) == pytest.approx(math.hypot(10, 12))
    assert M.hausdorff95(some, empty) == pytest.approx(math.hypot(10, 12))


def test_boundary_error_known_shift():
    # Two 20-row bands across the whole width, shifted by 3 rows: every boundary pixel of one
    # is 3 px from the other's boundary, except at the left/right image edges (columns 0 and
    # W-1 are boundary too, where the distance is 0 inside the overlap).
    a = rect((60, 50), 10, 30, 0, 50)
    b = rect((60, 50), 13, 33, 0, 50)
    ca = boundary(a)
    assert ca[10].all() and ca[29].all() and ca[15, 0] and ca[15, 49] and not ca[15, 25]
    d = M.contour_distances(a, b)
    assert d is not None and d.max() == pytest.approx(3.0, abs=1e-3)
    # top and bottom rows (2 × 50 px per mask) are 3 px off, except within 3 px of the edge
    # columns, whose pixels are boundary too
    assert np.count_nonzero(np.isclose(d, 3.0, atol=1e-3)) >= 4 * (50 - 2 * 3)
    assert 2.0 < M.boundary_error(a, b) < 3.0
    assert M.hausdorff95(a, b) == pytest.approx(3.0, abs=1e-3)


def test_boundary_error_circle_radius_difference():
    yy, xx = np.mgrid[:201, :201]
    r = np.hypot(yy - 100, xx - 100)
    a, b = r <= 60, r <= 50
    assert M.boundary_error(a, b) == pytest.approx(10.0, abs=1.0)


def test_size_mismatch_is_a_mask_error():
    with pytest.raises(MaskError, match="differ in size"):
        M.dice(np.zeros((4, 5), bool), np.zeros((5, 4), bool))


def test_accepts_0_255_uint8():
    a = rect((8, 8), 0, 4, 0, 8).astype(np.uint8) * 255
    assert M.dice(a, a > 0) == 1.0


def test_macro_average():
    rows = [{k: 1.0 for k in M.METRIC_NAMES}, {k: 0.0 for k in M.METRIC_NAMES}]
    assert M.macro_average(rows) == {k: 0.5 for k in M.METRIC_NAMES}
    assert M.macro_average([]) == {}


# ------------------------------------------------------------------ post-processing


def test_threshold_mask():
    p = np.array([[0.1, 0.5], [0.49, 0.9]], np.float32)
    np.testing.assert_array_equal(threshold_mask(p, 0.5), [[False, True], [False, True]])
    with pytest.raises(ParameterError):
        threshold_mask(p, -0.1)


def test_fill_holes_keeps_border_background():
    m = rect((20, 20), 2, 12, 2, 12)
    m[5:8, 5:8] = False  # hole
    m[0:20, 15] = True  # a wall; the strip right of it touches the border → stays background
    f = fill_holes(m)
    assert f[6, 6] and not f[5, 18] and not f[15, 5]
    assert (f & ~m).sum() == 9


def test_clean_mask_keeps_largest_and_nearby():
    m = rect((100, 100), 10, 40, 10, 40)  # 900 px
    m[41:44, 10:20] = True  # 2 px below it (one empty row between)
    m[80:90, 80:90] = True  # far away: always removed
    c = clean_mask(m, merge_distance=3)
    assert c[42, 15] and not c[85, 85]
    assert c.sum() == 900 + 30
    c = clean_mask(m)  # default gap: 1% of the diagonal = 1.41 px
    assert c.sum() == 900
    assert not clean_mask(np.zeros((5, 5), bool)).any()


def test_mask_from_prob_falls_back_to_peak():
    p = np.zeros((50, 50), np.float32)
    p[20:30, 20:30] = 0.4  # below 0.5 but a clear peak
    p[22, 22] = 0.45
    m = mask_from_prob(p, 0.5)
    assert m.sum() == 100
    assert not mask_from_prob(p * 0.5, 0.5).any()  # peak 0.225 < MIN_PEAK: honest empty mask
    assert not mask_from_prob(p, 0.5, min_peak=2.0).any()
    assert peak_region(p).sum() == 100


def test_fill_holes_and_largest_component_match_scipy():
    ndi = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(7)
    for trial in range(30):
        noise = rng.random((40 + trial, 60)) > 0.55
        m = ndi.binary_opening(noise) | (rng.random(noise.shape) > 0.97)
        np.testing.assert_array_equal(fill_holes(m), ndi.binary_fill_holes(m))
        labels, n = ndi.label(m, structure=np.ones((3, 3)))
        if n == 0:
            assert not clean_mask(m).any()
            continue
        areas = np.bincount(labels.ravel())[1:]
        if (areas == areas.max()).sum() > 1:
            continue  # tie: either choice is right
        largest = labels == 1 + int(np.argmax(areas))
        np.testing.assert_array_equal(clean_mask(m, merge_distance=0),
                                      ndi.binary_fill_holes(largest))


def test_clean_mask_loop_and_vectorised_paths_agree(monkeypatch):
    import dermview.postprocess as P

    rng = np.random.default_rng(3)
    for _ in range(10):
        m = rng.random((80, 90)) > 0.7
        m[20:50, 20:60] = True
        ref = clean_mask(m, merge_distance=4.5)
        monkeypatch.setattr(P, "_LOOP_LIMIT", 0)
        np.testing.assert_array_equal(P.clean_mask(m, merge_distance=4.5), ref)
        monkeypatch.setattr(P, "_LOOP_LIMIT", 10**9)
        np.testing.assert_array_equal(P.clean_mask(m, merge_distance=4.5), ref)
