"""Benchmark: confidence per mask and interactive refinement, on the segmenter's validation split.

    OMP_NUM_THREADS=1 python benchmarks/bench_refine.py --data ../shared/data/derm \
        --json docs/results/bench_refine.json --table docs/results/bench_refine.md

Refinement: the RITM click simulator (dermview.interactive.simulator) clicks until Jaccard 0.90
(at least 5 clicks, at most --max-clicks), starting from the automatic mask and from nothing,
for every method in the same process; NoC@85/90 (clicks to reach it, max when never), the share
never reaching it, mean Jaccard after 0/1/2/3/5 clicks, and the time of each prompt (median,
p95, ratio to GrabCut's). Also one box prompt (the reference's bounding box) from nothing. Methods: probcut, grabcut,
probcut_rebuild (probcut with a new graph per prompt, the former code path) and medsam
(LiteMedSAM; needs --medsam-onnx, the folder written by training/export_medsam_onnx.py).
Confidence: every candidate of dermview.confidence, single features and ridge regressions with
out-of-fold predictions (5-fold CV over the validation images), ROC AUC for Jaccard < 0.65 and
Spearman with the true Jaccard; --write-estimator saves the regression fitted on all of them.
ISIC (ISIC 2016/2017, HAM10000) and PH2 are reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._refine_cases import group, load_case, select  # noqa: E402
from dermview import confidence as conf  # noqa: E402
from dermview.interactive import Refiner  # noqa: E402
from dermview.interactive.simulator import simulate  # noqa: E402
from dermview.metrics import jaccard  # noqa: E402

FAIL_J = 0.65
AFTER = (0, 1, 2, 3, 5)


# ------------------------------------------------------------------------- confidence
def _auc_spearman(score: np.ndarray, jac: np.ndarray) -> dict:
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    bad = jac < FAIL_J
    auc = float(roc_auc_score(bad, -score)) if 0 < bad.sum() < bad.size else None
    return {"auc": auc, "spearman": float(spearmanr(score, jac).statistic), "n": int(jac.size),
            "n_bad": int(bad.sum())}


#: Features where larger means a worse mask; the regression sees them negated and may only
#: give every (oriented) feature a non-negative weight, so a mask the model disagrees with
#: can never score higher for it (a plain ridge fit extrapolated to 1.0 on a wrong mask).
WORSE_WHEN_LARGER = frozenset({"unsure_ratio", "outside_mass", "components", "border",
                               "flip_diff"})
RIDGE_ALPHA = 1.0


def _orient(names: list[str]) -> np.ndarray:
    return np.array([-1.0 if k in WORSE_WHEN_LARGER else 1.0 for k in names])


def _ridge_fit(X: np.ndarray, y: np.ndarray, names: list[str]) -> conf.LinearEstimator:
    """Ridge on standardised, oriented features with non-negative weights."""
    from sklearn.linear_model import Ridge

    sign = _orient(names)
    mean, scale = X.mean(0), X.std(0) + 1e-12
    r = Ridge(alpha=RIDGE_ALPHA, positive=True).fit((X - mean) / scale * sign, y)
    return conf.LinearEstimator(tuple(names), tuple(mean.tolist()), tuple(scale.tolist()),
                                tuple((r.coef_ * sign).tolist()), float(r.intercept_))


def _ridge_oof(X: np.ndarray, y: np.ndarray, names: list[str], folds: int,
               seed: int = 0) -> np.ndarray:
    """Out-of-fold estimates of :func:`_ridge_fit` (k-fold CV)."""
    from sklearn.model_selection import KFold

    oof = np.zeros_like(y)
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(X):
        est = _ridge_fit(X[tr], y[tr], names)
        oof[te] = [est(dict(zip(names, row, strict=True))) for row in X[te]]
    return oof


#: Feature sets of the regression candidates.
PROB_ONLY = ["baseline", "soft_jaccard", "unsure_ratio", "band_mean", "outside_mass", "area",
             "border", "solidity", "components"]
WITH_FLIP = PROB_ONLY + ["flip_jaccard", "flip_diff"]


def bench_confidence(cases: list, folds: int) -> tuple[dict, dict[str, conf.LinearEstimator]]:
    feats = [conf.mask_features(c.prob, c.mask, c.prob_flip) for c in cases]
    jac = np.array([jaccard(c.mask, c.gt) for c in cases])
    groups = np.array([group(c.source) for c in cases])
    scores: dict[str, np.ndarray] = {k: np.array([f[k] for f in feats]) for k in feats[0]}
    # features where larger means worse enter the comparison negated
    for k in WORSE_WHEN_LARGER & set(scores):
        scores[k] = -scores[k]
    fitted = {}
    for name, cols in (("ridge_prob", PROB_ONLY), ("ridge_prob_flip", WITH_FLIP)):
        X = np.array([[f[k] for k in cols] for f in feats])
        scores[name] = _ridge_oof(X, jac, cols, folds)
        fitted[name] = _ridge_fit(X, jac, cols)
    out: dict = {}
    for name, s in scores.items():
        out[name] = {"all": _auc_spearman(s, jac)}
        for g in ("ISIC", "PH2"):
            sel = groups == g
            if sel.sum() >= 3:
                out[name][g] = _auc_spearman(s[sel], jac[sel])
    return {"candidates": out, "jaccard_mean": float(jac.mean()),
            "n_bad": int((jac < FAIL_J).sum()), "n": len(cases)}, fitted


# ------------------------------------------------------------------------- refinement
def _run_method(ref: Refiner, cases: list, start: str, max_clicks: int) -> list[dict]:
    rows = []
    for c in cases:
        init = c.mask if start == "auto" else np.zeros_like(c.mask)
        t0 = time.perf_counter()
        s = ref.start(c.rgb, mask=init, prob=c.prob)
        s.wait()
        prep = time.perf_counter() - t0
        run = simulate(init, c.gt, s.click, max_clicks=max_clicks, stop_at=0.90,
                       min_clicks=max(AFTER), clock=time.perf_counter)
        rows.append({"id": c.id, "group": group(c.source), "ious": run.ious,
                     "seconds": run.seconds, "prepare_s": prep,
                     "noc85": run.noc(0.85, max_clicks), "noc90": run.noc(0.90, max_clicks),
                     "fail85": not any(v >= 0.85 for v in run.ious),
                     "fail90": not any(v >= 0.90 for v in run.ious),
                     "after": {k: run.iou_after(k) for k in AFTER}})
    return rows


def _box_run(ref: Refiner, cases: list) -> list[dict]:
    rows = []
    for c in cases:
        rr, cc = np.nonzero(c.gt)
        s = ref.start(c.rgb, mask=np.zeros_like(c.mask), prob=c.prob)
        s.wait()
        t0 = time.perf_counter()
        m = s.box(int(rr.min()), int(cc.min()), int(rr.max()) + 1, int(cc.max()) + 1)
        rows.append({"id": c.id, "group": group(c.source), "jaccard": jaccard(m, c.gt),
                     "seconds": time.perf_counter() - t0})
    return rows


def _summary(rows: list[dict]) -> dict:
    secs = np.concatenate([r["seconds"] for r in rows]) if rows else np.zeros(0)
    return {"n": len(rows),
            "noc85": float(np.mean([r["noc85"] for r in rows])),
            "noc90": float(np.mean([r["noc90"] for r in rows])),
            "fail85": float(np.mean([r["fail85"] for r in rows])),
            "fail90": float(np.mean([r["fail90"] for r in rows])),
            "after": {str(k): float(np.mean([r["after"][k] for r in rows])) for k in AFTER},
            "ms_median": float(1000 * np.median(secs)) if secs.size else None,
            "ms_p95": float(1000 * np.percentile(secs, 95)) if secs.size else None,
            "prepare_ms_median": float(1000 * np.median([r["prepare_s"] for r in rows]))}


def _register_rebuild() -> None:
    """Method ``probcut_rebuild``: probcut building its graph anew at every prompt (what it did
    before the graph was kept from the preparation), for a before/after in one run."""
    from types import SimpleNamespace

    from dermview.interactive import METHODS, probcut

    METHODS["probcut_rebuild"] = SimpleNamespace(
        prepare=lambda rgb, prob: probcut.prepare(rgb, prob, reuse_graph=False),
        apply=probcut.apply)


def bench_refine(seg, cases: list, methods: list[str], max_clicks: int) -> dict:
    if "probcut_rebuild" in methods:
        _register_rebuild()
    out: dict = {}
    for name in methods:
        ref = Refiner(seg, method=name)
        out[name] = {}
        for start in ("auto", "scratch"):
            rows = _run_method(ref, cases, start, max_clicks)
            out[name][start] = {g: _summary([r for r in rows if r["group"] == g])
                                for g in ("ISIC", "PH2")}
            out[name][start]["per_image"] = rows
            print(f"  {name} from {start}: ISIC NoC@90 {out[name][start]['ISIC']['noc90']:.2f}",
                  file=sys.stderr, flush=True)
        boxes = _box_run(ref, cases)
        out[name]["box"] = {g: {"jaccard": float(np.mean([b["jaccard"] for b in boxes
                                                          if b["group"] == g])),
                                "ms_median": float(1000 * np.median([b["seconds"] for b in boxes
                                                                      if b["group"] == g]))}
                            for g in ("ISIC", "PH2")}
    return out


# ----------------------------------------------------------------------------- output
def _fmt(v, nd=2):
    return "" if v is None else f"{v:.{nd}f}"


def table(res: dict) -> str:
    lines = ["## Interactive refinement (validation split; simulator: RITM, clicks until "
             f"Jaccard 0.90, at least 5, at most {res['max_clicks']})", ""]
    lines += ["| set | start | method | NoC@85 | NoC@90 | never 85 | never 90 | J@0 | J@1 | J@2 | "
              "J@3 | J@5 | ms/click median | p95 | × GrabCut | prepare ms |", "|" + "---|" * 16]
    ref_ms = {}
    for g in ("ISIC", "PH2"):
        for start in ("auto", "scratch"):
            for m, r in res["refine"].items():
                s = r[start][g]
                if m == "grabcut":
                    ref_ms[(g, start)] = s["ms_median"]
            for m, r in res["refine"].items():
                s = r[start][g]
                base = ref_ms.get((g, start))
                ratio = s["ms_median"] / base if base else None
                a = s["after"]
                lines.append(f"| {g} ({s['n']}) | {start} | {m} | {_fmt(s['noc85'])} | "
                             f"{_fmt(s['noc90'])} | {100 * s['fail85']:.1f} % | "
                             f"{100 * s['fail90']:.1f} % | " + " | ".join(_fmt(a[str(k)], 3) for k in AFTER)
                             + f" | {_fmt(s['ms_median'], 1)} | {_fmt(s['ms_p95'], 1)} | {_fmt(ratio)} | "
                             f"{_fmt(s['prepare_ms_median'], 0)} |")
    lines += ["", "One box prompt (the reference mask's bounding box), from nothing:", "",
              "| method | Jaccard ISIC | Jaccard PH2 | ms ISIC |", "|---|---|---|---|"]
    for m, r in res["refine"].items():
        b = r["box"]
        lines.append(f"| {m} | {b['ISIC']['jaccard']:.3f} | {b['PH2']['jaccard']:.3f} | "
                     f"{b['ISIC']['ms_median']:.1f} |")
    c = res["confidence"]
    lines += ["", f"## Confidence (automatic masks of the same images; {c['n_bad']} of {c['n']} "
              f"have Jaccard < {FAIL_J}; regressions: out-of-fold, {res['folds']}-fold CV)", "",
              "| candidate | AUC all | Spearman all | AUC ISIC | Spearman ISIC | AUC PH2 | Spearman PH2 |",
              "|---|---|---|---|---|---|---|"]
    order = sorted(c["candidates"], key=lambda k: -(c["candidates"][k]["all"]["auc"] or 0))
    for k in order:
        v = c["candidates"][k]
        row = [v["all"]] + [v.get(g, {}) for g in ("ISIC", "PH2")]
        lines.append(f"| {k} | " + " | ".join(f"{_fmt(x.get('auc'), 3)} | {_fmt(x.get('spearman'), 3)}"
                                              for x in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", choices=["val", "train"], default="val")
    ap.add_argument("--limit", type=int, default=None, help="at most N images per set (ISIC, PH2)")
    ap.add_argument("--methods", default="probcut,grabcut")
    ap.add_argument("--max-clicks", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cache", default=None, help="folder for the per-image model outputs")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--medsam-onnx", default=None, metavar="DIR",
                    help="LiteMedSAM export of training/export_medsam_onnx.py (method 'medsam')")
    ap.add_argument("--json", default=None)
    ap.add_argument("--table", default=None)
    ap.add_argument("--write-estimator", default=None, metavar="JSON",
                    help="save the fitted regression named by --estimator here")
    ap.add_argument("--estimator", default="ridge_prob")
    args = ap.parse_args(argv)

    import cv2
    import torch

    from dermview.model.inference import Segmenter

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.medsam_onnx:
        from dermview.interactive import medsam

        medsam.configure(args.medsam_onnx)
    load_start = os.getloadavg()
    seg = Segmenter.load(args.weights, device="cpu")
    pairs = select(args.data, args.split, args.limit)
    cache = Path(args.cache) if args.cache else None
    t0 = time.perf_counter()
    cases = [load_case(p, seg, cache) for p in pairs]
    print(f"{len(cases)} images loaded and segmented in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)
    confidence, fitted = bench_confidence(cases, args.folds)
    res = {"command": " ".join(sys.argv), "split": args.split, "max_clicks": args.max_clicks,
           "folds": args.folds, "model": seg.name, "model_sha256": seg.weights_sha256,
           "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
           "confidence": confidence,
           "estimators": {k: v.to_dict() for k, v in fitted.items()}}
    res["refine"] = bench_refine(seg, cases, [m for m in args.methods.split(",") if m],
                                 args.max_clicks)
    res["loadavg"] = {"start": list(load_start), "end": list(os.getloadavg())}
    text = table(res)
    print(text)
    if args.table:
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1), encoding="utf-8")
    if args.write_estimator:
        est = fitted[args.estimator]
        Path(args.write_estimator).write_text(json.dumps(
            {"name": args.estimator, "fitted_on": f"{args.split} split of training/data.py, "
             f"{len(cases)} images, model {seg.name} ({seg.weights_sha256[:12]})",
             "target": "Jaccard of the automatic mask with the reference",
             "estimator": est.to_dict()}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
