"""Which model produced the document's probability map (a plain record, Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelInfo:
    """Which model produced the probability map, and with which settings."""

    name: str = ""
    sha256: str = ""
    device: str = ""
    engine: str = ""
    params: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Estimated Jaccard of the model's mask with an expert's outline, in [0, 1]
    #: (:func:`dermview.confidence.estimate_jaccard`); None before a segmentation.
    confidence: float | None = None
