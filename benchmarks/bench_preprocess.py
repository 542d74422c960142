"""Benchmark frame and hair removal against a DullRazor baseline, side by side in one process.

* Synthetic hair (``_hair_synth.add_hair``: 1-60 curved anti-aliased hairs, width 1-5 px, dark
  and light) drawn on hair-free images (``hair_scores.csv``: lowest hair scores, no hair flag;
  512 px sources PH2, isic_lg, HAM10000), resized to longest side 512: PSNR and SSIM of the
  repaired image against the clean one, hair-mask precision / recall / F1 (pooled over pixels),
  median time per image. Quality is measured with frame removal off (the baseline has none);
  time is given for hair only and for the full default pipeline (frame + hair).
* Lesion safety on the same clean images (no synthetic hair): share of ground-truth lesion
  pixels flagged as hair, and covered by the frame mask (pooled over images).
* ``--sheet PNG``: before / after contact sheet of the real hairy images (``hair_flag``
  heavy_visual or candidate), default parameters, each tile labelled with N and the mode.

DullRazor baseline (the common OpenCV version): grey → black-hat with a 17×17 cross →
3×3 Gaussian → threshold 10 → ``cv2.inpaint`` Telea, radius 1. The time target (median <= 35 %)
is judged against this one. A second row, ``dullrazor_r6``, is the variant most published
Python re-implementations use (9×9 cross, Telea radius 6): slower, reported for reference.
Also timed: frame removal alone (512 px), and both pipelines on the same images upscaled to
1024 px (dermview detects at 512 px and repairs there; the baseline runs at full size).

    python benchmarks/bench_preprocess.py --data ../shared/data/derm --json bench_preprocess.json \\
        --sheet docs/preprocess_sheet.png
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hair_synth import add_hair  # noqa: E402

from dermview.io import load_image, load_mask  # noqa: E402
from dermview.preprocess import PreprocessParams, preprocess  # noqa: E402

SIZE = 512
SOURCES_512 = ("ph2", "isic_lg", "ham10000_ai")
#: Visibly hairy despite a low hair_score (light grey hair the heuristic misses; found by
#: looking at a sheet of the selected "clean" images): not a clean reference.
NOT_CLEAN = {"IMD003"}


def dullrazor(rgb: np.ndarray, cross: int = 17, radius: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """DullRazor baseline: grey black-hat with a ``cross``×``cross`` cross, 3×3 Gaussian,
    threshold 10, ``cv2.inpaint`` Telea of ``radius``: (repaired RGB uint8, hair mask bool).
    9×9 with radius 6 (row ``dullrazor_r6``) is how most published Python re-implementations
    write it."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (cross, cross))
    blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    blackhat = cv2.GaussianBlur(blackhat, (3, 3), 0)
    _, mask = cv2.threshold(blackhat, 10, 255, cv2.THRESH_BINARY)
    return cv2.inpaint(rgb, mask, radius, cv2.INPAINT_TELEA), mask > 0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004): Gaussian window σ = 1.5 (11×11), K1 = 0.01, K2 = 0.03,
    computed per RGB channel and averaged."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for ch in range(a.shape[2]):
        x = a[:, :, ch].astype(np.float64)
        y = b[:, :, ch].astype(np.float64)

        def g(z):
            return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

        mx, my = g(x), g(y)
        sxx = g(x * x) - mx * mx
        syy = g(y * y) - my * my
        sxy = g(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(float(m[5:-5, 5:-5].mean()))
    return float(np.mean(vals))


def resize512(img: np.ndarray, nearest: bool = False) -> np.ndarray:
    h, w = img.shape[:2]
    s = SIZE / max(h, w)
    if s == 1:
        return img
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if nearest:
        return cv2.resize(img.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pick_clean(data: Path, n: int) -> list[dict]:
    scores = {(r["source"], r["id"]): r for r in read_csv(data / "hair_scores.csv")}
    rows = [r for r in read_csv(data / "manifest.csv") if r["source"] in SOURCES_512]
    rows = [r for r in rows if not scores[(r["source"], r["id"])]["hair_flag"] and r["id"] not in NOT_CLEAN]
    rows.sort(key=lambda r: float(scores[(r["source"], r["id"])]["hair_score"]))
    return rows[:n]


def timed(fn, *args, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(1e-12, p + r)}


def contact_sheet(data: Path, params: PreprocessParams, path: Path, thumb: int = 240) -> int:
    scores = read_csv(data / "hair_scores.csv")
    manifest = {(r["source"], r["id"]): r for r in read_csv(data / "manifest.csv")}
    hairy = [r for r in scores if r["hair_flag"] in ("heavy_visual", "candidate")]
    hairy.sort(key=lambda r: (r["hair_flag"] != "heavy_visual", r["id"]))
    tiles = []
    for r in hairy:
        m = manifest[(r["source"], r["id"])]
        rgb = load_image(data / m["image"])
        res = preprocess(rgb, params)
        pair = []
        for im in (rgb, res.image):
            s = thumb / max(im.shape[:2])
            t = cv2.resize(im, (round(im.shape[1] * s), round(im.shape[0] * s)), interpolation=cv2.INTER_AREA)
            canvas = np.full((round(thumb * 0.75), thumb, 3), 255, np.uint8)
            canvas[: min(t.shape[0], canvas.shape[0]), : t.shape[1]] = t[: canvas.shape[0]]
            pair.append(canvas)
        tile = np.hstack([pair[0], np.full((pair[0].shape[0], 4, 3), 255, np.uint8), pair[1]])
        label = f"{r['id']} {r['hair_flag'][:5]} N={res.hair_count} {res.repair_mode}"
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(np.pad(tile, ((0, 8), (0, 12), (0, 0)), constant_values=255))
    cols = 3
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)]
    sheet = np.vstack(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return len(hairy)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the derm data folder")
    ap.add_argument("--n", type=int, default=60, help="number of hair-free images (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--sheet", type=Path, default=None, help="write the real-hair contact sheet here")
    ap.add_argument("--params", default="{}", help='dermview parameters other than the defaults, JSON '
                    '(e.g. \'{"se_shape": "lines", "se_size": 11}\')')
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # same conditions for both methods, no noise from the shared machine

    params = PreprocessParams.from_dict(json.loads(args.params))
    hair_only = PreprocessParams.from_dict({**params.to_dict(), "remove_frame": False})
    rng = np.random.default_rng(args.seed)
    rows = pick_clean(args.data, args.n)
    frame_only = PreprocessParams.from_dict({**params.to_dict(), "remove_hair": False})
    methods = ("ours", "dullrazor", "dullrazor_r6")
    stats = {m: {"psnr": [], "ssim": [], "time": [], "tp": 0, "fp": 0, "fn": 0} for m in methods}
    t_full, t_input_psnr, t_frame, n_framed = [], [], [], 0
    t_1024 = {"ours": [], "ours_with_frame": [], "dullrazor": []}
    safety = {"lesion_px": 0, "hair_on_lesion_px": 0, "frame_on_lesion_px": 0, "per_image_hair": [], "per_image_frame": []}
    counts, found_counts = [], []
    for r in rows:
        clean = resize512(load_image(args.data / r["image"]))
        lesion = resize512(load_mask(args.data / r["mask"]), nearest=True)
        hairy, truth, info = add_hair(clean, rng)
        counts.append(info["count"])
        t_input_psnr.append(psnr(hairy, clean))
        res, t_ours = timed(preprocess, hairy, hair_only)
        found_counts.append(res.hair_count)
        (db_img, db_mask), t_db = timed(dullrazor, hairy)
        (r6_img, r6_mask), t_r6 = timed(dullrazor, hairy, 9, 6)
        _, t_all = timed(preprocess, hairy, params)
        t_full.append(t_all)
        fr, t_fr = timed(preprocess, hairy, frame_only)
        t_frame.append(t_fr)
        n_framed += bool(fr.frame_mask.any())
        big = cv2.resize(hairy, (2 * hairy.shape[1], 2 * hairy.shape[0]), interpolation=cv2.INTER_CUBIC)
        t_1024["ours"].append(timed(preprocess, big, hair_only, repeat=2)[1])
        t_1024["ours_with_frame"].append(timed(preprocess, big, params, repeat=2)[1])
        t_1024["dullrazor"].append(timed(dullrazor, big, repeat=2)[1])
        for name, img, mask, t in (("ours", res.image, res.hair_mask, t_ours), ("dullrazor", db_img, db_mask, t_db),
                                   ("dullrazor_r6", r6_img, r6_mask, t_r6)):
            s = stats[name]
            s["psnr"].append(psnr(img, clean))
            s["ssim"].append(ssim(img, clean))
            s["time"].append(t)
            s["tp"] += int((mask & truth).sum())
            s["fp"] += int((mask & ~truth).sum())
            s["fn"] += int((~mask & truth).sum())
        safe = preprocess(clean, params)
        les = int(lesion.sum())
        safety["lesion_px"] += les
        safety["hair_on_lesion_px"] += int((safe.hair_mask & lesion).sum())
        safety["frame_on_lesion_px"] += int((safe.frame_mask & lesion).sum())
        safety["per_image_hair"].append(float((safe.hair_mask & lesion).sum() / max(1, les)))
        safety["per_image_frame"].append(float((safe.frame_mask & lesion).sum() / max(1, les)))

    def summary(name: str) -> dict:
        s = stats[name]
        return {
            "psnr_db_mean": float(np.mean(s["psnr"])),
            "psnr_db_median": float(np.median(s["psnr"])),
            "ssim_mean": float(np.mean(s["ssim"])),
            **{f"hair_{k}": v for k, v in prf(s["tp"], s["fp"], s["fn"]).items()},
            "time_ms_median": 1000 * statistics.median(s["time"]),
        }

    ours, base, base_r6 = summary("ours"), summary("dullrazor"), summary("dullrazor_r6")
    ours["time_ms_median_with_frame"] = 1000 * statistics.median(t_full)
    ours["time_ms_median_frame_only"] = 1000 * statistics.median(t_frame)
    ms_1024 = {k: 1000 * statistics.median(v) for k, v in t_1024.items()}
    result = {
        "images": len(rows),
        "size": SIZE,
        "hair_count_range": [int(min(counts)), int(max(counts))],
        "input_psnr_db_mean": float(np.mean(t_input_psnr)),
        "ours": ours,
        "dullrazor": base,
        "dullrazor_r6": base_r6,
        "psnr_gain_db": ours["psnr_db_mean"] - base["psnr_db_mean"],
        "time_ratio": ours["time_ms_median"] / base["time_ms_median"],
        "time_ratio_with_frame": ours["time_ms_median_with_frame"] / base["time_ms_median"],
        "time_ratio_vs_r6": ours["time_ms_median"] / base_r6["time_ms_median"],
        "frame_images": n_framed,
        "time_ms_median_1024": ms_1024,
        "time_ratio_1024": ms_1024["ours"] / ms_1024["dullrazor"],
        "time_ratio_1024_with_frame": ms_1024["ours_with_frame"] / ms_1024["dullrazor"],
        "hair_count": {  # N against the number of hairs drawn, and the mode it picks at T
            "mae": float(np.mean(np.abs(np.subtract(found_counts, counts)))),
            "bias": float(np.mean(np.subtract(found_counts, counts))),
            "mode_agreement": float(np.mean([(f > params.hair_threshold) == (c > params.hair_threshold)
                                             for f, c in zip(found_counts, counts, strict=True)])),
        },
        "lesion_hair_fraction": safety["hair_on_lesion_px"] / max(1, safety["lesion_px"]),
        "lesion_hair_fraction_worst_image": max(safety["per_image_hair"]),
        "lesion_frame_fraction": safety["frame_on_lesion_px"] / max(1, safety["lesion_px"]),
        "lesion_frame_fraction_worst_image": max(safety["per_image_frame"]),
        "params": params.to_dict(),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "opencv": cv2.__version__, "cv2_threads": 1},
    }
    result["targets"] = {
        "psnr_gain_ge_2db": result["psnr_gain_db"] >= 2.0,
        "hair_f1_ge_0.75": ours["hair_f1"] >= 0.75,
        "time_ratio_le_0.35": result["time_ratio"] <= 0.35,
        "lesion_hair_le_1pct": result["lesion_hair_fraction"] <= 0.01,
        "lesion_frame_le_0.5pct": result["lesion_frame_fraction"] <= 0.005,
    }
    if args.sheet:
        result["sheet"] = {"path": str(args.sheet), "images": contact_sheet(args.data, params, args.sheet)}

    print(json.dumps(result, indent=2))
    print()
    print(f"{len(rows)} hair-free images at {SIZE} px, synthetic hair {result['hair_count_range']} hairs; "
          f"hairy input PSNR {result['input_psnr_db_mean']:.2f} dB")
    print(f"{'method':<12}{'PSNR dB':>9}{'SSIM':>8}{'prec':>7}{'recall':>8}{'F1':>7}{'ms (median)':>13}")
    for name, s in (("dermview", ours), ("DullRazor", base), ("DR 9x9 r6", base_r6)):
        print(f"{name:<12}{s['psnr_db_mean']:>9.2f}{s['ssim_mean']:>8.4f}{s['hair_precision']:>7.3f}"
              f"{s['hair_recall']:>8.3f}{s['hair_f1']:>7.3f}{s['time_ms_median']:>13.2f}")
    print(f"median ms: frame + hair {ours['time_ms_median_with_frame']:.2f}, frame only "
          f"{ours['time_ms_median_frame_only']:.2f} ({n_framed} images with a frame); at 1024 px: dermview "
          f"{ms_1024['ours']:.2f} (with frame {ms_1024['ours_with_frame']:.2f}), DullRazor {ms_1024['dullrazor']:.2f}")
    print(f"PSNR gain {result['psnr_gain_db']:+.2f} dB; time ratio {result['time_ratio']:.2f} "
          f"(with frame removal {result['time_ratio_with_frame']:.2f}; vs the r6 variant "
          f"{result['time_ratio_vs_r6']:.2f}; at 1024 px {result['time_ratio_1024']:.2f}); lesion pixels flagged as hair "
          f"{100 * result['lesion_hair_fraction']:.2f}%, under the frame {100 * result['lesion_frame_fraction']:.2f}%")
    hc = result["hair_count"]
    print(f"hair count N vs hairs drawn: mean abs error {hc['mae']:.2f}, bias {hc['bias']:+.2f}; dense/sparse "
          f"(N > T = {params.hair_threshold}) as drawn on {100 * hc['mode_agreement']:.0f}% of images")
    print("targets:", ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in result["targets"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
