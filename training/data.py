"""Training data: pair listing, the fixed-seed split, loading + caching at the network input
size, and the torch dataset with augmentation.

Data layout (``--data DIR``): either ``DIR/manifest.csv`` (columns ``source,id,image,mask``,
paths relative to ``DIR``) or folders holding ``<id>.jpg`` + ``<id>_segmentation.png`` (the
source is then the name of the folder above the image, or of its parent when that is
``images``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dermview.io import load_image, load_mask

#: The four images bundled in ``resources/samples``: never trained on nor validated on.
SAMPLE_IDS = frozenset({"IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"})

CACHE_VERSION = 1
EXPORT_INFO = "export.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Pair:
    """One image with its ground-truth mask."""

    source: str
    id: str
    image: Path
    mask: Path


def read_pairs(data_dir: str | Path) -> list[Pair]:
    """List the pairs of a data folder (``manifest.csv`` if present, else a folder scan),
    sorted by ``(source, id)``."""
    root = Path(data_dir)
    manifest = root / "manifest.csv"
    pairs: list[Pair] = []
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                pairs.append(Pair(row["source"], row["id"], root / row["image"], root / row["mask"]))
    else:
        for mask in root.rglob("*_segmentation.png"):
            stem = mask.name[: -len("_segmentation.png")]
            folders = [mask.parent, mask.parent.parent / "images"]
            image = next((f / (stem + s) for f in folders for s in IMAGE_SUFFIXES
                          if (f / (stem + s)).is_file()), None)
            if image is None:
                continue
            src = image.parent.parent if image.parent.name == "images" else image.parent
            pairs.append(Pair(src.name or "data", stem, image, mask))
    if not pairs:
        raise FileNotFoundError(f"No image/mask pairs found in {root}")
    return sorted(pairs, key=lambda p: (p.source, p.id))


def split_pairs(pairs: Sequence[Pair], val_fraction: float = 0.15, seed: int = 0,
                exclude: frozenset[str] = SAMPLE_IDS) -> tuple[list[Pair], list[Pair]]:
    """Fixed-seed split, stratified by source: each source with at least two pairs gives
    ``max(1, round(val_fraction · n))`` pairs to validation. Ids in ``exclude`` go to neither."""
    by_source: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        if p.id not in exclude:
            by_source[p.source].append(p)
    train: list[Pair] = []
    val: list[Pair] = []
    for source in sorted(by_source):
        items = sorted(by_source[source], key=lambda p: p.id)
        # a per-source seed so adding one source does not reshuffle the others
        digest = hashlib.sha256(f"{seed}:{source}".encode()).digest()
        order = np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(len(items))
        n_val = max(1, round(val_fraction * len(items))) if len(items) >= 2 else 0
        val += [items[i] for i in order[:n_val]]
        train += [items[i] for i in order[n_val:]]
    return train, val


def preprocess_image(rgb: np.ndarray) -> np.ndarray:
    """Frame and hair removal with the default :class:`PreprocessParams` (RGB uint8 in/out)."""
    from dermview.preprocess import PreprocessParams, preprocess

    return preprocess(rgb, PreprocessParams()).image


def load_pair(pair: Pair, size: int, preprocess: bool = False,
              resize: str = "stretch") -> tuple[np.ndarray, np.ndarray]:
    """Load one pair, optionally preprocess the image at full resolution, and resize both to
    ``size × size`` (``resize``: ``stretch`` ignores the aspect ratio, ``letterbox`` keeps it,
    as at inference). Returns RGB uint8 ``(size, size, 3)`` and mask uint8 ``(size, size)`` in
    ``{0, 1}``."""
    rgb = load_image(pair.image)
    mask = load_mask(pair.mask, shape=rgb.shape[:2])
    if preprocess:
        rgb = preprocess_image(rgb)
    if resize == "letterbox":
        return letterbox_pair(rgb, mask, size)
    return resize_pair(rgb, mask, size)


def resize_pair(rgb: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize an RGB image (area / linear) and a bool or 0/1 mask to ``size × size``."""
    h, w = mask.shape
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
    img = cv2.resize(rgb, (size, size), interpolation=interp)
    m = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    return img, (m >= 0.5).astype(np.uint8)


