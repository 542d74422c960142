"""Train a segmentation network (also distributed under ``torchrun``).

Usage::

    python -m training.train --data /work/shared/data/derm --out runs/default \\
        --arch dermsegnet --epochs 40 --batch-size 8 --lr 1e-3 --device auto
    torchrun --nproc_per_node=2 -m training.train --data DIR --out runs/ddp ...   # DDP

Writes to ``--out``: ``log.csv`` / ``log.json`` (one row per epoch), ``curve.png``,
``last.ckpt`` (resumable), ``best.pt`` + ``best.json`` (dermview weights file of the epoch
with the best validation Dice) and ``summary.json``. ``--save-weights PATH`` copies the best
weights there too (e.g. ``resources/models/dermview_default.pt``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import training.unet  # noqa: F401  (registers "unet")
from dermview.model.losses import get_loss
from dermview.model.nets import IMAGENET_MEAN, IMAGENET_STD, build_model
from dermview.model.weights import save_weights
from training.data import SegDataset, export_info, load_arrays, read_pairs, split_pairs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="data folder (manifest.csv or image/mask folders)")
    ap.add_argument("--out", required=True, help="output folder for logs, checkpoints, weights")
    ap.add_argument("--arch", default="dermsegnet", help="dermsegnet | litesegnet | unet")
    ap.add_argument("--width", type=int, default=32, help="dermsegnet stem width")
    ap.add_argument("--base", type=int, default=64, help="unet base channels")
    ap.add_argument("--aspp-rates", default="3,3,6", help="three dilation rates, e.g. 3,6,9")
    ap.add_argument("--no-pretrained", action="store_true",
                    help="litesegnet: start from random weights instead of ImageNet")
    ap.add_argument("--loss", default="dice",
                    help="dice (weighted smoothed Dice) | dice_bce | dice_bce_boundary")
    ap.add_argument("--init", default="",
                    help="start from these dermview weights (arch and config from their metadata)")
    ap.add_argument("--augment", default="default", help="augmentation preset: default | colour")
    ap.add_argument("--resize", default="stretch", choices=["stretch", "letterbox"],
                    help="how images become the square input (recorded for inference)")
    ap.add_argument("--epoch-pairs", type=int, default=0,
                    help="end an epoch (validate, checkpoint) after this many pairs (0 = all)")
    ap.add_argument("--cpu-limit", type=float, default=0.0,
                    help="stop after this many CPU-minutes of this process, checked each step")
    ap.add_argument("--size", type=int, default=256, help="network input side in pixels")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=8, help="per process")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (peak)")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "step", "constant"])
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--patience", type=int, default=10,
                    help="stop after this many epochs without a better validation Dice")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preprocess", action="store_true",
                    help="train on frame/hair-removed images (inference then preprocesses too)")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--cache-dir", default=".cache/arrays", help="where resized arrays are cached")
    ap.add_argument("--limit", type=int, default=0, help="use at most N training pairs (tests)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--workers", type=int, default=2, help="data-loader worker processes")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="stop after the epoch that passes this many minutes (0 = none)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.ckpt")
    ap.add_argument("--name", default="", help="model name recorded in the weights metadata")
    ap.add_argument("--save-weights", default="", help="also write the best weights here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    args.aspp_rates = tuple(int(r) for r in str(args.aspp_rates).split(","))
    return args


def model_config(args: argparse.Namespace, for_saving: bool = False) -> dict[str, Any]:
    """``build_model`` kwargs for the chosen architecture (``pretrained=False`` when saving,
    so that loading a weights file does not load the ImageNet weights first)."""
    if args.arch == "dermsegnet":
        return {"width": args.width, "aspp_rates": list(args.aspp_rates)}
    if args.arch == "litesegnet":
        return {"pretrained": (not args.no_pretrained) and not for_saving,
                "aspp_rates": list(args.aspp_rates)}
    if args.arch == "unet":
        return {"base": args.base}
    raise SystemExit(f"unknown --arch {args.arch!r}")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda was asked for, but no CUDA GPU is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """Join the process group when started by ``torchrun``; returns ``(rank, world, device)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        return dist.get_rank(), world, device
    return 0, 1, device


