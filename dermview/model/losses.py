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


#: Loss name → function ``(logits, target) -> scalar``.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "dice": weighted_dice_loss,
    "dice_bce": dice_bce_loss,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Look up a loss by name (see :data:`LOSSES`)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"Unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
