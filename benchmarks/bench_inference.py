"""Inference choices, measured in one process: engines (PyTorch eager NCHW / channels-last vs
ONNX Runtime, 1 and 2 threads) and their Dice on the validation split, flip TTA,
post-processing, end-to-end ``segment`` time at 512 px, and memory on a 6000×4000 image.

    python benchmarks/bench_inference.py --data ../shared/data/derm --json bench_inference.json
    python benchmarks/bench_inference.py --data ../shared/data/derm --only-engines --json docs/results/bench_engines.json

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


def bench_engines(weights, repeats: int) -> dict:
    """Network forward of one ``1×3×S×S`` input (S = the model's input size): PyTorch eager
    (NCHW and channels-last) against ONNX Runtime, on 1 and 2 threads, interleaved; ratios are
    medians of per-round ratios against torch NCHW on the same thread count."""
    import torch

    from dermview.model.engines import load_engine
    from dermview.model.nets import build_model
    from dermview.model.weights import DEFAULT_METADATA, metadata_path

    meta_file = metadata_path(weights) if weights else DEFAULT_METADATA
    tch = load_engine(meta_file, engine="torch", device="cpu", threads=1)
    h, w = int(tch.meta["input_size"]), int(tch.meta["input_size"])
    x = np.random.default_rng(0).standard_normal((1, 3, h, w), dtype=np.float32)
    nhwc = build_model(tch.meta["arch"], **tch.meta["config"]).eval()
    nhwc.load_state_dict(tch.model.state_dict())
    nhwc = nhwc.to(memory_format=torch.channels_last)
    xt = torch.from_numpy(x)
    xc = xt.contiguous(memory_format=torch.channels_last)
    out: dict = {}
    for threads in (1, 2):
        ort = load_engine(meta_file, engine="onnx", device="cpu", threads=threads)
        torch.set_num_threads(threads)
        variants = {
            "torch_nchw": lambda: tch.model(xt),
            "torch_channels_last": lambda: nhwc(xc),
            "onnx": lambda ort=ort: ort.run(x),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        with torch.inference_mode():
            for fn in variants.values():
                for _ in range(3):
                    fn()
            for _ in range(repeats):
                for name, fn in variants.items():
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
        base = times["torch_nchw"]
        out[f"threads_{threads}"] = {
            **{f"{k}_ms": _median_ms(v) for k, v in times.items()},
            **{f"{k}_ratio": round(statistics.median(q / p for p, q in zip(base, v, strict=True)), 3)
               for k, v in times.items() if k != "torch_nchw"},
        }
        diff = float(np.abs(ort.run(x) - tch.model(xt).detach().numpy()).max())
        out[f"threads_{threads}"]["onnx_max_logit_diff"] = float(f"{diff:.3g}")
    torch.set_num_threads(1)
    return out


def bench_engine_quality(weights, data: Path, limit: int | None) -> dict:
    """Dice / Jaccard of the validation split with each engine (the default chain:
    preprocessing as trained, threshold, clean-up), and how often the masks differ."""
    from dermview.io import load_image, load_mask
    from dermview.metrics import evaluate_masks
    from dermview.model.inference import Segmenter
    from dermview.segmentation import segment_image
    from training.data import read_pairs, split_pairs

    _, val = split_pairs(read_pairs(data))
    val = val[:limit] if limit else val
    segs = {e: Segmenter.load(weights, device="cpu", engine=e, threads=1)
            for e in ("onnx", "torch")}
    rows: dict[str, list[dict]] = {e: [] for e in segs}
    differing, worst = 0, 0.0
    for p in val:
        rgb = load_image(p.image)
        gt = load_mask(p.mask, shape=rgb.shape[:2])
        res = {e: segment_image(rgb, s) for e, s in segs.items()}
        for e, r in res.items():
            rows[e].append(evaluate_masks(r.mask, gt))
        differing += int(not np.array_equal(res["onnx"].mask, res["torch"].mask))
        worst = max(worst, float(np.abs(res["onnx"].prob - res["torch"].prob).max()))
    out = {e: {"n": len(r), "dice": round(float(np.mean([x["dice"] for x in r])), 5),
               "jaccard": round(float(np.mean([x["jaccard"] for x in r])), 5)}
           for e, r in rows.items()}
    out["dice_difference"] = round(out["onnx"]["dice"] - out["torch"]["dice"], 5)
    out["images_with_different_masks"] = differing
    out["max_prob_diff"] = float(f"{worst:.3g}")
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
                    help="CPU threads of the network (default: the thread policy's choice)")
    ap.add_argument("--skip-huge", action="store_true", help="skip the 6000×4000 image")
    ap.add_argument("--engine", default="auto", choices=["auto", "onnx", "torch"],
                    help="engine of the latency, quality and huge-image sections")
    ap.add_argument("--only-engines", action="store_true",
                    help="only the engine sections (forward times, quality per engine)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import os

    from dermview.io import load_image
    from dermview.model.inference import Segmenter

    seg = Segmenter.load(args.weights, device="cpu", engine=args.engine, threads=args.threads)
    rgb = load_image(ROOT / "resources" / "samples" / "IMD009.jpg")
    result: dict = {"command": "python benchmarks/bench_inference.py " + " ".join(
                        sys.argv[1:] if argv is None else argv),
                    "weights": str(seg.weights_path), "model": seg.name, "engine": seg.engine_name,
                    "input_size": list(seg.input_size), "threads": seg.engine.threads,
                    "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}
    if not args.skip_huge and not args.only_engines:
        result["huge"] = bench_huge(seg)  # first: ru_maxrss is a lifetime peak
    result["engines"] = bench_engines(args.weights, args.repeats)
    if not args.only_engines:
        result["latency"] = bench_latency(seg, rgb, args.repeats)
    if args.data is not None:
        result["engine_quality"] = bench_engine_quality(args.weights, args.data, None)
        if not args.only_engines:
            result["quality"] = bench_quality(seg, args.data, args.limit)
    result["load_average_1min_after"] = os.getloadavg()[0]

    print(json.dumps(result, indent=2))
    print(f"\nengine {result['engine']}, {result['threads']} thread(s), load average "
          f"{result['load_average_1min']:.1f} on {result['cpu_count']} CPUs")
    for name, r in result["engines"].items():
        print(f"forward {name:<10} torch NCHW {r['torch_nchw_ms']:>7.1f} ms  channels_last "
              f"{r['torch_channels_last_ms']:>7.1f} ms  ONNX Runtime {r['onnx_ms']:>7.1f} ms "
              f"(ratio {r['onnx_ratio']:.2f}; target ≤ 0.7 on 1 thread)")
    if "engine_quality" in result:
        q = result["engine_quality"]
        print(f"validation ({q['onnx']['n']} images): Dice onnx {q['onnx']['dice']:.4f}, torch "
              f"{q['torch']['dice']:.4f}; {q['images_with_different_masks']} image(s) with "
              f"different masks; max probability difference {q['max_prob_diff']:.1e}")
    lat = result.get("latency")
    if lat:
        print(f"predict {lat['image']}: {lat['predict_ms']:.1f} ms, TTA {lat['predict_tta_ms']:.1f} "
              f"ms (ratio {lat['tta_ratio']:.2f})")
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
