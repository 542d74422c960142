"""Lesion analysis against the PH2 dermatologists: asymmetry (0-2), the six colours, n_colors.

Cross-validated: the per-colour presence model (logistic regressions on the lesion's colour
features, with their strength and cut chosen by inner cross-validation), the colour
prototypes, the minimum shares, the skin balance (the map and the share-rule baseline), the
asymmetry weight and threshold (and the shape-only baseline's threshold) are tuned on the
training folds only, then the real ``analyze_lesion`` with those values scores the held-out
fold. Run once with the experts' masks (the analysis alone) and once with the bundled
segmenter's masks. Everything is also fitted on all images (``fit_all``): those are the
shipped defaults (``AnalysisParams``; ``--write-defaults`` writes the colour model's module),
reported in-sample for reference only. The time per image runs apart, under the timing lock:

    python benchmarks/bench_analysis.py --data ../shared/data/derm \\
        --criteria ../shared/data/labels/ph2_criteria.csv --json docs/results/bench_analysis.json \\
        --no-timing --write-defaults
    flock /tmp/dermview-timing.lock python benchmarks/bench_analysis.py --data ../shared/data/derm \\
        --criteria ../shared/data/labels/ph2_criteria.csv --json docs/results/bench_analysis.json \\
        --timing-only
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _analysis_tune import (  # noqa: E402
    count_axes,
    fit_color_model,
    qwk,
    tune_asymmetry,
    tune_colours,
)
from sklearn.metrics import precision_recall_fscore_support  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from dermview.analysis import COLOR_NAMES, AnalysisParams, analyze_lesion  # noqa: E402
from dermview.analysis.color_features import color_features  # noqa: E402
from dermview.analysis.lesion import fine_lab, prepare  # noqa: E402
from dermview.io import load_image, load_mask  # noqa: E402

#: Where the colour search starts (the a-priori prototypes, before any tuning) and its cap.
START_PROTOTYPES = ((88.0, 0.0, 4.0), (52.0, 42.0, 22.0), (58.0, 18.0, 28.0), (36.0, 17.0, 20.0),
                    (45.0, -2.0, -6.0), (16.0, 3.0, 2.0))
START_MAX_DISTANCE = 30.0
ASYM_WEIGHTS = (0.0, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05)
SAMPLES = 1500  # lesion pixels sampled per image for tuning the colours


def load_cases(data: Path, criteria: Path, limit: int | None) -> list[dict]:
    rows = list(csv.DictReader(criteria.open()))[:limit]
    cases = []
    for r in rows:
        i = r["image_id"]
        cases.append({
            "id": i, "rgb": load_image(data / "ph2" / "images" / f"{i}.jpg"),
            "expert": load_mask(data / "ph2" / "masks" / f"{i}_segmentation.png"),
            "asym": int(r["asymmetry"]), "n_colors": int(r["n_colors"]),
            "colors": [int(r[f"color_{c}"]) for c in COLOR_NAMES], "diagnosis": r["diagnosis"],
        })
    return cases


def summarise(cases: list[dict], source: str, seed: int) -> dict[str, np.ndarray]:
    """Per image, with the default parameters: sampled lesion CIELAB, skin colour, asymmetry
    scores (all computed by the package's own functions)."""
    rng = np.random.default_rng(seed)
    params = AnalysisParams()
    pix, skins, shape, color, feats = [], [], [], [], []
    for c in cases:
        p = prepare(c["rgb"], c[source], params)
        v = p.lab[p.mask]
        feats.append(color_features(fine_lab(p.rgb, p.mask), p.mask, p.skin))
        pix.append(v[rng.choice(len(v), SAMPLES, replace=len(v) < SAMPLES)])
        skins.append(p.skin)
        a = analyze_lesion(c["rgb"], c[source], params=params).asymmetry
        shape.append(a.shape)
        color.append(a.color)
    return {"pixels": np.array(pix), "skins": np.array(skins), "shape": np.array(shape),
            "color": np.array(color), "features": np.array(feats)}


def fit(s: dict[str, np.ndarray], idx: np.ndarray, y_col: np.ndarray, y_asym: np.ndarray) -> dict:
    """Tune everything on the images ``idx``; returns the AnalysisParams fields and the
    shape-only baseline threshold."""
    col = tune_colours(s["pixels"][idx], s["skins"][idx], y_col[idx],
                       np.asarray(START_PROTOTYPES, np.float64), START_MAX_DISTANCE)
    asym = tune_asymmetry(s["shape"][idx], s["color"][idx], y_asym[idx], ASYM_WEIGHTS)
    base = tune_asymmetry(s["shape"][idx], s["color"][idx], y_asym[idx], (0.0,))
    model = fit_color_model(s["features"][idx], y_col[idx])
    fields = {k: v for k, v in {**col, **asym}.items() if not k.startswith("train_")}
    fields["color_model"] = model["color_model"]
    return {"params": fields, "baseline_threshold": base["asym_threshold"],
            "train": {"color_mean_f1_share_rule": col["train_mean_f1"],
                      "color_model_inner_cv_f1": model["train_color_model_f1"],
                      "color_model_C": model["color_model_C"],
                      "asym_kappa": asym["train_kappa"], "baseline_kappa": base["train_kappa"]}}


def predict(cases: list[dict], source: str, idx: np.ndarray, params: AnalysisParams) -> dict:
    out = {"asym": {}, "colors": {}, "n_colors": {}}
    for i in idx:
        a = analyze_lesion(cases[i]["rgb"], cases[i][source], params=params)
        out["asym"][i] = a.asymmetry.value
        out["colors"][i] = [int(p) for p in a.colors.present]
        out["n_colors"][i] = a.colors.n_colors
    return out


def colour_scores(y_col: np.ndarray, p_col: np.ndarray) -> dict:
    """Precision, recall, F1 per colour and their mean F1."""
    res: dict = {}
    for k, name in enumerate(COLOR_NAMES):
        p, r, f, _ = precision_recall_fscore_support(y_col[:, k], p_col[:, k], average="binary",
                                                     zero_division=0)
        res[name] = {"precision": float(p), "recall": float(r), "f1": float(f),
                     "positives": int(y_col[:, k].sum()), "predicted": int(p_col[:, k].sum())}
    return {"colors": res, "mean_f1": float(np.mean([v["f1"] for v in res.values()]))}


def scores(y_asym, p_asym, y_col, p_col, y_n, p_n, p_base) -> dict:
    res = {
        "asymmetry": {"kappa_qw": qwk(y_asym, p_asym), "accuracy": float(np.mean(y_asym == p_asym))},
        "asymmetry_shape_only_baseline": {"kappa_qw": qwk(y_asym, p_base),
                                          "accuracy": float(np.mean(y_asym == p_base))},
        "colors": {},
        "n_colors": {"kappa_qw": qwk(y_n, p_n), "accuracy": float(np.mean(y_n == p_n)),
                     "within_1": float(np.mean(np.abs(y_n - p_n) <= 1)),
                     "constant_2_within_1": float(np.mean(np.abs(y_n - 2) <= 1))},
    }
    c = colour_scores(y_col, p_col)
    res["colors"], res["colors_mean_f1"] = c["colors"], c["mean_f1"]
    return res


def cross_validate(cases, source, s, folds: int, seed: int) -> dict:
    y_asym = np.array([c["asym"] for c in cases])
    y_col = np.array([c["colors"] for c in cases])
    y_n = np.array([c["n_colors"] for c in cases])
    n = len(cases)
    p_asym, p_n, p_base = np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    p_col = np.zeros((n, len(COLOR_NAMES)), int)
    p_share = np.zeros((n, len(COLOR_NAMES)), int)
    n_share = np.zeros(n, int)
    per_fold = []
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(skf.split(np.zeros(n), y_asym)):
        f = fit(s, tr, y_col, y_asym)
        params = AnalysisParams.from_dict(f["params"])
        pr = predict(cases, source, te, params)
        sr = predict(cases, source, te, params.with_(color_model=None))  # the share rule
        for i in te:
            p_asym[i], p_n[i], p_col[i] = pr["asym"][i], pr["n_colors"][i], pr["colors"][i]
            p_share[i], n_share[i] = sr["colors"][i], sr["n_colors"][i]
        p_base[te] = count_axes(s["shape"][te], s["color"][te], 0.0, f["baseline_threshold"])
        per_fold.append({"fold": k, "n_test": len(te), **f})
        print(f"  {source} fold {k}: inner-CV colour-model F1 "
              f"{np.mean(f['train']['color_model_inner_cv_f1']):.3f}, "
              f"asym kappa {f['train']['asym_kappa']:.3f}", file=sys.stderr)
    share = colour_scores(y_col, p_share)
    share["n_colors_kappa_qw"] = qwk(y_n, n_share)
    return {**scores(y_asym, p_asym, y_col, p_col, y_n, p_n, p_base),
            "share_rule_baseline": share, "folds": per_fold}


def model_masks(cases, weights: str | None) -> dict:
    import torch

    from dermview.metrics import dice
    from dermview.model.inference import Segmenter
    from dermview.segmentation import FROM_MODEL, segment_image

    torch.set_num_threads(1)
    seg = Segmenter.load(weights, device="cpu")
    dices = []
    for c in cases:
        c["model"] = segment_image(c["rgb"], seg, params=FROM_MODEL).mask
        if not c["model"].any():  # an empty prediction: fall back to nothing analysable
            c["model"] = c["expert"]  # noted in the results
            c["model_empty"] = True
        dices.append(dice(c["model"], c["expert"]))
    try:
        from training.data import read_pairs, split_pairs

        train, _ = split_pairs(read_pairs(Path(ARGS.data)))
        trained = {p.id for p in train} & {c["id"] for c in cases}
    except Exception:  # the training package is optional here
        trained = set()
    return {"model": seg.name, "mean_dice_vs_expert": float(np.mean(dices)),
            "empty_predictions": sum(bool(c.get("model_empty")) for c in cases),
            "images_in_model_training_split": len(trained)}


def timing(cases, repeats: int = 3) -> dict:
    """Median seconds per image of analyze_lesion (512 px images), best of ``repeats``."""
    import cv2

    cv2.setNumThreads(1)
    per, cpu = [], []
    for c in cases:
        best, best_cpu = np.inf, np.inf
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            analyze_lesion(c["rgb"], c["expert"])
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        per.append(best)
        cpu.append(best_cpu)
    # a baseline in the same process: one 5x5 Gaussian blur + CIELAB conversion of the image
    base = []
    for c in cases:
        t0 = time.perf_counter()
        cv2.cvtColor(cv2.GaussianBlur(c["rgb"], (5, 5), 0).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
        base.append(time.perf_counter() - t0)
    sizes = [max(c["rgb"].shape[:2]) for c in cases]
    from dermview.model.classifier import Classifier

    clf = Classifier.load(device="cpu")  # what analyze adds per image: the p_* columns
    clf.predict(cases[0]["rgb"], cases[0]["expert"])  # warm-up
    cls_wall, cls_cpu = [], []
    for c in cases:
        t0, c0 = time.perf_counter(), time.process_time()
        clf.predict(c["rgb"], c["expert"])
        cls_wall.append(time.perf_counter() - t0)
        cls_cpu.append(time.process_time() - c0)
    return {"classifier_median_ms": 1000 * float(np.median(cls_wall)),
            "classifier_median_cpu_ms": 1000 * float(np.median(cls_cpu)),
            "classifier_engine": "onnx" if clf.onnx is not None else "torch",
            "median_ms": 1000 * float(np.median(per)), "p90_ms": 1000 * float(np.quantile(per, 0.9)),
            "max_ms": 1000 * float(np.max(per)), "median_cpu_ms": 1000 * float(np.median(cpu)), "image_longest_side_px": int(np.median(sizes)),
            "ratio_to_blur_and_lab": float(np.median(per) / np.median(base)),
            "load_average_1min": os.getloadavg()[0]}


DEFAULT_MODEL_FILE = Path(__file__).resolve().parents[1] / "dermview" / "analysis" / "color_model_default.py"


def write_default_model(model: dict) -> None:
    """The shipped colour model as a Python module (exact float reprs)."""
    from dermview.analysis.color_model import ColorModel

    d = ColorModel.from_dict(model).to_dict()
    body = ",\n".join(f"    {k!r}: {v!r}" for k, v in d.items())
    DEFAULT_MODEL_FILE.write_text(
        '"""The shipped colour model: fitted on all 150 PH2 images by\n'
        '``python benchmarks/bench_analysis.py ... --write-defaults`` (its ``fit_all``).\n'
        'Generated; do not edit."""\n\n'
        "from dermview.analysis.color_model import ColorModel\n\n"
        f"DEFAULT_COLOR_MODEL = ColorModel.from_dict({{\n{body},\n}})\n")


def table(res: dict) -> str:
    lines = ["| masks | asymmetry κ (acc) | shape-only baseline κ | mean colour F1 (share-rule "
             "baseline) | n_colors κ (baseline) |", "|---|---|---|---|---|"]
    for src in ("expert", "model"):
        if src not in res["cv"]:
            continue
        r = res["cv"][src]
        lines.append(f"| {src} | {r['asymmetry']['kappa_qw']:.3f} ({r['asymmetry']['accuracy']:.2f}) | "
                     f"{r['asymmetry_shape_only_baseline']['kappa_qw']:.3f} | {r['colors_mean_f1']:.3f} "
                     f"({r['share_rule_baseline']['mean_f1']:.3f}) | {r['n_colors']['kappa_qw']:.3f} "
                     f"({r['share_rule_baseline']['n_colors_kappa_qw']:.3f}) |")
    lines += ["", "| colour (expert masks, CV) | positives | precision | recall | F1 |", "|---|---|---|---|---|"]
    for name, v in res["cv"]["expert"]["colors"].items():
        lines.append(f"| {name} | {v['positives']} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} |")
    t = res.get("timing")
    if t is None:
        return "\n".join(lines)
    lines += ["", f"time per image ({t['image_longest_side_px']} px, one thread): median {t['median_ms']:.1f} ms "
              f"wall, {t['median_cpu_ms']:.1f} ms CPU, p90 {t['p90_ms']:.1f} ms wall "
              f"({t['ratio_to_blur_and_lab']:.1f}× a blur + CIELAB conversion of the image in the "
              f"same run; load average {t['load_average_1min']:.1f} on 2 cores)"]
    if "classifier_median_ms" in t:
        lines += ["", f"the classifier's p_* columns add a median {t['classifier_median_ms']:.1f} ms "
                  f"wall ({t['classifier_median_cpu_ms']:.1f} ms CPU) per image to `dermview analyze` "
                  f"({t['classifier_engine']}, one thread, same images)"]
    return "\n".join(lines)


def main(argv=None) -> int:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="derm data folder (ph2/images, ph2/masks)")
    ap.add_argument("--criteria", required=True, help="ph2_criteria.csv")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N images only (quick check)")
    ap.add_argument("--no-model", action="store_true", help="skip the segmenter's masks")
    ap.add_argument("--weights", default=None, help="segmenter weights (default: bundled)")
    ap.add_argument("--no-timing", action="store_true",
                    help="skip the time per image (run it apart with --timing-only)")
    ap.add_argument("--timing-only", action="store_true",
                    help="only time the analysis (under the timing lock) and put it into --json")
    ap.add_argument("--write-defaults", action="store_true",
                    help="write the colour model fitted on all images as the shipped default "
                         "(dermview/analysis/color_model_default.py)")
    ARGS = ap.parse_args(argv)
    t_start = time.time()
    cases = load_cases(Path(ARGS.data), Path(ARGS.criteria), ARGS.limit)
    if ARGS.timing_only:
        res = json.loads(Path(ARGS.json).read_text())
        res["timing"] = timing(cases)
        res["timing_command"] = "python benchmarks/bench_analysis.py " + " ".join(argv or sys.argv[1:])
        Path(ARGS.json).write_text(json.dumps(res, indent=2) + "\n")
        Path(ARGS.json).with_suffix(".md").write_text(table(res) + "\n")
        print(table(res))
        return 0
    res: dict = {"n_images": len(cases), "folds": ARGS.folds, "seed": ARGS.seed, "cv": {},
                 "command": "python benchmarks/bench_analysis.py " + " ".join(argv or sys.argv[1:])}
    sources = ["expert"] if ARGS.no_model else ["expert", "model"]
    if not ARGS.no_model:
        res["model_masks"] = model_masks(cases, ARGS.weights)
    summaries = {}
    for src in sources:
        summaries[src] = summarise(cases, src, ARGS.seed)
        res["cv"][src] = cross_validate(cases, src, summaries[src], ARGS.folds, ARGS.seed)
    # the shipped defaults: fitted on all images (in-sample, for reference only)
    y_asym = np.array([c["asym"] for c in cases])
    y_col = np.array([c["colors"] for c in cases])
    y_n = np.array([c["n_colors"] for c in cases])
    full = fit(summaries["expert"], np.arange(len(cases)), y_col, y_asym)
    params = AnalysisParams.from_dict(full["params"])
    if ARGS.write_defaults:
        write_default_model(full["params"]["color_model"])
    pr = predict(cases, "expert", np.arange(len(cases)), params)
    idx = range(len(cases))
    res["fit_all"] = {
        "params": params.to_dict(), "baseline_threshold": full["baseline_threshold"],
        "in_sample": scores(y_asym, np.array([pr["asym"][i] for i in idx]), y_col,
                            np.array([pr["colors"][i] for i in idx]), y_n,
                            np.array([pr["n_colors"][i] for i in idx]),
                            count_axes(summaries["expert"]["shape"], summaries["expert"]["color"],
                                       0.0, full["baseline_threshold"])),
    }
    borders: dict[str, list[int]] = {}
    for c in cases:
        borders.setdefault(c["diagnosis"], []).append(analyze_lesion(c["rgb"], c["expert"]).border.score)
    res["border_score_by_diagnosis"] = {k: {"n": len(v), "mean": float(np.mean(v))} for k, v in borders.items()}
    if not ARGS.no_timing:
        res["timing"] = timing(cases)
    res["wall_s"] = time.time() - t_start
    print(table(res))
    if params != AnalysisParams():
        print("note: AnalysisParams defaults differ from the values fitted on all images "
              "(fit_all.params)", file=sys.stderr)
    if ARGS.json:
        Path(ARGS.json).parent.mkdir(parents=True, exist_ok=True)
        Path(ARGS.json).write_text(json.dumps(res, indent=2) + "\n")
        Path(ARGS.json).with_suffix(".md").write_text(table(res) + "\n")
    return 0


ARGS: argparse.Namespace


if __name__ == "__main__":
    sys.exit(main())
