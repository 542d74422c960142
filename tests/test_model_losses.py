"""Losses on known inputs, and one forward/backward step."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from dermview.model.losses import (  # noqa: E402
    boundary_band,
    dice_bce_boundary_loss,
    dice_bce_loss,
    get_loss,
    smoothed_dice,
    weighted_dice_loss,
)
from dermview.model.nets import build_model  # noqa: E402

BIG = 50.0  # logit whose sigmoid is 1 to float precision


def _target() -> torch.Tensor:
    t = torch.zeros(1, 1, 4, 4)
    t[..., :2, :] = 1.0  # 8 lesion pixels, 8 background
    return t


def test_smoothed_dice_by_hand():
    p = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    t = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    # (2·0.5 + 1) / (1 + 2 + 1) = 0.5
    assert smoothed_dice(p, t).item() == pytest.approx(0.5)
    # empty prediction and empty target: smoothing makes it 1, not 0/0
    assert smoothed_dice(torch.zeros(1, 4), torch.zeros(1, 4)).item() == pytest.approx(1.0)


def test_weighted_dice_perfect_and_inverted():
    t = _target()
    assert weighted_dice_loss((t * 2 - 1) * BIG, t).item() == pytest.approx(0.0, abs=1e-6)
    # all wrong: lesion Dice = 1/(8+8+1), background Dice = 1/17 too
    assert weighted_dice_loss((1 - 2 * t) * BIG, t).item() == pytest.approx(1 - 1 / 17, abs=1e-6)


def test_weighted_dice_uses_07_03_weights():
    t = _target()
    logits = torch.full_like(t, BIG)  # predicts lesion everywhere
    d_lesion = (2 * 8 + 1) / (16 + 8 + 1)
    d_background = (0 + 1) / (0 + 8 + 1)
    expected = 1 - (0.7 * d_lesion + 0.3 * d_background)
    assert weighted_dice_loss(logits, t).item() == pytest.approx(expected, abs=1e-6)


def test_dice_bce_known_value():
    t = _target()
    logits = torch.zeros_like(t)  # p = 0.5 everywhere
    dice = (2 * 0.5 * 8 + 1) / (8 + 8 + 1)
    expected = (1 - dice) + math.log(2)
    assert dice_bce_loss(logits, t).item() == pytest.approx(expected, abs=1e-6)


def test_get_loss():
    assert get_loss("dice") is weighted_dice_loss
    assert get_loss("dice_bce") is dice_bce_loss
    with pytest.raises(ValueError, match="Unknown loss"):
        get_loss("focal")


def test_boundary_band_and_loss():
    t = torch.zeros(1, 1, 20, 20)
    t[..., 5:15, 5:15] = 1
    band = boundary_band(t, 3)
    # 1 px either side of the edge: the 12×12 ring minus the 8×8 inside
    assert band.sum().item() == 12 * 12 - 8 * 8 and band[0, 0, 10, 10] == 0
    logits = (t * 2 - 1) * BIG
    assert dice_bce_boundary_loss(logits, t).item() == pytest.approx(0.0, abs=1e-4)
    # an error on the edge costs more than with plain Dice + BCE, one far away less
    edge, far = logits.clone(), logits.clone()
    edge[..., 5, 5:15] = -BIG
    far[..., 0, 0:10] = BIG
    assert dice_bce_boundary_loss(edge, t) > dice_bce_loss(edge, t)
    assert dice_bce_boundary_loss(far, t) < dice_bce_loss(far, t)
    assert get_loss("dice_bce_boundary") is dice_bce_boundary_loss


@pytest.mark.parametrize("loss_name", ["dice", "dice_bce", "dice_bce_boundary"])
def test_forward_backward_step_lowers_loss(loss_name):
    torch.manual_seed(0)
    model = build_model("dermsegnet", width=8).train()
    x = torch.randn(2, 3, 32, 32)
    y = (torch.rand(2, 1, 32, 32) > 0.5).float()
    loss_fn = get_loss(loss_name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    first = None
    for _ in range(5):
        loss = loss_fn(model(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
    assert loss_fn(model(x), y).item() < first
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
