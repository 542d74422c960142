"""Candidate segmenters against the shipped one on the validation split, with a bias to
failures: mean Dice, Jaccard, thresholded Jaccard (ISIC: a Jaccard < 0.65 counts 0), share of
failures (Jaccard < 0.65), end-to-end ``segment`` latency and the training CPU-minutes.

    python benchmarks/bench_candidates.py --data /work/shared/data/derm \\
        --candidate shipped=resources/models/dermview_default.pt \\
        --candidate control=runs/control/best.pt ... --json docs/results/bench_candidates.json

Every candidate runs as the app runs it: ONNX Runtime on 1 CPU thread (the export beside the
``.pt``), the model's own preprocessing and resize policy, the frame zeroed, threshold from its
metadata, then the clean-up. Scored on the training code's fixed validation split
(``training.data.split_pairs``, seed 0) at each image's resolution, for four inference
variants: plain or flip TTA (``h``, 2 forwards) × clean-up ``one`` (the app's: main lesion +
components within 1 % of the diagonal) or ``keep`` (also every component ≥ 10 % of the
largest: two-part lesions). Latency: :func:`bench_inference.bench_latency` on the bundled
512×384 sample (medians of ``--repeats``). Training CPU-minutes: ``summary.json`` beside the
weights (``cpu_minutes``, process CPU time including validation), 0 for the shipped model
here (trained before). Run the latency part under the shared timing lock.
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def score_candidate(seg, val, keep_fraction: float = 0.1) -> dict[str, list]:
    """Per-image ``(source, dice, jaccard)`` for each variant ``"<tta>|<clean>"``."""
    from bench_levers import keep_large

    from dermview.io import load_image, load_mask
    from dermview.metrics import dice, jaccard
    from dermview.postprocess import clean_mask, threshold_mask
    from dermview.preprocess import preprocess

    params = seg.preprocess_params()
    cleans = {"one": clean_mask, "keep": lambda m: keep_large(m, keep_fraction)}
    out: dict[str, list] = {}
    for p in val:
        rgb = load_image(p.image)
        gt = load_mask(p.mask, shape=rgb.shape[:2])
        pre = preprocess(rgb, params) if params is not None else None
        img = pre.image if pre is not None else rgb
        probs = {"plain": seg.predict(img), "h": seg.predict(img, tta=True)}
        for tta, prob in probs.items():
            if pre is not None and pre.frame_mask is not None and pre.frame_mask.any():
                prob[pre.frame_mask] = 0.0
            raw = threshold_mask(prob, seg.threshold)
            for cname, fn in cleans.items():
                m = fn(raw) if raw.any() else raw
                out.setdefault(f"{tta}|{cname}", []).append((p.source, dice(m, gt), jaccard(m, gt)))
    return out


def summarise(vals: list) -> dict[str, float]:
    """Means over images of one variant's ``(source, dice, jaccard)`` rows."""
    from dermview.metrics import ISIC_JACCARD_FLOOR

    d = np.array([v[1] for v in vals])
    j = np.array([v[2] for v in vals])
    return {"n": len(vals), "dice": float(d.mean()), "jaccard": float(j.mean()),
            "thresholded_jaccard": float(np.where(j >= ISIC_JACCARD_FLOOR, j, 0).mean()),
            "failure_share": float((j < ISIC_JACCARD_FLOOR).mean()),
            "failures": int((j < ISIC_JACCARD_FLOOR).sum()),
            "isic2017_dice": float(np.mean([v[1] for v in vals if v[0] == "isic2017"]))}


def training_info(pt: Path) -> dict:
    """What the training run beside ``pt`` recorded (CPU-minutes, epochs, arguments)."""
    f = pt.parent / "summary.json"
    if not f.is_file():
        return {"cpu_minutes": 0.0}
    s = json.loads(f.read_text(encoding="utf-8"))
    a = s.get("args", {})
    meta = json.loads(pt.with_suffix(".json").read_text(encoding="utf-8"))
    return {"command": meta.get("training", {}).get("command"), "cpu_minutes": round(float(s.get("cpu_minutes", 0.0)), 2),
            "best_epoch": s.get("best_epoch"), "epochs_run": s.get("epochs_run"),
            "pairs_seen": int(s.get("epochs_run", 0)) * int(a.get("epoch_pairs") or 0),
            "loss": a.get("loss"), "augment": a.get("augment"), "resize": a.get("resize"),
            "lr": a.get("lr"), "init": a.get("init")}


