"""Tiny untrained segmentation weights for tests (a width-8 DermSegNet, 64 px input)."""

from __future__ import annotations

from pathlib import Path

import torch

from dermview.model.nets import build_model
from dermview.model.weights import save_weights

META = {"arch": "dermsegnet", "config": {"width": 8}, "input_size": 64,
        "mean": [0.6, 0.5, 0.45], "std": [0.2, 0.2, 0.2], "name": "tiny-test"}


def make_weights(folder: Path, stem: str = "tiny", seed: int = 0, **meta_extra) -> Path:
    """Save ``folder/<stem>.pt`` (weights seeded with ``seed``; metadata :data:`META` updated
    with ``meta_extra``) and return its path."""
    torch.manual_seed(seed)
    path = folder / f"{stem}.pt"
    save_weights(build_model("dermsegnet", width=8), path, {**META, **meta_extra})
    return path
