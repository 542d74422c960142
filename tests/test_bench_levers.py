"""The cross-validated choice of benchmarks/bench_levers.py (benchmarks/_levers_cv.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from _levers_cv import cv_choice, folds, objective, summary  # noqa: E402


def test_folds_are_stratified_by_source():
    sources = ["a"] * 50 + ["b"] * 10
    f = folds(sources, 5, seed=3)
    assert f.shape == (60,) and set(f.tolist()) == set(range(5))
    for k in range(5):
        assert (f[:50] == k).sum() == 10 and (f[50:] == k).sum() == 2
    assert not np.array_equal(f, folds(sources, 5, seed=4))


def test_summary_zeroes_failures():
    s = summary(np.array([0.8, 0.6]), np.array([0.9, 0.7]))
    assert s["failures"] == 1 and abs(s["thresholded_jaccard"] - 0.4) < 1e-12
    assert abs(s["dice"] - 0.8) < 1e-12


def test_objective_rules():
    jac = np.array([[0.95, 0.66], [0.6, 0.66], [0.95, 0.66], [0.95, 0.66]])
    # column 0: one failure but higher thresholded Jaccard; column 1: no failure
    assert objective(jac, "thr_jaccard").argmax() == 0
    assert objective(jac, "failures").argmax() == 1


def test_cv_choice_takes_the_better_allowed_variant_and_scores_held_out():
    rng = np.random.default_rng(0)
    n = 40
    good = rng.uniform(0.8, 0.9, n)
    jac = np.stack([good - 0.1, good, good + 0.05], axis=1)
    dic = 2 * jac / (1 + jac)
    sources = ["x"] * n
    allowed = np.array([True, True, False])
    hj, hd, chosen = cv_choice(jac, dic, sources, allowed)
    assert chosen == [1] * 5
    np.testing.assert_allclose(hj, good)
    np.testing.assert_allclose(hd, dic[:, 1])
    # a cost budget rules out the costly variant even when it is allowed
    cost = np.tile([1.0, 2.0, 1.0], (n, 1))
    _, _, chosen = cv_choice(jac, dic, sources, np.array([True, True, False]), cost=cost,
                             budget=1.5)
    assert chosen == [0] * 5


def _two_part_lesion_and_speck() -> tuple[np.ndarray, np.ndarray]:
    m = np.zeros((200, 200), bool)
    m[20:80, 20:80] = True     # 3600 px
    m[120:170, 110:160] = True  # 2500 px, far from the first: the second part of the lesion
    m[190:193, 5:8] = True     # 9 px speck
    prob = np.where(m, np.float32(0.9), np.float32(0.0))
    return m, prob


def test_share_clean_up_keeps_a_two_part_lesion_and_drops_a_speck():
    from bench_levers import keep_large

    from dermview.postprocess import clean_mask

    m, _ = _two_part_lesion_and_speck()
    assert clean_mask(m).sum() == 3600  # the app's clean-up cuts the far second part
    out = keep_large(m, 0.1)
    assert out[140, 130] and out[50, 50] and not out[191, 6]
    assert out.sum() == 3600 + 2500


def test_mass_clean_up_weighs_by_probability():
    from bench_levers import keep_mass

    m, prob = _two_part_lesion_and_speck()
    prob[120:170, 110:160] = 0.05  # the second part is barely lesion: its mass is small
    assert keep_mass(m, prob, 0.1).sum() == 3600
    prob[120:170, 110:160] = 0.9
    assert keep_mass(m, prob, 0.1).sum() == 3600 + 2500


def test_morphology_clean_up_closes_a_gap_and_keeps_a_mask_an_opening_would_erase():
    from bench_levers import morph_then_clean

    m = np.zeros((100, 100), bool)
    m[20:80, 20:49] = True
    m[20:80, 51:80] = True  # a 2-px slit
    closed = morph_then_clean(m, "close", 0.02)
    assert closed[50, 49] and closed[50, 50]
    thin = np.zeros((100, 100), bool)
    thin[50, 10:90] = True  # a 1-px line: an opening removes it all
    np.testing.assert_array_equal(morph_then_clean(thin, "open", 0.02), thin)
