"""Training pipeline: pair listing, split, augmentation, the CLI (one process and DDP)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.augment import COLOUR_STRONG, AugmentParams, augment, elastic  # noqa: E402
from training.data import (  # noqa: E402
    SAMPLE_IDS,
    Pair,
    SegDataset,
    letterbox_pair,
    load_arrays,
    read_pairs,
    split_pairs,
)

ROOT = Path(__file__).resolve().parent.parent


def make_dataset(root: Path, per_source: dict[str, int], size: int = 48, seed: int = 0) -> Path:
    """Synthetic ``<source>/images/<id>.jpg`` + ``<source>/masks/<id>_segmentation.png``."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    for source, n in per_source.items():
        (root / source / "images").mkdir(parents=True, exist_ok=True)
        (root / source / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cy, cx = rng.uniform(0.35, 0.65, 2) * size
            r = rng.uniform(0.15, 0.3) * size
            m = (ys - cy) ** 2 + (xs - cx) ** 2 < r * r
            img = np.full((size, size, 3), (210, 170, 150), np.float32)
            img[m] = (110, 70, 50)
            img += rng.normal(0, 8, img.shape)
            stem = f"{source}_{i:03d}"
            cv2.imwrite(str(root / source / "images" / f"{stem}.jpg"),
                        np.clip(img, 0, 255).astype(np.uint8)[..., ::-1])
            cv2.imwrite(str(root / source / "masks" / f"{stem}_segmentation.png"),
                        m.astype(np.uint8) * 255)
    return root


def test_sample_ids_are_the_bundled_samples():
    bundled = {p.name[: -len("_segmentation.png")]
               for p in (ROOT / "resources" / "samples").glob("*_segmentation.png")}
    assert bundled == set(SAMPLE_IDS)


def test_read_pairs_from_folders_and_manifest(tmp_path):
    make_dataset(tmp_path / "d", {"a": 3, "b": 2})
    pairs = read_pairs(tmp_path / "d")
    assert [(p.source, p.id) for p in pairs][:2] == [("a", "a_000"), ("a", "a_001")]
    assert len(pairs) == 5 and all(p.image.is_file() and p.mask.is_file() for p in pairs)
    with open(tmp_path / "d" / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "id", "image", "mask"])
        w.writerow(["x", "a_000", "a/images/a_000.jpg", "a/masks/a_000_segmentation.png"])
    assert [(p.source, p.id) for p in read_pairs(tmp_path / "d")] == [("x", "a_000")]
    with pytest.raises(FileNotFoundError):
        read_pairs(tmp_path / "empty_does_not_exist")


def test_split_is_fixed_stratified_and_excludes_samples():
    pairs = [Pair(s, f"{s}{i}", Path("i"), Path("m")) for s, n in (("big", 100), ("small", 3))
             for i in range(n)]
    pairs += [Pair("big", sid, Path("i"), Path("m")) for sid in SAMPLE_IDS]
    train, val = split_pairs(pairs, val_fraction=0.15, seed=0)
    ids_t, ids_v = {p.id for p in train}, {p.id for p in val}
    assert not ids_t & ids_v
    assert not (ids_t | ids_v) & SAMPLE_IDS
    assert len(ids_t) + len(ids_v) == 103
    assert sum(p.source == "big" for p in val) == 15
    assert sum(p.source == "small" for p in val) == 1  # every source is validated
    assert split_pairs(pairs, 0.15, 0) == (train, val)  # fixed seed → same split
    assert split_pairs(pairs, 0.15, 1)[1] != val


def test_load_arrays_resizes_and_caches(tmp_path):
    make_dataset(tmp_path / "d", {"a": 3}, size=40)
    pairs = read_pairs(tmp_path / "d")
    imgs, masks = load_arrays(pairs, 32, cache_dir=tmp_path / "cache")
    assert imgs.shape == (3, 32, 32, 3) and imgs.dtype == np.uint8
    assert masks.shape == (3, 32, 32) and set(np.unique(masks)) <= {0, 1}
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    imgs2, masks2 = load_arrays(pairs, 32, cache_dir=tmp_path / "cache")
    assert np.array_equal(imgs, imgs2) and np.array_equal(masks, masks2)


