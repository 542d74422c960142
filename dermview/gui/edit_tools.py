"""Mask correction tools: mouse input on the image views → one undo command per operation.

Every change goes through :mod:`dermview.gui.commands` (one brush stroke, one polygon or
lasso, one whole-mask operation = one undo step). The maths (painting, polygons, morphology,
patches) is :mod:`dermview.editing` and :mod:`dermview.masks`; this module only turns mouse
input into calls of it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6 import QtCore

from dermview import editing, masks
from dermview.gui.commands import EditKind, MaskCommand, push_mask
from dermview.gui.document import Document
from dermview.gui.image_view import ImagePane, to_rc
from dermview.gui.settings import Settings

MIN_RADIUS = 1
MAX_RADIUS = 400
#: The long side (px) the default brush radius, and a remembered one saved without its
#: image's size, refer to: the bundled samples' and PH2's 512 px.
REFERENCE_SIDE = 512


class Tool:
    """Mouse handler protocol (positions are view coordinates, see :mod:`image_view`)."""

    name = "tool"
    cursor_radius = 0.0

    def press(self, pos: QtCore.QPointF, modifiers: QtCore.Qt.KeyboardModifier) -> None: ...
    def move(self, pos: QtCore.QPointF) -> None: ...
    def release(self, pos: QtCore.QPointF) -> None: ...
    def click(self, pos: QtCore.QPointF, double: bool,
              modifiers: QtCore.Qt.KeyboardModifier) -> None: ...
    def cancel(self) -> None: ...


class BrushTool(Tool):
    """Paint (``value=True``) or erase (``value=False``) a round brush along the drag."""

    def __init__(self, ctrl: EditController, value: bool) -> None:
        self.ctrl = ctrl
        self.value = value
        self.name = "brush" if value else "eraser"
        self._stroke: editing.Stroke | None = None

    @property
    def cursor_radius(self) -> float:  # type: ignore[override]
        return float(self.ctrl.radius)

    def press(self, pos, modifiers) -> None:
        doc = self.ctrl.doc
        if not doc.has_image:
            return
        # Shift inverts the tool for this stroke (brush ↔ eraser).
        value = self.value != bool(modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier)
        self._stroke = editing.Stroke(doc.mask, float(self.ctrl.radius), value)
        self._add(pos)

    def _add(self, pos) -> None:
        rect = self._stroke.add(to_rc(pos))
        if not rect.empty:
            self.ctrl.doc.notify_mask(rect)

    def move(self, pos) -> None:
        if self._stroke is not None:
            self._add(pos)

    def release(self, pos) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return
        patch = stroke.finish()
        if patch is not None:
            text = "Brush stroke" if stroke.value else "Eraser stroke"
            self.ctrl.doc.undo_stack.push(
                MaskCommand(self.ctrl.doc, patch, text, EditKind.HAND, applied=True))

    def click(self, pos, double, modifiers) -> None:
        self.press(pos, modifiers)
        self.release(pos)

    def commit(self) -> None:
        """Finish a stroke in progress as it is now (one undo step), as if released here."""
        self.release(None)

    def drop(self) -> None:
        """Forget a stroke in progress without touching the mask (the image it was drawn on
        is gone: there is nothing to put back)."""
        self._stroke = None

    def cancel(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is not None:
            patch = stroke.finish()
            if patch is not None:  # put the pixels back
                patch.revert(self.ctrl.doc.mask)
                self.ctrl.doc.notify_mask(patch.rect)


class PolygonTool(Tool):
    """Polygon (click vertices, double-click or Enter closes) or lasso (drag, release closes).

    ``add=True`` fills the polygon into the mask, ``False`` cuts it out; Shift inverts.
    """

    def __init__(self, ctrl: EditController, add: bool, lasso: bool) -> None:
        self.ctrl = ctrl
        self.add = add
        self.lasso = lasso
        self.name = ("lasso" if lasso else "polygon") + ("_add" if add else "_subtract")
        self.points: list[QtCore.QPointF] = []
        self._invert = False

    def _show(self, closed: bool = False) -> None:
        for pane in self.ctrl.panes:
            pane.set_path(self.points, closed)

    def press(self, pos, modifiers) -> None:
        if self.lasso:
            self._invert = bool(modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier)
            self.points = [pos]
            self._show()

    def move(self, pos) -> None:
        if self.lasso and self.points:
            last = self.points[-1]
            if abs(pos.x() - last.x()) + abs(pos.y() - last.y()) >= 0.5:
                self.points.append(pos)
                self._show()

    def release(self, pos) -> None:
        if self.lasso:
            self.finish()

    def click(self, pos, double, modifiers) -> None:
        if self.lasso:
            return
        if not self.points:
            self._invert = bool(modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if double:
            self.finish()
            return
        self.points.append(pos)
        self._show()

    def finish(self) -> None:
        """Close the polygon and apply it (needs 3 vertices)."""
        points, self.points = self.points, []
        self._show()
        doc = self.ctrl.doc
        if len(points) < 3 or not doc.has_image:
            return
        vertices = np.array([to_rc(p) for p in points], dtype=np.float64)
        value = self.add != self._invert
        new = doc.mask.copy()
        editing.paint_polygon(new, vertices, value)
        kind = "Lasso" if self.lasso else "Polygon"
        push_mask(doc, new, f"{kind} {'add' if value else 'subtract'}")

    def cancel(self) -> None:
        self.points = []
        self._show()


class EditController(QtCore.QObject):
    """Owns the tools, the active tool and the brush size; runs whole-mask operations.

    Signals:
        tool_changed(name): the active tool ("pan" when none).
        radius_changed(radius): brush radius in image pixels.
        message(text): a status-bar line (an operation that changed nothing).
    """

    tool_changed = QtCore.Signal(str)
    radius_changed = QtCore.Signal(int)
    message = QtCore.Signal(str)

    def __init__(self, doc: Document, panes: list[ImagePane],
                 parent: QtCore.QObject | None = None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.settings = None
        self.panes = panes
        self.radius = 15
        # The radius as the user chose it, on an image of this long side (0: no image yet):
        # images of other sizes get it scaled, so that it covers the same share of each image
        # (15 px chosen on 256-px images was a hairline on a 6000×4000 one, and one chosen
        # there erased half a lesion on the small ones). The default is 15 px at 512 px, not
        # on whatever image opens first (a 4000-px first image left a 1-px brush on the rest).
        self._chosen, self._chosen_side = float(self.radius), REFERENCE_SIDE
        self.tools: dict[str, Tool] = {
            "brush": BrushTool(self, True),
            "eraser": BrushTool(self, False),
            "polygon_add": PolygonTool(self, True, lasso=False),
            "polygon_subtract": PolygonTool(self, False, lasso=False),
            "lasso_add": PolygonTool(self, True, lasso=True),
            "lasso_subtract": PolygonTool(self, False, lasso=True),
        }
        self.active = "pan"
        doc.image_changed.connect(self._on_image)
        if settings is not None:  # the size chosen last time, with the image side it had
            self.set_radius(settings.get_int("brush_radius", self.radius),
                            settings.get_int("brush_radius_side", REFERENCE_SIDE))
            self.settings = settings

    def _on_image(self) -> None:
        """A new image: a line or outline in progress was drawn on the last one (the ruler's
        line stayed on the next image, measuring nothing there; a polygon's vertices would
        have been closed onto it). A brush stroke is only dropped: its pixels were the last
        image's, so there is nothing to put back on this one."""
        for tool in self.tools.values():
            if isinstance(tool, BrushTool):
                tool.drop()
            elif isinstance(tool, PolygonTool) or tool.name == "ruler":
                tool.cancel()
        if self.doc.has_image:
            side = max(self.doc.shape)
            self._apply_radius(round(self._chosen * side / self._chosen_side))

    def add_tool(self, tool: Tool) -> None:
        """Register a tool under ``tool.name`` (activate it with :meth:`set_tool`)."""
        self.tools[tool.name] = tool

    @property
    def tool(self) -> Tool | None:
        return self.tools.get(self.active)

    def commit_stroke(self) -> None:
        """Finish a brush stroke in progress as its undo step: the app is being stopped
        (SIGTERM, logout) with the button still down, and the pixels painted so far, on
        screen, must reach the crash journal (they were lost: not an edit yet)."""
        for tool in self.tools.values():
            if isinstance(tool, BrushTool):
                tool.commit()

    def set_tool(self, name: str) -> None:
        """Activate a tool by name; ``"pan"`` (or an unknown name) lets the left button pan."""
        if self.tool is not None:
            self.tool.cancel()
        self.active = name if name in self.tools else "pan"
        tool = self.tool
        for pane in self.panes:
            pane.vb.tool = tool
            pane.set_cursor_radius(tool.cursor_radius if tool is not None else 0.0)
        self.tool_changed.emit(self.active)

    def set_radius(self, radius: int, side: int | None = None) -> None:
        """Brush radius in image pixels of an image of long side ``side`` (None: the open
        image), clamped to [MIN_RADIUS, MAX_RADIUS]; images of another size get it scaled by
        their long side. Remembered with that side (the pixel radius alone, saved after a
        256-px image, came back as a hairline on a 2048-px one at the next start)."""
        radius = int(min(max(radius, MIN_RADIUS), MAX_RADIUS))
        here = max(self.doc.shape) if self.doc.has_image else REFERENCE_SIDE
        self._chosen, self._chosen_side = float(radius), int(side or here)
        if self.settings is not None:
            self.settings.set("brush_radius", radius)
            self.settings.set("brush_radius_side", self._chosen_side)
        self._apply_radius(round(radius * here / self._chosen_side))

    def _apply_radius(self, radius: int) -> None:
        radius = int(min(max(radius, MIN_RADIUS), MAX_RADIUS))
        if radius == self.radius:
            return
        self.radius = radius
        tool = self.tool
        for pane in self.panes:
            pane.set_cursor_radius(tool.cursor_radius if tool is not None else 0.0)
        self.radius_changed.emit(radius)

    def grow_radius(self, step: int) -> None:
        """`]` / `[`: change the brush size by about 15 % (at least 1 px)."""
        delta = max(1, round(self.radius * 0.15))
        self.set_radius(self.radius + step * delta)

    def finish_polygon(self) -> None:
        tool = self.tool
        if isinstance(tool, PolygonTool):
            tool.finish()

    def cancel(self) -> None:
        if self.tool is not None:
            self.tool.cancel()

    # -- whole-mask operations ---------------------------------------------------------------
    def _op(self, fn: Callable[[np.ndarray], np.ndarray], text: str) -> bool:
        if not self.doc.has_image:
            return False
        changed = push_mask(self.doc, fn(self.doc.mask), text)
        if not changed:  # F on a mask without holes did nothing, without a word
            self.message.emit(f"{text}: nothing to change in this mask")
        return changed

    def fill_holes(self) -> bool:
        return self._op(masks.fill_holes, "Fill holes")

    def keep_largest(self) -> bool:
        return self._op(masks.keep_largest, "Keep largest region")

    def grow(self) -> bool:
        return self._op(lambda m: masks.grow(m, 1), "Grow 1 px")

    def shrink(self) -> bool:
        return self._op(lambda m: masks.shrink(m, 1), "Shrink 1 px")

    def smooth(self) -> bool:
        return self._op(lambda m: masks.smooth(m, 3), "Smooth boundary")

    def clear(self) -> bool:
        return self._op(lambda m: np.zeros_like(m), "Clear mask")
