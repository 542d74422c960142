"""Inference choices, measured in one process: tensor layout, flip TTA, post-processing,
end-to-end ``segment`` time at 512 px, and memory on a 6000×4000 image.

    python benchmarks/bench_inference.py --data ../shared/data/derm --json bench_inference.json

Quality is scored on the training code's fixed validation split (``training.data.split_pairs``)
at the images' own resolution, per source, with the bundled model unless ``--weights``.
Times are medians; each variant is timed interleaved with its baseline and reported as a ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 2)


def bench_layout(seg, repeats: int) -> dict:
    """Forward time NCHW vs channels_last (the Segmenter uses channels_last on CPU for the
    architectures in ``inference.CHANNELS_LAST_ARCHS``)."""
    import torch

    from dermview.model.nets import build_model

    h, w = seg.input_size
    x = torch.randn(1, 3, h, w)
    nchw = build_model(seg.meta["arch"], **seg.meta["config"]).eval()
    nchw.load_state_dict(seg.model.state_dict())
    nhwc = build_model(seg.meta["arch"], **seg.meta["config"]).eval()
    nhwc.load_state_dict(seg.model.state_dict())
    nhwc = nhwc.to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    out = {}
    for threads in sorted({1, torch.get_num_threads()}):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        a, b = [], []
        with torch.inference_mode():
            for _ in range(3):
                nchw(x), nhwc(xc)
            for _ in range(repeats):
                t = time.perf_counter()
                nchw(x)
                a.append(time.perf_counter() - t)
                t = time.perf_counter()
                nhwc(xc)
                b.append(time.perf_counter() - t)
        torch.set_num_threads(old)
        out[f"threads_{threads}"] = {
            "nchw_ms": _median_ms(a), "channels_last_ms": _median_ms(b),
            "ratio": round(statistics.median(q / p for p, q in zip(a, b, strict=True)), 3),
        }
    return out


def bench_latency(seg, rgb: np.ndarray, repeats: int) -> dict:
    """predict() with and without TTA; segment_image() with and without preprocessing."""
    from dermview.preprocess.params import PreprocessParams
    from dermview.segmentation import segment_image

    plain, tta, e2e_raw, e2e_pre = [], [], [], []
    pre_parts: list[dict] = []
    for _ in range(2):
        seg.predict(rgb)
        segment_image(rgb, seg, params=PreprocessParams())
    for _ in range(repeats):
        t = time.perf_counter()
        seg.predict(rgb)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        seg.predict(rgb, tta=True)
        tta.append(time.perf_counter() - t)
        t = time.perf_counter()
        segment_image(rgb, seg, params=None)
        e2e_raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        r = segment_image(rgb, seg, params=PreprocessParams())
        e2e_pre.append(time.perf_counter() - t)
        pre_parts.append(r.timings)
    return {
        "image": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "predict_ms": _median_ms(plain),
        "predict_tta_ms": _median_ms(tta),
        "tta_ratio": round(statistics.median(b / a for a, b in zip(plain, tta, strict=True)), 3),
        "segment_no_preprocess_ms": _median_ms(e2e_raw),
        "segment_with_preprocess_ms": _median_ms(e2e_pre),
        "segment_with_preprocess_parts_ms": {
            k: _median_ms([p[k] for p in pre_parts]) for k in pre_parts[0]},
        "target_segment_ms": 100,
    }


def bench_quality(seg, data: Path, limit: int) -> dict:
    """Dice / Jaccard per source on the validation split: plain (model threshold), flip TTA,
    no clean-up, and other thresholds on the same probability maps."""
    from dermview.io import load_image, load_mask
    from dermview.metrics import evaluate_masks
    from dermview.postprocess import mask_from_prob
    from dermview.segmentation import FROM_MODEL, segment_image
    from training.data import read_pairs, split_pairs

    _, val = split_pairs(read_pairs(data))
    by_source: dict[str, list] = {}
    for p in val:
        if len(by_source.setdefault(p.source, [])) < limit:
            by_source[p.source].append(p)
    sweep = (0.3, 0.4, 0.6, 0.7)
    variants = ("plain", "tta", "no_clean", *(f"threshold_{t}" for t in sweep))
    scores: dict[str, dict[str, list[dict]]] = {v: {} for v in variants}
    for source, pairs in by_source.items():
        for p in pairs:
            rgb = load_image(p.image)
            gt = load_mask(p.mask, shape=rgb.shape[:2])
            res = segment_image(rgb, seg, params=FROM_MODEL)
            scores["plain"].setdefault(source, []).append(evaluate_masks(res.mask, gt))
            raw = mask_from_prob(res.prob, res.threshold, clean=False)
            scores["no_clean"].setdefault(source, []).append(evaluate_masks(raw, gt))
            for t in sweep:
                m = mask_from_prob(res.prob, t)
                scores[f"threshold_{t}"].setdefault(source, []).append(evaluate_masks(m, gt))
            res_t = segment_image(rgb, seg, params=FROM_MODEL, tta=True)
            scores["tta"].setdefault(source, []).append(evaluate_masks(res_t.mask, gt))
    out: dict = {}
    for v in variants:
        out[v] = {}
        for source, rows in scores[v].items():
            out[v][source] = {
                "n": len(rows),
                "dice": round(float(np.mean([r["dice"] for r in rows])), 4),
                "jaccard": round(float(np.mean([r["jaccard"] for r in rows])), 4),
                "thresholded_jaccard": round(float(np.mean([r["thresholded_jaccard"]
                                                            for r in rows])), 4),
            }
        allrows = [r for rows in scores[v].values() for r in rows]
        out[v]["all"] = {"n": len(allrows),
                         "dice": round(float(np.mean([r["dice"] for r in allrows])), 4),
                         "jaccard": round(float(np.mean([r["jaccard"] for r in allrows])), 4)}
    return out


def bench_huge(seg) -> dict:
    """6000×4000 image: predict + threshold/clean-up time and peak resident memory growth."""
    from dermview.segmentation import segment_image

    rgb = np.full((4000, 6000, 3), 190, np.uint8)
    yy, xx = np.ogrid[:4000, :6000]
    rgb[((yy - 2000) ** 2 + (xx - 3000) ** 2) < 1200**2] = (90, 60, 50)
    import psutil

    before = psutil.Process().memory_info().rss
    t = time.perf_counter()
    res = segment_image(rgb, seg, params=None)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"image": "6000x4000", "seconds": round(elapsed, 3),
            "timings_s": {k: round(v, 3) for k, v in res.timings.items()},
            "input_mb": round(rgb.nbytes / 1e6, 1),
            "peak_rss_above_start_mb": round(max(0, after - before) / 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="data folder (manifest.csv); "
                    "without it the quality section is skipped")
    ap.add_argument("--weights", default=None, help="weights .pt (default: bundled model)")
    ap.add_argument("--limit", type=int, default=40, help="validation images per source")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--skip-huge", action="store_true", help="skip the 6000×4000 image")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from dermview.io import load_image
    from dermview.model.inference import Segmenter

    seg = Segmenter.load(args.weights, device="cpu")
    rgb = load_image(ROOT / "resources" / "samples" / "IMD009.jpg")
    result: dict = {"weights": str(seg.weights_path), "model": seg.name,
                    "input_size": list(seg.input_size), "torch_threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}
    if not args.skip_huge:
        result["huge"] = bench_huge(seg)  # first: ru_maxrss is a lifetime peak
    result["layout"] = bench_layout(seg, args.repeats)
    result["latency"] = bench_latency(seg, rgb, args.repeats)
    if args.data is not None:
        result["quality"] = bench_quality(seg, args.data, args.limit)

    print(json.dumps(result, indent=2))
    print(f"\ntorch threads {result['torch_threads']}, load average {result['load_average_1min']:.1f} "
          f"on {result['cpu_count']} CPUs")
    for name, r in result["layout"].items():
        print(f"layout {name:<10} NCHW {r['nchw_ms']:>7.1f} ms  channels_last "
              f"{r['channels_last_ms']:>7.1f} ms  ratio {r['ratio']:.2f}")
    lat = result["latency"]
    print(f"predict {lat['image']}: {lat['predict_ms']:.1f} ms, TTA {lat['predict_tta_ms']:.1f} ms "
          f"(ratio {lat['tta_ratio']:.2f})")
    print(f"segment {lat['image']}: {lat['segment_no_preprocess_ms']:.1f} ms without, "
          f"{lat['segment_with_preprocess_ms']:.1f} ms with preprocessing (target < 100 ms)")
    if "quality" in result:
        print(f"{'variant':<10}{'source':<16}{'n':>4}{'dice':>8}{'jaccard':>9}")
        for v, per in result["quality"].items():
            for source, r in per.items():
                print(f"{v:<10}{source:<16}{r['n']:>4}{r['dice']:>8.4f}{r['jaccard']:>9.4f}")
    hg = result.get("huge")
    if hg:
        print(f"huge {hg['image']}: {hg['seconds']:.2f} s, peak RSS "
              f"{hg['peak_rss_above_start_mb']} MB above start (input {hg['input_mb']} MB)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
