"""The automatic click simulator used to benchmark interactive segmentation (as in RITM).

The next click goes to the point deepest inside the error region that reaches deepest:
false negatives (``gt & ~pred``) give a positive click, false positives a negative one. Depth
is the Euclidean distance to the nearest correct pixel, the image border counting as
correct (the masks are padded by one pixel, as RITM does). RITM clicks the first pixel (in
raster order) deeper than half the maximum; here the click is the deepest pixel itself, so a
click on a known shape lands at a known position (first in raster order among ties).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from dermview.metrics import jaccard


@dataclass(frozen=True)
class Click:
    """One simulated click: ``(row, col)`` in pixels and whether it says "lesion"."""

    row: int
    col: int
    positive: bool


def _depth(region: np.ndarray) -> np.ndarray:
    """float32 ``(H, W)`` distance of every pixel of ``region`` to the nearest pixel outside
    it (outside the image counts as outside the region); 0 off the region."""
    padded = np.pad(region.astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def next_click(pred: np.ndarray, gt: np.ndarray) -> Click | None:
    """The click a careful annotator makes next, or ``None`` when ``pred`` equals ``gt``.

    Args:
        pred: ``bool`` ``(H, W)``, the current mask.
        gt: ``bool`` ``(H, W)``, the reference mask.
    """
    pred = np.asarray(pred, bool)
    gt = np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    fn = _depth(gt & ~pred)
    fp = _depth(pred & ~gt)
    fn_max, fp_max = float(fn.max(initial=0)), float(fp.max(initial=0))
    if fn_max == 0 and fp_max == 0:
        return None
    positive = fn_max >= fp_max
    depth = fn if positive else fp
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Click(int(r), int(c), positive)


@dataclass
class ClickRun:
    """Result of :func:`simulate`: ``ious[k]`` = Jaccard after ``k`` clicks (``ious[0]`` = the
    initial mask), the clicks made and the seconds each prompt took."""

    ious: list[float]
    clicks: list[Click] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def noc(self, target: float, max_clicks: int) -> int:
        """Clicks needed to reach Jaccard ``target`` (``max_clicks`` when never reached)."""
        for k, iou in enumerate(self.ious):
            if iou >= target:
                return k
        return max_clicks

    def iou_after(self, k: int) -> float:
        """Jaccard after ``k`` clicks (the last value when the run stopped earlier)."""
        return self.ious[min(k, len(self.ious) - 1)]


def simulate(initial: np.ndarray, gt: np.ndarray,
             click: Callable[[int, int, bool], np.ndarray],
             max_clicks: int = 20, stop_at: float = 0.90, min_clicks: int = 0,
             clock: Callable[[], float] | None = None) -> ClickRun:
    """Click until the mask reaches ``stop_at`` Jaccard (after at least ``min_clicks``) or
    ``max_clicks`` clicks were made.

    Args:
        initial: ``bool`` ``(H, W)`` mask before any click (all False = from scratch).
        gt: ``bool`` ``(H, W)`` reference mask.
        click: ``click(row, col, positive) -> mask``, e.g. a refinement session's ``click``.
        clock: a ``time.perf_counter``-like function to time each prompt (None = no timing).
    """
    mask = np.asarray(initial, bool)
    run = ClickRun(ious=[jaccard(mask, gt)])
    while len(run.clicks) < max_clicks:
        if run.ious[-1] >= stop_at and len(run.clicks) >= min_clicks:
            break
        nxt = next_click(mask, gt)
        if nxt is None:
            break
        t0 = clock() if clock else 0.0
        mask = np.asarray(click(nxt.row, nxt.col, nxt.positive), bool)
        if clock:
            run.seconds.append(clock() - t0)
        run.clicks.append(nxt)
        run.ious.append(jaccard(mask, gt))
    return run
