"""Segmentation models compared in one process on this CPU: parameters, MACs, latency,
validation accuracy per data source, hair preprocessing, end-to-end ``segment`` time.

    python benchmarks/bench_model.py --data ../shared/data/derm --json bench_model.json

Rows: the method's network (``resources/models/dermsegnet_w48.pt``), the pretrained-encoder
variant (``resources/models/dermview_default.pt``, the bundled default), the U-Net baseline
(``--unet-weights``, kept outside the repository; see the model card for the command that
trains it) and a classical baseline (Otsu threshold on grey level + largest component, holes
filled). Accuracy is on the training code's fixed validation split
(``training.data.split_pairs``, seed 0, the four bundled sample ids excluded), at each image's
own resolution, through :func:`dermview.segmentation.segment_image` with the preprocessing the
model was trained with and no clean-up (the network's probability resized back, thresholded
at the model's threshold). Latency: one forward of a ``1×3×S×S`` channels-last tensor, median of
``--repeats`` rounds in which the models are timed in turn (the U-Net in every third round),
``--threads`` torch threads, so the U-Net/method ratio sees the same machine load. Hairy images: the images flagged in ``hair_scores.csv`` among the validation split
and the held-out samples, with and without preprocessing (frame + hair removal, defaults).
End-to-end: ``load_image`` + :func:`dermview.segmentation.segment_image` with preprocessing +
``save_mask`` on 512-px images (what ``dermview segment`` does per file).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ROOT / "resources" / "models"


def count_macs(model, size: int) -> int:
    """Multiply-accumulates of one forward pass on a ``1×3×size×size`` input, counted with
    forward hooks on every convolution, transposed convolution and linear layer."""
    import torch
    from torch import nn

    total = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.ConvTranspose2d):
            total[0] += inp[0].numel() * (m.out_channels // m.groups) * k
        else:
            total[0] += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inp, out):
        total[0] += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.inference_mode():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return total[0]


def otsu_largest_component(rgb: np.ndarray) -> np.ndarray:
    """Classical baseline: Otsu threshold of the blurred grey level (lesion = darker), the
    largest connected component, holes filled. RGB uint8 in, bool mask out."""
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    _, dark = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    if n <= 1:
        return np.zeros(grey.shape, bool)
    h, w = grey.shape
    # the largest component of at least 1 % of the image that does not touch the border
    # (dark vignette corners touch it); if there is none, the largest component
    best, best_key = 1, (-1, -1)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        inner = int(x > 0 and y > 0 and x + bw < w and y + bh < h and area >= 0.01 * h * w)
        if (inner, area) > best_key:
            best, best_key = i, (inner, area)
    mask = (labels == best).astype(np.uint8)
    # fill holes: background not reachable from the (padded) border
    reach = np.pad(1 - mask, 1, constant_values=1)
    cv2.floodFill(reach, None, (0, 0), 2)
    return (mask > 0) | (reach[1:-1, 1:-1] == 1)


def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    from dermview import metrics

    return {"dice": metrics.dice(pred, gt), "jaccard": metrics.jaccard(pred, gt),
            "accuracy": metrics.pixel_accuracy(pred, gt)}


def summarise(rows: list[tuple[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per-source and overall (``all``) means of per-image scores."""
    by: dict[str, list[dict[str, float]]] = {}
    for source, s in rows:
        by.setdefault(source, []).append(s)
        by.setdefault("all", []).append(s)
    return {src: {"n": len(v), **{k: float(np.mean([r[k] for r in v])) for k in v[0]}}
            for src, v in sorted(by.items())}


