"""Training losses for binary lesion segmentation.

All losses take ``logits`` (``float32`` ``(N, 1, H, W)``, unbounded) and ``target``
(``float32`` ``(N, 1, H, W)`` in ``{0, 1}``) and return a scalar tensor (lower is better).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def smoothed_dice(prob: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-sample smoothed Dice ``(2·Σpt + s) / (Σp + Σt + s)`` of ``(N, ...)`` tensors → ``(N,)``."""
    p = prob.flatten(1)
    t = target.flatten(1)
    return (2.0 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)


def weighted_dice_loss(logits: torch.Tensor, target: torch.Tensor, lesion_weight: float = 0.7,
                       background_weight: float = 0.3, smooth: float = 1.0) -> torch.Tensor:
    """The method's loss: ``1 − (w_l·Dice(lesion) + w_b·Dice(background))``, each Dice smoothed
    with ``+smooth`` in numerator and denominator, averaged over the batch. Range ``[0, 1]``."""
    prob = torch.sigmoid(logits)
    d_lesion = smoothed_dice(prob, target, smooth)
    d_background = smoothed_dice(1.0 - prob, 1.0 - target, smooth)
    total = lesion_weight + background_weight
    return 1.0 - ((lesion_weight * d_lesion + background_weight * d_background) / total).mean()


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Comparison loss: ``(1 − smoothed lesion Dice) + binary cross-entropy``."""
    dice = smoothed_dice(torch.sigmoid(logits), target, smooth).mean()
    return (1.0 - dice) + F.binary_cross_entropy_with_logits(logits, target)


def boundary_band(target: torch.Tensor, width: int = 5) -> torch.Tensor:
    """Pixels within about ``width // 2`` px of the mask's edge: ``1`` there, else ``0``
    (morphological gradient of ``(N, 1, H, W)`` {0, 1} by a ``width × width`` square)."""
    pad = width // 2
    dilated = F.max_pool2d(target, width, stride=1, padding=pad)
    eroded = -F.max_pool2d(-target, width, stride=1, padding=pad)
    return dilated - eroded


def dice_bce_boundary_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0,
                           band_weight: float = 4.0, width: int = 7) -> torch.Tensor:
    """Boundary-aware loss: ``(1 − smoothed lesion Dice)`` + cross-entropy whose pixels within
    the ``width``-px band around the true edge (:func:`boundary_band`) weigh
    ``1 + band_weight`` (normalised by the mean weight, so the scale matches ``dice_bce``)."""
    dice = smoothed_dice(torch.sigmoid(logits), target, smooth).mean()
    w = 1.0 + band_weight * boundary_band(target, width)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (1.0 - dice) + (w * bce).sum() / w.sum()


#: Loss name → function ``(logits, target) -> scalar``.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "dice": weighted_dice_loss,
    "dice_bce": dice_bce_loss,
    "dice_bce_boundary": dice_bce_boundary_loss,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Look up a loss by name (see :data:`LOSSES`)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"Unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
