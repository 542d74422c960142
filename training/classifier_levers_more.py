"""More classifier levers (issue 13), measured only by cross-validation on the training split:
frozen EfficientNet-Lite1 / Lite2 features (``classifier_levers extract --encoder``), the
hand-crafted lesion cues of :mod:`training.classifier_lesion_features`, and head choices
(L2 grid, PCA inside the fold, class weighting, averages of logistic-regression heads fitted on
different feature sets).

A candidate is a list of *members*; each member is a set of cached feature blocks
(:data:`BLOCKS`) with one logistic regression (4-view train, inference view at test, features
standardised in the fold); the candidate's out-of-fold logits are the mean of its members'
(an average of linear heads is one linear head on the concatenated features). The L2 weight is
chosen per candidate from :data:`L2S` by the same CV; the score is the mean of the pooled
out-of-fold melanoma and SK AUCs, as in ``classifier_levers cv``.

    # descriptors (each once; D = --data DIR --labels CSV --cache-dir DIR)
    python -m training.classifier_levers extract $D --encoder lite0 --size 160 --crop lesion
    python -m training.classifier_levers extract $D --encoder lite0 --size 160 --crop whole
    python -m training.classifier_levers extract $D --encoder lite1 --size 160 --crop lesion
    python -m training.classifier_levers extract $D --encoder lite2 --size 160 --crop lesion
    python -m training.classifier_levers extract $D --encoder lite1 --size 240 --crop lesion
    python -m training.classifier_lesion_features $D
    OMP_NUM_THREADS=1 nice -n 19 python -m training.classifier_levers_more --cache-dir DIR \\
        --json docs/results/classifier_levers_more.json

The best candidate the shipped Lite0 network can run was fitted and scored once on the
validation split with ``python -m training.classifier_levers fit --cv-json
docs/results/classifier_levers_more.json --candidate NAME $D --out runs/clf_levers`` (its
``summary.json`` is ``docs/results/classifier_levers_more_val.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.classifier_fit import stratified_folds
from training.classifier_levers import (
    _softmax,
    fit_logreg,
    load_features,
    standardiser,
    test_matrix,
    train_matrix,
)

#: Feature block → (recipe ``(size, crop, encoder)``, parts of ``classifier_levers.PARTS``);
#: ``cues`` = the hand-crafted lesion cues (one view, repeated over the four), ``cues_abc`` /
#: ``cues_cf`` their two parts (see :data:`training.classifier_lesion_features.NAMES`).
BLOCKS: dict[str, tuple[tuple[int, str, str], str] | None] = {
    "l0_lesion": ((160, "lesion", "lite0"), "ship"),
    "l0_whole": ((160, "whole", "lite0"), "ship"),
    "l1_lesion": ((160, "lesion", "lite1"), "ship"),
    "l1_whole": ((160, "whole", "lite1"), "ship"),
    "l2_lesion": ((160, "lesion", "lite2"), "ship"),
    "l1_lesion240": ((240, "lesion", "lite1"), "ship"),
    "l2_lesion260": ((260, "lesion", "lite2"), "ship"),
    "cues": None,
    "cues_abc": None,
    "cues_cf": None,
    "cues_cheap": None,
}
#: ``cues_cheap``: the cues that need neither the A / B scores nor the colour model (sizes,
#: CIELAB of the lesion and of its skin, edge contact): a few ms per image.
CHEAP_CUES = ("area_frac", "diameter_frac", "width_over_diameter", "equivalent_over_diameter",
              "perimeter_over_sqrt_area", "skin_L", "skin_a", "skin_b", "lesion_L", "lesion_a",
              "lesion_b", "lesion_sd_L", "lesion_sd_a", "lesion_sd_b", "touches_edge")
L2S = (0.03, 0.1, 0.3, 1.0)
SHIPPED = [["l0_lesion", "l0_whole"]]

#: (name, members, options): options ``balance`` (``loss`` = class-weighted loss, ``none``),
#: ``pca`` (components kept, 0 = none), ``cue_gain`` (multiplier of the standardised cues).
CANDIDATES: list[tuple[str, list[list[str]], dict[str, Any]]] = [
    ("Lite0 160 lesion", [["l0_lesion"]], {}),
    ("shipped: Lite0 lesion + whole", SHIPPED, {}),
    ("cues alone", [["cues"]], {}),
    ("avg of LR(shipped), LR(cues)", [SHIPPED[0], ["cues"]], {}),
    ("shipped + cues", [["l0_lesion", "l0_whole", "cues"]], {}),
    ("Lite1 160 lesion + Lite0 whole", [["l1_lesion", "l0_whole"]], {}),
    ("avg of LR(shipped), LR(Lite1 lesion + Lite0 whole)",
     [SHIPPED[0], ["l1_lesion", "l0_whole"]], {}),
    ("Lite2 160 lesion + Lite0 whole", [["l2_lesion", "l0_whole"]], {}),
    ("shipped, unweighted loss", SHIPPED, {"balance": "none"}),
    ("Lite1 160 lesion + Lite0 whole, unweighted loss", [["l1_lesion", "l0_whole"]],
     {"balance": "none"}),
    ("Lite2 160 lesion + Lite0 whole, unweighted loss", [["l2_lesion", "l0_whole"]],
     {"balance": "none"}),
    ("shipped + cues, unweighted loss", [["l0_lesion", "l0_whole", "cues"]],
     {"balance": "none"}),
    ("avg of LR(Lite0 lesion), LR(Lite0 whole), unweighted loss", [["l0_lesion"], ["l0_whole"]],
     {"balance": "none"}),
    ("shipped, PCA 256", SHIPPED, {"pca": 256}),
    ("avg of LR(Lite0 lesion), LR(Lite0 whole)", [["l0_lesion"], ["l0_whole"]], {}),
    ("Lite1 160 lesion", [["l1_lesion"]], {}),
    ("Lite2 160 lesion", [["l2_lesion"]], {}),
    ("Lite1 240 lesion + Lite0 whole", [["l1_lesion240", "l0_whole"]], {}),
    ("Lite2 260 lesion + Lite0 whole", [["l2_lesion260", "l0_whole"]], {}),
    ("Lite1 240 lesion", [["l1_lesion240"]], {}),
    ("Lite2 260 lesion", [["l2_lesion260"]], {}),
    ("shipped + cues ×3", [["l0_lesion", "l0_whole", "cues"]], {"cue_gain": 3.0}),
    ("Lite1 160 lesion + whole", [["l1_lesion", "l1_whole"]], {}),
    ("avg of LR(shipped), LR(A/B/C cues)", [SHIPPED[0], ["cues_abc"]], {}),
    ("avg of LR(shipped), LR(colour-model inputs)", [SHIPPED[0], ["cues_cf"]], {}),
    ("Lite0 lesion + cues", [["l0_lesion", "cues"]], {}),
    ("avg of LR(Lite0 lesion), LR(cues)", [["l0_lesion"], ["cues"]], {}),
    ("shipped + cheap cues", [["l0_lesion", "l0_whole", "cues_cheap"]], {}),
    ("avg of LR(shipped), LR(cheap cues)", [SHIPPED[0], ["cues_cheap"]], {}),
    ("avg of LR(Lite1 lesion + Lite0 whole), LR(cues)", [["l1_lesion", "l0_whole"], ["cues"]],
     {}),
]


def with_views(z: np.ndarray, n_views: int) -> np.ndarray:
    """``(N, 1, D)`` → ``(N, n_views, D)`` (the same row for every view); others unchanged."""
    return np.repeat(z, n_views, axis=1) if z.shape[1] == 1 else z


def load_block(cache_dir: str | Path, name: str, split: str,
               blocks: dict[str, Any] | None = None) -> np.ndarray | None:
    """Cached features ``(N, V, D)`` float32 of block ``name`` of ``blocks`` (default
    :data:`BLOCKS`; None when not extracted)."""
    spec = (BLOCKS if blocks is None else blocks)[name]
    if spec is None:
        from training.classifier_lesion_features import CUE_NAMES

        path = Path(cache_dir) / f"levers_analysis_0_{split}.npy"
        if not path.is_file():
            return None
        z = np.load(path).astype(np.float32)
        n = len(CUE_NAMES)  # cues_abc: the analysis' own cues; cues_cf: the colour-model inputs
        if name == "cues_cheap":
            return z[..., [CUE_NAMES.index(c) for c in CHEAP_CUES]]
        return {"cues": z, "cues_abc": z[..., :n], "cues_cf": z[..., n:]}[name]
    z = load_features(cache_dir, [spec[0]], spec[1], split)
    return None if z is None else np.asarray(z, np.float32)


def pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` principal directions ``(D, k)`` of standardised ``(N, D)`` ``x``, each scaled
    so that the projection has unit variance."""
    xt = torch.from_numpy(np.asarray(x, np.float32))
    cov = (xt.T @ xt) / len(xt)
    val, vec = torch.linalg.eigh(cov.double())
    val, vec = val.flip(0)[:k], vec.flip(1)[:, :k]
    return (vec / val.clamp_min(1e-9).sqrt()).numpy()


