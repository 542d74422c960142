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