def test_letterbox_keeps_aspect_and_pads_like_inference():
    rgb = np.full((20, 40, 3), 200, np.uint8)
    mask = np.zeros((20, 40), np.uint8)
    mask[5:15, 10:30] = 1
    img, m = letterbox_pair(rgb, mask, 32)
    assert img.shape == (32, 32, 3) and m.shape == (32, 32)
    # 40 → 32 wide, 20 → 16 high, centred: rows 8-23 are the image, the rest the mean colour
    assert (img[8:24] == 200).all() and (img[:8] == (124, 116, 104)).all()
    assert (m[:8] == 0).all() and (m[24:] == 0).all()
    assert m.sum() == 8 * 16  # the lesion kept its 1:2 aspect (10×20 → 8×16)
    from dermview.model.inference import Segmenter

    # the same placement and fill as the Segmenter's letterbox input
    seg = Segmenter.__new__(Segmenter)
    seg._input_hw, seg._resize = (32, 32), "letterbox"
    seg._mean = np.array([0.485, 0.456, 0.406])
    seg._lut = np.stack([np.arange(256, dtype=np.float32)] * 3)
    x, box = seg._to_input(rgb)
    assert box == (8, 0, 16, 32)


def test_load_arrays_letterbox_is_cached_apart(tmp_path):
    make_dataset(tmp_path / "d", {"a": 2}, size=40)
    pairs = read_pairs(tmp_path / "d")
    a, _ = load_arrays(pairs, 32, cache_dir=tmp_path / "c")
    b, _ = load_arrays(pairs, 32, cache_dir=tmp_path / "c", resize="letterbox")
    assert len(list((tmp_path / "c").glob("*.npz"))) == 2
    assert a.shape == b.shape  # square sources: the same content, different cache files


def test_colour_preset_changes_colour_more_than_default():
    img = np.full((32, 32, 3), (180, 120, 100), np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    spread = {}
    for name, params in (("default", AugmentParams(rotate_deg=0, p_elastic=0)),
                         ("colour", COLOUR_STRONG)):
        means = [augment(img, mask, np.random.default_rng(s), params)[0][12:20, 12:20]
                 .reshape(-1, 3).mean(0) for s in range(40)]
        spread[name] = float(np.std(np.array(means), axis=0).mean())
    assert spread["colour"] > 1.3 * spread["default"]


def test_augment_keeps_shapes_and_alignment():
    size = 64
    ys, xs = np.mgrid[:size, :size]
    mask = ((ys - 32) ** 2 + (xs - 30) ** 2 < 15 ** 2).astype(np.uint8)
    img = np.where(mask[..., None] > 0, 60, 200).astype(np.uint8).repeat(3, axis=2)
    for seed in range(20):
        a, m = augment(img, mask, np.random.default_rng(seed))
        assert a.shape == img.shape and a.dtype == np.uint8
        assert m.shape == mask.shape and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
        # the lesion stays where the mask says: darker inside than outside
        if 0 < m.sum() < m.size:
            grey = a.mean(axis=2)
            assert grey[m > 0].mean() < grey[m == 0].mean()
    a1, m1 = augment(img, mask, np.random.default_rng(5))
    a2, m2 = augment(img, mask, np.random.default_rng(5))
    assert np.array_equal(a1, a2) and np.array_equal(m1, m2)


def test_elastic_moves_pixels_but_keeps_area():
    size = 64
    mask = np.zeros((size, size), np.float32)
    mask[16:48, 16:48] = 1
    img = (mask[..., None] * 255).astype(np.uint8).repeat(3, axis=2)
    _, out = elastic(img, mask, np.random.default_rng(0), 0.05, 0.2)
    assert not np.array_equal(out > 0.5, mask > 0.5)
    assert abs((out > 0.5).sum() - mask.sum()) < 0.15 * mask.sum()


def test_dataset_normalises_and_augments_deterministically():
    imgs = np.full((2, 16, 16, 3), 128, np.uint8)
    masks = np.zeros((2, 16, 16), np.uint8)
    ds = SegDataset(imgs, masks, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), augment=False)
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and y.shape == (1, 16, 16)
    assert torch.allclose(x, torch.full_like(x, (128 / 255 - 0.5) / 0.25))
    aug = SegDataset(imgs, masks, (0.5,) * 3, (0.25,) * 3, augment=True, seed=3)
    assert torch.equal(aug[1][0], aug[1][0])
    aug.set_epoch(1)
    first = aug[1][0]
    aug.set_epoch(2)
    assert not torch.equal(first, aug[1][0])
    assert AugmentParams().rotate_deg == 180.0


def _train_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    return ["-m", "training.train", "--data", str(data), "--out", str(out), "--size", "32",
            "--arch", "dermsegnet", "--width", "8", "--epochs", "2", "--batch-size", "2",
            "--workers", "0", "--threads", "1", "--device", "cpu", "--cache-dir", "",
            "--val-fraction", "0.25", *extra]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return env


