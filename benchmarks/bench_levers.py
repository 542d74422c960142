"""Inference-only levers of the shipped segmenter on the validation split (no training): the
probability threshold, the clean-up step, flip test-time augmentation and flip TTA only where
the confidence estimate is low, each parameter chosen by cross-validation over the images.

    python benchmarks/bench_levers.py --data /work/shared/data/derm \\
        --cache /tmp/levers.npz --json docs/results/bench_levers.json

Each validation image (``training.data.split_pairs``, seed 0) is preprocessed as the model was
trained (frame zeroed), run plain and with the flipped input (``Segmenter.predict_flipped``);
``h`` is their mean (what ``segment_image(tta=True)`` gives). Masks: every threshold of
``--thresholds`` × every clean-up of :data:`CLEANUPS` (``one``: the app's before this
benchmark, largest component + those within 1 % of the diagonal, holes filled); an empty mask
falls back to the peak region as in the app. ``gate<c>``: the plain mask's confidence
(:func:`dermview.confidence.estimate_jaccard`) below ``c`` gets the flip TTA mask (same
threshold and clean-up), the rest keep the plain one. Scores at each image's resolution: Dice,
Jaccard, thresholded Jaccard (ISIC: Jaccard < 0.65 counts 0), failures (Jaccard < 0.65).

Choices are never read off the best number on all images: for each family (clean-up ×
threshold with plain inference; the same with gated TTA at a mean of at most each of
``--forward-budgets`` network forwards per image) the variant is tuned on 4 of 5 folds
(stratified by source) and scored on the 5th, over ``--fold-seeds`` fold seeds; the
held-out estimate is reported beside the current default on the same images. ``--from-cache`` re-runs only the selection.
Timing: ``bench_levers_timing.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _levers_cv import cv_choice, summary  # noqa: E402

CleanFn = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def keep_large(mask: np.ndarray, fraction: float) -> np.ndarray:
    """The app's former clean-up, plus every 8-connected component of at least ``fraction`` of
    the largest's area (bool ``(H, W)`` in and out)."""
    import cv2

    from dermview.postprocess import clean_mask, fill_holes

    base = clean_mask(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    if n <= 2:
        return base
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = np.flatnonzero(areas >= fraction * areas.max()) + 1
    return fill_holes(base | np.isin(labels, big))


def keep_mass(mask: np.ndarray, prob: np.ndarray, fraction: float) -> np.ndarray:
    """The former clean-up plus every component whose probability mass (Σ p) is at least
    ``fraction`` of the heaviest component's."""
    import cv2

    from dermview.postprocess import clean_mask, fill_holes

    base = clean_mask(mask)
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    if n <= 2:
        return base
    mass = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n)[1:]
    big = np.flatnonzero(mass >= fraction * mass.max()) + 1
    return fill_holes(base | np.isin(labels, big))


