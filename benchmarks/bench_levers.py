"""Inference-only levers of the shipped segmenter on the validation split (no training):
flip test-time augmentation, threshold and the clean-up step, scored with a bias to failures.

    python benchmarks/bench_levers.py --data /work/shared/data/derm --json docs/results/bench_levers.json

Each validation image (``training.data.split_pairs``, seed 0) is preprocessed as the model was
trained, then the probability map is taken plain, with a horizontal flip averaged in (``h``,
what ``segment_image(tta=True)`` does) and with all four flips (``hv``). Masks: threshold in
``--thresholds``; clean-up ``one`` (the app's: largest component + those within 1 % of the
diagonal, holes filled), ``keep`` (also every component at least ``--keep-fraction`` of the
largest's area: two-part lesions), ``none`` (holes filled only). Scores at each image's
resolution: Dice, Jaccard, thresholded Jaccard (ISIC: Jaccard < 0.65 counts 0) and the share
of failures (Jaccard < 0.65). Model time per variant: the number of forward passes (1, 2, 4).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def keep_large(mask: np.ndarray, fraction: float) -> np.ndarray:
    """The app's clean-up, plus every 8-connected component of at least ``fraction`` of the
    largest's area (bool ``(H, W)`` in and out)."""
    import cv2

    from dermview.postprocess import clean_mask, fill_holes

    base = clean_mask(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    if n <= 2:
        return base
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = np.flatnonzero(areas >= fraction * areas.max()) + 1
    return fill_holes(base | np.isin(labels, big))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--json", default="")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--thresholds", default="0.4,0.45,0.5,0.55,0.6")
    ap.add_argument("--keep-fraction", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    from dermview.io import load_image, load_mask
    from dermview.metrics import ISIC_JACCARD_FLOOR, dice, jaccard
    from dermview.model.inference import Segmenter
    from dermview.postprocess import clean_mask, fill_holes, threshold_mask
    from dermview.preprocess import preprocess
    from training.data import read_pairs, split_pairs

    seg = Segmenter.load(args.weights, "cpu", threads=1)
    _, val = split_pairs(read_pairs(args.data))
    if args.limit:
        val = val[:args.limit]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    cleans = {"one": clean_mask, "keep": lambda m: keep_large(m, args.keep_fraction),
              "none": fill_holes}
    scores: dict[str, list] = {}
    t0 = time.perf_counter()
    for p in val:
        rgb = load_image(p.image)
        gt = load_mask(p.mask, shape=rgb.shape[:2])
        params = seg.preprocess_params()
        pre = preprocess(rgb, params) if params is not None else None
        img = pre.image if pre is not None else rgb
        probs = {"plain": seg.predict(img)}
        fh = seg.predict(np.ascontiguousarray(img[:, ::-1]))[:, ::-1]
        fv = seg.predict(np.ascontiguousarray(img[::-1]))[::-1]
        fhv = seg.predict(np.ascontiguousarray(img[::-1, ::-1]))[::-1, ::-1]
        probs["h"] = (probs["plain"] + fh) / 2
        probs["hv"] = (probs["plain"] + fh + fv + fhv) / 4
        for tta, prob in probs.items():
            if pre is not None and pre.frame_mask is not None and pre.frame_mask.any():
                prob = prob.copy()
                prob[pre.frame_mask] = 0.0
            for thr in thresholds:
                raw = threshold_mask(prob, thr)
                for cname, fn in cleans.items():
                    m = fn(raw) if raw.any() else raw
                    j = jaccard(m, gt)
                    scores.setdefault(f"{tta}|{thr}|{cname}", []).append(
                        (p.source, dice(m, gt), j))
    rows = []
    for key, vals in scores.items():
        tta, thr, cname = key.split("|")
        d = np.array([v[1] for v in vals])
        j = np.array([v[2] for v in vals])
        rows.append({"tta": tta, "forwards": {"plain": 1, "h": 2, "hv": 4}[tta],
                     "threshold": float(thr), "clean": cname, "n": len(vals),
                     "dice": float(d.mean()), "jaccard": float(j.mean()),
                     "thresholded_jaccard": float(np.where(j >= ISIC_JACCARD_FLOOR, j, 0).mean()),
                     "failure_share": float((j < ISIC_JACCARD_FLOOR).mean()),
                     "isic2017_dice": float(np.mean([v[1] for v in vals if v[0] == "isic2017"]))})
    rows.sort(key=lambda r: (r["failure_share"], -r["thresholded_jaccard"]))
    lines = ["| TTA (forwards) | threshold | clean-up | Dice | Jaccard | thr. Jaccard | failures "
             "| ISIC 2017 Dice |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tta']} ({r['forwards']}) | {r['threshold']:g} | {r['clean']} | "
                     f"{r['dice']:.4f} | {r['jaccard']:.4f} | {r['thresholded_jaccard']:.4f} | "
                     f"{100 * r['failure_share']:.1f} % | {r['isic2017_dice']:.4f} |")
    table = "\n".join(lines)
    print(table)
    res = {"command": "python benchmarks/bench_levers.py " + " ".join(sys.argv[1:]),
           "model": seg.name, "model_sha256": seg.weights_sha256, "engine": seg.engine_name,
           "n": len(val), "rows": rows, "table": table,
           "wall_s": round(time.perf_counter() - t0, 1), "load_avg": os.getloadavg()}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
