"""The optimisation part of fine-tuning (torch).

Each labelled image is augmented into a fixed set of views (``training.augment``: rotation,
scale, flips, elastic, colour and illumination) once per run. With ``layers="head"`` (the
default) the frozen encoder runs once per view and only its two outputs are kept (the
low-level features the decoder takes and the high-level features the pyramid takes), so a
step costs the pyramid + decoder alone: about 5x cheaper on a CPU than a step through the
encoder. ``layers="last"`` also trains the encoder's last stage (stride 16): the views keep
what that stage receives, and a step runs the stage + pyramid + decoder. With
``layers="all"`` each step runs the whole network on the views.
Batch-norm layers keep their running statistics either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from dermview.finetune.engine import FinetuneCancelled, FinetuneSettings, clock
from dermview.model.blocks import load_state
from dermview.model.inference import Segmenter
from dermview.model.losses import get_loss
from dermview.model.nets import build_model

if TYPE_CHECKING:
    from training.augment import AugmentParams

#: Augmented views made of each labelled image: about 200 in all, 4-16 per image (a view
#: costs about one forward pass: ~0.5 s on a busy CPU thread).
VIEWS_TOTAL, VIEWS_MIN, VIEWS_MAX = 200, 4, 16


def views_per_image(n: int) -> int:
    """Augmented views per labelled image for ``n`` images."""
    return int(min(VIEWS_MAX, max(VIEWS_MIN, math.ceil(VIEWS_TOTAL / max(n, 1)))))


@dataclass
class Views:
    """Augmented training views of ``n`` images, ``v`` views each, image-major.

    Attributes:
        target: float32 ``(n·v, 1, S, S)`` masks in ``{0, 1}``.
        x: float32 ``(n·v, 3, S, S)`` normalised inputs (``layers="all"``), else None.
        low, high: the encoder's outputs per view (``layers="head"``; with ``"last"``,
            ``high`` is the input of the encoder's last stage), else None.
        per_image: ``v``.
    """

    target: torch.Tensor
    x: torch.Tensor | None
    low: torch.Tensor | None
    high: torch.Tensor | None
    per_image: int

    def rows(self, images: list[int]) -> list[int]:
        """View indices of the given image indices."""
        v = self.per_image
        return [i * v + k for i in images for k in range(v)]


def last_stage(model: torch.nn.Module) -> int:
    """Index of the first encoder block of the last stage (``layers="last"`` trains it and
    the blocks after it): the stride-16 112-channel stage of :class:`LiteSegNet`.

    Raises:
        FinetuneError: the network has no such stage."""
    from dermview.finetune.collect import FinetuneError

    blocks = getattr(model, "blocks", None)
    high = getattr(model, "HIGH_CH", None)
    if blocks is None or high is None:
        raise FinetuneError(f"layers='last' needs a LiteSegNet, not {type(model).__name__}")
    outs = [b._block_args.output_filters for b in blocks]
    return min(i for i, c in enumerate(outs) if c == high)


def _encoder_outputs(model: torch.nn.Module, x: torch.Tensor,
                     stage: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)``: what the decoder and the pyramid receive for input ``x`` (both
    networks compute ``decoder(low, aspp(high))``), caught by forward pre-hooks. With
    ``stage``, ``high`` is instead what encoder block ``stage`` receives."""
    got: dict[str, torch.Tensor] = {}

    def keep(key: str) -> Callable[[torch.nn.Module, tuple], None]:
        def hook(module: torch.nn.Module, args: tuple) -> None:  # None: inputs unchanged
            got[key] = args[0]
        return hook

    high = model.aspp if stage is None else model.blocks[stage]
    hooks = [high.register_forward_pre_hook(keep("high")),
             model.decoder.register_forward_pre_hook(keep("low"))]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return got["low"], got["high"]


def geometric_only() -> AugmentParams:
    """Augmentation without the colour and illumination changes (rotation, scale, shift,
    flips, elastic): the clinic's colours are what the fine-tuned model has to learn."""
    from training.augment import AugmentParams

    return AugmentParams(brightness=0.0, contrast=0.0, gamma=0.0, channel_gain=0.0,
                         saturation=0.0, p_illumination=0.0)