def letterbox_pair(rgb: np.ndarray, mask: np.ndarray, size: int,
                   fill: Sequence[float] = (0.485, 0.456, 0.406)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Scale the long side to ``size`` keeping the aspect ratio and centre the result on a
    ``size × size`` canvas of the ``fill`` colour (0-1 RGB; default the ImageNet mean, as
    :class:`dermview.model.inference.Segmenter` pads); the mask is 0 in the padding."""
    from dermview.model.inference import letterbox

    fill_rgb = np.clip(np.rint(np.asarray(fill) * 255), 0, 255).astype(np.uint8)
    img, _ = letterbox(rgb, size, size, fill_rgb)
    small, _ = letterbox(mask.astype(np.float32), size, size, 0.0)
    return img, (small >= 0.5).astype(np.uint8)


def _load_one(args: tuple[Pair, int, bool, str]) -> tuple[np.ndarray, np.ndarray]:
    return load_pair(*args)


def load_arrays(pairs: Sequence[Pair], size: int, preprocess: bool = False,
                cache_dir: str | Path | None = None, workers: int = 1,
                resize: str = "stretch") -> tuple[np.ndarray, np.ndarray]:
    """Load pairs into ``images`` uint8 ``(N, size, size, 3)`` and ``masks`` uint8
    ``(N, size, size)``, cached as an ``.npz`` in ``cache_dir`` keyed by ids, size,
    preprocessing, resize policy (see :func:`load_pair`) and file sizes (so a changed file
    rebuilds the cache)."""
    extra = [] if resize == "stretch" else [resize]  # stretch keeps the earlier cache keys
    key_src = json.dumps([CACHE_VERSION, size, preprocess, *extra,
                          [(p.source, p.id, str(p.image), p.image.stat().st_size,
                            p.mask.stat().st_size) for p in pairs]])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    tag = f"{size}_{'pre' if preprocess else 'raw'}" + ("" if resize == "stretch" else f"_{resize}")
    cache = Path(cache_dir) / f"derm_{tag}_{key}.npz" \
        if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            return z["images"], z["masks"]
    jobs = [(p, size, preprocess, resize) for p in pairs]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            out = list(ex.map(_load_one, jobs, chunksize=8))
    else:
        out = [_load_one(j) for j in jobs]
    images = np.stack([o[0] for o in out]) if out else np.zeros((0, size, size, 3), np.uint8)
    masks = np.stack([o[1] for o in out]) if out else np.zeros((0, size, size), np.uint8)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, masks=masks)
        tmp.replace(cache)
    return images, masks


def export_compact(data_dir: str | Path, out_dir: str | Path, size: int = 256,
                   preprocess: bool = False, quality: int = 95) -> int:
    """Write a compact copy of a data folder: every pair resized to ``size × size``, image as
    JPEG (``quality``), mask as PNG 0/255, and a ``manifest.csv`` with the same sources and ids
    (so :func:`split_pairs` gives the same split). Used to carry the data to a GPU machine.
    Returns the number of pairs written."""
    out = Path(out_dir)
    pairs = read_pairs(data_dir)
    rows = []
    for p in pairs:
        img, mask = load_pair(p, size, preprocess)
        rel_i = Path(p.source) / "images" / f"{p.id}.jpg"
        rel_m = Path(p.source) / "masks" / f"{p.id}_segmentation.png"
        (out / rel_i).parent.mkdir(parents=True, exist_ok=True)
        (out / rel_m).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / rel_i), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        cv2.imwrite(str(out / rel_m), mask * 255)
        rows.append((p.source, p.id, rel_i.as_posix(), rel_m.as_posix()))
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "id", "image", "mask"])
        w.writerows(rows)
    (out / EXPORT_INFO).write_text(json.dumps({"source": str(data_dir), "size": size,
                                               "preprocess": bool(preprocess),
                                               "quality": quality}), encoding="utf-8")
    return len(rows)


def export_info(data_dir: str | Path) -> dict:
    """What :func:`export_compact` recorded about a data folder (``{}`` for original data)."""
    f = Path(data_dir) / EXPORT_INFO
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}


class SegDataset:
    """Torch-style dataset over in-memory arrays: returns ``(image, mask)`` float32 tensors
    ``(3, S, S)`` normalised with ``mean``/``std`` and ``(1, S, S)`` in ``{0, 1}``.

    Augmentation draws from ``np.random.default_rng([seed, epoch, index])``: deterministic,
    independent of the number of loader workers; call :meth:`set_epoch` each epoch.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, mean: Sequence[float],
                 std: Sequence[float], augment: bool = False, seed: int = 0,
                 params: Any = None):
        self.images, self.masks = images, masks
        self.params = params  # training.augment.AugmentParams (None: its defaults)
        self.mean = np.asarray(mean, np.float32) * 255.0
        self.std = np.asarray(std, np.float32) * 255.0
        self.augment, self.seed, self.epoch = augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        import torch

        from training.augment import augment

        img, mask = self.images[index], self.masks[index]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            img, mask = augment(img, mask, rng, self.params)
        x = (img.astype(np.float32) - self.mean) / self.std
        return (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
                torch.from_numpy(mask.astype(np.float32)[None]))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.data export --data DIR --out DIR [--size 256] [--preprocess]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m training.data", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="write a compact resized copy of a data folder")
    ex.add_argument("--data", required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--size", type=int, default=256)
    ex.add_argument("--preprocess", action="store_true")
    ex.add_argument("--quality", type=int, default=95)
    args = ap.parse_args(argv)
    n = export_compact(args.data, args.out, args.size, args.preprocess, args.quality)
    print(f"wrote {n} pairs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
