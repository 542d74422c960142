"""Fine-tuning of the classifier's last encoder blocks on CPU, affordable by caching.

The frozen part of the encoder (stem and blocks ``0 .. cut-1``, the high-resolution and costly
part) runs once per image and per augmented view; its output maps (float16, ``(N, V, C, h, w)``)
and the frozen descriptors are cached per view. Fine-tuning then trains only blocks ``cut ..``
(low resolution: a 160-px input gives 5×5 maps after block 10) and the linear head, on one random cached
view per image per step, with the BatchNorm statistics frozen (eval mode; the affine parameters
train) and EfficientNet's drop-connect.

Model selection uses only the training images: an inner split (``inner_split``) gives the early
stopping epoch and the test-time-augmentation choice; the validation split is not looked at.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dermview.model.classifier import CLASSES, LesionEncoder, LesionHead, normalise, softmax
from dermview.model.nets import IMAGENET_MEAN, IMAGENET_STD
from training.classifier_eval import summarise
from training.classifier_fit import _views, epoch_indices
from training.train import lr_lambda


def inner_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of the training images: ``(fit indices, inner-validation indices)``,
    about ``fraction`` of each class in the inner validation (fixed by ``seed``)."""
    rng = np.random.default_rng([seed, 23])
    inner = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        inner.append(idx[: int(round(fraction * len(idx)))])
    mask = np.zeros(len(labels), bool)
    mask[np.concatenate(inner)] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


