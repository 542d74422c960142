"""Levers tried for the colour F1 (issue 12), each scored by 5-fold CV over several fold seeds.

Every lever is fitted inside the training folds only (strength, decision cut and, for the
ensemble, the LR/trees weight chosen on inner out-of-fold or out-of-bag scores); the mean
colour F1 over the six colours is reported per fold seed, with its mean and spread, so that a
gain can be told from the noise of one split. Features are the package's
(:func:`dermview.analysis.color_features.color_features`) plus two candidate groups defined
here (high quantiles of redness, lightness and blueness against the skin; largest connected
area per colour-like region). Expert masks; the shipped learner is the baseline.

    python benchmarks/bench_color_levers.py --data ../shared/data/derm \\
        --criteria ../shared/data/labels/ph2_criteria.csv --json docs/results/bench_color_levers.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _analysis_tune import best_f1_threshold, fit_color_model, qwk  # noqa: E402
from scipy.special import expit  # noqa: E402
from sklearn.ensemble import ExtraTreesClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from dermview.analysis import COLOR_NAMES, AnalysisParams  # noqa: E402
from dermview.analysis.color_features import color_features  # noqa: E402
from dermview.analysis.lesion import fine_lab, prepare  # noqa: E402
from dermview.io import load_image, load_mask  # noqa: E402

Predict = Callable[[np.ndarray], np.ndarray]
CS = (0.01, 0.03, 0.1, 0.3, 1.0)


def _log(x: np.ndarray | float) -> np.ndarray:
    return np.log(np.asarray(x, np.float64) + 0.005)


def quantile_features(lab: np.ndarray, mask: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """90th, 97th, 99.5th percentiles of a*-skin, a*-b*, hue redder than the skin, L*-skin,
    skin-L*, -b*, chroma-skin's: ``float64`` (21,)."""
    x = lab[mask].astype(np.float64)
    s = np.asarray(skin, np.float64)
    lum, a, b = x.T
    hue = np.degrees(np.arctan2(b, a)) - np.degrees(np.arctan2(s[2], s[1]))
    chans = (a - s[1], a - b, -hue, lum - s[0], s[0] - lum, -b, np.hypot(a, b) - np.hypot(s[1], s[2]))
    return np.concatenate([np.percentile(v, (90, 97, 99.5)) for v in chans])