def _disk(mask: np.ndarray, frac: float) -> np.ndarray:
    import cv2

    r = max(1, round(frac * float(np.hypot(*mask.shape))))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def morph_then_clean(mask: np.ndarray, op: str, frac: float) -> np.ndarray:
    """Morphological opening or closing (disk of radius ``frac`` × diagonal) and then the former
    clean-up; an opening that removes everything leaves the mask as it was."""
    import cv2

    from dermview.postprocess import clean_mask

    code = cv2.MORPH_OPEN if op == "open" else cv2.MORPH_CLOSE
    k = _disk(mask, frac)
    pad = k.shape[0]
    u8 = cv2.copyMakeBorder(mask.view(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, 0)
    out = cv2.morphologyEx(u8, code, k)[pad:-pad, pad:-pad].astype(bool)
    return clean_mask(out if out.any() else mask)


def _cleanups() -> dict[str, CleanFn]:
    """Every clean-up measured: ``fn(raw_mask, prob, threshold) -> mask``."""
    import cv2

    from dermview.masks import fill_holes, keep_largest
    from dermview.postprocess import clean_mask, threshold_mask

    def blur(frac: float) -> CleanFn:
        def fn(raw: np.ndarray, prob: np.ndarray, thr: float) -> np.ndarray:
            s = frac * float(np.hypot(*prob.shape))
            m = threshold_mask(cv2.GaussianBlur(prob, (0, 0), s), thr)
            return clean_mask(m if m.any() else raw)
        return fn

    c: dict[str, CleanFn] = {
        "one": lambda m, p, t: clean_mask(m),
        "largest": lambda m, p, t: fill_holes(keep_largest(m)),
        "all": lambda m, p, t: fill_holes(m),
        "one_nofill": lambda m, p, t: clean_mask(m, fill=False),
    }
    for d in (0.005, 0.02, 0.04, 0.08):
        c[f"merge{d:g}"] = lambda m, p, t, d=d: clean_mask(
            m, merge_distance=d * float(np.hypot(*m.shape)))
    for f in (0.02, 0.05, 0.1, 0.2, 0.35, 0.5):
        c[f"share{f:g}"] = lambda m, p, t, f=f: keep_large(m, f)
    for f in (0.05, 0.1, 0.2, 0.35):
        c[f"mass{f:g}"] = lambda m, p, t, f=f: keep_mass(m, p, f)
    for op in ("open", "close"):
        for r in (0.005, 0.01, 0.02):
            c[f"{op}{r:g}"] = lambda m, p, t, op=op, r=r: morph_then_clean(m, op, r)
    for s in (0.005, 0.01, 0.02):
        c[f"blur{s:g}"] = blur(s)
    return c


def measure(data: str, weights: str | None, thresholds: list[float], limit: int) -> dict:
    """Per-image scores of every plain / flip-TTA variant and the plain masks' confidence."""
    from dermview.confidence import estimate_jaccard
    from dermview.io import load_image, load_mask
    from dermview.metrics import dice, jaccard
    from dermview.model.inference import Segmenter
    from dermview.postprocess import peak_region, threshold_mask
    from dermview.preprocess import preprocess
    from training.data import read_pairs, split_pairs

    seg = Segmenter.load(weights, "cpu", engine="onnx", threads=1)
    _, val = split_pairs(read_pairs(data))
    if limit:
        val = val[:limit]
    cleans = _cleanups()
    keys = [f"{thr:g}|{c}" for thr in thresholds for c in cleans]
    out = {k: np.empty((len(val), len(keys))) for k in
           ("plain_j", "plain_d", "h_j", "h_d", "conf")}
    params = seg.preprocess_params()
    for i, p in enumerate(val):
        rgb = load_image(p.image)
        gt = load_mask(p.mask, shape=rgb.shape[:2])
        pre = preprocess(rgb, params) if params is not None else None
        img = pre.image if pre is not None else rgb
        plain = seg.predict(img)
        flip = seg.predict_flipped(img)
        probs = {"plain": plain, "h": np.float32(0.5) * (plain + flip)}
        for tta, prob in probs.items():
            if pre is not None and pre.frame_mask is not None and pre.frame_mask.any():
                prob[pre.frame_mask] = 0.0
            col = 0
            for thr in thresholds:
                raw = threshold_mask(prob, thr)
                if not raw.any():
                    raw = peak_region(prob)
                for fn in cleans.values():
                    m = fn(raw, prob, thr) if raw.any() else raw
                    out[f"{tta}_j"][i, col] = jaccard(m, gt)
                    out[f"{tta}_d"][i, col] = dice(m, gt)
                    if tta == "plain":
                        out["conf"][i, col] = estimate_jaccard(prob, m)
                    col += 1
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(val)}", flush=True)
    return {**out, "keys": np.array(keys), "sources": np.array([p.source for p in val]),
            "ids": np.array([p.image.stem for p in val]), "model": seg.name,
            "model_sha256": seg.weights_sha256, "engine": seg.engine_name}


