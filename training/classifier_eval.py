"""Classifier metrics shared by the training script, the benchmark and the model card:
one-vs-rest ROC AUC with percentile-bootstrap intervals, operating points, balanced accuracy,
calibration (scikit-learn for the ROC maths)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, roc_curve

from dermview.model.calibration import expected_calibration_error

MEL, SK, NEV = 0, 1, 2


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``scores`` for the bool ``positive`` labels (NaN when one class is absent)."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, scores))


def auc_ci(scores: np.ndarray, positive: np.ndarray, n_boot: int = 2000, seed: int = 0,
           level: float = 0.95) -> dict[str, float]:
    """AUC and its percentile-bootstrap interval (resampling cases with replacement;
    resamples with one class only are skipped). Returns ``{auc, lo, hi, n, n_pos}``."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    rng = np.random.default_rng(seed)
    n = len(scores)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        p = positive[idx]
        if p.any() and not p.all():
            boots.append(roc_auc_score(p, scores[idx]))
    a = (1.0 - level) / 2.0
    lo, hi = (np.quantile(boots, [a, 1.0 - a]) if boots else (np.nan, np.nan))
    return {"auc": auc(scores, positive), "lo": float(lo), "hi": float(hi), "n": int(n),
            "n_pos": int(positive.sum())}


def sensitivity_at_specificity(scores: np.ndarray, positive: np.ndarray, spec: float) -> float:
    """Highest sensitivity over ROC operating points with specificity ≥ ``spec``."""
    fpr, tpr, _ = roc_curve(np.asarray(positive, bool), scores)
    ok = (1.0 - fpr) >= spec - 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def specificity_at_sensitivity(scores: np.ndarray, positive: np.ndarray, sens: float) -> float:
    """Highest specificity over ROC operating points with sensitivity ≥ ``sens``."""
    fpr, tpr, _ = roc_curve(np.asarray(positive, bool), scores)
    ok = tpr >= sens - 1e-12
    return float((1.0 - fpr[ok]).max()) if ok.any() else 0.0


def summarise(probs: np.ndarray, labels: np.ndarray, n_boot: int = 2000, seed: int = 0,
              specs: tuple[float, ...] = (0.8, 0.9, 0.95)) -> dict[str, Any]:
    """All classifier metrics of ``(N, 3)`` probabilities (melanoma, SK, naevus) against
    ``(N,)`` class indices: per-class one-vs-rest AUC with CIs, mean of the melanoma and SK
    AUCs (the ISIC 2017 score), balanced accuracy of the arg-max, ECE, sensitivities at fixed
    specificities and the specificity at 95 % melanoma sensitivity."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    out: dict[str, Any] = {"n": int(len(labels)),
                           "class_counts": [int((labels == c).sum()) for c in range(3)]}
    names = ("melanoma", "seborrheic_keratosis", "nevus")
    for c, name in enumerate(names):
        pos = labels == c
        entry = auc_ci(probs[:, c], pos, n_boot, seed + c)
        if pos.any() and not pos.all():
            entry["sensitivity_at_specificity"] = {
                f"{s:.2f}": sensitivity_at_specificity(probs[:, c], pos, s) for s in specs}
        out[f"auc_{name}"] = entry
    out["auc_mean_mel_sk"] = float(np.nanmean([out["auc_melanoma"]["auc"],
                                               out["auc_seborrheic_keratosis"]["auc"]]))
    present = np.unique(labels)
    out["balanced_accuracy"] = float(balanced_accuracy_score(labels, probs.argmax(1))) \
        if len(present) > 1 else float("nan")
    out["ece"] = expected_calibration_error(probs, labels)
    mel = labels == MEL
    out["specificity_at_95_melanoma_sensitivity"] = (
        specificity_at_sensitivity(probs[:, MEL], mel, 0.95) if mel.any() and not mel.all()
        else float("nan"))
    return out


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (an AUC of a split without positives, say) replaced
    by ``None``, so that it can be written as strict JSON."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
