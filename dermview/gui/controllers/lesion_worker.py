"""The Lesion panel's analysis worker (:class:`AnalysisWorker`), apart from the controller."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dermview.gui.lesion_overlays import axes_overlay, colors_overlay
from dermview.gui.workers import _Worker


class AnalysisWorker(_Worker):
    """Payload ``(rgb, mask, mm_per_px, key)``; result ``(key, analysis, axes, colours)``.
    :attr:`outcome` is the last job's ``(key, analysis)`` (``None`` analysis: it failed) as
    soon as it is known, before the overlays are drawn (what a save waits for)."""

    def __init__(self) -> None:
        super().__init__()
        self.outcome: tuple[Any, Any] | None = None

    def work(self, job: int, payload: Any) -> Any:
        from dermview.analysis import analyze_lesion

        rgb, mask, mm_per_px, key = payload
        try:
            analysis = analyze_lesion(rgb, mask, mm_per_px=mm_per_px)
        except Exception:
            self.outcome = (key, None)
            raise
        self.outcome = (key, analysis)
        self.check(job)
        axes = axes_overlay(mask.shape, analysis)
        colours = colors_overlay(analysis.color_labels(mask))
        return key, analysis, axes, colours

    def wait(self, key: Any, measuring: Callable[[], bool],
             timeout_s: float = 120.0) -> tuple[Any, Any] | None:
        """``(key, analysis)`` once this worker has measured ``key``, waited for while
        ``measuring()`` says it is measuring it; ``None`` when it is not (or after
        ``timeout_s``)."""
        end = time.monotonic() + timeout_s
        while measuring() and time.monotonic() < end:
            outcome = self.outcome
            if outcome is not None and outcome[0] == key:
                return outcome
            time.sleep(0.005)
        return None
