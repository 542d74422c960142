"""Cross-validated choice of an inference variant from per-image scores (helper of
``bench_levers.py``; numpy only).

A *variant* is one column of a per-image score matrix. A parameter is never chosen by the best
number on all images: :func:`cv_choice` splits the images into ``k`` folds stratified by source,
picks the variant that scores best on ``k - 1`` folds and keeps its scores on the held-out fold,
so the held-out estimate is that of the whole procedure "tune, then apply".
"""

from __future__ import annotations

import numpy as np

#: A Jaccard below this counts 0 in the thresholded Jaccard and is a failure (ISIC 2017).
FLOOR = 0.65


def folds(sources: list[str], k: int, seed: int) -> np.ndarray:
    """Fold index ``(n,)`` int in ``[0, k)``: each source's images dealt round-robin to the
    folds in a random order (seeded), so every fold holds about ``1/k`` of each source."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(sources), np.int64)
    src = np.asarray(sources)
    start = 0
    for s in sorted(set(sources)):
        idx = np.flatnonzero(src == s)
        rng.shuffle(idx)
        out[idx] = (np.arange(idx.size) + start) % k
        start += idx.size
    return out


def summary(jac: np.ndarray, dic: np.ndarray) -> dict[str, float]:
    """Mean Dice, Jaccard, thresholded Jaccard, failure count and share of ``(n,)`` scores."""
    fail = jac < FLOOR
    return {"dice": float(dic.mean()), "jaccard": float(jac.mean()),
            "thresholded_jaccard": float(np.where(fail, 0.0, jac).mean()),
            "failures": int(fail.sum()), "failure_share": float(fail.mean()), "n": int(jac.size)}


def objective(jac: np.ndarray, rule: str) -> np.ndarray:
    """Score of every column of ``jac`` ``(n, v)`` (higher is better). ``thr_jaccard``: the
    mean thresholded Jaccard (a failure costs its whole Jaccard); ``failures``: fewest failures,
    ties by thresholded Jaccard."""
    tj = np.where(jac < FLOOR, 0.0, jac).mean(axis=0)
    if rule == "thr_jaccard":
        return tj
    if rule == "failures":
        return -(jac < FLOOR).sum(axis=0) + tj  # tj < 1, so it only breaks ties
    raise ValueError(f"unknown selection rule {rule!r}")


def cv_choice(jac: np.ndarray, dic: np.ndarray, sources: list[str], allowed: np.ndarray,
              rule: str = "thr_jaccard", k: int = 5, seed: int = 0,
              cost: np.ndarray | None = None, budget: float | None = None
              ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Held-out per-image Jaccard and Dice ``(n,)`` of "choose the best allowed variant on the
    other folds", and the column chosen for each fold.

    Args:
        jac, dic: ``(n, v)`` per-image Jaccard and Dice of every variant.
        sources: ``n`` source names (folds are stratified by them).
        allowed: ``(v,)`` bool, the variants the choice may take.
        cost: optional ``(n, v)`` per-image cost (e.g. model forwards); with ``budget``, a
            variant is allowed in a fold only when its mean cost on the tuning folds is at most
            ``budget``.
    """
    f = folds(sources, k, seed)
    held_j = np.empty(jac.shape[0])
    held_d = np.empty(jac.shape[0])
    chosen = []
    for i in range(k):
        tr, te = f != i, f == i
        ok = allowed.copy()
        if cost is not None and budget is not None:
            ok &= cost[tr].mean(axis=0) <= budget
        score = np.where(ok, objective(jac[tr], rule), -np.inf)
        c = int(np.argmax(score))
        chosen.append(c)
        held_j[te] = jac[te, c]
        held_d[te] = dic[te, c]
    return held_j, held_d, chosen