def member_logits(blocks: list[np.ndarray], names: list[str], y: np.ndarray,
                  l2s: Sequence[float], fold: np.ndarray, opts: dict[str, Any]
                  ) -> dict[float, np.ndarray]:
    """Out-of-fold logits ``(N, 3)`` per L2 weight of one logistic regression on the
    concatenated blocks (in each fold the L2 path is followed from the largest weight down,
    each fit starting from the previous one's solution)."""
    z = np.concatenate([with_views(b, 4) for b in blocks], axis=-1)
    cue_cols = np.zeros(z.shape[-1], bool)
    o = 0
    for b, n in zip(blocks, names, strict=True):
        if n.startswith("cues"):
            cue_cols[o: o + b.shape[-1]] = True
        o += b.shape[-1]
    gain = np.where(cue_cols, float(opts.get("cue_gain", 1.0)), 1.0)
    out = {l2: np.zeros((len(y), 3)) for l2 in l2s}
    for f in range(int(fold.max()) + 1):
        tr, te = fold != f, fold == f
        xtr, ytr = train_matrix(z[tr], y[tr], "all")
        mu, inv = standardiser(xtr)
        inv = inv * gain
        xtr = ((xtr - mu) * inv).astype(np.float32)
        xte = (test_matrix(z[te], "first") - mu) * inv
        if opts.get("pca"):
            basis = pca_basis(xtr, int(opts["pca"]))
            xtr, xte = (xtr @ basis).astype(np.float32), xte @ basis
        init = None
        for l2 in sorted(l2s, reverse=True):
            init = fit_logreg(xtr, ytr, l2, balance=opts.get("balance", "loss") == "loss",
                              init=init)
            out[l2][te] = xte @ init[0] + init[1]
    return out


