"""Preprocessing parameters: one frozen, validated dataclass shared by GUI, CLI and sidecar JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from dermview.errors import ParameterError

SE_SHAPES = ("ellipse", "rect", "cross", "lines")


@dataclass(frozen=True)
class PreprocessParams:
    """Settings of frame and hair removal.

    Attributes:
        remove_frame: detect and fill the dark frame / vignette.
        frame_threshold: HSL lightness (0-255) below which a border-connected pixel is frame.
        remove_hair: detect and repair hair.
        hair_threshold: T; more than T hair components → dense hair → PDE inpainting,
            otherwise bilinear interpolation.
        se_shape: structuring element of the closing: "ellipse", "rect", "cross" or
            "lines" (a bank of oriented line elements, the maximum response over angles).
        se_size: structuring element size in pixels at 512 px image scale, odd, 3-31.
        hair_sensitivity: 0-1; how faint and thin a hair may be and still be found. 0 finds
            bold hair only (closing and troughs); above 0 a ridge filter also looks for fine,
            faint hair (1-2 px at 512 px), the more so the higher (its threshold falls from
            5.5 % to 2.5 % of the local lightness; 4 % at 0.5; above 0.5 shorter faint
            hairs count too, from 80 px to 60 px long at 1). Separate from T, which only
            chooses the repair.
    """

    remove_frame: bool = True
    frame_threshold: int = 60
    remove_hair: bool = True
    hair_threshold: int = 10
    se_shape: str = "ellipse"
    se_size: int = 9
    hair_sensitivity: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.frame_threshold, int) or not 0 <= self.frame_threshold <= 255:
            raise ParameterError(f"frame_threshold must be an integer 0-255, got {self.frame_threshold!r}")
        if not isinstance(self.hair_threshold, int) or not 0 <= self.hair_threshold <= 10_000:
            raise ParameterError(f"hair_threshold T must be an integer 0-10000, got {self.hair_threshold!r}")
        if self.se_shape not in SE_SHAPES:
            raise ParameterError(f"se_shape must be one of {', '.join(SE_SHAPES)}, got {self.se_shape!r}")
        if not isinstance(self.se_size, int) or not 3 <= self.se_size <= 31 or self.se_size % 2 == 0:
            raise ParameterError(f"se_size must be an odd integer 3-31, got {self.se_size!r}")
        hs = self.hair_sensitivity
        if isinstance(hs, bool) or not isinstance(hs, (int, float)) or not 0.0 <= hs <= 1.0:
            raise ParameterError(f"hair_sensitivity must be a number 0-1, got {hs!r}")
        object.__setattr__(self, "hair_sensitivity", float(hs))
        for name in ("remove_frame", "remove_hair"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name} must be true or false")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """Plain-words summary for reports, e.g. ``"dark frame filled (lightness below 60);
        hair removed (9-px ellipse closing, sensitivity 0.5; PDE repair when over 10 hairs,
        else bilinear)"``."""
        frame = (f"dark frame filled (lightness below {self.frame_threshold})"
                 if self.remove_frame else "frame kept")
        hair = (f"hair removed ({self.se_size}-px {self.se_shape} closing, sensitivity "
                f"{self.hair_sensitivity:g}; PDE repair when over {self.hair_threshold} hairs, "
                f"else bilinear)"
                if self.remove_hair else "hair kept")
        return f"{frame}; {hair}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessParams:
        """Build from a dict; unknown keys are refused, missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ParameterError(f"Unknown preprocessing parameter(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PreprocessParams:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"Preprocessing parameters are not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ParameterError("Preprocessing parameters must be a JSON object")
        return cls.from_dict(data)
