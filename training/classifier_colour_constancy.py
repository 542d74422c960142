"""Colour constancy before the frozen encoder (issue 13), measured only by cross-validation on
the training split: the shipped recipe (Lite0 features of the 160-px lesion crop and of the
160-px whole image, 4-view train, class-weighted logistic regression) on images corrected by
shades of grey (``p = 6``), grey world, or shades of grey after a gamma step
(:mod:`dermview.model.colour_constancy`; Barata et al. 2015, the ISIC 2018 / 2019 winners), in
place of the plain features or next to them.

Candidates are scored as in :mod:`training.classifier_levers_more` (members, L2 grid, pooled
out-of-fold melanoma and SK AUCs, 5 folds). Each is also compared with the shipped recipe
(:data:`REFERENCE`) on the same folds: per-fold AUCs, the per-fold difference of the mean
AUC, a paired bootstrap interval of the pooled difference (images resampled, both candidates
scored on the same resample), and the difference repeated over ``--seeds`` (other fold
partitions; L2 chosen again per partition).

    D="--data DIR --labels CSV --cache-dir DIR"
    python -m training.classifier_levers extract $D --size 160 --crop lesion \\
        --colour-constancy shades_of_gray      # also --crop whole; gray_world; ..._gamma
    OMP_NUM_THREADS=1 nice -n 19 python -m training.classifier_colour_constancy \\
        --cache-dir DIR --json docs/results/classifier_colour_constancy.json

Candidates whose features are not extracted are listed under ``not_run``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.classifier_eval import MEL, SK, auc
from training.classifier_fit import stratified_folds
from training.classifier_levers_more import L2S, load_block, member_logits, oof_cached, scores

#: Feature blocks: name → (recipe ``(size, crop, encoder, colour constancy)``, parts).
BLOCKS: dict[str, tuple[tuple[int, str, str, str], str]] = {
    f"l0_{crop}{tag}": ((160, crop, "lite0", cc), "ship")
    for tag, cc in (("", "none"), ("_sog", "shades_of_gray"), ("_gw", "gray_world"),
                    ("_sogg", "shades_of_gray_gamma"))
    for crop in ("lesion", "whole")
}
REFERENCE = "shipped: Lite0 lesion + whole"


def _variants(label: str, tag: str, full: bool = True
              ) -> list[tuple[str, list[list[str]], dict[str, Any]]]:
    """Candidates of one colour-constancy method: the shipped recipe on corrected images,
    next to the plain features (one head, or the mean of two heads); ``full`` adds the
    corrected lesion crop with the plain whole image, the lesion crop alone and the
    unweighted loss."""
    les, who = f"l0_lesion{tag}", f"l0_whole{tag}"
    out: list[tuple[str, list[list[str]], dict[str, Any]]] = [
        (f"shipped, {label}", [[les, who]], {}),
        (f"shipped + {label} features", [["l0_lesion", "l0_whole", les, who]], {}),
        (f"avg of LR(shipped), LR(shipped, {label})", [["l0_lesion", "l0_whole"], [les, who]],
         {}),
    ]
    if full:
        out += [(f"{label} lesion + plain whole", [[les, "l0_whole"]], {}),
                (f"Lite0 lesion, {label}", [[les]], {}),
                (f"shipped, {label}, unweighted loss", [[les, who]], {"balance": "none"})]
    return out


#: (name, members, options) as in :data:`training.classifier_levers_more.CANDIDATES`.
CANDIDATES: list[tuple[str, list[list[str]], dict[str, Any]]] = [
    (REFERENCE, [["l0_lesion", "l0_whole"]], {}),
    ("Lite0 160 lesion", [["l0_lesion"]], {}),
    ("shipped, unweighted loss", [["l0_lesion", "l0_whole"]], {"balance": "none"}),
    *_variants("shades-of-grey", "_sog"),
    *_variants("grey-world", "_gw"),
    *_variants("shades-of-grey + gamma 2.2", "_sogg", full=False),
]


def oof(args: argparse.Namespace, seed: int, members: list[list[str]], opts: dict[str, Any],
        cache: dict[str, np.ndarray], y: np.ndarray) -> dict[float, np.ndarray]:
    """Out-of-fold logits ``(N, 3)`` per L2 of a candidate (its members' mean) for the fold
    partition of ``seed`` (members' logits cached on disk by
    :func:`training.classifier_levers_more.oof_cached`)."""
    fold = stratified_folds(y, args.folds, seed)
    ns = argparse.Namespace(cache_dir=args.cache_dir, folds=args.folds, seed=seed)
    per = []
    for m in members:
        key = json.dumps(["cc", m, sorted(opts.items())])
        per.append(oof_cached(ns, key, lambda m=m: member_logits(
            [cache[b] for b in m], m, y, L2S, fold, opts)))
    return {l2: sum(p[l2] for p in per) / len(per) for l2 in L2S}


def best_l2(logits: dict[float, np.ndarray], y: np.ndarray) -> tuple[float, np.ndarray]:
    """The L2 weight (and its logits) of the highest pooled mean melanoma / SK AUC."""
    l2 = max(L2S, key=lambda k: scores(logits[k], y)["auc_mean_mel_sk"])
    return l2, logits[l2]


def mean_auc(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean of the melanoma-vs-rest and SK-vs-rest AUCs of the softmax of ``logits``."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return 0.5 * (auc(p[:, MEL], y == MEL) + auc(p[:, SK], y == SK))


def per_fold(logits: np.ndarray, y: np.ndarray, fold: np.ndarray) -> list[dict[str, float]]:
    """Melanoma, SK and mean AUC of each fold's held-out images."""
    out = []
    for f in range(int(fold.max()) + 1):
        s = scores(logits[fold == f], y[fold == f])
        out.append({"auc_melanoma": s["auc_melanoma"]["auc"],
                    "auc_seborrheic_keratosis": s["auc_seborrheic_keratosis"]["auc"],
                    "auc_mean_mel_sk": s["auc_mean_mel_sk"]})
    return out


def paired_delta(a: np.ndarray, b: np.ndarray, y: np.ndarray, n_boot: int, seed: int
                 ) -> dict[str, float]:
    """Pooled mean-AUC difference ``a − b`` of two candidates' out-of-fold logits and its
    95 % paired percentile-bootstrap interval (the same resampled images for both)."""
    rng = np.random.default_rng([seed, 29])
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 3:
            boots.append(mean_auc(a[idx], y[idx]) - mean_auc(b[idx], y[idx]))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"delta": mean_auc(a, y) - mean_auc(b, y), "lo": float(lo), "hi": float(hi),
            "p_not_better": float(np.mean(np.asarray(boots) <= 0.0))}