def make_views(base: Segmenter, images: np.ndarray, masks: np.ndarray, layers: str,
               seed: int = 0, tick: Callable[[], None] | None = None,
               per_image: int | None = None, colour: bool = True) -> Views:
    """Augmented views of uint8 arrays ``(N, S, S, 3)`` / ``(N, S, S)`` (see :class:`Views`);
    ``tick()`` after each image. ``colour=False``: geometric augmentation only."""
    from training.data import SegDataset

    v = per_image or views_per_image(len(images))
    ds = SegDataset(images, masks, base.meta["mean"], base.meta["std"], augment=True, seed=seed,
                    params=None if colour else geometric_only())
    xs, ys, lows, highs = [], [], [], []
    model = base.model.eval()
    stage = last_stage(model) if layers == "last" else None
    for i in range(len(ds)):
        batch = []
        for k in range(v):
            ds.set_epoch(k)
            batch.append(ds[i])
        x = torch.stack([b[0] for b in batch])
        ys.append(torch.stack([b[1] for b in batch]))
        if layers == "all":
            xs.append(x)
        else:
            with torch.inference_mode():
                low, high = _encoder_outputs(model, x.to(base.device), stage)
            lows.append(low.clone())
            highs.append(high.clone())
        if tick is not None:
            tick()
    def cat(parts: list[torch.Tensor]) -> torch.Tensor | None:
        return torch.cat(parts).to(base.device) if parts else None

    target = cat(ys)
    assert target is not None
    return Views(target=target, x=cat(xs), low=cat(lows), high=cat(highs), per_image=v)


def _trainable(model: torch.nn.Module, layers: str) -> list[torch.nn.Parameter]:
    heads = ["aspp.", "decoder."]
    if layers == "last":
        heads += [f"blocks.{i}." for i in range(last_stage(model), len(model.blocks))]
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(layers == "all" or name.startswith(tuple(heads)))
        if p.requires_grad:
            params.append(p)
    return params


