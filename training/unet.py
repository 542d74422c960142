"""U-Net baseline (Ronneberger et al. 2015), standard width: 64 base channels, four
down-sampling steps (64-128-256-512-1024), transposed-conv up-sampling, BN after each conv.

Importing this module registers ``"unet"`` in :data:`dermview.model.nets.ARCHITECTURES`, so
training, benchmarks and :func:`dermview.model.weights.load_model` build it by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dermview.model.blocks import ConvBNReLU
from dermview.model.nets import ARCHITECTURES


class DoubleConv(nn.Sequential):
    """Two ``3×3`` conv + BN + ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(ConvBNReLU(cin, cout), ConvBNReLU(cout, cout))


class Up(nn.Module):
    """``2×2`` transposed conv (halving channels), concatenate the skip, double conv."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin // 2 + cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[2:] != skip.shape[2:]:  # odd sizes: pad to the skip's size
            dh, dw = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
            x = F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """U-Net mapping ``(N, 3, H, W)`` to ``(N, 1, H, W)`` logits.

    Args:
        base: channels of the first level (64 = the standard U-Net).
    """

    def __init__(self, base: int = 64):
        super().__init__()
        c = [base * 2**i for i in range(5)]
        self.inc = DoubleConv(3, c[0])
        self.downs = nn.ModuleList(DoubleConv(c[i], c[i + 1]) for i in range(4))
        self.ups = nn.ModuleList(Up(c[i + 1], c[i]) for i in reversed(range(4)))
        self.outc = nn.Conv2d(c[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.outc(y)


ARCHITECTURES.setdefault("unet", UNet)
