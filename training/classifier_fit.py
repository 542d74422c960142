"""Classifier training steps: cached view descriptors, the head fit with early stopping, the
cross-validated choice of class balancing and L2 weight, temperature scaling, ONNX export."""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from dermview.model.calibration import expected_calibration_error, fit_temperature, nll
from dermview.model.classifier import CLASSES, LesionEncoder, LesionHead, normalise, softmax
from dermview.model.nets import IMAGENET_MEAN, IMAGENET_STD
from training.classifier_data import centre_view, random_view
from training.classifier_eval import summarise
from training.train import lr_lambda


def _views(crops: np.ndarray, index: Sequence[int], v: int, split: str, size: int,
           seed: int) -> np.ndarray:
    """uint8 ``(n, size, size, 3)`` view ``v`` of the given crops (train: 0 = inference crop,
    else a random view from ``rng([seed, image, v])``; val: 0 = inference crop, 1 = mirror)."""
    out = []
    for i in index:
        if v == 0:
            out.append(centre_view(crops[i], size))
        elif split == "val":
            out.append(np.ascontiguousarray(centre_view(crops[i], size)[:, ::-1]))
        else:
            out.append(random_view(crops[i], size, np.random.default_rng([seed, int(i), v])))
    return np.stack(out)


@torch.no_grad()
def descriptors(encoder: LesionEncoder, views: np.ndarray, device: torch.device,
                batch: int = 32) -> np.ndarray:
    """float32 ``(n, D)`` encoder descriptors of uint8 ``(n, S, S, 3)`` views."""
    out = []
    for i in range(0, len(views), batch):
        x = normalise(views[i: i + batch], IMAGENET_MEAN, IMAGENET_STD).to(device)
        out.append(encoder(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.n_features), np.float32)


def view_features(encoder: LesionEncoder, crops: np.ndarray, args: argparse.Namespace,
                  device: torch.device, split: str, rank: int = 0, world: int = 1,
                  log: Any = print) -> np.ndarray:
    """``(N, V, D)`` float32 descriptors of ``V = args.views`` (train) or 2 (val) views of each
    crop, one cache file per view in ``args.cache_dir`` (keyed by the crops, size, taps and
    seed); under DDP each rank computes every ``world``-th image of a missing view."""
    import hashlib

    n_views = args.views if split == "train" else 2
    key = hashlib.sha256(crops.tobytes()).hexdigest()[:12]
    taps = "-".join(map(str, encoder.taps)) + ("_head" if encoder.use_head else "")
    folder = Path(args.cache_dir) if args.cache_dir else None
    out = np.zeros((len(crops), n_views, encoder.n_features), np.float32)
    for v in range(n_views):
        name = f"desc_{split}_{args.size}_{taps}_{args.seed}_{key}_v{v}"
        cache = folder / f"{name}.npy" if folder else None
        if cache is not None and cache.is_file():
            out[:, v] = np.load(cache)
            continue
        t0 = time.perf_counter()
        mine = np.arange(rank, len(crops), world)
        part = np.concatenate([descriptors(encoder, _views(crops, mine[j: j + 64], v, split,
                                                           args.size, args.seed), device)
                               for j in range(0, len(mine), 64)]) if len(mine) else None
        if world > 1:
            parts: list[Any] = [None] * world
            dist.all_gather_object(parts, (mine, part))
        else:
            parts = [(mine, part)]
        for idx, p in parts:
            if len(idx):
                out[idx, v] = p
        if cache is not None and rank == 0:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.stem + ".tmp.npy")
            np.save(tmp, out[:, v])
            tmp.replace(cache)
        log(f"  {split} view {v + 1}/{n_views}: {len(crops)} crops "
            f"({time.perf_counter() - t0:.0f} s)")
    return out


def epoch_indices(labels: np.ndarray, balance: str, epoch: int, seed: int) -> np.ndarray:
    """One epoch's order of training images: a permutation, or (``sampler``) ``N`` draws with
    replacement with probability ∝ 1 / class count. Same on every rank (shard afterwards)."""
    rng = np.random.default_rng([seed, 7, epoch])
    if balance == "sampler":
        counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
        p = 1.0 / np.maximum(counts, 1)[labels]
        return rng.choice(len(labels), len(labels), replace=True, p=p / p.sum())
    return rng.permutation(len(labels))


