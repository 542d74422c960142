"""Tuning of the analysis thresholds and colour prototypes on expert labels (used by
``bench_analysis.py`` inside each cross-validation fold, and with ``--fit-all`` on all images).

Inputs are per-image summaries computed once by the real analysis code:
``pixels`` (n, k, 3) CIELAB samples of each lesion (smoothed), ``skins`` (n, 3) their skin
colour, and the asymmetry scores; the tuned values are returned as AnalysisParams fields.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import cohen_kappa_score

from dermview.analysis.colors import REFERENCE_SKIN
from dermview.analysis.params import COLOR_NAMES

MIN_SHARE = 0.002  # a colour needs at least this share of the lesion to count, whatever the fit


def best_f1_threshold(score: np.ndarray, y: np.ndarray, floor: float | None = None,
                      max_ratio: float | None = None) -> tuple[float, float]:
    """The threshold t (predict ``score >= t``, t ≥ ``floor``, default MIN_SHARE) with the
    best F1 on (score, y), predicting at most ``max_ratio`` × the positives when given;
    (F1, t)."""
    floor = MIN_SHARE if floor is None else floor
    order = np.argsort(-score, kind="stable")
    s, ys = score[order], y[order].astype(np.float64)
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    pos = ys.sum()
    f1 = 2 * tp / np.maximum(2 * tp + fp + (pos - tp), 1e-9)
    # a cut after position k is only possible where the score drops (ties go together)
    ok = np.r_[s[:-1] > s[1:], True] & (s >= floor)
    if max_ratio is not None:
        ok &= np.arange(1, len(s) + 1) <= max_ratio * pos
    if not ok.any():
        return 0.0, 1.0
    f1 = np.where(ok, f1, -1)
    k = int(np.argmax(f1))
    t = s[k] if k == len(s) - 1 else (s[k] + s[k + 1]) / 2
    return float(f1[k]), float(max(t, floor))


def colour_distance(pixels: np.ndarray, skins: np.ndarray, proto: np.ndarray,
                    balance: float) -> np.ndarray:
    """Squared ΔE (n, k) of sampled pixels (n, k, 3) to one prototype, each image's pixels
    balanced on its skin by ``balance`` (as colors.name_pixels compares them)."""
    shift = np.asarray(REFERENCE_SKIN, np.float32) - skins  # (n, 3)
    eff = np.asarray(proto, np.float32)[None, :] - np.float32(balance) * shift
    return ((pixels.astype(np.float32) - eff[:, None, :]) ** 2).sum(-1)


def shares_from_distances(d2: np.ndarray, dmax: float) -> np.ndarray:
    """Share of each colour per image (n, c) from squared distances (n, k, c): nearest
    prototype within ``dmax``."""
    n, k, c = d2.shape
    idx = d2.argmin(-1)
    near = np.take_along_axis(d2, idx[..., None], -1)[..., 0]
    idx[near > dmax ** 2] = c
    counts = np.bincount((idx + (c + 1) * np.arange(n)[:, None]).ravel(), minlength=n * (c + 1))
    return counts.reshape(n, c + 1)[:, :c] / k


def name_shares(pixels: np.ndarray, skins: np.ndarray, protos: np.ndarray, dmax: float,
                balance: np.ndarray) -> np.ndarray:
    """Share of each colour per image (n, 6) for sampled pixels, named as colors.name_pixels
    does (per-colour skin balance)."""
    d2 = np.stack([colour_distance(pixels, skins, p, b) for p, b in zip(protos, balance, strict=True)], -1)
    return shares_from_distances(d2, dmax)


def _colour_objective(shares: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    fits = [best_f1_threshold(shares[:, c], y[:, c]) for c in range(y.shape[1])]
    return float(np.mean([f for f, _ in fits])), [t for _, t in fits]


def tune_colours(pixels: np.ndarray, skins: np.ndarray, y: np.ndarray, protos0: np.ndarray,
                 dmax0: float, rounds: int = 2) -> dict:
    """Coordinate search of the prototypes (steps of 8 and 4 ΔE per coordinate), each colour's
    skin balance (0, 0.5, 1) and the distance cap, each colour's minimum share set to its
    best-F1 threshold; objective: the mean F1 over the six colours. Returns AnalysisParams
    fields (and the training objective)."""
    n = len(COLOR_NAMES)
    best = {"protos": protos0.astype(np.float64).copy(), "dmax": float(dmax0),
            "balance": np.ones(n)}

    cache: dict[tuple, np.ndarray] = {}  # the distance columns of the best candidate

    def key(c: int, cand: dict) -> tuple:
        return (c, *np.round(cand["protos"][c], 4), round(float(cand["balance"][c]), 4))

    def column(c: int, cand: dict) -> np.ndarray:
        k = key(c, cand)
        return cache[k] if k in cache else colour_distance(pixels, skins, cand["protos"][c],
                                                           cand["balance"][c])

    def keep(cand: dict) -> None:
        cols = {key(c, cand): column(c, cand) for c in range(n)}
        cache.clear()
        cache.update(cols)

    def evaluate(cand: dict) -> tuple[float, list[float]]:
        d2 = np.stack([column(c, cand) for c in range(n)], -1)
        return _colour_objective(shares_from_distances(d2, cand["dmax"]), y)

    keep(best)
    score, _ = evaluate(best)

    def consider(cand: dict) -> bool:
        nonlocal best, score
        s, _ = evaluate(cand)
        if s > score + 1e-6:
            best, score = cand, s
            keep(best)
            return True
        return False

    for _ in range(rounds):
        improved = False
        for c in range(n):
            for bal in (0.0, 0.5, 1.0):
                b = best["balance"].copy()
                b[c] = bal
                improved |= consider({**best, "balance": b})
        for step in (8.0, 4.0):
            for c in range(n):
                for j in range(3):
                    for sign in (1, -1):
                        protos = best["protos"].copy()
                        protos[c, j] += sign * step
                        improved |= consider({**best, "protos": protos})
        for dmax in (best["dmax"] - 5, best["dmax"] + 5):
            improved |= consider({**best, "dmax": float(np.clip(dmax, 10, 80))})
        if not improved:
            break
    _, thresholds = evaluate(best)
    return {
        "prototypes": tuple(tuple(round(float(x), 2) for x in p) for p in best["protos"]),
        "color_max_distance": float(best["dmax"]),
        "skin_balance": tuple(float(b) for b in best["balance"]),
        "color_min_share": tuple(round(t, 5) for t in thresholds),
        "train_mean_f1": score,
    }


def count_axes(shape: np.ndarray, color: np.ndarray, w: float, t: float) -> np.ndarray:
    """Asymmetry 0-2 per image from per-axis scores (n, 2), as asymmetry.assess_asymmetry does."""
    return ((shape + w * color) > t).sum(axis=1)


def qwk(a: np.ndarray, b: np.ndarray) -> float:
    """Quadratic-weighted Cohen's kappa (scikit-learn)."""
    return float(cohen_kappa_score(a, b, weights="quadratic"))