def evaluate_net(seg, data: list[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    """Per-source scores of ``segment_image(params="model", clean=False)``: the network's
    thresholded output, preprocessed first when the model was trained on preprocessed images."""
    from dermview.segmentation import segment_image

    return summarise([(src, score(segment_image(rgb, seg, params="model", clean=False).mask, gt))
                      for src, rgb, gt in data])


def interleaved_latency(models: dict, sizes: tuple[int, ...], rounds: int,
                        slow: frozenset[str] = frozenset()) -> dict[str, dict[str, float]]:
    """Median (and min) forward time per model and size, the models timed in turn in each
    round so that all see the same machine load; ``slow`` models get a third of the rounds."""
    import torch

    xs = {s: torch.randn(1, 3, s, s).contiguous(memory_format=torch.channels_last) for s in sizes}
    times: dict[str, dict[int, list[float]]] = {k: {s: [] for s in sizes} for k in models}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            for s in sizes:
                m(xs[s])
        for r in range(rounds):
            for k, m in models.items():
                if k in slow and r % 3:
                    continue
                for s in sizes:
                    t = time.perf_counter()
                    m(xs[s])
                    times[k][s].append(time.perf_counter() - t)
    return {k: {**{f"latency_ms_{s}": 1000 * statistics.median(v[s]) for s in sizes},
                **{f"latency_min_ms_{s}": 1000 * min(v[s]) for s in sizes}}
            for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="data folder (manifest.csv, hair_scores.csv)")
    ap.add_argument("--json", default="", help="also write the results here")
    ap.add_argument("--method-weights", default=str(MODELS / "dermsegnet_w48.pt"))
    ap.add_argument("--pretrained-weights", default=str(MODELS / "dermview_default.pt"))
    ap.add_argument("--unet-weights", default=str(ROOT / ".cache" / "models" / "unet_baseline.pt"))
    ap.add_argument("--extra", action="append", default=[], metavar="KEY=WEIGHTS",
                    help="another weights file to compare (repeatable), e.g. method_r369=w.pt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--limit", type=int, default=0, help="validate on at most N images (quick look)")
    args = ap.parse_args(argv)

    import torch

    import training.unet  # noqa: F401  (registers "unet" for load_model)
    from dermview.io import load_image, load_mask, save_mask
    from dermview.model.inference import Segmenter
    from dermview.model.nets import build_model
    from dermview.preprocess import PreprocessParams
    from dermview.segmentation import segment_image
    from training.data import SAMPLE_IDS, read_pairs, split_pairs

    torch.set_num_threads(args.threads)
    pairs = read_pairs(args.data)
    _, val = split_pairs(pairs)
    if args.limit:
        val = val[:: max(1, len(val) // args.limit)][: args.limit]
    data = [(p.source, load_image(p.image), load_mask(p.mask)) for p in val]
    result: dict = {"device": "cpu", "threads": args.threads, "cpu_count": os.cpu_count(),
                    "load_average": os.getloadavg(), "val_images": len(data),
                    "torch": torch.__version__, "models": {}}

    nets = {"method": args.method_weights, "pretrained": args.pretrained_weights,
            "unet": args.unet_weights}
    nets.update(dict(e.split("=", 1) for e in args.extra))
    segs = {}
    for key, path in nets.items():
        if not Path(path).is_file():
            print(f"skipping {key}: {path} not found", file=sys.stderr)
            continue
        seg = Segmenter.load(path, device="cpu", engine="torch")  # .model: the torch module (MACs, latency)
        segs[key] = seg
        fresh = build_model(seg.meta["arch"], **seg.meta["config"]).eval()
        row = {"weights": str(Path(path).relative_to(ROOT)) if Path(path).is_relative_to(ROOT)
               else str(path), "name": seg.name, "arch": seg.meta["arch"],
               "config": seg.meta["config"], "input_size": seg.meta["input_size"],
               "params": sum(p.numel() for p in fresh.parameters()),
               "gmacs_256": count_macs(fresh, 256) / 1e9, "gmacs_512": count_macs(fresh, 512) / 1e9}
        t = time.perf_counter()
        row["val"] = evaluate_net(seg, data)
        row["eval_s"] = time.perf_counter() - t
        result["models"][key] = row
        print(f"{key}: done ({row['eval_s']:.0f} s)", file=sys.stderr, flush=True)

    lat = interleaved_latency({k: s.model for k, s in segs.items()}, (256, 512), args.repeats,
                              slow=frozenset({"unet"}))
    for k, v in lat.items():
        result["models"][k].update(v)

    t = time.perf_counter()
    result["models"]["otsu"] = {"name": "Otsu + largest component", "params": 0,
                                "val": summarise([(s, score(otsu_largest_component(rgb), gt))
                                                  for s, rgb, gt in data])}
    result["models"]["otsu"]["latency_ms_512"] = 1000 * (time.perf_counter() - t) / max(len(data), 1)
    if "method" in segs and "unet" in segs:
        m, u = result["models"]["method"], result["models"]["unet"]
        result["unet_over_method_512"] = u["latency_ms_512"] / m["latency_ms_512"]
        result["method_dice_minus_unet"] = m["val"]["all"]["dice"] - u["val"]["all"]["dice"]

    # hairy images: flagged in hair_scores.csv, not trained on (validation + held-out samples)
    default = segs.get("pretrained")
    hair_csv = Path(args.data) / "hair_scores.csv"
    if segs and hair_csv.is_file():
        with open(hair_csv, newline="", encoding="utf-8") as fh:
            flagged = {r["id"] for r in csv.DictReader(fh) if r.get("hair_flag")}
        unseen = {p.id for p in val} | set(SAMPLE_IDS)
        hairy = [p for p in pairs if p.id in flagged and p.id in unseen]
        hdata = [(p.source, load_image(p.image), load_mask(p.mask)) for p in hairy]
        result["hairy"] = {"ids": [p.id for p in hairy], "models": {}}
        for name, seg in segs.items():
            hres = {}
            for key, params in (("without_preprocessing", None),
                                ("with_preprocessing", PreprocessParams())):
                hres[key] = summarise([(src, score(segment_image(rgb, seg, params=params,
                                                                 clean=False).mask, gt))
                                       for src, rgb, gt in hdata])["all"]
            hres["trained_on_preprocessed"] = seg.trained_on_preprocessed
            result["hairy"]["models"][name] = hres

    # end-to-end segment at 512 px (load, preprocess, predict, clean-up, save)
    if default is not None:
        big = [p for p in val if max(load_image(p.image).shape[:2]) == 512][:5]
        times, parts = [], {"preprocess": [], "predict": [], "postprocess": []}
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(3):
                for p in big:
                    t = time.perf_counter()
                    rgb = load_image(p.image)
                    r = segment_image(rgb, default, params=PreprocessParams(), clean=True)
                    save_mask(Path(tmp) / f"{p.id}_segmentation.png", r.mask)
                    if rep:  # first round warms up
                        times.append(time.perf_counter() - t)
                        for k in parts:
                            parts[k].append(r.timings[k])
        result["end_to_end_512"] = {"images": [p.id for p in big],
                                    "median_ms": 1000 * statistics.median(times),
                                    **{f"{k}_ms": 1000 * statistics.median(v) for k, v in parts.items()}}

    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def print_table(r: dict) -> None:
    srcs = [s for s in ("ph2", "isic2017", "isic2017_small", "isic_lg", "ham10000_ai", "all")
            if s in next(iter(r["models"].values()))["val"]]
    head = ["model", "params", "GMACs@256", "ms@256", "ms@512",
            *[f"Dice {s}" for s in srcs], "Jacc all", "Acc all"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, m in r["models"].items():
        v = m["val"]
        cells = [f"{key} ({m['name']})", f"{m['params'] / 1e6:.2f} M" if m["params"] else "0",
                 f"{m['gmacs_256']:.2f}" if "gmacs_256" in m else "-",
                 f"{m['latency_ms_256']:.1f}" if "latency_ms_256" in m else "-",
                 f"{m['latency_ms_512']:.1f}",
                 *[f"{v[s]['dice']:.4f}" for s in srcs],
                 f"{v['all']['jaccard']:.4f}", f"{v['all']['accuracy']:.4f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nval images: {r['val_images']}; threads {r['threads']}; load average {r['load_average']}")
    if "unet_over_method_512" in r:
        print(f"U-Net / method latency at 512 px: {r['unet_over_method_512']:.1f}x; "
              f"method Dice - U-Net Dice: {r['method_dice_minus_unet']:+.4f}")
    if "hairy" in r:
        h = r["hairy"]
        print(f"\nhairy images ({len(h['ids'])}): Dice without / with preprocessing at inference")
        for k, v in h["models"].items():
            print(f"  {k:<16} {v['without_preprocessing']['dice']:.4f} / "
                  f"{v['with_preprocessing']['dice']:.4f}"
                  f"{'  (trained on preprocessed images)' if v['trained_on_preprocessed'] else ''}")
    if "end_to_end_512" in r:
        e = r["end_to_end_512"]
        print(f"end-to-end segment at 512 px: {e['median_ms']:.1f} ms median (preprocess "
              f"{e['preprocess_ms']:.1f}, predict {e['predict_ms']:.1f}, clean-up "
              f"{e['postprocess_ms']:.1f})")


if __name__ == "__main__":
    raise SystemExit(main())