def test_train_cli_writes_logs_curve_and_loadable_weights(tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 8, "b": 4})
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, *_train_cmd(data, out, "--save-weights",
                                                        str(tmp_path / "w" / "m.pt"))],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    for name in ("log.csv", "log.json", "curve.png", "best.pt", "best.json", "summary.json",
                 "last.ckpt"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "log.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_dice", "dice_a", "dice_b"} <= set(rows[0])
    assert cv2.imread(str(out / "curve.png")).shape == (420, 720, 3)
    from dermview.model.weights import load_model

    model, meta = load_model(tmp_path / "w" / "m.pt")
    assert meta["arch"] == "dermsegnet" and meta["input_size"] == 32
    assert meta["preprocess"] is False and set(meta["metrics"]["per_source"]) == {"a", "b"}
    # resuming continues after the last finished epoch
    res = subprocess.run([sys.executable, *_train_cmd(data, out, "--resume", "--epochs", "3")],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "resumed at epoch 2" in res.stdout
    assert [r["epoch"] for r in json.loads((out / "log.json").read_text())] == [1, 2, 3]


def test_train_cli_continues_from_weights_with_levers(tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 8, "b": 4})
    first = tmp_path / "r1"
    res = subprocess.run([sys.executable, *_train_cmd(data, first, "--epochs", "1")],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "r2"
    res = subprocess.run([sys.executable, *_train_cmd(
        data, out, "--init", str(first / "best.pt"), "--width", "16", "--loss",
        "dice_bce_boundary", "--augment", "colour", "--resize", "letterbox",
        "--epoch-pairs", "2", "--epochs", "2")],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    from dermview.model.weights import load_model, read_metadata

    _, meta = load_model(out / "best.pt")
    parent = read_metadata(first / "best.pt")
    # arch and config come from the initial weights (the --width 16 is ignored)
    assert meta["config"] == parent["config"] and meta["resize"] == "letterbox"
    assert meta["training"]["init"]["sha256"] == parent["sha256"]
    assert meta["training"]["augment"] == "colour" and meta["training"]["loss"] == "dice_bce_boundary"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cpu_minutes"] > 0 and summary["epochs_run"] == 2
    res = subprocess.run([sys.executable, *_train_cmd(data, tmp_path / "r3", "--augment", "x")],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "unknown --augment" in res.stderr


def test_train_cli_refuses_cuda_when_absent(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    data = make_dataset(tmp_path / "d", {"a": 4})
    res = subprocess.run([sys.executable, *_train_cmd(data, tmp_path / "r"), "--device", "cuda"],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "no CUDA GPU" in res.stderr


def test_ddp_two_cpu_processes(tmp_path):
    data = make_dataset(tmp_path / "d", {"a": 12, "b": 4})
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           *_train_cmd(data, out)]
    res = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == 2
    assert "world 2" in res.stdout
    # validation is split over both ranks and all-reduced: every val image counted once
    rows = json.loads((out / "log.json").read_text())
    n_val = sum(v["n"] for v in rows[-1]["per_source"].values())
    assert n_val == 4  # 25 % of 12 + 25 % of 4
    assert (out / "best.pt").is_file()


def test_export_compact_keeps_ids_and_marks_preprocessing(tmp_path):
    from dermview.io import load_image
    from training.data import export_compact, export_info

    src = make_dataset(tmp_path / "d", {"a": 6, "b": 3}, size=60)
    assert export_compact(src, tmp_path / "raw", size=32) == 9
    assert export_info(tmp_path / "raw")["preprocess"] is False
    assert export_info(src) == {}
    exported = read_pairs(tmp_path / "raw")
    assert [(p.source, p.id) for p in exported] == [(p.source, p.id) for p in read_pairs(src)]
    assert load_image(exported[0].image).shape == (32, 32, 3)
    assert [p.id for p in split_pairs(exported, 0.25)[1]] == [p.id for p in split_pairs(read_pairs(src), 0.25)[1]]
    assert export_compact(src, tmp_path / "pre", size=32, preprocess=True) == 9
    assert export_info(tmp_path / "pre")["preprocess"] is True
    # training on a preprocessed export records it, so inference preprocesses too
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, *_train_cmd(tmp_path / "pre", out, "--epochs", "1")],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "best.json").read_text())["preprocess"] is True
    res = subprocess.run([sys.executable, *_train_cmd(tmp_path / "pre", out, "--preprocess")],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "preprocessed images already" in res.stderr
