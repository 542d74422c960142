"""Prompts a person gives the refiner, and the working-resolution geometry they share.

Coordinates are ``(row, col)`` pixels of the full image; methods work on a copy whose long
side is at most :data:`WORK_SIDE` and paste their change back into the full mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Long side (px) of the copy the refinement methods work on (prompt time stays flat on
#: 24-megapixel images; the change is pasted back at full resolution).
WORK_SIDE = 400


@dataclass(frozen=True)
class ClickPrompt:
    """A click: ``positive`` = "this is lesion", else "this is not"."""

    row: int
    col: int
    positive: bool = True


@dataclass(frozen=True)
class BoxPrompt:
    """A box ``[row0, row1) × [col0, col1)``: "the lesion is in here"."""

    row0: int
    col0: int
    row1: int
    col1: int


Prompt = ClickPrompt | BoxPrompt


def check_prompt(prompt: Prompt, shape: tuple[int, int]) -> Prompt:
    """The prompt with a box's corners ordered and clipped; ``ValueError`` when a click lies
    outside the image or a box holds no pixel."""
    h, w = shape
    if isinstance(prompt, ClickPrompt):
        if not (0 <= prompt.row < h and 0 <= prompt.col < w):
            raise ValueError(f"click ({prompt.row}, {prompt.col}) is outside the {h}×{w} image")
        return prompt
    r0, r1 = sorted((int(prompt.row0), int(prompt.row1)))
    c0, c1 = sorted((int(prompt.col0), int(prompt.col1)))
    r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
    if r1 - r0 < 2 or c1 - c0 < 2:
        raise ValueError("the box must hold at least 2×2 pixels of the image")
    return BoxPrompt(r0, c0, r1, c1)


@dataclass(frozen=True)
class WorkGrid:
    """Mapping between the full image ``(H, W)`` and the working copy ``(h, w)``."""

    full: tuple[int, int]
    work: tuple[int, int]

    @classmethod
    def for_shape(cls, shape: tuple[int, int], side: int = WORK_SIDE) -> WorkGrid:
        h, w = shape
        scale = min(1.0, side / max(h, w))
        return cls((h, w), (max(1, round(h * scale)), max(1, round(w * scale))))

    @property
    def scale(self) -> float:
        """work px per full px (≤ 1)."""
        return self.work[0] / self.full[0]

    def down(self, arr: np.ndarray) -> np.ndarray:
        """An image, float map or bool mask at working size (area for images/maps)."""
        if arr.shape[:2] == self.work:
            return arr
        size = (self.work[1], self.work[0])
        if arr.dtype == bool:
            return cv2.resize(arr.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) >= 128
        return cv2.resize(arr, size, interpolation=cv2.INTER_AREA)

    def point(self, row: int, col: int) -> tuple[int, int]:
        """A full-image pixel's working-copy pixel."""
        h, w = self.work
        return (min(h - 1, int((row + 0.5) * self.work[0] / self.full[0])),
                min(w - 1, int((col + 0.5) * self.work[1] / self.full[1])))

    def paste(self, full_mask: np.ndarray, work_new: np.ndarray, changed: np.ndarray) -> np.ndarray:
        """``full_mask`` with the working-resolution result ``work_new`` taken over where
        ``changed`` (bool, working size) says; only the changed box is resized."""
        out = full_mask.copy()
        if not changed.any():
            return out
        if self.work == self.full:
            out[changed] = work_new[changed]
            return out
        rows, cols = np.nonzero(changed)
        sy, sx = self.work[0] / self.full[0], self.work[1] / self.full[1]
        # the full-resolution box covering the changed working pixels (one pixel margin)
        R0 = max(0, int((rows.min() - 1) / sy))
        R1 = min(self.full[0], int((rows.max() + 2) / sy) + 1)
        C0 = max(0, int((cols.min() - 1) / sx))
        C1 = min(self.full[1], int((cols.max() + 2) / sx) + 1)
        # full pixel centre (R, C) samples the working map at ((R + .5)·s - .5): bilinear
        affine = np.array([[sx, 0, (C0 + 0.5) * sx - 0.5], [0, sy, (R0 + 0.5) * sy - 0.5]])
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

        def up(a: np.ndarray) -> np.ndarray:
            return cv2.warpAffine(a.astype(np.uint8) * np.uint8(255), affine, (C1 - C0, R1 - R0),
                                  flags=flags, borderMode=cv2.BORDER_REPLICATE) >= 128

        take = up(changed)
        box = out[R0:R1, C0:C1]
        box[take] = up(work_new)[take]
        return out
