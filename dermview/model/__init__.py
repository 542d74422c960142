"""Segmentation networks, losses, engines and inference. Importing this package (or
``engines``, ``inference``, ``weights``) imports neither torch nor onnxruntime; ``blocks``,
``nets`` and ``losses`` need torch (training and the torch engine)."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``dermview.model.Segmenter`` imports the inference module on first use."""
    if name == "Segmenter":
        from dermview.model.inference import Segmenter

        return Segmenter
    raise AttributeError(f"module 'dermview.model' has no attribute {name!r}")
