"""Grow from seed (``W``): press on a pixel and drag; half the drag distance on the screen
(px) is the colour tolerance (ΔE); release adds the region (Shift: cuts it). The region growing is
:mod:`dermview.interactive.grow`; the preview and the undo step are the refine controller's
(:meth:`dermview.gui.refine.RefineController.preview_grow` / ``grow``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6 import QtCore

from dermview.gui.dialogs import busy_cursor
from dermview.gui.edit_tools import Tool
from dermview.gui.image_view import on_image, pixel_rc, to_rc
from dermview.interactive.grow import SeedDistance

if TYPE_CHECKING:
    from dermview.gui.refine import RefineController

SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


#: Colours of the pending grow region: added (cyan) / cut (magenta).
GROW_ADD = (0, 230, 230)
GROW_CUT = (255, 0, 200)


class GrowTool(Tool):
    """Press on the seed, drag to set the tolerance (ΔE = drag length on the screen in px / 2,
    shown as a circle round the seed and in the status bar, the region it takes shown live),
    release to add the region; Shift cuts it instead; Esc drops it. The length is measured on
    the screen: in image pixels, the shortest drag on a 6000×4000 image seen whole was ΔE 30
    and took the whole skin."""

    name = "grow_seed"

    def __init__(self, ctrl: RefineController) -> None:
        self.ctrl = ctrl
        self._seed: tuple[int, int] | None = None
        self._dist: SeedDistance | None = None
        self._add = True
        self._shown: int | None = None  # the whole ΔE the preview shows
        self.tolerance = 10.0

    def press(self, pos, modifiers) -> None:
        doc = self.ctrl.doc
        if not doc.has_image or not on_image(pos, doc.shape):
            return  # a seed off the image would grow from the nearest edge pixel
        self._seed = pixel_rc(pos, doc.shape)
        self._add = not bool(modifiers & SHIFT)
        # ΔE round the seed, widened as the region needs (a whole 24-MP map: a second's freeze)
        self._dist = SeedDistance(doc.image, self._seed)

    def move(self, pos) -> None:
        if self._seed is None:
            return
        r, c = to_rc(pos)
        length = float(np.hypot(r - self._seed[0], c - self._seed[1]))
        self.tolerance = max(1.0, length / self._image_px_per_screen_px() / 2)
        # while dragging: a circle round the seed through the mouse, and the tolerance it sets
        cy, cx = self._seed[0] + 0.5, self._seed[1] + 0.5
        radius = max(length, 1.0)
        circle = [QtCore.QPointF(cx + radius * np.cos(a), cy + radius * np.sin(a))
                  for a in np.linspace(0, 2 * np.pi, 48, endpoint=False)]
        for pane in self.ctrl.edit.panes:
            pane.set_path(circle, closed=True)
        if self._dist is not None and round(self.tolerance) != self._shown:
            self._shown = round(self.tolerance)
            origin, region = self._dist.region(self.tolerance, busy_cursor)
            self.ctrl.preview_grow(region, self._add, origin)
        self.ctrl.message.emit(f"Grow from seed: tolerance ΔE {self.tolerance:.0f} (drag "
                               f"farther for more); release to {'add' if self._add else 'cut'}")

    def release(self, pos) -> None:
        if self._seed is None:
            return
        self.move(pos)
        self._clear_path()
        seed, self._seed = self._seed, None
        self.ctrl.grow(seed, self.tolerance, self._add, self._dist)
        self._dist = None

    def _image_px_per_screen_px(self) -> float:
        """Image pixels per screen pixel in the view shown (its zoom)."""
        for pane in self.ctrl.edit.panes:
            if pane.isVisible():
                size = float(pane.vb.viewPixelSize()[0])
                if size > 0:
                    return size
        return 1.0

    def click(self, pos, double, modifiers) -> None:
        doc = self.ctrl.doc
        if doc.has_image and on_image(pos, doc.shape):
            self.ctrl.grow(pixel_rc(pos, doc.shape), self.tolerance, not bool(modifiers & SHIFT))

    def cancel(self) -> None:
        self._seed = None
        self._dist = None
        self._clear_path()

    def _clear_path(self) -> None:
        for pane in self.ctrl.edit.panes:
            pane.set_path([])
        self._shown = None
        self.ctrl.preview_grow(None)
