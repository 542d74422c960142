"""The Ruler tool: drag a line on an image view to measure it (and to calibrate the scale).

It never changes the mask. While dragging, the line is drawn on the panes; on release
``on_line((r0, c0), (r1, c1))`` is called with the end points in image (row, col) pixels.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from dermview.gui.edit_tools import EditController, Tool
from dermview.gui.image_view import to_rc

Line = tuple[tuple[float, float], tuple[float, float]]


class RulerTool(Tool):
    """Press, drag, release: one measured line (the last one stays drawn until the next)."""

    name = "ruler"

    def __init__(self, ctrl: EditController, on_line: Callable[[Line], None]) -> None:
        self.ctrl = ctrl
        self.on_line = on_line
        self._start: QtCore.QPointF | None = None

    def _draw(self, points: list[QtCore.QPointF]) -> None:
        for pane in self.ctrl.panes:
            pane.set_path(points)

    def press(self, pos, modifiers) -> None:
        if self.ctrl.doc.has_image:
            self._start = QtCore.QPointF(pos)
            self._draw([self._start, QtCore.QPointF(pos)])

    def move(self, pos) -> None:
        if self._start is not None:
            self._draw([self._start, QtCore.QPointF(pos)])

    def release(self, pos) -> None:
        start, self._start = self._start, None
        if start is None:
            return
        self._draw([start, QtCore.QPointF(pos)])
        a, b = to_rc(start), to_rc(pos)
        if a != b:
            self.on_line((a, b))

    def click(self, pos, double, modifiers) -> None:
        pass

    def cancel(self) -> None:
        self._start = None
        self._draw([])