def piece_features(lab: np.ndarray, mask: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Largest connected piece (log share of the lesion) of red-, blue-, black- and
    white-like regions at several thresholds: ``float64`` (17,)."""
    import cv2

    s = np.asarray(skin, np.float64)
    lum, a, b = (lab[..., i].astype(np.float64) for i in range(3))
    area = float(mask.sum())

    def big(w: np.ndarray) -> float:
        n, _, st, _ = cv2.connectedComponentsWithStats((w & mask).astype(np.uint8), connectivity=8)
        return float(_log((st[1:, cv2.CC_STAT_AREA].max() if n > 1 else 0) / area))

    pale = np.hypot(a, b) < np.hypot(s[1], s[2])
    return np.array([big(a - s[1] > t) for t in (5, 10, 15, 20)]
                    + [big((a - s[1] > t) & (lum > 40)) for t in (10, 20)]
                    + [big(b < t) for t in (0, 5, 10)]
                    + [big((b < s[2] - t) & (lum > 25)) for t in (5, 10)]
                    + [big(lum < t) for t in (20, 25, 30)]
                    + [big((lum - s[0] > t) & pale) for t in (-10, -5, 0)])


def deep_features(rgb: np.ndarray, mask: np.ndarray, encoder) -> np.ndarray:
    """The frozen ImageNet encoder on the lesion's bounding box (224 px): per channel of each
    tapped block, mean, sd and 90th percentile over the lesion's cells: ``float64`` (528,)."""
    import cv2
    import torch

    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    box = cv2.resize(rgb[r0:r1, c0:c1], (224, 224), interpolation=cv2.INTER_AREA) / 255.0
    m = cv2.resize(mask[r0:r1, c0:c1].astype(np.uint8), (224, 224), interpolation=cv2.INTER_NEAREST)
    norm = (box - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)
    y = torch.from_numpy(norm.transpose(2, 0, 1)[None].astype(np.float32))
    out = []
    with torch.no_grad():
        y = encoder.act(encoder.bn0(encoder.conv_stem(y)))
        for k, block in enumerate(encoder.blocks):
            y = block(y)
            if k in encoder.taps:
                o = y[0].numpy()
                cells = cv2.resize(m, (o.shape[2], o.shape[1]), interpolation=cv2.INTER_NEAREST) > 0
                v = o[:, cells] if cells.sum() >= 2 else o.reshape(o.shape[0], -1)
                out += [v.mean(1), v.std(1), np.percentile(v, 90, axis=1)]
    return np.concatenate(out).astype(np.float64)


def load(data: Path, criteria: Path) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    import torch

    from dermview.model.classifier_net import LesionEncoder

    torch.set_num_threads(1)
    encoder = LesionEncoder(pretrained=True, taps=(2, 4, 10), head=False).eval()
    params = AnalysisParams()
    f0, fq, fp, fd, y, ya = [], [], [], [], [], []
    for r in csv.DictReader(criteria.open()):
        i = r["image_id"]
        p = prepare(load_image(data / "ph2" / "images" / f"{i}.jpg"),
                    load_mask(data / "ph2" / "masks" / f"{i}_segmentation.png"), params)
        lab = fine_lab(p.rgb, p.mask)
        f0.append(color_features(lab, p.mask, p.skin))
        fq.append(quantile_features(lab, p.mask, p.skin))
        fp.append(piece_features(lab, p.mask, p.skin))
        fd.append(deep_features(p.rgb, p.mask, encoder))
        y.append([int(r[f"color_{c}"]) for c in COLOR_NAMES])
        ya.append(int(r["asymmetry"]))
    f0a, fqa = np.array(f0), np.array(fq)
    feats = {"shipped": f0a, "shipped+quantiles": np.c_[f0a, fqa],
             "shipped+quantiles+pieces": np.c_[f0a, fqa, np.array(fp)],
             "shipped+imagenet": np.c_[f0a, np.array(fd)]}
    return feats, np.array(y), np.array(ya)


def shipped(x: np.ndarray, y: np.ndarray) -> Predict:
    """The shipped learner (``fit_color_model``)."""
    d = fit_color_model(x, y)["color_model"]
    c, s, w, b, t = (np.asarray(d[k]) for k in ("center", "scale", "coef", "bias", "cut"))
    return lambda xt: ((xt - c) / s) @ w.T + b - t


def _lr(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=2000)


def _lr_oof(z: np.ndarray, yk: np.ndarray) -> tuple[float, np.ndarray]:
    """The strength with the best inner out-of-fold F1 and its out-of-fold decision values."""
    nf = int(min(5, yk.sum(), (1 - yk).sum()))
    best: tuple[float, float, np.ndarray] = (-1.0, CS[0], np.zeros(len(yk)))
    for c in CS:
        oof = np.zeros(len(yk))
        for rep in range(2):
            for a, b in StratifiedKFold(nf, shuffle=True, random_state=1 + rep).split(z, yk):
                oof[b] += _lr(c).fit(z[a], yk[a]).decision_function(z[b]) / 2
        f, _ = best_f1_threshold(oof, yk, floor=-np.inf)
        if f > best[0]:
            best = (f, c, oof)
    return best[1], best[2]


def ensemble(weights: tuple[float, ...]) -> Callable[[np.ndarray, np.ndarray], Predict]:
    """Per colour, ``(1-w)·sigmoid(LR) + w·ExtraTrees`` (balanced), w of ``weights`` and the cut
    chosen on inner out-of-fold (LR) and out-of-bag (trees) scores; (1.0,) = trees alone."""
    def fit(x: np.ndarray, y: np.ndarray) -> Predict:
        mu, sd = x.mean(0), x.std(0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        z = (x - mu) / sd
        parts = []
        for k in range(y.shape[1]):
            yk = y[:, k]
            c, oof = _lr_oof(z, yk) if weights != (1.0,) else (CS[0], np.zeros(len(yk)))
            trees = ExtraTreesClassifier(n_estimators=200, min_samples_leaf=2, class_weight="balanced_subsample",
                                         bootstrap=True, oob_score=True, random_state=0, n_jobs=1).fit(x, yk)
            oob = np.nan_to_num(trees.oob_decision_function_[:, 1], nan=0.5)
            best = (-1.0, weights[0], 0.0)
            for w in weights:
                f, t = best_f1_threshold((1 - w) * expit(oof) + w * oob, yk, floor=-np.inf)
                if f > best[0] + 1e-9:
                    best = (f, w, t)
            parts.append((_lr(c).fit(z, yk), trees, best[1], best[2]))

        def predict(xt: np.ndarray) -> np.ndarray:
            zt = (xt - mu) / sd
            return np.stack([(1 - w) * expit(m.decision_function(zt)) + w * e.predict_proba(xt)[:, 1] - t
                             for m, e, w, t in parts], 1)
        return predict
    return fit


def with_pca(n_plain: int, n_components: int,
             learner: Callable[[np.ndarray, np.ndarray], Predict]) -> Callable[[np.ndarray, np.ndarray], Predict]:
    """``learner`` on the first ``n_plain`` columns plus ``n_components`` principal components
    of the rest (standardised; PCA fitted on the training fold only)."""
    from sklearn.decomposition import PCA

    def fit(x: np.ndarray, y: np.ndarray) -> Predict:
        rest = x[:, n_plain:]
        mu, sd = rest.mean(0), rest.std(0) + 1e-6
        pca = PCA(n_components, random_state=0).fit((rest - mu) / sd)

        def reduce(xx: np.ndarray) -> np.ndarray:
            return np.c_[xx[:, :n_plain], pca.transform((xx[:, n_plain:] - mu) / sd)]
        predict = learner(reduce(x), y)
        return lambda xt: predict(reduce(xt))
    return fit


def cross_validate(x: np.ndarray, y: np.ndarray, ya: np.ndarray, fitter, seed: int) -> dict:
    pred = np.zeros_like(y)
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, ya):
        margin = fitter(x[tr], y[tr])(x[te])
        p = (margin >= 0).astype(int)
        none = p.sum(1) == 0  # at least one colour, as find_colors does
        p[none, np.argmax(margin[none], 1)] = 1
        pred[te] = p
    f1 = [float(f1_score(y[:, k], pred[:, k], zero_division=0)) for k in range(y.shape[1])]
    return {"seed": seed, "mean_f1": float(np.mean(f1)), "f1": dict(zip(COLOR_NAMES, f1, strict=True)),
            "n_colors_kappa_qw": qwk(y.sum(1), pred.sum(1))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--criteria", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--seeds", type=int, default=5, help="fold seeds 0..N-1")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    t0 = time.time()
    feats, y, ya = load(Path(args.data), Path(args.criteria))
    levers = [("shipped learner, shipped features", "shipped", shipped),
              ("shipped learner, + quantiles", "shipped+quantiles", shipped),
              ("shipped learner, + quantiles + pieces", "shipped+quantiles+pieces", shipped),
              ("extra trees, + quantiles", "shipped+quantiles", ensemble((1.0,))),
              ("LR/extra-trees blend (w in 0, 0.5, 1 per colour), + quantiles", "shipped+quantiles",
               ensemble((0.0, 0.5, 1.0))),
              ("LR, + ImageNet encoder (PCA 25 in the fold)", "shipped+imagenet",
               with_pca(feats["shipped"].shape[1], 25, ensemble((0.0,))))]
    pos = y.mean(0)
    res: dict = {"n_images": len(y), "folds": 5, "seeds": list(range(args.seeds)), "levers": [],
                 "always_present_f1": dict(zip(COLOR_NAMES, (2 * pos / (1 + pos)).tolist(), strict=True)),
                 "positives": dict(zip(COLOR_NAMES, y.sum(0).tolist(), strict=True)),
                 "command": "python benchmarks/bench_color_levers.py " + " ".join(argv or sys.argv[1:])}
    for name, fk, fitter in levers:
        runs = [cross_validate(feats[fk], y, ya, fitter, s) for s in range(args.seeds)]
        m = [r["mean_f1"] for r in runs]
        res["levers"].append({"lever": name, "features": fk, "n_features": int(feats[fk].shape[1]),
                              "mean_f1_mean": float(np.mean(m)), "mean_f1_sd": float(np.std(m)),
                              "mean_f1_min": float(np.min(m)), "mean_f1_max": float(np.max(m)),
                              "f1_mean": {c: float(np.mean([r["f1"][c] for r in runs])) for c in COLOR_NAMES},
                              "n_colors_kappa_qw_mean": float(np.mean([r["n_colors_kappa_qw"] for r in runs])),
                              "runs": runs})
        print(f"{name:60s} {np.mean(m):.3f} ± {np.std(m):.3f} ({min(m):.3f}-{max(m):.3f})", flush=True)
    res["wall_s"] = time.time() - t0
    res["load_average_1min"] = os.getloadavg()[0]
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