def verdicts(rows: list[dict], budget_ms: float = 100.0) -> dict[str, dict]:
    """The shipping rule against the row named ``shipped`` (plain inference, the app's
    clean-up): better on failures and thresholded Jaccard, not worse on Dice, and the
    end-to-end ``segment`` time within ``budget_ms``. Per candidate, each test and ``ship``."""
    base = next((r for r in rows if r["name"] == "shipped"), None)
    if base is None:
        return {}
    b = base["variants"]["plain|one"]
    out = {}
    for r in rows:
        if r is base:
            continue
        v = r["variants"]["plain|one"]
        tests = {"fewer_failures": v["failures"] < b["failures"],
                 "higher_thresholded_jaccard": v["thresholded_jaccard"] > b["thresholded_jaccard"],
                 "dice_not_lower": v["dice"] >= b["dice"],
                 "within_latency": r["segment_ms"] <= budget_ms}
        out[r["name"]] = {**tests, "ship": all(tests.values()),
                          "d_dice": v["dice"] - b["dice"],
                          "d_thresholded_jaccard": v["thresholded_jaccard"] - b["thresholded_jaccard"],
                          "d_failures": v["failures"] - b["failures"]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--candidate", action="append", required=True, metavar="NAME=WEIGHTS.pt")
    ap.add_argument("--json", default="")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--limit", type=int, default=0, help="first N validation pairs (tests)")
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    from bench_inference import bench_latency

    from dermview.io import load_image
    from dermview.model.inference import Segmenter
    from training.data import read_pairs, split_pairs

    _, val = split_pairs(read_pairs(args.data))
    if args.limit:
        val = val[:args.limit]
    sample = load_image(ROOT / "resources" / "samples" / "IMD009.jpg")
    rows = []
    t0 = time.perf_counter()
    for spec in args.candidate:
        name, _, path = spec.partition("=")
        pt = Path(path)
        seg = Segmenter.load(pt, device="cpu", engine="onnx", threads=1)
        lat = bench_latency(seg, sample, args.repeats)
        per = score_candidate(seg, val)
        variants = {k: summarise(v) for k, v in per.items()}
        rows.append({"name": name, "weights": str(pt), "model": seg.name,
                     "sha256": seg.weights_sha256, "resize": seg.meta.get("resize", "stretch"),
                     "training": training_info(pt), "variants": variants,
                     "segment_ms": lat["segment_with_preprocess_ms"],
                     "segment_tta_ms": round(lat["segment_with_preprocess_ms"]
                                             - lat["predict_ms"] + lat["predict_tta_ms"], 2),
                     "latency": lat, "load_avg": os.getloadavg()})
        print(f"{name}: {variants['plain|one']}", flush=True)
    lines = ["| candidate | inference | Dice | Jaccard | thr. Jaccard | failures (J<0.65) "
             "| segment ms (1 thread) | training CPU-min |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for key, v in r["variants"].items():
            tta, clean = key.split("|")
            ms = r["segment_ms"] if tta == "plain" else r["segment_tta_ms"]
            lines.append(f"| {r['name']} | {'flip TTA' if tta == 'h' else 'plain'}, {clean} | "
                         f"{v['dice']:.4f} | {v['jaccard']:.4f} | {v['thresholded_jaccard']:.4f} | "
                         f"{100 * v['failure_share']:.1f} % ({v['failures']}) | {ms:.1f} | "
                         f"{r['training']['cpu_minutes']:.1f} |")
    table = "\n".join(lines)
    print(table)
    res = {"command": "python benchmarks/bench_candidates.py " + " ".join(
               sys.argv[1:] if argv is None else argv),
           "n": len(val), "split": "training.data.split_pairs(seed 0) validation",
           "rows": rows, "table": table, "verdicts": verdicts(rows), "wall_s": round(time.perf_counter() - t0, 1),
           "load_avg": os.getloadavg()}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