def new_head(z_train: np.ndarray, dropout: float = 0.0) -> LesionHead:
    """A head whose standardisation is fitted on ``(N, V, D)`` training descriptors."""
    flat = z_train.reshape(-1, z_train.shape[-1]).astype(np.float64)
    head = LesionHead(z_train.shape[-1], len(CLASSES), dropout)
    head.shift.copy_(torch.from_numpy(flat.mean(0)).float())
    head.scale.copy_(torch.from_numpy(1.0 / (flat.std(0) + 1e-6)).float())
    nn.init.zeros_(head.fc.weight)
    nn.init.zeros_(head.fc.bias)
    return head


def fit_head(z_tr: np.ndarray, y_tr: np.ndarray, z_va: np.ndarray, y_va: np.ndarray,
             cfg: dict[str, Any], rank: int = 0, world: int = 1,
             on_epoch: Any = None) -> tuple[LesionHead, list[dict[str, Any]]]:
    """Train a head on ``(N, V, D)`` descriptors (one random view per image per step) with
    early stopping on the mean melanoma/SK AUC of the ``(M, D)`` evaluation descriptors.

    ``cfg``: ``balance``, ``l2``, ``lr``, ``epochs``, ``batch_size``, ``patience``, ``seed``,
    ``dropout``. Returns the best head (eval mode) and one log row per epoch."""
    torch.manual_seed(cfg["seed"])
    head = new_head(z_tr, cfg.get("dropout", 0.0))
    net: nn.Module = nn.parallel.DistributedDataParallel(head) if world > 1 else head
    opt = torch.optim.Adam(head.fc.parameters(), lr=cfg["lr"])
    steps = max(1, len(y_tr) // world // cfg["batch_size"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine", cfg["epochs"] * steps, steps))
    counts = np.bincount(y_tr, minlength=len(CLASSES)).astype(np.float32)
    weight = (torch.tensor(len(y_tr) / (len(CLASSES) * np.maximum(counts, 1)))
              if cfg["balance"] == "loss" else None)
    zt, yt, zv = torch.from_numpy(z_tr), torch.from_numpy(y_tr), torch.from_numpy(z_va)
    rows: list[dict[str, Any]] = []
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(cfg["epochs"]):
        te = time.perf_counter()
        head.train()
        order = epoch_indices(y_tr, cfg["balance"], epoch, cfg["seed"])[rank::world]
        vrng = np.random.default_rng([cfg["seed"], 13, epoch, rank])
        total = torch.zeros(2, dtype=torch.float64)
        for s in range(steps):
            idx = torch.from_numpy(order[s * cfg["batch_size"]: (s + 1) * cfg["batch_size"]])
            v = torch.from_numpy(vrng.integers(0, zt.shape[1], len(idx)))
            loss = F.cross_entropy(net(zt[idx, v]), yt[idx], weight=weight)
            loss = loss + cfg["l2"] * head.fc.weight.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += torch.tensor([loss.item() * len(idx), len(idx)], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(total)
        head.eval()
        with torch.no_grad():
            lg = head(zv).double().numpy()
        m = summarise(softmax(lg), y_va, n_boot=0)
        score = m["auc_mean_mel_sk"]
        if score > best:
            best, best_epoch = score, epoch + 1
            best_state = {k: t.clone() for k, t in head.state_dict().items()}
        rows.append({"epoch": epoch + 1, "train_loss": (total[0] / total[1]).item(),
                     "val_loss": nll(lg, y_va), "val_auc_melanoma": m["auc_melanoma"]["auc"],
                     "val_auc_sk": m["auc_seborrheic_keratosis"]["auc"], "val_auc_mean": score,
                     "val_balanced_accuracy": m["balanced_accuracy"],
                     "lr": opt.param_groups[0]["lr"], "epoch_s": time.perf_counter() - te,
                     "best": best_epoch == epoch + 1})
        if on_epoch is not None:
            on_epoch(rows)
        if epoch + 1 - best_epoch >= cfg["patience"]:
            break
    if best_state is not None:
        head.load_state_dict(best_state)
    return head.eval(), rows


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index ``0..k-1`` per image, each class spread evenly over the folds."""
    rng = np.random.default_rng([seed, 17])
    fold = np.zeros(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    return fold


def cross_validate(z_tr: np.ndarray, y_tr: np.ndarray, balances: Sequence[str],
                   l2s: Sequence[float], base: dict[str, Any], k: int, log: Any = print
                   ) -> dict[str, Any]:
    """Grouped (by image: all views of an image in one fold) ``k``-fold cross-validation on the
    training images of every ``balance × l2`` configuration. The score is the mean of the
    melanoma and SK AUCs of the pooled out-of-fold predictions (inference crop). Returns
    ``{folds, results: [...], best: {balance, l2}}``."""
    fold = stratified_folds(y_tr, k, base["seed"])
    results = []
    for balance in balances:
        for l2 in l2s:
            t0 = time.perf_counter()
            oof = np.zeros((len(y_tr), len(CLASSES)))
            epochs = []
            for f in range(k):
                tr, va = fold != f, fold == f
                head, rows = fit_head(z_tr[tr], y_tr[tr], z_tr[va, 0], y_tr[va],
                                      {**base, "balance": balance, "l2": l2})
                with torch.no_grad():
                    oof[va] = softmax(head(torch.from_numpy(z_tr[va, 0])).double().numpy())
                epochs.append(max(r["epoch"] for r in rows if r["best"]))
            m = summarise(oof, y_tr, n_boot=0)
            res = {"balance": balance, "l2": l2, "auc_mean_mel_sk": m["auc_mean_mel_sk"],
                   "auc_melanoma": m["auc_melanoma"]["auc"],
                   "auc_seborrheic_keratosis": m["auc_seborrheic_keratosis"]["auc"],
                   "balanced_accuracy": m["balanced_accuracy"], "best_epochs": epochs}
            results.append(res)
            log(f"  cv balance={balance} l2={l2:g}: mel {res['auc_melanoma']:.4f} sk "
                f"{res['auc_seborrheic_keratosis']:.4f} bacc {res['balanced_accuracy']:.3f} "
                f"({time.perf_counter() - t0:.0f} s)")
    top = max(results, key=lambda r: r["auc_mean_mel_sk"])
    return {"folds": k, "score": "pooled out-of-fold mean(AUC melanoma, AUC SK)",
            "results": results, "best": {"balance": top["balance"], "l2": top["l2"]}}


def calibrate(logits: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, float]:
    """Temperature on all validation logits; ECE/NLL before and after; and the ECE when each
    half of the validation set is scaled with the temperature fitted on the other half."""
    t = fit_temperature(logits, labels)
    fold = np.random.default_rng([seed, 11]).permutation(len(labels)) % 2
    cross = np.zeros((len(labels), len(CLASSES)))
    for k in (0, 1):
        tk = fit_temperature(logits[fold != k], labels[fold != k])
        cross[fold == k] = softmax(logits[fold == k], tk)
    return {"temperature": t, "ece_before": expected_calibration_error(softmax(logits), labels),
            "ece_after": expected_calibration_error(softmax(logits, t), labels),
            "ece_after_crossfit": expected_calibration_error(cross, labels),
            "nll_before": nll(logits, labels), "nll_after": nll(logits, labels, t)}


def export_onnx(model: nn.Module, path: str | Path, size: int, channels: int = 3) -> None:
    """ONNX export of the whole classifier (opset 17, input ``batch×3×size×size`` named
    ``input`` with static height and width as the engine layer expects, output ``logits``,
    uncalibrated: divide by the metadata temperature)."""
    import warnings

    m = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about the dynamic "same" padding
        torch.onnx.export(m, (torch.zeros(1, channels, size, size),), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