def scores(logits: np.ndarray, y: np.ndarray, n_boot: int = 0, seed: int = 0) -> dict[str, Any]:
    from training.classifier_eval import summarise

    m = summarise(_softmax(logits), y, n_boot=n_boot, seed=seed)
    return {"auc_melanoma": m["auc_melanoma"], "auc_seborrheic_keratosis":
            m["auc_seborrheic_keratosis"], "auc_mean_mel_sk": m["auc_mean_mel_sk"],
            "balanced_accuracy": m.get("balanced_accuracy")}


def oof_cached(args: argparse.Namespace, key: str, compute: Any) -> dict[float, np.ndarray]:
    """A member's out-of-fold logits per L2 (``compute()``), cached in ``--cache-dir`` keyed by
    the member, options, L2 grid, folds and seed."""
    import hashlib

    h = hashlib.sha256(json.dumps([key, list(L2S), args.folds, args.seed]).encode())
    path = Path(args.cache_dir) / f"oof_{h.hexdigest()[:16]}.npy"
    if path.is_file():
        return dict(zip(L2S, np.load(path), strict=True))
    out = compute()
    np.save(path, np.stack([out[l2] for l2 in L2S]))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    y = np.load(Path(args.cache_dir) / "levers_labels_train.npy")
    fold = stratified_folds(y, args.folds, args.seed)
    cache: dict[str, np.ndarray] = {}
    memo: dict[str, dict[float, np.ndarray]] = {}
    prev = {}
    if args.json and Path(args.json).is_file():  # keep results of blocks extracted earlier
        prev = {r["name"]: r for r in json.loads(Path(args.json).read_text())["results"]}
    results: list[dict[str, Any]] = []
    not_run: list[dict[str, Any]] = []
    for name, members, opts in CANDIDATES:
        if args.only and not any(o in name for o in args.only):
            if name in prev:
                results.append(prev[name])
            continue
        needed = sorted({b for m in members for b in m})
        for b in needed:
            if b not in cache:
                z = load_block(args.cache_dir, b, "train")
                if z is not None:
                    cache[b] = z
        if any(b not in cache for b in needed):
            print(f"skip (no features): {name}", flush=True)
            if name in prev:
                results.append(prev[name])
            else:
                not_run.append({"name": name, "missing": [b for b in needed if b not in cache]})
            continue
        t0 = time.perf_counter()
        per_l2, best = [], None
        for m in members:
            key = json.dumps([m, sorted(opts.items())])
            if key not in memo:
                memo[key] = oof_cached(args, key, lambda m=m, o=opts: member_logits(
                    [cache[b] for b in m], m, y, L2S, fold, o))
        for l2 in L2S:
            lg = sum(memo[json.dumps([m, sorted(opts.items())])][l2] for m in members)
            lg = lg / len(members)
            s = scores(lg, y)
            per_l2.append({"l2": l2, "auc_melanoma": s["auc_melanoma"]["auc"],
                           "auc_seborrheic_keratosis": s["auc_seborrheic_keratosis"]["auc"],
                           "auc_mean_mel_sk": s["auc_mean_mel_sk"]})
            if best is None or s["auc_mean_mel_sk"] > best[0]["auc_mean_mel_sk"]:
                best = (per_l2[-1], lg)
        assert best is not None
        s = scores(best[1], y, n_boot=1000, seed=args.seed)
        res = {"name": name, "members": members, "options": opts, "l2": best[0]["l2"],
               "n_features": int(sum(cache[b].shape[-1] for m in members for b in m)),
               "per_l2": per_l2, "cv_auc_melanoma": s["auc_melanoma"],
               "cv_auc_seborrheic_keratosis": s["auc_seborrheic_keratosis"],
               "cv_auc_mean_mel_sk": s["auc_mean_mel_sk"],
               "cv_balanced_accuracy": s["balanced_accuracy"],
               "seconds": time.perf_counter() - t0}
        results.append(res)
        write(args, results, not_run)
        print(f"{name}: l2 {res['l2']:g} cv mel {s['auc_melanoma']['auc']:.4f} sk "
              f"{s['auc_seborrheic_keratosis']['auc']:.4f} mean {s['auc_mean_mel_sk']:.4f} "
              f"({res['seconds']:.0f} s)", flush=True)
    return write(args, results, not_run)


def write(args: argparse.Namespace, results: list[dict[str, Any]],
          not_run: list[dict[str, Any]]) -> dict[str, Any]:
    """The results file (``--json``, when given): settings, blocks, results, load average."""
    out = {"folds": args.folds, "seed": args.seed, "l2_grid": list(L2S),
           "score": "mean of the pooled out-of-fold melanoma and SK AUCs on the training split "
           "(L2 per candidate chosen by the same CV)", "blocks": {
               k: None if v is None else {"recipe": list(v[0]), "parts": v[1]}
               for k, v in BLOCKS.items()},
           "results": results, "not_run (features not extracted)": not_run,
           "loadavg": list(os.getloadavg()),
           "command": "python -m training.classifier_levers_more " + " ".join(
               __import__("sys").argv[1:])}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.classifier_levers_more",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default=".cache/classifier")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="")
    ap.add_argument("--only", nargs="*", default=[], help="candidates whose name contains one")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    run(args)


if __name__ == "__main__":
    main()
