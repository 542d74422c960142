"""Analysis parameters: one frozen, validated dataclass (colour prototypes, thresholds).

The colour prototypes, skin balances, minimum shares, the distance cap and the asymmetry
weight and threshold are the values ``benchmarks/bench_analysis.py`` fits on all 150 shared PH2
images with the experts' criteria (``fit_all`` in ``docs/results/bench_analysis.json``; the
test suite checks they match). The scores it reports are cross-validated: tuned on four
fifths, scored on the fifth held out. ``border_band`` and ``border_abrupt`` are not fitted
(PH2 has no expert border score): see :mod:`dermview.analysis.border`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from dermview.analysis.color_model import ColorModel
from dermview.analysis.color_model_default import DEFAULT_COLOR_MODEL
from dermview.errors import ParameterError

#: The dermoscopic colours of the ABCD rule, in this order everywhere (CSV, masks, report).
COLOR_NAMES: tuple[str, ...] = ("white", "red", "light_brown", "dark_brown", "blue_gray", "black")

#: Human-readable names, same order.
COLOR_LABELS: tuple[str, ...] = ("white", "red", "light brown", "dark brown", "blue-grey", "black")

#: Colour prototypes in CIELAB (L* 0-100, a*, b*; D65), same order as COLOR_NAMES, fitted on
#: PH2 (the search starts at a-priori values, ``START_PROTOTYPES`` in the benchmark). A lesion
#: pixel is named after the nearest prototype, balanced on the surrounding skin by its
#: colour's ``skin_balance`` (see :mod:`dermview.analysis.colors`).
DEFAULT_PROTOTYPES: tuple[tuple[float, float, float], ...] = (
    (88.0, 0.0, 4.0),  # white: lighter than the skin, no hue (regression, scar)
    (60.0, 50.0, 10.0),  # red (vessels, erythema)
    (50.0, 18.0, 36.0),  # light brown
    (32.0, 25.0, 24.0),  # dark brown
    (53.0, -2.0, -6.0),  # blue-grey: mid lightness, cool, low chroma
    (20.0, 15.0, 2.0),  # black
)


@dataclass(frozen=True)
class AnalysisParams:
    """Settings of :func:`dermview.analysis.analyze_lesion`.

    Attributes:
        analysis_size: longest image side (px) the colour, asymmetry and border analysis run
            at (larger images are reduced first; sizes are always measured at full size).
        prototypes: CIELAB prototype of each colour (COLOR_NAMES order).
        color_max_distance: a pixel farther than this (CIELAB ΔE) from every prototype is
            left unnamed.
        skin_balance: per colour, how much of the skin's departure from the reference skin
            colour is removed before the pixel is compared with that colour's prototype
            (0 = as it is, 1 = fully balanced on the skin), COLOR_NAMES order.
        color_min_share: fraction of the lesion (0-1) a colour must cover to be present,
            per colour (COLOR_NAMES order); used only without a ``color_model`` (the
            share rule, kept as the benchmark's baseline).
        color_model: the per-colour presence model
            (:class:`~dermview.analysis.color_model.ColorModel`); ``None`` = the share rule.
        asym_color_weight: weight of the colour asymmetry (ΔE units) against the shape
            asymmetry (fraction of the lesion not covered by its mirror image).
        asym_threshold: an axis is asymmetric when shape + weight × colour exceeds this.
        border_band: width of the bands either side of the border in which the pigment
            cut-off is measured, as a fraction of the equivalent diameter.
        border_abrupt: an eighth of the border is abrupt when the lightness step across the
            inner band reaches this fraction of the step across the wider bands (0-1).
    """

    analysis_size: int = 256
    prototypes: tuple[tuple[float, float, float], ...] = DEFAULT_PROTOTYPES
    color_max_distance: float = 35.0
    skin_balance: tuple[float, ...] = (1.0, 1.0, 1.0, 0.5, 0.0, 0.0)
    color_min_share: tuple[float, ...] = (0.071, 0.008, 0.42233, 0.002, 0.002, 0.08267)
    color_model: ColorModel | None = DEFAULT_COLOR_MODEL
    asym_color_weight: float = 0.015
    asym_threshold: float = 0.22054
    border_band: float = 0.04
    border_abrupt: float = 0.4

    def __post_init__(self) -> None:
        n = len(COLOR_NAMES)
        if not isinstance(self.analysis_size, int) or not 64 <= self.analysis_size <= 4096:
            raise ParameterError(f"analysis_size must be an integer 64-4096, got {self.analysis_size!r}")
        if len(self.prototypes) != n or any(len(p) != 3 for p in self.prototypes):
            raise ParameterError(f"prototypes must be {n} CIELAB triples")
        if len(self.color_min_share) != n or not all(0 <= s <= 1 for s in self.color_min_share):
            raise ParameterError(f"color_min_share must be {n} fractions 0-1")
        for name in ("color_max_distance", "asym_color_weight", "asym_threshold"):
            if not getattr(self, name) >= 0:
                raise ParameterError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if len(self.skin_balance) != n or not all(0 <= b <= 1 for b in self.skin_balance):
            raise ParameterError(f"skin_balance must be {n} fractions 0-1")
        if not 0 < self.border_band <= 0.5:
            raise ParameterError(f"border_band must be in (0, 0.5], got {self.border_band!r}")
        if not 0 <= self.border_abrupt <= 1:
            raise ParameterError(f"border_abrupt must be in [0, 1], got {self.border_abrupt!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["color_model"] = None if self.color_model is None else self.color_model.to_dict()
        d["prototypes"] = {c: list(p) for c, p in zip(COLOR_NAMES, self.prototypes, strict=True)}
        d["color_min_share"] = dict(zip(COLOR_NAMES, self.color_min_share, strict=True))
        d["skin_balance"] = dict(zip(COLOR_NAMES, self.skin_balance, strict=True))
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisParams:
        """Inverse of :meth:`to_dict`; unknown keys are refused, missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ParameterError(f"Unknown analysis parameter(s): {', '.join(sorted(unknown))}")
        d = dict(data)
        if isinstance(d.get("prototypes"), dict):
            d["prototypes"] = tuple(tuple(d["prototypes"][c]) for c in COLOR_NAMES)
        if isinstance(d.get("color_model"), dict):
            d["color_model"] = ColorModel.from_dict(d["color_model"])
        for key in ("color_min_share", "skin_balance"):
            if isinstance(d.get(key), dict):
                d[key] = tuple(float(d[key][c]) for c in COLOR_NAMES)
        return cls(**d)

    def with_(self, **changes: Any) -> AnalysisParams:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)