def binary_scores(prob: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> tuple[float, float, float]:
    """Dice, Jaccard and pixel accuracy of ``prob >= threshold`` against a bool/0-1 mask
    (both empty → Dice = Jaccard = 1)."""
    p = prob >= threshold
    g = gt.astype(bool)
    inter = float(np.logical_and(p, g).sum())
    s = float(p.sum() + g.sum())
    union = s - inter
    dice = 2 * inter / s if s else 1.0
    jac = inter / union if union else 1.0
    return dice, jac, float((p == g).mean())


@torch.no_grad()
def evaluate(model: nn.Module, images: np.ndarray, masks: np.ndarray, sources: Sequence[str],
             loss_fn: Any, device: torch.device, rank: int = 0, world: int = 1,
             batch_size: int = 16) -> dict[str, Any]:
    """Validation loss and per-image Dice/Jaccard/accuracy at the input size; each rank takes
    every ``world``-th image and the sums are all-reduced. Returns ``loss``, ``dice``,
    ``jaccard``, ``accuracy`` (means over images) and ``per_source`` {source: {dice, ...}}."""
    model.eval()
    ds = SegDataset(images, masks, IMAGENET_MEAN, IMAGENET_STD, augment=False)
    idx = list(range(rank, len(ds), world))
    names = sorted(set(sources))
    # sums per source: [n, loss, dice, jaccard, accuracy]
    acc = torch.zeros(len(names), 5, dtype=torch.float64)
    for start in range(0, len(idx), batch_size):
        chunk = idx[start: start + batch_size]
        x = torch.stack([ds[i][0] for i in chunk]).to(device)
        y = torch.stack([ds[i][1] for i in chunk]).to(device)
        logits = model(x).float()
        prob = torch.sigmoid(logits).cpu().numpy()[:, 0]
        for j, i in enumerate(chunk):
            loss = float(loss_fn(logits[j: j + 1], y[j: j + 1]))
            d, jac, a = binary_scores(prob[j], masks[i])
            acc[names.index(sources[i])] += torch.tensor([1.0, loss, d, jac, a], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(acc)
    tot = acc.sum(0)
    n = max(tot[0].item(), 1.0)
    out: dict[str, Any] = {"loss": tot[1].item() / n, "dice": tot[2].item() / n,
                           "jaccard": tot[3].item() / n, "accuracy": tot[4].item() / n,
                           "per_source": {}}
    for k, name in enumerate(names):
        m = max(acc[k, 0].item(), 1.0)
        out["per_source"][name] = {"n": int(acc[k, 0].item()), "dice": acc[k, 2].item() / m,
                                   "jaccard": acc[k, 3].item() / m, "accuracy": acc[k, 4].item() / m}
    return out


def lr_lambda(schedule: str, total_steps: int, warmup_steps: int):
    """Multiplier of the peak learning rate at a given optimisation step."""
    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        if schedule == "cosine":
            return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if schedule == "step":
            return 0.1 ** int(min(t, 0.999) * 3)
        return 1.0
    return f


def draw_curve(rows: Sequence[dict[str, Any]], path: str | Path, score: str = "val_dice") -> None:
    """Training curve PNG (OpenCV): train/val loss (left scale 0-max) and the validation score
    ``score`` (a row key, 0-1 scale; the segmenter's Dice by default)."""
    import cv2

    w, h, m = 720, 420, 50
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.rectangle(img, (m, m // 2), (w - m, h - m), (0, 0, 0), 1)
    n = len(rows)
    if n:
        lmax = max(max(r["train_loss"], r["val_loss"]) for r in rows) * 1.05 or 1.0

        def pts(key: str, scale: float) -> np.ndarray:
            xs = [m + (w - 2 * m) * (i / max(n - 1, 1)) for i in range(n)]
            ys = [h - m - (h - 1.5 * m) * (r[key] / scale) for r in rows]
            return np.array(list(zip(xs, ys, strict=True)), np.int32).reshape(-1, 1, 2)

        series = [("train_loss", lmax, (200, 80, 0)), ("val_loss", lmax, (0, 140, 255)),
                  (score, 1.0, (0, 160, 0))]
        for k, (key, scale, col) in enumerate(series):
            cv2.polylines(img, [pts(key, scale)], False, col, 2, cv2.LINE_AA)
            cv2.putText(img, key, (w - m - 150, h // 2 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        col, 1, cv2.LINE_AA)
        cv2.putText(img, f"epochs 1-{n}   loss max {lmax:.3f}   {score} 0-1   best "
                    f"{max(r[score] for r in rows):.4f}", (m, h - m + 30),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img[..., ::-1])


def _write_logs(out: Path, rows: list[dict[str, Any]], score: str = "val_dice") -> None:
    flat = [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in rows]
    with open(out / "log.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(flat[0]))
        wr.writeheader()
        wr.writerows(flat)
    (out / "log.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    draw_curve(rows, out / "curve.png", score)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run one training; returns the summary (also written to ``OUT/summary.json``)."""
    rank, world, device = init_distributed(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    log = (lambda *a: None) if (rank or args.quiet) else (lambda *a: print(*a, flush=True))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    t_load = time.perf_counter()
    pre_done = bool(export_info(args.data).get("preprocess"))
    if pre_done and args.preprocess:
        raise SystemExit(f"{args.data} holds preprocessed images already; drop --preprocess")
    train_pairs, val_pairs = split_pairs(read_pairs(args.data), args.val_fraction, args.seed)
    if args.limit:
        train_pairs = train_pairs[:: max(1, len(train_pairs) // args.limit)][: args.limit]
    cache_dir = args.cache_dir or None
    if world > 1 and rank != 0:
        dist.barrier()  # rank 0 builds the cache first
    # decode/resize in child processes: OpenCV's thread pool, once used in this process, can
    # deadlock the forked data-loader workers
    tr_img, tr_mask = load_arrays(train_pairs, args.size, args.preprocess, cache_dir, workers=2,
                                  resize=args.resize)
    va_img, va_mask = load_arrays(val_pairs, args.size, args.preprocess, cache_dir, workers=2,
                                  resize=args.resize)
    if world > 1 and rank == 0:
        dist.barrier()
    va_src = [p.source for p in val_pairs]
    log(f"data: {len(train_pairs)} train, {len(val_pairs)} val pairs "
        f"({time.perf_counter() - t_load:.1f} s); device {device}, world {world}")

    init_meta: dict[str, Any] = {}
    if args.init:
        from dermview.model.weights import load_model

        model, init_meta = load_model(args.init, device="cpu")  # SHA-256 verified
        args.arch = init_meta["arch"]
        if init_meta.get("preprocess") and not (args.preprocess or pre_done):
            raise SystemExit(f"{args.init} was trained on preprocessed images; add --preprocess")
        model = model.to(device)
    else:
        model = build_model(args.arch, **model_config(args)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = get_loss(args.loss)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    from training.augment import PRESETS

    if args.augment not in PRESETS:
        raise SystemExit(f"unknown --augment {args.augment!r} (known: {', '.join(PRESETS)})")
    ds = SegDataset(tr_img, tr_mask, IMAGENET_MEAN, IMAGENET_STD, augment=not args.no_augment,
                    seed=args.seed, params=PRESETS[args.augment])
    sampler = torch.utils.data.DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True,
                                                  seed=args.seed, drop_last=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, sampler=sampler,
                                         num_workers=args.workers, drop_last=True,
                                         worker_init_fn=_worker_init if args.workers else None,
                                         pin_memory=device.type == "cuda")
    steps_per_epoch = max(1, len(loader))
    if args.epoch_pairs:
        steps_per_epoch = max(1, min(steps_per_epoch, args.epoch_pairs // (args.batch_size * world)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(
        args.schedule, args.epochs * steps_per_epoch, int(args.warmup_epochs * steps_per_epoch)))

    rows: list[dict[str, Any]] = []
    best, best_epoch, start_epoch = -1.0, 0, 0
    ckpt = out / "last.ckpt"
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, best, best_epoch = state["epoch"], state["best"], state["best_epoch"]
        if (out / "log.json").is_file():
            rows = json.loads((out / "log.json").read_text())[:start_epoch]
        log(f"resumed at epoch {start_epoch}")

    meta_base = {
        "name": args.name or f"{args.arch}-{args.size}px",
        "arch": args.arch,
        "config": init_meta["config"] if init_meta else model_config(args, for_saving=True),
        "input_size": args.size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "threshold": 0.5, "preprocess": bool(args.preprocess or pre_done), "resize": args.resize,
        "training": {"command": "python -m training.train " + shlex.join(sys.argv[1:]),
                     "loss": args.loss, "batch_size": args.batch_size * world, "lr": args.lr,
                     "schedule": args.schedule, "seed": args.seed,
                     "train_pairs": len(train_pairs), "val_pairs": len(val_pairs),
                     "device": str(device.type), "world_size": world,
                     "augment": args.augment, "epoch_pairs": args.epoch_pairs},
    }
    if init_meta:
        meta_base["training"]["init"] = {"name": init_meta.get("name"),
                                         "sha256": init_meta.get("sha256")}
    use_amp = args.amp and device.type == "cuda"
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    out_of_cpu = False
    for epoch in range(start_epoch, args.epochs):
        te = time.perf_counter()
        net.train()
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        total = torch.zeros(2, dtype=torch.float64, device=device)
        for step, (x, y) in enumerate(loader):
            if step >= steps_per_epoch:
                break
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                logits = net(x)
            loss = loss_fn(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total[0] += loss.detach().double() * len(x)
            total[1] += len(x)
            if args.cpu_limit and (time.process_time() - cpu0) / 60 > args.cpu_limit:
                out_of_cpu = True
                break
        if world > 1:
            dist.all_reduce(total)
        train_loss = (total[0] / total[1].clamp(min=1)).item()
        val = evaluate(model, va_img, va_mask, va_src, loss_fn, device, rank, world)
        improved = val["dice"] > best
        if improved:
            best, best_epoch = val["dice"], epoch + 1
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val["loss"],
               "val_dice": val["dice"], "val_jaccard": val["jaccard"],
               "val_accuracy": val["accuracy"], "lr": opt.param_groups[0]["lr"],
               "epoch_s": time.perf_counter() - te,
               "cpu_min": (time.process_time() - cpu0) / 60,
               **{f"dice_{k}": v["dice"] for k, v in val["per_source"].items()},
               "per_source": val["per_source"]}
        rows.append(row)
        if rank == 0:
            if improved:
                meta = dict(meta_base, metrics={"split": "val", "size": args.size,
                                                "epoch": epoch + 1, "dice": val["dice"],
                                                "jaccard": val["jaccard"],
                                                "accuracy": val["accuracy"],
                                                "per_source": val["per_source"]})
                save_weights(model, out / "best.pt", meta)
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "epoch": epoch + 1, "best": best,
                        "best_epoch": best_epoch}, ckpt)
            _write_logs(out, rows)
        log(f"epoch {epoch + 1:3d}/{args.epochs}  loss {train_loss:.4f}  val loss "
            f"{val['loss']:.4f}  dice {val['dice']:.4f}  "
            + " ".join(f"{k} {v['dice']:.3f}" for k, v in val["per_source"].items())
            + f"  {row['epoch_s']:.1f} s{'  *' if improved else ''}")
        if out_of_cpu:
            log(f"CPU limit of {args.cpu_limit} min reached")
            break
        if epoch + 1 - best_epoch >= args.patience:
            log(f"early stop: no better validation Dice for {args.patience} epochs")
            break
        if args.time_limit and (time.perf_counter() - t0) / 60 > args.time_limit:
            log(f"time limit of {args.time_limit} min reached")
            break
    summary = {"args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()},
               "best_epoch": best_epoch, "best_val_dice": best, "epochs_run": len(rows),
               "train_minutes": (time.perf_counter() - t0) / 60,
               "cpu_minutes": (time.process_time() - cpu0) / 60, "world_size": world,
               "device": str(device), "params": sum(p.numel() for p in model.parameters()),
               "best": rows[best_epoch - 1] if best_epoch else None}
    if rank == 0:
        (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        if args.save_weights and best_epoch:
            import shutil

            dest = Path(args.save_weights)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "best.pt", dest)
            shutil.copyfile(out / "best.json", dest.with_suffix(".json"))
            log(f"weights written to {dest}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
