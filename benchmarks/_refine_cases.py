"""Cases for bench_refine: validation (or training) images of training/data.py's split with
their reference mask, the segmenter's probability map, its cleaned mask and the probability
of the flipped image (flipped back). Cached per model + image as .npz when a folder is given."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dermview.io import load_image, load_mask
from dermview.segmentation import segment_image
from training.data import read_pairs, split_pairs


@dataclass
class Case:
    source: str
    id: str
    rgb: np.ndarray      # uint8 (H, W, 3), as on disk
    gt: np.ndarray       # bool (H, W)
    prob: np.ndarray     # float32 (H, W)
    mask: np.ndarray     # bool (H, W), the automatic mask (threshold + clean-up)
    prob_flip: np.ndarray  # float32 (H, W)
    seconds: float       # segment_image time


def group(source: str) -> str:
    """Benchmark group of a data source: PH2 or ISIC (ISIC 2016/2017 and HAM10000 = ISIC 2018)."""
    return "PH2" if source.lower().startswith("ph2") else "ISIC"


def select(data: str | Path, split: str, limit: int | None) -> list:
    """Pairs of the split, at most ``limit`` per group (a fixed, evenly spaced subset)."""
    train, val = split_pairs(read_pairs(data))
    pairs = val if split == "val" else train
    out = []
    for g in ("ISIC", "PH2"):
        items = [p for p in pairs if group(p.source) == g]
        if limit is not None and len(items) > limit:
            idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
            items = [items[i] for i in idx]
        out += items
    return out


def load_case(pair, seg, cache: Path | None) -> Case:
    file = None
    if cache is not None:
        key = hashlib.sha256(f"{seg.weights_sha256}:{pair.image}:{pair.image.stat().st_size}"
                             .encode()).hexdigest()[:16]
        file = cache / f"{pair.id}_{key}.npz"
    rgb = load_image(pair.image)
    gt = load_mask(pair.mask, shape=rgb.shape[:2])
    if file is not None and file.is_file():
        z = np.load(file)
        return Case(pair.source, pair.id, rgb, gt, z["prob"], z["mask"], z["prob_flip"],
                    float(z["seconds"]))
    import time

    t0 = time.perf_counter()
    res = segment_image(rgb, seg)
    seconds = time.perf_counter() - t0
    image = res.preprocessed.image if res.preprocessed is not None else rgb
    flip = seg.predict(np.ascontiguousarray(image[:, ::-1]))[:, ::-1].copy()
    if res.preprocessed is not None and res.preprocessed.frame_mask is not None:
        flip[res.preprocessed.frame_mask] = 0.0
    case = Case(pair.source, pair.id, rgb, gt, res.prob, res.mask, flip, seconds)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(file, prob=case.prob, mask=case.mask, prob_flip=case.prob_flip,
                            seconds=seconds)
    return case
