"""Hand-crafted lesion descriptors for the classifier levers: the clinically meaningful cues of
:mod:`dermview.analysis` (asymmetry, border, colours, size relative to the image) as one
float vector per image, cached beside the CNN features of :mod:`training.classifier_levers`.

    OMP_NUM_THREADS=1 nice -n 19 python -m training.classifier_lesion_features --data DIR \\
        --labels CSV --cache-dir /tmp/clf13

Cached as float32 ``(N, 1, D)`` (``levers_analysis_0_<split>.npy``): the cues do not change
under the flips of the 4-view training set, so one view serves them all
(:func:`training.classifier_levers_more.with_views`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermview.analysis import AnalysisParams, analyze_lesion
from dermview.analysis.color_features import FEATURE_NAMES, color_features
from dermview.analysis.lesion import fine_lab, prepare
from dermview.io import load_image, load_mask
from training.classifier_data import labelled_split

#: Columns of :func:`lesion_cues` before the colour-model features.
CUE_NAMES = (
    "area_frac", "diameter_frac", "width_over_diameter", "equivalent_over_diameter",
    "perimeter_over_sqrt_area", "asymmetry", "asym_shape_major", "asym_shape_minor",
    "asym_color_major", "asym_color_minor", "border_score", "compactness", "solidity",
    "abrupt_mean", "abrupt_std", "abrupt_min", "abrupt_max", "n_colors",
    *(f"color_{i}" for i in range(6)), *(f"share_{i}" for i in range(6)),
    *(f"decision_{i}" for i in range(6)), "skin_L", "skin_a", "skin_b",
    "lesion_L", "lesion_a", "lesion_b", "lesion_sd_L", "lesion_sd_a", "lesion_sd_b",
    "touches_edge",
)
#: All columns: :data:`CUE_NAMES`, then the colour model's inputs (``cf_<name>``).
NAMES = (*CUE_NAMES, *(f"cf_{n}" for n in FEATURE_NAMES))


def lesion_cues(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float64 ``(len(NAMES),)`` descriptors of RGB uint8 ``(H, W, 3)`` with its bool ``(H, W)``
    mask: sizes as fractions of the image (the scale is unknown), A / B / C scores and their
    parts, the colour model's decision values and inputs, CIELAB mean / spread of the lesion
    and of the surrounding skin, whether the mask touches the image edge (0/1)."""
    params = AnalysisParams()
    a = analyze_lesion(rgb, mask, params=params)
    s, asym, b, c = a.size, a.asymmetry, a.border, a.colors
    h, w = mask.shape
    diam = max(s.diameter_px, 1e-6)
    ab = np.asarray([r for r in b.abruptness if np.isfinite(r)] or [0.0], np.float64)
    p = prepare(rgb, mask, params, s.axes)
    feats = color_features(fine_lab(p.rgb, p.mask), p.mask, p.skin)
    dec = (params.color_model.decision(feats) if params.color_model is not None
           else np.zeros(6))
    lab = p.lab[p.mask]
    edge = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    row = [
        s.area_px / (h * w), diam / max(h, w), s.width_px / diam,
        s.equivalent_diameter_px / diam, s.perimeter_px / np.sqrt(max(s.area_px, 1)),
        asym.value, *asym.shape, *asym.color, b.score, b.compactness, b.solidity,
        ab.mean(), ab.std(), ab.min(), ab.max(), c.n_colors,
        *(float(v) for v in c.present), *c.shares, *dec, *c.skin_lab,
        *lab.mean(0), *lab.std(0), float(edge),
    ]
    out = np.asarray([*row, *feats], np.float64)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def extract_cues(pairs: Sequence[Any], log: Any = print) -> np.ndarray:
    """float32 ``(N, 1, len(NAMES))`` :func:`lesion_cues` of ``pairs`` (expert masks)."""
    out = []
    t0 = time.perf_counter()
    for i, p in enumerate(pairs):
        rgb = load_image(p.image)
        out.append(lesion_cues(rgb, load_mask(p.mask, shape=rgb.shape[:2]).astype(bool)))
        if (i + 1) % 400 == 0:
            log(f"  {i + 1}/{len(pairs)} ({time.perf_counter() - t0:.0f} s)")
    return np.asarray(out, np.float32)[:, None]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.classifier_lesion_features",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--cache-dir", default=".cache/classifier")
    args = ap.parse_args(argv)
    train_p, _, val_p, _ = labelled_split(args.data, args.labels)
    for split, pairs in (("train", train_p), ("val", val_p)):
        path = Path(args.cache_dir) / f"levers_analysis_0_{split}.npy"
        if path.is_file():
            continue
        t0 = time.perf_counter()
        z = extract_cues(pairs)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, z)
        print(f"{split}: {z.shape} in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
