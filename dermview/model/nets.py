"""Segmentation networks. Each maps ``(N, 3, H, W)`` normalised RGB to ``(N, 1, H, W)`` lesion
logits (``H``, ``W`` multiples of 16 recommended; other sizes work)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dermview.model.blocks import ASPP, ConvBNReLU, Decoder, SeparableConv


class DermSegNet(nn.Module):
    """The method's network: a DeepLabV3+-like encoder-decoder, output stride 16.

    Encoder: two standard ``3×3`` convs (the first strided), then depthwise-separable stages
    at strides 4 (low-level features), 8 and 16; ASPP on the stride-16 features; decoder fuses
    the ``1×1``-reduced stride-4 features with the upsampled pyramid output.

    Args:
        width: channels of the stem; the stages use 2×, 4× and 8× this.
        aspp_rates: the three dilation rates of the pyramid (the method: 3, 3, 6).
    """

    def __init__(self, width: int = 32, aspp_rates: Sequence[int] = (3, 3, 6)):
        super().__init__()
        w = int(width)
        self.stem = nn.Sequential(ConvBNReLU(3, w, stride=2), ConvBNReLU(w, w))
        self.stage1 = nn.Sequential(SeparableConv(w, 2 * w, stride=2), SeparableConv(2 * w, 2 * w))
        self.stage2 = nn.Sequential(SeparableConv(2 * w, 4 * w, stride=2), SeparableConv(4 * w, 4 * w))
        self.stage3 = nn.Sequential(
            SeparableConv(4 * w, 8 * w, stride=2),
            SeparableConv(8 * w, 8 * w),
            SeparableConv(8 * w, 8 * w),
        )
        self.aspp = ASPP(8 * w, 4 * w, rates=aspp_rates)
        self.decoder = Decoder(low_ch=2 * w, high_ch=4 * w, low_reduced=max(w, 16), mid_ch=4 * w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        low = self.stage1(self.stem(x))
        high = self.aspp(self.stage3(self.stage2(low)))
        logits = self.decoder(low, high)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


#: Architecture name → constructor. ``build_model(name, **config)`` is the only way the
#: training code, the benchmarks and the inference code create a network.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "dermsegnet": DermSegNet,
}


def build_model(arch: str, **config: Any) -> nn.Module:
    """Create an untrained network by architecture name (see :data:`ARCHITECTURES`)."""
    try:
        ctor = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"Unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    return ctor(**config)