def tune_asymmetry(shape: np.ndarray, color: np.ndarray, y: np.ndarray,
                   weights: tuple[float, ...]) -> dict:
    """Grid search of the colour weight and the threshold (quantiles of the per-axis scores)
    maximising the quadratic-weighted kappa against ``y`` (0-2). ``weights=(0,)`` is the
    shape-only baseline."""
    best = (-2.0, 0.0, 0.0)
    for w in weights:
        score = shape + w * color
        for t in np.unique(np.quantile(score, np.linspace(0.01, 0.99, 99))):
            k = qwk(y, count_axes(shape, color, w, t))
            if k > best[0]:
                best = (k, w, float(t))
    return {"asym_color_weight": best[1], "asym_threshold": round(best[2], 5), "train_kappa": best[0]}


#: Inverse regularisation strengths tried for the per-colour logistic regressions.
COLOR_MODEL_CS = (0.01, 0.03, 0.1, 0.3, 1.0)
#: A colour's cut may not predict it on more than this many times the images the experts
#: mark it on (set a priori, not tuned): unconstrained, the best-F1 cut of a rare, barely
#: predictable colour (red: 8 of 150) marks it nearly everywhere, which is no use and
#: inflates n_colors (its κ fell under the 0.4 floor in a development run).
COLOR_MODEL_MAX_RATIO = 2.0


def fit_color_model(feats: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Per-colour L2 logistic regression (balanced class weights) on standardised colour
    features (n, f) against the experts' flags (n, 6). For each colour the strength C (of
    :data:`COLOR_MODEL_CS`) and the decision cut are chosen by the best F1 of out-of-fold
    decision values (stratified inner folds, two repeats) on these images only, predicting it
    on at most :data:`COLOR_MODEL_MAX_RATIO` × its positives; the model is then refitted on
    all of them. Returns ``ColorModel`` fields and the inner-CV F1s."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    center = feats.mean(0)
    scale = feats.std(0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = (feats - center) / scale
    coef, bias, cut, chosen, inner_f1 = [], [], [], [], []

    def lr(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=2000)

    for k in range(y.shape[1]):
        yk = y[:, k]
        folds = min(5, int(yk.sum()), int((1 - yk).sum()))
        best = (-1.0, COLOR_MODEL_CS[0], 0.0)
        if folds >= 2:
            for c in COLOR_MODEL_CS:
                oof = np.zeros(len(yk))
                for rep in range(2):
                    inner = StratifiedKFold(folds, shuffle=True, random_state=seed + 1 + rep)
                    for a, b in inner.split(z, yk):
                        oof[b] += lr(c).fit(z[a], yk[a]).decision_function(z[b]) / 2
                f, t = best_f1_threshold(oof, yk, floor=-np.inf, max_ratio=COLOR_MODEL_MAX_RATIO)
                if f > best[0]:
                    best = (f, c, t)
            m = lr(best[1]).fit(z, yk)
            w, b0 = m.coef_[0], float(m.intercept_[0])
        else:  # too few examples of one class to fit: a constant decision
            w, b0 = np.zeros(z.shape[1]), 1.0 if yk.mean() > 0.5 else -1.0
        coef.append(tuple(float(v) for v in w))
        bias.append(b0)
        cut.append(float(best[2]))
        chosen.append(best[1])
        inner_f1.append(best[0])
    return {"color_model": {"center": [float(v) for v in center], "scale": [float(v) for v in scale],
                            "coef": [list(c) for c in coef], "bias": bias, "cut": cut},
            "train_color_model_f1": inner_f1, "color_model_C": chosen}
