"""The model's probability map saved beside a label (``dermview segment --save-prob``):
where it lives and how it is read back (Refine on a saved label uses it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dermview.errors import DermviewError
from dermview.io import PathLike, load_image
from dermview.labels import label_paths

#: Suffix of the probability map ``dermview segment --save-prob`` writes beside a label.
PROB_SUFFIX = "_prob"


def prob_map_path(image_path: PathLike, labels_dir: PathLike | None = None) -> Path:
    """``<labels folder>/<stem>_prob.png``: the model's probability map of a label (grey
    0-255 = probability × 255), when ``dermview segment --save-prob`` wrote one."""
    return label_paths(image_path, labels_dir)[0].with_name(f"{Path(image_path).stem}{PROB_SUFFIX}.png")


def load_prob_map(path: PathLike, shape: tuple[int, int]) -> np.ndarray | None:
    """float32 ``(H, W)`` in [0, 1] from a :func:`prob_map_path` file; None when it is
    missing, unreadable or of another size (a map is a convenience, never required)."""
    try:
        grey = load_image(path)[..., 0]
    except (DermviewError, OSError):
        return None
    if grey.shape != tuple(shape):
        return None
    return grey.astype(np.float32) / np.float32(255)