def variant_matrix(c: dict, gates: list[float]) -> tuple[list[str], np.ndarray, np.ndarray,
                                                         np.ndarray]:
    """Columns of every variant (plain, h, gate<c>) × (threshold|clean-up): names, Jaccard,
    Dice and forwards ``(n, v)``."""
    names, js, ds, fw = [], [], [], []
    keys = [str(k) for k in c["keys"]]
    n = c["plain_j"].shape[0]
    for tta in ("plain", "h"):
        names += [f"{tta}|{k}" for k in keys]
        js.append(c[f"{tta}_j"])
        ds.append(c[f"{tta}_d"])
        fw.append(np.full((n, len(keys)), 1.0 if tta == "plain" else 2.0))
    for g in gates:
        low = c["conf"] < g
        names += [f"gate{g:g}|{k}" for k in keys]
        js.append(np.where(low, c["h_j"], c["plain_j"]))
        ds.append(np.where(low, c["h_d"], c["plain_d"]))
        fw.append(1.0 + low)
    return names, np.hstack(js), np.hstack(ds), np.hstack(fw)


def select(c: dict, gates: list[float], seeds: int, budgets: list[float], default: str) -> dict:
    """Held-out estimates of each family's tuned choice, beside the default variant (gated
    families once per mean-forwards budget)."""
    names, jac, dic, fw = variant_matrix(c, gates)
    sources = [str(s) for s in c["sources"]]
    tta = np.array([n.split("|")[0] for n in names])
    clean = np.array([n.split("|")[2] for n in names])
    d = names.index(default)
    gated = np.char.startswith(tta, "gate")
    at_default = np.array([n.endswith("|0.5|one") for n in names])
    families: dict[str, tuple[np.ndarray, float | None]] = {
        "threshold (plain, clean-up one)": ((tta == "plain") & (clean == "one"), None),
        "clean-up (plain, threshold 0.5)": ((tta == "plain") & np.array(
            [n.split("|")[1] == "0.5" for n in names]), None),
        "clean-up x threshold (plain)": (tta == "plain", None),
        "flip TTA x clean-up x threshold (2 forwards)": (tta == "h", None),
    }
    for b in budgets:
        families[f"gated flip TTA, gate only (threshold 0.5, clean-up one; <= {b:g} forwards)"] \
            = (gated & at_default, b)
        families[f"gated flip TTA x clean-up x threshold (<= {b:g} forwards)"] = (gated, b)
    out: dict = {"default": {"variant": default, **summary(jac[:, d], dic[:, d])},
                 "families": []}
    for fam, (allowed, budget) in families.items():
        for rule in ("thr_jaccard", "failures"):
            per_seed, chosen = [], []
            for s in range(seeds):
                hj, hd, ch = cv_choice(jac, dic, sources, allowed, rule, 5, s,
                                       cost=fw, budget=budget)
                per_seed.append(summary(hj, hd))
                chosen += [names[i] for i in ch]
            mean = {k: float(np.mean([p[k] for p in per_seed])) for k in per_seed[0]}
            sd = {k: float(np.std([p[k] for p in per_seed])) for k in
                  ("dice", "thresholded_jaccard", "failures")}
            ok = allowed & ((fw.mean(axis=0) <= budget) if budget is not None else True)
            from _levers_cv import objective

            full = int(np.argmax(np.where(ok, objective(jac, rule), -np.inf)))
            vals, counts = np.unique(chosen, return_counts=True)
            out["families"].append({
                "family": fam, "rule": rule, "forward_budget": budget, "held_out": mean,
                "held_out_sd": sd,
                "d_failures": mean["failures"] - out["default"]["failures"],
                "d_thresholded_jaccard": mean["thresholded_jaccard"]
                - out["default"]["thresholded_jaccard"],
                "d_dice": mean["dice"] - out["default"]["dice"],
                "chosen_in_folds": dict(zip(vals.tolist(), counts.tolist(), strict=True)),
                "choice_on_all": names[full],
                "choice_on_all_in_sample": summary(jac[:, full], dic[:, full]),
                "choice_on_all_forwards": float(fw[:, full].mean()),
            })
    # In-sample reference rows (not choices): the named variants on all images.
    ref = {}
    for v in [default, "h|0.5|one", "plain|0.5|largest", "plain|0.5|all",
              "plain|0.5|share0.1", "plain|0.5|share0.2", "plain|0.5|mass0.2",
              "plain|0.5|close0.01", "plain|0.5|open0.01", "plain|0.5|blur0.01",
              "plain|0.5|merge0.04"] + [f"gate{g:g}|0.5|one" for g in gates]:
        if v in names:
            i = names.index(v)
            ref[v] = {**summary(jac[:, i], dic[:, i]), "forwards": float(fw[:, i].mean())}
    out["reference_in_sample"] = ref
    out["cleanup_effect"] = cleanup_effect(c, "0.5")
    return out


