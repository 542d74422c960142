"""Probability calibration: temperature scaling (Guo et al. 2017) and the expected calibration
error. numpy in, numpy out."""

from __future__ import annotations

import numpy as np


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: ``Σ_b (n_b / N) · |accuracy_b − mean confidence_b|`` over ``n_bins``
    equal-width confidence bins ``(lo, hi]`` (the first bin includes 0).

    Args:
        probs: ``(N, C)`` class probabilities (rows sum to 1).
        labels: ``(N,)`` true class indices.

    Returns:
        ECE in [0, 1] (0 for an empty input).
    """
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)`` (nats)."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), np.asarray(labels)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
                    ) -> float:
    """The temperature ``T > 0`` that minimises the NLL of ``softmax(logits / T)`` on held-out
    ``(N, C)`` logits with ``(N,)`` labels. The NLL is minimised over ``log T`` by golden-section
    search within ``bounds`` (it is convex in ``1/T``, so unimodal in ``log T``), to a relative
    precision of ~1e-6."""
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo + (1 - g) * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    while hi - lo > 1e-6:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - g) * (hi - lo)
            fa = nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2.0))