@torch.no_grad()
def cut_features(encoder: LesionEncoder, views: np.ndarray, cut: int,
                 batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Frozen descriptors float32 ``(n, D)`` and float16 outputs ``(n, C, h, w)`` of block
    ``cut - 1`` for uint8 ``(n, S, S, 3)`` views."""
    zs, ms = [], []
    for i in range(0, len(views), batch):
        z, m = encoder.split_forward(normalise(views[i: i + batch], IMAGENET_MEAN, IMAGENET_STD),
                                     cut)
        zs.append(z.float().numpy())
        ms.append(m.half().numpy())
    return np.concatenate(zs), np.concatenate(ms)


class _CutNet(nn.Module):
    def __init__(self, encoder: LesionEncoder, cut: int):
        super().__init__()
        self.encoder, self.cut = encoder, cut

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.split_forward(x, self.cut)


def cut_runner(encoder: LesionEncoder, cut: int, size: int, threads: int = 1
               ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A function uint8 views ``(n, S, S, 3)`` → :func:`cut_features`'s output, run by ONNX
    Runtime when installed (about 3× faster than torch on one CPU thread), else by torch."""
    try:
        import onnxruntime as ort
    except ImportError:
        return lambda views: cut_features(encoder, views, cut)
    import io
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_CutNet(copy.deepcopy(encoder).eval(), cut),
                          (torch.zeros(1, 3, size, size),), buf, input_names=["input"],
                          output_names=["z", "m"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "z": {0: "batch"}, "m": {0: "batch"}})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = max(1, threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])

    def run(views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, m = sess.run(None, {"input": normalise(views, IMAGENET_MEAN, IMAGENET_STD).numpy()})
        return z.astype(np.float32), m.astype(np.float16)
    return run


def view_cache(encoder: LesionEncoder, crops: np.ndarray, n_views: int, split: str, size: int,
               seed: int, cut: int, cache_dir: str | Path | None, log: Any = print,
               threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Frozen descriptors ``(N, V, D)`` float32 and block ``cut - 1`` maps ``(N, V, C, h, w)``
    float16 of ``V = n_views`` views of each crop, cached per view in ``cache_dir``. View 0 =
    the inference crop, 1 = its mirror image, then random augmentations
    (:func:`training.classifier_fit._views`)."""
    key = hashlib.sha256(crops.tobytes()).hexdigest()[:12]
    folder = Path(cache_dir) if cache_dir else None
    zs, ms = [], []
    runner = None
    for v in range(n_views):
        name = f"cut{cut}_{split}_{size}_{'-'.join(map(str, encoder.taps))}_{seed}_{key}_v{v}"
        cache = folder / f"{name}.npz" if folder else None
        t0 = time.perf_counter()
        if cache is not None and cache.is_file():
            with np.load(cache) as f:
                z, m = f["z"], f["m"]
        else:
            src_split, src_v = ("val", 1) if v == 1 else (split, v)  # view 1 = the mirror
            runner = runner or cut_runner(encoder, cut, size, threads)
            parts = [runner(_views(crops, range(j, min(j + 32, len(crops))), src_v, src_split,
                                   size, seed))
                     for j in range(0, len(crops), 32)]
            z = np.concatenate([a for a, _ in parts])
            m = np.concatenate([b for _, b in parts])
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_name(cache.stem + ".tmp.npz")
                np.savez(tmp, z=z, m=m)
                tmp.replace(cache)
            log(f"  {split} view {v + 1}/{n_views}: {len(crops)} crops "
                f"({time.perf_counter() - t0:.0f} s)")
        zs.append(z)
        ms.append(m)
    return np.stack(zs, axis=1), np.stack(ms, axis=1)


class TunedNet(nn.Module):
    """Trainable part during fine-tuning: (block ``cut - 1`` maps, frozen descriptors) →
    logits. The pooled statistics of the taps before the cut come from the frozen
    descriptors, those after it from the tuned blocks (the head owns them)."""

    def __init__(self, encoder: LesionEncoder, head: LesionHead):
        super().__init__()
        assert head.blocks is not None
        self.cut = head.tuned_from
        self.head = head
        self.encoder = copy.deepcopy(encoder)
        for i, block in enumerate(head.blocks):  # share the head's copies
            self.encoder.blocks[self.cut + i] = block
        chans = [encoder.blocks[t]._block_args.output_filters for t in encoder.taps]
        self.n_pre = sum(c for t, c in zip(encoder.taps, chans, strict=True) if t < self.cut)
        self.n_all = encoder.n_features // 2

    def train(self, mode: bool = True) -> TunedNet:
        super().train(mode)
        for m in self.modules():  # frozen BatchNorm statistics
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def forward(self, maps: torch.Tensor, z: torch.Tensor,
                drop_connect: float = 0.0) -> torch.Tensor:
        post = self.encoder.pool(self.encoder.taps_from(maps, self.cut, drop_connect))
        k = post.shape[1] // 2
        desc = torch.cat([z[:, : self.n_pre], post[:, :k],
                          z[:, self.n_all: self.n_all + self.n_pre], post[:, k:]], dim=1)
        return self.head(desc)


def tuned_head(encoder: LesionEncoder, probe: LesionHead, cut: int) -> LesionHead:
    """A head with ``tuned_from = cut`` whose blocks start at the ImageNet weights and whose
    standardisation and linear layer are the linear probe's (the LP-FT warm start)."""
    head = LesionHead(probe.fc.in_features, len(CLASSES), 0.0, tuned_from=cut,
                      n_blocks=len(encoder.blocks))
    head.load_state_dict({**probe.state_dict(),
                          **{f"blocks.{i}.{k}": v for i, b in enumerate(encoder.blocks[cut:])
                             for k, v in b.state_dict().items()}})
    return head


@torch.no_grad()
def tuned_logits(net: TunedNet, maps: np.ndarray, z: np.ndarray, batch: int = 64) -> np.ndarray:
    """float64 ``(n, 3)`` logits of float16 ``(n, C, h, w)`` maps and their frozen
    descriptors ``(n, D)`` (eval mode)."""
    net.eval()
    out = [net(torch.from_numpy(maps[i: i + batch]).float(),
               torch.from_numpy(z[i: i + batch])).double().numpy()
           for i in range(0, len(maps), batch)]
    return np.concatenate(out)


def fine_tune(encoder: LesionEncoder, probe: LesionHead, fit: tuple[np.ndarray, np.ndarray],
              y_fit: np.ndarray, inner: tuple[np.ndarray, np.ndarray], y_in: np.ndarray,
              cfg: dict[str, Any], rank: int = 0,
              world: int = 1, on_epoch: Callable[[list[dict[str, Any]]], None] | None = None
              ) -> tuple[LesionHead, list[dict[str, Any]]]:
    """Fine-tune blocks ``cfg["cut"] ..`` and the head.

    ``fit``: ``(z, maps)`` of the fitting images, frozen descriptors ``(N, V, D)`` and float16
    block ``cut - 1`` maps ``(N, V, C, h, w)`` (one random view per image per epoch);
    ``inner``: the same for the inner-validation images with 2 views (inference crop, mirror).
    ``cfg``: ``cut``, ``lr`` (head), ``block_lr``, ``epochs``, ``batch_size``, ``patience``,
    ``balance``, ``l2``, ``drop_connect``, ``seed``, ``tta`` (``hflip``/``none``: how the
    inner validation scores). Early stopping on the inner validation's mean of the melanoma and
    SK AUCs. Under DDP each rank takes every ``world``-th image of the epoch's order.
    Returns the best head (with its blocks) and one log row per epoch."""
    torch.manual_seed(cfg["seed"])
    head = tuned_head(encoder, probe, cfg["cut"])
    z_fit, m_fit = fit
    net = TunedNet(encoder, head)
    train_net: nn.Module = nn.parallel.DistributedDataParallel(net) if world > 1 else net
    assert head.blocks is not None
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW([
        {"params": list(head.fc.parameters()), "lr": cfg["lr"], "weight_decay": 0.0},
        {"params": list(head.blocks.parameters()), "lr": cfg["block_lr"],
         "weight_decay": 1e-4}])
    steps = max(1, len(y_fit) // world // cfg["batch_size"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine", cfg["epochs"] * steps,
                                                             steps))
    counts = np.bincount(y_fit, minlength=len(CLASSES)).astype(np.float32)
    weight = (torch.tensor(len(y_fit) / (len(CLASSES) * np.maximum(counts, 1)))
              if cfg["balance"] == "loss" else None)
    yt = torch.from_numpy(y_fit)
    rows: list[dict[str, Any]] = []
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(cfg["epochs"]):
        te = time.perf_counter()
        net.train()
        order = epoch_indices(y_fit, cfg["balance"], epoch, cfg["seed"])[rank::world]
        vrng = np.random.default_rng([cfg["seed"], 29, epoch, rank])
        total = np.zeros(2)
        for s in range(steps):
            idx = order[s * cfg["batch_size"]: (s + 1) * cfg["batch_size"]]
            v = vrng.integers(0, m_fit.shape[1], len(idx))
            x = torch.from_numpy(m_fit[idx, v]).float()
            z = torch.from_numpy(z_fit[idx, v])
            loss = F.cross_entropy(train_net(x, z, cfg["drop_connect"]), yt[idx], weight=weight)
            loss = loss + cfg["l2"] * head.fc.weight.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += (loss.item() * len(idx), len(idx))
        if world > 1:
            t = torch.from_numpy(total)
            torch.distributed.all_reduce(t)
            total = t.numpy()
        lg = score_views(net, inner, cfg["tta"])
        m = summarise(softmax(lg), y_in, n_boot=0)
        score = m["auc_mean_mel_sk"]
        if score > best:
            best, best_epoch = score, epoch + 1
            best_state = copy.deepcopy(head.state_dict())
        rows.append({"epoch": epoch + 1, "train_loss": total[0] / total[1],
                     "val_loss": float(F.cross_entropy(torch.from_numpy(lg),
                                                       torch.from_numpy(y_in)).item()),
                     "val_auc_melanoma": m["auc_melanoma"]["auc"],
                     "val_auc_sk": m["auc_seborrheic_keratosis"]["auc"], "val_auc_mean": score,
                     "val_balanced_accuracy": m["balanced_accuracy"],
                     "lr": opt.param_groups[1]["lr"], "epoch_s": time.perf_counter() - te,
                     "best": best_epoch == epoch + 1})
        if on_epoch is not None:
            on_epoch(rows)
        if epoch + 1 - best_epoch >= cfg["patience"]:
            break
    if best_state is not None:
        head.load_state_dict(best_state)
    return head.eval(), rows


def score_views(net: TunedNet, data: tuple[np.ndarray, np.ndarray], tta: str) -> np.ndarray:
    """Logits ``(M, 3)`` of ``(z (M, 2, D), maps (M, 2, ...))``: view 0, or (``hflip``) the
    mean over both views."""
    z, m = data
    lg = tuned_logits(net, m[:, 0], z[:, 0])
    return (lg + tuned_logits(net, m[:, 1], z[:, 1])) / 2.0 if tta == "hflip" else lg


def pick_tta(net: TunedNet, data: tuple[np.ndarray, np.ndarray], labels: np.ndarray,
             options: Sequence[str] = ("none", "hflip")) -> dict[str, Any]:
    """Inner-validation mean AUC of each TTA option; ``best`` = the highest."""
    scores = {t: summarise(softmax(score_views(net, data, t)), labels, n_boot=0)
              ["auc_mean_mel_sk"] for t in options}
    return {"scores": scores, "best": max(scores, key=scores.get)}
