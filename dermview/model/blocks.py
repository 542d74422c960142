"""Building blocks of the encoder-decoder: conv units, separable convs, ASPP, decoder.

All blocks take and return ``float32`` tensors ``(N, C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Standard ``k×k`` convolution, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1):
        pad = dilation * (kernel - 1) // 2
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class SeparableConv(nn.Sequential):
    """Depthwise ``3×3`` (optionally strided / dilated) + BN + ReLU, then pointwise ``1×1`` + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__(
            nn.Conv2d(cin, cin, 3, stride, dilation, dilation=dilation, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class ImagePooling(nn.Module):
    """Global average pooling → ``1×1`` conv → BN → ReLU → broadcast back to the input size."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.pool(x))
        # BatchNorm on a 1×1 map with batch 1 is undefined in training; skip its statistics then.
        if self.training and y.shape[0] == 1:
            y = F.batch_norm(y, self.bn.running_mean, self.bn.running_var, self.bn.weight,
                             self.bn.bias, training=False)
        else:
            y = self.bn(y)
        return F.relu(y).expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``1×1`` conv, three dilated separable ``3×3`` convs
    (``rates``), image pooling; concatenated and projected to ``cout`` channels."""

    def __init__(self, cin: int, cout: int, rates: Sequence[int] = (3, 3, 6), dropout: float = 0.1):
        super().__init__()
        if len(rates) != 3:
            raise ValueError(f"ASPP takes three dilation rates, got {tuple(rates)}")
        self.rates = tuple(int(r) for r in rates)
        self.branches = nn.ModuleList(
            [ConvBNReLU(cin, cout, kernel=1)]
            + [SeparableConv(cin, cout, dilation=r) for r in self.rates]
            + [ImagePooling(cin, cout)]
        )
        self.project = nn.Sequential(
            ConvBNReLU(5 * cout, cout, kernel=1),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], dim=1))


class Decoder(nn.Module):
    """DeepLabV3+ decoder: reduce low-level features with ``1×1``, upsample the pyramid output
    bilinearly to their size, concatenate, two ``3×3`` separable convs, ``1×1`` to ``classes``
    logits at the low-level resolution (the network upsamples to the input size)."""

    def __init__(self, low_ch: int, high_ch: int, low_reduced: int = 48, mid_ch: int = 128,
                 classes: int = 1):
        super().__init__()
        self.reduce = ConvBNReLU(low_ch, low_reduced, kernel=1)
        self.fuse = nn.Sequential(
            SeparableConv(low_reduced + high_ch, mid_ch),
            SeparableConv(mid_ch, mid_ch),
        )
        self.classify = nn.Conv2d(mid_ch, classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        high = F.interpolate(high, size=low.shape[2:], mode="bilinear", align_corners=False)
        return self.classify(self.fuse(torch.cat([self.reduce(low), high], dim=1)))


class ColourStandardise(nn.Module):
    """Per-image colour standardisation in front of a network: each image's per-channel mean
    ``m`` and standard deviation ``s`` (over the pixels, normalised input space) are moved
    the share ``alpha`` of the way to reference ones ``(m_ref, s_ref)``:
    ``x' = (x - m) · (s_ref / s)^alpha + alpha · m_ref + (1 - alpha) · m``. A device's
    colour cast, gamma and contrast change ``m`` and ``s`` of every image alike; this takes
    most of it out, image by image, whatever device an image comes from.

    Args:
        alpha: share in ``[0, 1]`` (0: identity).
        ref: ``(m_r, m_g, m_b, s_r, s_g, s_b)`` in the normalised input space.
    """

    def __init__(self, alpha: float, ref: Sequence[float]):
        super().__init__()
        if not 0.0 <= alpha <= 1.0 or len(ref) != 6:
            raise ValueError(f"ColourStandardise needs alpha in [0, 1] and 6 reference values, "
                             f"got {alpha}, {tuple(ref)}")
        self.alpha = float(alpha)
        self.ref = tuple(float(v) for v in ref)
        # Saved with the weights (a state dict entry), so that the model file, and with it its
        # SHA-256, differs from the base's: as config only, a run without a training step
        # wrote the base's state dict byte for byte, and labels of the base model were taken
        # for the new one's. Files written before it lack the entry: :func:`load_state`.
        self.register_buffer("setting", torch.tensor([self.alpha, *self.ref], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        m_ref = x.new_tensor(self.ref[:3]).view(1, 3, 1, 1)
        s_ref = x.new_tensor(self.ref[3:]).view(1, 3, 1, 1)
        m = x.mean(dim=(2, 3), keepdim=True)
        s = x.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        return (x - m) * (s_ref / s) ** a + a * m_ref + (1.0 - a) * m


def load_state(model: nn.Module, state: dict[str, torch.Tensor], config_wins: bool = False) -> None:
    """``model.load_state_dict(state)``, strict, except that the ``setting`` entries of its
    :class:`ColourStandardise` may be missing (a file written before they were saved, or the
    base model's state dict loaded into a new, standardised model): they keep the values the
    model was built with (its config). A setting present must equal the built one, unless
    ``config_wins`` (a new model's standardisation replacing its base's): then it is ignored.

    Raises:
        RuntimeError: missing or unexpected entries, wrong shapes, or a setting that
            disagrees with the config.
    """
    built = {f"{name}.setting": m.setting.detach().cpu().clone()
             for name, m in model.named_modules() if isinstance(m, ColourStandardise)}
    for key, value in built.items():
        if key in state and not config_wins and not torch.allclose(
                state[key].detach().cpu().float(), value):
            raise RuntimeError(f"{key} {state[key].tolist()} disagrees with the model's config "
                               f"{value.tolist()}")
    if config_wins:
        state = {k: v for k, v in state.items() if k not in built}
    model.load_state_dict({**built, **state}, strict=True)
