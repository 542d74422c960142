"""Calibration maths on inputs with known answers: ECE, NLL and the fitted temperature."""

from __future__ import annotations

import numpy as np
import pytest

from dermview.model.calibration import expected_calibration_error, fit_temperature, nll


def test_ece_is_zero_when_confidence_matches_accuracy():
    # 10 cases at confidence 0.8, 8 of them right
    probs = np.tile([0.8, 0.1, 0.1], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_overconfident_and_mixed_bins():
    # all at confidence 1.0 but half wrong: ECE = 0.5
    probs = np.tile([1.0, 0.0, 0.0], (4, 1))
    assert expected_calibration_error(probs, np.array([0, 0, 1, 2])) == pytest.approx(0.5)
    # two bins: 2 cases at 0.9 (both right: gap 0.1), 2 at 0.5 (none right: gap 0.5) -> 0.3
    probs = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    assert expected_calibration_error(probs, np.array([0, 0, 1, 1])) == pytest.approx(0.3)
    assert expected_calibration_error(np.zeros((0, 3)), np.zeros(0, int)) == 0.0


def test_nll_of_uniform_logits_is_log_classes():
    assert nll(np.zeros((5, 3)), np.array([0, 1, 2, 0, 1])) == pytest.approx(np.log(3))
    assert nll(np.array([[2.0, 0.0]]), np.array([0]), temperature=2.0) == pytest.approx(
        np.log(1 + np.exp(-1.0)))


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_that_generated_the_labels(true_t):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, 3))
    p = np.exp(logits / true_t)
    p /= p.sum(1, keepdims=True)
    labels = (rng.random(len(p))[:, None] > p.cumsum(1)).sum(1)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.05)
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 1.1), nll(logits, labels, t / 1.1))
    # scaling lowers the ECE of these (mis-scaled unless T = 1) logits
    soft = np.exp(logits / t) / np.exp(logits / t).sum(1, keepdims=True)
    assert expected_calibration_error(soft, labels) < 0.02