def cleanup_effect(c: dict, thr: str) -> dict:
    """Per clean-up at threshold ``thr`` (plain inference): on how many images its Jaccard
    differs from ``one``'s, is higher, lower, and how many failures it adds or removes."""
    keys = [str(k) for k in c["keys"]]
    jac = c["plain_j"]
    base = jac[:, keys.index(f"{thr}|one")]
    out = {}
    for i, k in enumerate(keys):
        t, clean = k.split("|")
        if t != thr or clean == "one":
            continue
        d = jac[:, i] - base
        out[clean] = {"changed": int((np.abs(d) > 1e-9).sum()), "better": int((d > 1e-9).sum()),
                      "worse": int((d < -1e-9).sum()),
                      "failures_added": int(((jac[:, i] < 0.65) & (base >= 0.65)).sum()),
                      "failures_removed": int(((jac[:, i] >= 0.65) & (base < 0.65)).sum())}
    return out


def table(res: dict) -> str:
    """Markdown: the default and each family's held-out estimate."""
    d = res["default"]
    lines = ["| family (choice rule) | Dice | thr. Jaccard | failures | choice on all 323 |",
             "|---|---|---|---|---|",
             f"| default `{d['variant'].replace('|', ' / ')}` | {d['dice']:.4f} | {d['thresholded_jaccard']:.4f} | "
             f"{d['failures']} ({100 * d['failure_share']:.1f} %) | |"]
    for f in res["families"]:
        h, sd = f["held_out"], f["held_out_sd"]
        lines.append(f"| {f['family']} ({f['rule']}) | {h['dice']:.4f} | "
                     f"{h['thresholded_jaccard']:.4f} ± {sd['thresholded_jaccard']:.4f} | "
                     f"{h['failures']:.1f} ± {sd['failures']:.1f} | "
                     f"`{f['choice_on_all'].replace('|', ' / ')}` |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--json", default="")
    ap.add_argument("--cache", default="", help="npz of the per-image scores (written/read)")
    ap.add_argument("--from-cache", action="store_true")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--thresholds", default="0.35,0.4,0.45,0.5,0.55,0.6,0.65")
    ap.add_argument("--gates", default="0.7,0.75,0.78,0.8,0.82,0.84,0.86")
    ap.add_argument("--forward-budgets", default="1.1,1.25",
                    help="mean network forwards per image allowed to gated TTA (one family each)")
    ap.add_argument("--fold-seeds", type=int, default=5)
    ap.add_argument("--default", default="plain|0.5|one")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    command = "python benchmarks/bench_levers.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv)
    if args.from_cache:
        with np.load(args.cache, allow_pickle=False) as z:
            c = {k: z[k] for k in z.files}
    else:
        c = measure(args.data, args.weights, [float(t) for t in args.thresholds.split(",")],
                    args.limit)
        c["measure_command"] = np.array(command)
        if args.cache:
            np.savez_compressed(args.cache, **c)
    gates = [float(g) for g in args.gates.split(",")]
    budgets = [float(b) for b in args.forward_budgets.split(",")]
    res = select(c, gates, args.fold_seeds, budgets, args.default)
    low = {f"{g:g}": float((c["conf"][:, list(c["keys"]).index("0.5|one")] < g).mean())
           for g in gates}
    res = {"command": command, "measured_by": str(c.get("measure_command", command)),
           "model": str(c["model"]), "model_sha256": str(c["model_sha256"]),
           "engine": str(c["engine"]), "n": int(c["plain_j"].shape[0]),
           "split": "training.data.split_pairs(seed 0) validation",
           "cv": {"folds": 5, "fold_seeds": args.fold_seeds, "stratified_by": "source"},
           "forward_budgets": budgets,
           "gate_share_at_0.5_one": low, **res,
           "wall_s": round(time.perf_counter() - t0, 1), "load_avg": os.getloadavg()}
    res["table"] = table(res)
    print(res["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