def run(args: argparse.Namespace) -> dict[str, Any]:
    y = np.load(Path(args.cache_dir) / "levers_labels_train.npy")
    cache: dict[str, np.ndarray] = {}
    results: list[dict[str, Any]] = []
    not_run: list[dict[str, Any]] = []
    ref: dict[int, np.ndarray] = {}
    fold0 = stratified_folds(y, args.folds, args.seeds[0])
    for name, members, opts in CANDIDATES:
        if args.only and name != REFERENCE and not any(o in name for o in args.only):
            continue
        needed = sorted({b for m in members for b in m})
        for b in needed:
            if b not in cache:
                z = load_block(args.cache_dir, b, "train", BLOCKS)
                if z is not None:
                    cache[b] = z
        missing = [b for b in needed if b not in cache]
        if missing:
            print(f"skip (no features): {name}", flush=True)
            not_run.append({"name": name, "missing": missing})
            continue
        t0 = time.perf_counter()
        by_seed = []
        for seed in args.seeds:
            l2, lg = best_l2(oof(args, seed, members, opts, cache, y), y)
            if name == REFERENCE:
                ref[seed] = lg
            by_seed.append({"seed": seed, "l2": l2, "logits": lg})
        first = by_seed[0]
        logits = first["logits"]
        s = scores(logits, y, n_boot=1000, seed=args.seeds[0])
        folds = per_fold(logits, y, fold0)
        res: dict[str, Any] = {
            "name": name, "members": members, "options": opts, "l2": first["l2"],
            "n_features": int(sum(cache[b].shape[-1] for m in members for b in m)),
            "cv_auc_melanoma": s["auc_melanoma"],
            "cv_auc_seborrheic_keratosis": s["auc_seborrheic_keratosis"],
            "cv_auc_mean_mel_sk": s["auc_mean_mel_sk"],
            "cv_balanced_accuracy": s["balanced_accuracy"], "per_fold": folds,
            "per_fold_mean_auc_sd": float(np.std([f["auc_mean_mel_sk"] for f in folds],
                                                 ddof=1)),
            "by_seed": [{"seed": r["seed"], "l2": r["l2"],
                         "cv_auc_mean_mel_sk": mean_auc(r["logits"], y)} for r in by_seed]}
        if name != REFERENCE and ref:
            ref_folds = per_fold(ref[args.seeds[0]], y, fold0)
            d = [f["auc_mean_mel_sk"] - g["auc_mean_mel_sk"]
                 for f, g in zip(folds, ref_folds, strict=True)]
            res["vs_reference"] = {
                "pooled": paired_delta(logits, ref[args.seeds[0]], y, args.n_boot,
                                       args.seeds[0]),
                "per_fold_delta": d, "per_fold_delta_mean": float(np.mean(d)),
                "per_fold_delta_sd": float(np.std(d, ddof=1)),
                "by_seed_delta": [mean_auc(r["logits"], y) - mean_auc(ref[r["seed"]], y)
                                  for r in by_seed]}
        res["seconds"] = time.perf_counter() - t0
        results.append(res)
        write(args, results, not_run)
        vs = res.get("vs_reference", {})
        extra = (f" Δ {vs['pooled']['delta']:+.4f} [{vs['pooled']['lo']:+.4f}, "
                 f"{vs['pooled']['hi']:+.4f}] by seed "
                 + " ".join(f"{x:+.4f}" for x in vs["by_seed_delta"])) if vs else ""
        print(f"{name}: l2 {res['l2']:g} mel {s['auc_melanoma']['auc']:.4f} sk "
              f"{s['auc_seborrheic_keratosis']['auc']:.4f} mean {s['auc_mean_mel_sk']:.4f}"
              f"{extra} ({res['seconds']:.0f} s)", flush=True)
    return write(args, results, not_run)


def write(args: argparse.Namespace, results: list[dict[str, Any]],
          not_run: list[dict[str, Any]]) -> dict[str, Any]:
    """The results file (``--json``, when given): settings, blocks, results, load average."""
    out = {"folds": args.folds, "seeds": list(args.seeds), "l2_grid": list(L2S),
           "reference": REFERENCE,
           "score": "mean of the pooled out-of-fold melanoma and SK AUCs on the training split "
           "(L2 per candidate chosen by the same CV); fold partition of the first seed, the "
           "others in by_seed", "blocks": {k: {"recipe": list(v[0]), "parts": v[1]}
                                          for k, v in BLOCKS.items()},
           "results": results, "not_run (features not extracted)": not_run,
           "loadavg": list(os.getloadavg()),
           "command": "python -m training.classifier_colour_constancy " + " ".join(
               sys.argv[1:])}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.classifier_colour_constancy",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default=".cache/classifier")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                    help="fold partitions (the first one is the table's)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--json", default="")
    ap.add_argument("--only", nargs="*", default=[], help="candidates whose name contains one "
                    "(the reference always runs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    run(args)


if __name__ == "__main__":
    main()
