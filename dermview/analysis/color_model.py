"""The per-colour presence model: one logistic regression per colour on the lesion's colour
features (:mod:`dermview.analysis.color_features`), applied with numpy.

Fitted by ``benchmarks/bench_analysis.py`` on the PH2 experts' colour labels (scikit-learn
there, inside each cross-validation fold; on all 150 images for the shipped default in
:mod:`dermview.analysis.color_model_default`). A colour is present when its decision value
``((x - center) / scale) · coef + bias`` reaches its ``cut`` (the threshold with the best
cross-validated F1 on the training images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dermview.analysis.color_features import FEATURE_NAMES
from dermview.errors import ParameterError

N_COLORS = 6


@dataclass(frozen=True)
class ColorModel:
    """Standardisation and per-colour linear weights (COLOR_NAMES order).

    Attributes:
        center, scale: per feature (``len(FEATURE_NAMES)``), the standardisation.
        coef: per colour, one weight per standardised feature.
        bias: per colour, the intercept.
        cut: per colour, the decision value from which the colour is present.
    """

    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    cut: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(FEATURE_NAMES)
        if len(self.center) != n or len(self.scale) != n or not all(s > 0 for s in self.scale):
            raise ParameterError(f"color_model: center and scale must be {n} values (scale > 0)")
        if len(self.coef) != N_COLORS or any(len(c) != n for c in self.coef):
            raise ParameterError(f"color_model: coef must be {N_COLORS} rows of {n} weights")
        if len(self.bias) != N_COLORS or len(self.cut) != N_COLORS:
            raise ParameterError(f"color_model: bias and cut must have {N_COLORS} values")

    def decision(self, features: np.ndarray) -> np.ndarray:
        """Decision value minus cut per colour, ``float64`` ``(6,)``: present where ≥ 0."""
        z = (np.asarray(features, np.float64) - np.asarray(self.center)) / np.asarray(self.scale)
        return np.asarray(self.coef) @ z + np.asarray(self.bias) - np.asarray(self.cut)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURE_NAMES), "center": list(self.center),
                "scale": list(self.scale), "coef": [list(c) for c in self.coef],
                "bias": list(self.bias), "cut": list(self.cut)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColorModel:
        """Inverse of :meth:`to_dict`; refused when fitted on other features."""
        if list(d.get("features", FEATURE_NAMES)) != list(FEATURE_NAMES):
            raise ParameterError("color_model was fitted on other colour features")
        return cls(tuple(float(v) for v in d["center"]), tuple(float(v) for v in d["scale"]),
                   tuple(tuple(float(v) for v in c) for c in d["coef"]),
                   tuple(float(v) for v in d["bias"]), tuple(float(v) for v in d["cut"]))
