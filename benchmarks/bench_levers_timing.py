"""End-to-end ``segment_image`` time of inference variants against the plain default, in one
process, on 512-px images, 1 thread (the latency budget: ≤ 100 ms per 512-px image).

    flock /tmp/dermview-timing.lock nice -n 5 env OMP_NUM_THREADS=1 \\
        python benchmarks/bench_levers_timing.py --data /work/shared/data/derm \\
        --variant 'gate0.8={"tta": "auto", "tta_gate": 0.8}' --variant 'tta={"tta": true}' \\
        --share-from docs/results/bench_levers.json --json docs/results/bench_levers_timing.json

Images: the validation images (``training.data.split_pairs``, seed 0) whose long side is 512
px, as the app runs them (the model's preprocessing, ONNX Runtime, 1 network thread, OpenCV 1
thread). Every round times each image with every variant in a shuffled order (so drifts in the
machine's load fall on all variants alike); per variant: mean, median and 95th percentile over
all (image, round) times (wall clock, and the process's CPU time: on a shared machine the CPU
time is what the call would take with a core to itself), the mean of the per-image ratio to
``default`` (plain ``segment_image``), and the share of images where the flipped pass ran; with
``--share-from`` a gated variant's mean is also projected to the validation split's share of
flipped images at its gate (from ``bench_levers.json``). The load average before and after is recorded
(the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--variant", action="append", default=[], metavar='NAME=JSON_KWARGS')
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="first N 512-px images")
    ap.add_argument("--share-from", default="", metavar="BENCH_LEVERS.json",
                    help="project each gated variant (tta_gate c) to the validation share of "
                         "flipped images at gate c in this bench_levers.py results file")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    args.share = None
    import cv2

    cv2.setNumThreads(1)
    from dermview.io import load_image
    from dermview.model.inference import Segmenter
    from dermview.segmentation import segment_image
    from training.data import read_pairs, split_pairs

    variants: dict[str, dict] = {"default": {}}
    for spec in args.variant:
        name, _, kw = spec.partition("=")
        variants[name] = json.loads(kw)
    if args.share_from:
        shares = json.loads(Path(args.share_from).read_text(encoding="utf-8"))[
            "gate_share_at_0.5_one"]
        args.share = {v: shares[f"{kw['tta_gate']:g}"] for v, kw in variants.items()
                      if kw.get("tta") == "auto" and f"{kw.get('tta_gate', 0):g}" in shares}
    seg = Segmenter.load(None, "cpu", engine="onnx", threads=1)
    _, val = split_pairs(read_pairs(args.data))
    images = []
    for p in val:
        rgb = load_image(p.image)
        if max(rgb.shape[:2]) == 512:
            images.append((p.image.stem, rgb))
    if args.limit:
        images = images[:args.limit]
    load_before = os.getloadavg()
    for _, rgb in images[:2]:  # warm-up
        for kw in variants.values():
            segment_image(rgb, seg, **kw)
    rng = np.random.default_rng(0)
    times = {v: np.empty((args.rounds, len(images))) for v in variants}
    cpu = {v: np.empty((args.rounds, len(images))) for v in variants}
    ran = {v: np.zeros(len(images), bool) for v in variants}
    t0 = time.perf_counter()
    for r in range(args.rounds):
        for i, (_, rgb) in enumerate(images):
            for v in rng.permutation(list(variants)):
                t, c = time.perf_counter(), time.process_time()
                res = segment_image(rgb, seg, **variants[v])
                times[v][r, i] = time.perf_counter() - t
                cpu[v][r, i] = time.process_time() - c
                ran[v][i] = res.tta_applied
    base = times["default"]
    rows = {}
    for v, t in times.items():
        ms = 1000 * t
        rows[v] = {"kwargs": variants[v], "mean_ms": round(float(ms.mean()), 2),
                   "median_ms": round(float(np.median(ms)), 2),
                   "p95_ms": round(float(np.percentile(ms, 95)), 2),
                   "ratio_to_default": round(float((t / base).mean()), 3),
                   "cpu_mean_ms": round(float(1000 * cpu[v].mean()), 2),
                   "cpu_p95_ms": round(float(1000 * np.percentile(cpu[v], 95)), 2),
                   "tta_share": float(ran[v].mean())}
        if args.share is not None and ran[v].any() and (~ran[v]).any():
            # The mean at another share of flipped images (e.g. the validation split's):
            # the images that kept the plain mask cost ``a`` on average, the flipped ``b``.
            for key, arr in (("projected_mean_ms", times[v]), ("projected_cpu_mean_ms", cpu[v])):
                a = 1000 * float(arr[:, ~ran[v]].mean())
                b = 1000 * float(arr[:, ran[v]].mean())
                rows[v][key] = round(a + args.share[v] * (b - a), 2) if v in args.share else None
    lines = ["| variant | mean ms | median ms | p95 ms | CPU mean ms | CPU p95 ms | × default "
             "| flipped pass on |", "|---|---|---|---|---|---|---|---|"]
    for v, r in rows.items():
        lines.append(f"| {v} | {r['mean_ms']:.1f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['cpu_mean_ms']:.1f} | {r['cpu_p95_ms']:.1f} | "
                     f"{r['ratio_to_default']:.2f} | {100 * r['tta_share']:.0f} % |")
    table = "\n".join(lines)
    print(table)
    res = {"command": "python benchmarks/bench_levers_timing.py " + shlex.join(
               sys.argv[1:] if argv is None else argv),
           "model": seg.name, "engine": seg.engine_name, "threads": 1,
           "images": [s for s, _ in images], "n_images": len(images), "rounds": args.rounds,
           "rows": rows, "table": table, "load_avg_before": load_before,
           "load_avg_after": os.getloadavg(), "wall_s": round(time.perf_counter() - t0, 1)}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
