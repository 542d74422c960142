"""The classical baseline: OpenCV GrabCut seeded by the same prompts.

The current mask seeds "probably lesion" / "probably not" (with no mask yet, a disc of
:data:`START_RADIUS` × the diagonal around each positive click is "probably lesion"); clicks
fix a disc of :data:`SEED_RADIUS` px, and the area outside the last box is fixed background.
GrabCut (colour GMMs + graph cut, :data:`ITERATIONS` rounds) then relabels the whole image.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import cv2
import numpy as np

from dermview.interactive.prompts import BoxPrompt, ClickPrompt, Prompt, WorkGrid

ITERATIONS = 2
SEED_RADIUS = 3
START_RADIUS = 0.1


@dataclass
class Prepared:
    grid: WorkGrid
    bgr: np.ndarray  # uint8 (h, w, 3) working copy


def prepare(rgb: np.ndarray, prob: np.ndarray | None = None) -> Prepared:
    """Per-image state (the probability map is not used)."""
    grid = WorkGrid.for_shape(rgb.shape[:2])
    return Prepared(grid, cv2.cvtColor(np.ascontiguousarray(grid.down(rgb)), cv2.COLOR_RGB2BGR))


def apply(prep: Prepared, mask_full: np.ndarray, prompts: list[Prompt]) -> np.ndarray:
    """Full-resolution mask after ``prompts`` (GrabCut from the current mask)."""
    grid = prep.grid
    mask = grid.down(np.asarray(mask_full, bool))
    h, w = mask.shape
    gc = np.where(mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    clicks = [p for p in prompts if isinstance(p, ClickPrompt)]
    if not mask.any():
        radius = max(SEED_RADIUS + 1, int(START_RADIUS * np.hypot(h, w)))
        for p in clicks:
            if p.positive:
                r, c = grid.point(p.row, p.col)
                cv2.circle(gc, (c, r), radius, int(cv2.GC_PR_FGD), -1)
    box = next((p for p in reversed(prompts) if isinstance(p, BoxPrompt)), None)
    if box is not None:
        (r0, c0), (r1, c1) = grid.point(box.row0, box.col0), grid.point(box.row1 - 1, box.col1 - 1)
        inside = np.zeros((h, w), bool)
        inside[r0:r1 + 1, c0:c1 + 1] = True
        gc[~inside] = cv2.GC_BGD
        if isinstance(prompts[-1], BoxPrompt):
            gc[inside & (gc == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD  # a fresh box: all "maybe"
    for p in clicks:
        r, c = grid.point(p.row, p.col)
        cv2.circle(gc, (c, r), SEED_RADIUS, int(cv2.GC_FGD if p.positive else cv2.GC_BGD), -1)
    fg_any = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
    bg_any = np.isin(gc, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
    if fg_any and bg_any:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        # a GMM with too few samples of one label raises: the seeds stand
        with contextlib.suppress(cv2.error):
            cv2.grabCut(prep.bgr, gc, None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    new = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return grid.paste(np.asarray(mask_full, bool), new, new != mask)