def normalise(base: Segmenter, images: np.ndarray) -> torch.Tensor:
    """Network inputs of uint8 ``(N, S, S, 3)`` images: float32 ``(N, 3, S, S)``."""
    mean = np.asarray(base.meta["mean"], np.float32) * 255.0
    std = np.asarray(base.meta["std"], np.float32) * 255.0
    x = (images.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


#: Which batch-norm layers AdaBN re-estimates: module-name prefixes of :class:`LiteSegNet`.
BN_SCOPES = {"all": ("",), "encoder": ("bn0", "blocks."), "stem": ("bn0", "blocks.0.")}


def adapt_bn(model: torch.nn.Module, x: torch.Tensor, blend: float = 1.0,
             batch: int = 64, scope: str = "all") -> torch.nn.Module:
    """AdaBN: re-estimate the batch-norm layers' running mean and variance on the inputs
    ``x`` (float32 ``(N, 3, S, S)``, normalised; a clinic's images, labelled or not), then keep
    ``blend`` of the new statistics and ``1 - blend`` of the old ones. ``scope``: which layers
    (:data:`BN_SCOPES`; the others keep theirs). In place; returns ``model`` in eval mode.
    With ``N <= batch`` the statistics are exact (one batch)."""
    prefixes = BN_SCOPES[scope]
    bns = [m for name, m in model.named_modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and name.startswith(prefixes)]
    old = [(m.running_mean.clone(), m.running_var.clone(), m.momentum) for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    for m, (mean, var, momentum) in zip(bns, old, strict=True):
        m.running_mean.copy_(blend * m.running_mean + (1.0 - blend) * mean)
        m.running_var.copy_(blend * m.running_var + (1.0 - blend) * var)
        m.momentum = momentum
    return model.eval()


def freeze_bn(model: torch.nn.Module) -> None:
    """Batch-norm layers keep their running statistics (a few labels are no population)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def _batches(n: int, batch: int, rng: np.random.Generator) -> Iterator[list[int]]:
    while True:
        order = rng.permutation(n).tolist()
        for i in range(0, n - batch + 1, batch):
            yield order[i:i + batch]


def _cosine(steps: int) -> Callable[[int], float]:
    warm = max(1, steps // 20)

    def f(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        t = min(1.0, (s - warm) / max(1, steps - warm))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t))
    return f


def copy_model(base: Segmenter) -> torch.nn.Module:
    """A trainable copy of ``base.model`` (same weights and statistics) on ``base.device``."""
    model = build_model(base.meta["arch"], **base.meta["config"])
    load_state(model, base.model.state_dict())
    return model.to(base.device)


def start_model(base: Segmenter, colour_norm: float = 0.0, bn_adapt: float = 0.0,
                x: torch.Tensor | None = None) -> Segmenter:
    """The model fine-tuning starts from: ``base`` with per-image colour standardisation
    (share ``colour_norm``, reference :data:`dermview.finetune.engine.COLOUR_REF`; a config
    key of the new model) and AdaBN (share ``bn_adapt``) on the folder's inputs ``x`` (float32
    ``(N, 3, S, S)``, normalised). Returns ``base`` itself when both are 0."""
    from dermview.finetune.collect import FinetuneError
    from dermview.finetune.engine import COLOUR_REF, in_memory_segmenter

    if colour_norm <= 0 and bn_adapt <= 0:
        return base
    meta = dict(base.meta)
    if colour_norm > 0:
        meta["config"] = {**meta["config"], "colour_norm": float(colour_norm),
                          "colour_ref": list(COLOUR_REF)}
    model = build_model(meta["arch"], **meta["config"])
    load_state(model, base.model.state_dict(), config_wins=True)  # a base's own share is replaced
    model.to(base.device).eval()
    if bn_adapt > 0:
        if x is None:
            raise FinetuneError("AdaBN needs the folder's images")
        adapt_bn(model, x.to(base.device), bn_adapt)
    return in_memory_segmenter(model, meta, base.device, "start")


def train_run(base: Segmenter, views: Views, rows: list[int], settings: FinetuneSettings,
              steps: int, deadline: float, step_done: Callable[[int, torch.nn.Module], None],
              cancel: Callable[[], bool] | None = None) -> torch.nn.Module:
    """Fine-tune a copy of ``base.model`` on the views ``rows`` for ``steps`` steps (fewer if
    the settings' clock (:func:`dermview.finetune.engine.clock`) passes ``deadline``), calling ``step_done(step, model)`` after each
    (1-based; the model in training mode). Returns the model in eval mode; ``base`` is not
    changed.

    Raises:
        FinetuneCancelled: ``cancel()`` returned True.
    """
    now = clock(settings)
    model = copy_model(base)
    params = _trainable(model, settings.layers)
    anchors = [p.detach().clone() for p in params] if settings.l2sp > 0 else []
    stage = last_stage(model) if settings.layers == "last" else 0
    opt = torch.optim.Adam(params, lr=settings.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(steps))
    loss_fn = get_loss(str(base.meta.get("training", {}).get("loss", "dice_bce")))
    batches = _batches(len(rows), min(settings.batch_size, len(rows)),
                       np.random.default_rng(settings.seed))
    size = views.target.shape[2:]
    model.train()
    freeze_bn(model)
    for step in range(steps):
        if cancel is not None and cancel():
            raise FinetuneCancelled("Fine-tuning was cancelled; nothing was written.")
        if step and now() > deadline:
            break
        idx = [rows[i] for i in next(batches)]
        if views.x is not None:
            logits = model(views.x[idx])
        else:
            assert views.low is not None and views.high is not None
            high = views.high[idx]
            if settings.layers == "last":
                for block in model.blocks[stage:]:
                    high = block(high, drop_connect_rate=None)
            logits = F.interpolate(model.decoder(views.low[idx], model.aspp(high)),
                                   size=size, mode="bilinear", align_corners=False)
        loss = loss_fn(logits.float(), views.target[idx])
        if anchors:  # L2-SP: stay near the base model's weights
            loss = loss + settings.l2sp * sum(((p - a) ** 2).sum()
                                              for p, a in zip(params, anchors, strict=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step_done(step + 1, model)
    return model.eval()


def time_one_step(base: Segmenter, views: Views, settings: FinetuneSettings) -> float:
    """Seconds of one optimisation step (the median of steps 2-4 of a throwaway run)."""
    rows = list(range(min(settings.batch_size, len(views.target))))
    stamps: list[float] = []
    now = clock(settings)
    train_run(base, views, rows, settings, 4, math.inf, lambda s, m: stamps.append(now()))
    return float(np.median(np.diff(stamps)))
