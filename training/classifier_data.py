"""Classifier data: diagnosis labels, the segmenter's split, cached lesion crops and augmented
views of them.

Crops are cut once (per data folder, size and crop policy) around the expert mask with
:data:`CONTEXT` × the inference crop's side, so that the centre ``1 / CONTEXT`` of a cached crop
is the inference crop and augmented views (rotation, zoom, shift) have real image around them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dermview.io import load_image, load_mask
from dermview.model.classifier import CROP_MARGIN, CROP_MIN_SIDE, crop_box, lesion_box
from training.data import Pair, read_pairs, split_pairs

#: Side of a cached crop relative to the inference crop.
CONTEXT = 1.25
CACHE_VERSION = 1

#: diagnosis.csv value → class index in :data:`CLASSES`.
DIAGNOSIS_CLASS = {
    "melanoma": 0,
    "seborrheic_keratosis": 1, "benign_keratosis_like": 1,
    "nevus": 2, "common_nevus": 2, "atypical_nevus": 2,
}


def read_labels(path: str | Path) -> dict[str, tuple[int, str]]:
    """``id → (class index, source)`` from a ``diagnosis.csv`` (columns id, source, diagnosis);
    rows with another diagnosis are left out."""
    out: dict[str, tuple[int, str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            cls = DIAGNOSIS_CLASS.get(row["diagnosis"].strip())
            if cls is not None:
                out[row["id"]] = (cls, row["source"])
    return out


def labelled_split(data_dir: str | Path, labels_csv: str | Path, val_fraction: float = 0.15,
                   seed: int = 0) -> tuple[list[Pair], np.ndarray, list[Pair], np.ndarray]:
    """The segmenter's fixed-seed split (:func:`training.data.split_pairs`, same arguments as
    ``training.train``) restricted to pairs with a diagnosis. Returns
    ``(train pairs, train labels, val pairs, val labels)``; labels int64 class indices."""
    labels = read_labels(labels_csv)
    train, val = split_pairs(read_pairs(data_dir), val_fraction, seed)
    train = [p for p in train if p.id in labels]
    val = [p for p in val if p.id in labels]
    return (train, np.array([labels[p.id][0] for p in train], np.int64),
            val, np.array([labels[p.id][0] for p in val], np.int64))


def context_crop(pair: Pair, size: int, margin: float = CROP_MARGIN,
                 min_side: float = CROP_MIN_SIDE) -> np.ndarray:
    """The inference crop's box enlarged :data:`CONTEXT` times, cut at ``round(size·CONTEXT)``
    px from the pair's image (uint8 square RGB)."""
    rgb = load_image(pair.image)
    mask = load_mask(pair.mask, shape=rgb.shape[:2])
    cy, cx, side = lesion_box(mask.astype(bool), margin, min_side)
    return crop_box(rgb, (cy, cx, side * CONTEXT), int(round(size * CONTEXT)))


def _crop_one(args: tuple[Pair, int, float, float]) -> np.ndarray:
    cv2.setNumThreads(1)
    return context_crop(*args)


def load_crops(pairs: Sequence[Pair], size: int, margin: float = CROP_MARGIN,
               min_side: float = CROP_MIN_SIDE, cache_dir: str | Path | None = None,
               workers: int = 1) -> np.ndarray:
    """Context crops uint8 ``(N, round(size·CONTEXT), ..., 3)`` of ``pairs``, cached as ``.npy``
    in ``cache_dir`` keyed by ids, file sizes, size and crop policy."""
    key_src = json.dumps([CACHE_VERSION, size, margin, min_side, CONTEXT,
                          [(p.id, str(p.image), p.image.stat().st_size, p.mask.stat().st_size)
                           for p in pairs]])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"crops_{size}_{key}.npy" if cache_dir else None
    if cache is not None and cache.is_file():
        return np.load(cache)
    jobs = [(p, size, margin, min_side) for p in pairs]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            crops = list(ex.map(_crop_one, jobs, chunksize=16))
    else:
        crops = [_crop_one(j) for j in jobs]
    side = int(round(size * CONTEXT))
    out = np.stack(crops) if crops else np.zeros((0, side, side, 3), np.uint8)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.stem + ".tmp.npy")
        np.save(tmp, out)
        tmp.replace(cache)
    return out


def centre_view(crop: np.ndarray, size: int) -> np.ndarray:
    """The inference crop (centre ``1 / CONTEXT``) of a context crop, at ``size`` px."""
    side = crop.shape[0]
    inner = int(round(side / CONTEXT))
    o = (side - inner) // 2
    return cv2.resize(crop[o: o + inner, o: o + inner], (size, size),
                      interpolation=cv2.INTER_AREA if inner > size else cv2.INTER_LINEAR)


def random_view(crop: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """An augmented view of a context crop at ``size`` px: rotation by any angle, mirror
    (p = 0.5), zoom 0.85-1.2 × and shift ±8 % of the inference crop, brightness ±10 %,
    contrast ±15 %, saturation ±15 % (uint8 in, uint8 out)."""
    side = crop.shape[0]
    inner = side / CONTEXT
    zoom = rng.uniform(0.85, 1.2)
    scale = size / inner * zoom
    angle = rng.uniform(0.0, 360.0)
    shift = rng.uniform(-0.08, 0.08, 2) * size
    m = cv2.getRotationMatrix2D(((side - 1) / 2.0, (side - 1) / 2.0), angle, scale)
    m[:, 2] += (size - 1) / 2.0 - (side - 1) / 2.0 + shift
    out = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    x = out.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.85, 1.15)  # saturation
    x = x.mean() + (x - x.mean()) * rng.uniform(0.85, 1.15)  # contrast
    x = x * rng.uniform(0.9, 1.1)  # brightness
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)
