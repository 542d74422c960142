"""Segmentation networks, losses and inference. Importing this package does not import torch;
import the submodules (``blocks``, ``nets``, ``weights``, ``inference``) where torch is needed."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``dermview.model.Segmenter`` imports the inference module (and torch) on first use."""
    if name == "Segmenter":
        from dermview.model.inference import Segmenter

        return Segmenter
    raise AttributeError(f"module 'dermview.model' has no attribute {name!r}")
