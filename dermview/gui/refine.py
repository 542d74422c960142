"""Refine tool (click / box prompts → :class:`dermview.interactive.Refiner`), grow-from-seed
tool, and the uncertainty overlay. The maths is in :mod:`dermview.interactive`; this module
turns mouse input into prompts and every prompt into one undo step.

* Refine (``R``): click = "this is lesion", Shift+click = "this is not", drag = a box "the
  lesion is in here", Ctrl+click on a marker removes that prompt (one undo step too).
  Pixels painted or erased by hand keep their value unless a click lands on them. On an
  image without a mask the first prompt segments it (as Ctrl+R) and is applied to the result.
* Grow from seed (``W``): the tool is :mod:`dermview.gui.grow_tool`; its live preview and its
  undo step are here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from dermview.gui.commands import EditKind, push_mask
from dermview.gui.document import Document
from dermview.gui.edit_tools import EditController, Tool
from dermview.gui.grow_tool import GROW_ADD, GROW_CUT, GrowTool
from dermview.gui.image_view import pixel_rc, to_rc
from dermview.interactive import BoxPrompt, ClickPrompt, Refiner
from dermview.interactive.grow import SeedDistance, apply_region
from dermview.prob_maps import load_prob_map, prob_map_path

SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
#: A Ctrl+click this close to a marker (fraction of the image diagonal) removes it.
MARKER_PICK = 0.03
#: Probabilities in this band are drawn by the uncertainty overlay.
UNSURE = (0.1, 0.9)


class RefineController(QtCore.QObject):
    """Prompts → new mask through one :class:`~dermview.interactive.Session` per image.

    Signals:
        message(str): something to show in the status bar.
    """

    message = QtCore.Signal(str)

    def __init__(self, doc: Document, edit: EditController, overlays,
                 load_segmenter: Callable[[], Any] | None = None,
                 segmenter: Any = None,
                 parent: QtCore.QObject | None = None) -> None:
        """``load_segmenter()``: the segmenter in use (called in the refiner's thread), for
        the probability map of a saved label, which a label does not keep; ``segmenter``: the
        window's segmentation controller (``run()``, ``busy_changed``), asked to segment the
        open image by a prompt on an image without a mask."""
        super().__init__(parent)
        self._segmenter = segmenter
        if segmenter is not None:
            segmenter.busy_changed.connect(self._on_segmenting)
        #: a prompt made before the image had a mask: applied once its segmentation is ready
        self._pending: ClickPrompt | BoxPrompt | None = None
        self._pending_label = False  # the pending prompt waits on a saved label's session
        self._pending_timer = QtCore.QTimer(self)
        self._pending_timer.setInterval(50)
        self._pending_timer.timeout.connect(self._apply_pending)
        self.doc, self.edit = doc, edit
        self.refiner = Refiner(None)
        self.label_refiner = Refiner(None, load=load_segmenter) if load_segmenter else None
        self.session = None
        self._version = -1
        #: markers: (undo-stack index right after the prompt's command, prompt)
        self.markers: list[tuple[int, ClickPrompt | BoxPrompt]] = []
        self._scatter = []
        #: per pane, the outlines of the box prompts (a box left only its centre's marker)
        self._boxes: list[tuple[Any, list[QtWidgets.QGraphicsRectItem]]] = []
        for pane in edit.panes:
            item = _Markers(size=11, pxMode=True)
            item.setZValue(98)
            pane.vb.addItem(item, ignoreBounds=True)
            self._scatter.append(item)
            self._boxes.append((pane.vb, []))
        self.uncertain = overlays.add_layer("uncertain", 1.6, tuple(edit.panes[-1:]))
        #: the region Grow from seed would add (cyan) or cut (magenta) while the mouse drags
        self.grow_preview = overlays.add_layer("grow_preview", 7.5, tuple(edit.panes))
        self._grow_box: tuple[int, int, int, int] | None = None  # the preview's window
        self.overlays = overlays
        overlays.set_visible("uncertain", False)
        self._uncertainty_of: np.ndarray | None = None  # the map the layer shows
        edit.add_tool(RefineTool(self))
        edit.add_tool(GrowTool(self))
        doc.image_changed.connect(self._forget)
        doc.image_changed.connect(self._drop_pending)
        doc.prob_changed.connect(self._on_prob)
        doc.undo_stack.indexChanged.connect(self._on_undo_index)
        edit.tool_changed.connect(lambda name: self._session(quiet=True) if name == "refine"
                                  else None)

    # -- state ----------------------------------------------------------------------------
    def _forget(self) -> None:
        self.session = None
        self._version = -1  # the first prompt takes the mask as it is then (see _session)
        self.markers = []
        self._draw_markers()

    def _on_prob(self) -> None:
        self._forget()
        self._draw_uncertainty()
        if self.doc.prob is None:
            if self.edit.active == "refine":  # next image, tool still on: prepare its label
                self._session(quiet=True)
            return
        p = self.doc.prob
        if self.doc.image is not None:
            # the per-image preparation runs in the refiner's thread from now on, so the first
            # prompt answers at once
            try:
                self.session = self.refiner.start(self.doc.image, mask=self.doc.mask, prob=p)
            except ValueError:  # the map is not this image's (yet): start at the first prompt
                self.session = None
            self._version = -1

    def _on_segmenting(self, busy: bool) -> None:
        if not busy and self._pending is not None:
            # judged once the job's result (sent right after this) is in the document
            QtCore.QTimer.singleShot(0, self, self._after_segmenting)

    def _after_segmenting(self) -> None:
        if self._pending is not None and self.doc.prob is None:
            # cancelled or failed: the prompt must not be applied by a later segmentation
            self._drop_pending()
            self.message.emit("Refine: the segmentation did not finish; the prompt was not applied")

    def _drop_pending(self) -> None:
        self._pending, self._pending_label = None, False
        self._pending_timer.stop()

    def _apply_pending(self) -> None:
        """Apply the prompt made before segmenting once the map is in and the session ready
        (polled: the preparation runs in the refiner's thread)."""
        prompt, s = self._pending, self.session
        if prompt is None:
            self._pending_timer.stop()
        elif (self.doc.prob is not None or self._pending_label) and s is not None and s.ready:
            self._drop_pending()
            self.prompt(prompt)

    def show_uncertainty(self, visible: bool) -> None:
        self.overlays.set_visible("uncertain", bool(visible))
        self._draw_uncertainty()

    def _draw_uncertainty(self) -> None:
        """The uncertainty layer of the current probability map, drawn only while it is
        shown (hidden, as by default, each segmentation of a 24-MP image coloured it on the
        GUI thread all the same: a third of a second or more)."""
        p = self.doc.prob
        if not self.overlays.is_visible("uncertain") or p is None:
            self.uncertain.clear((1, 1))
            self._uncertainty_of = None
            return
        if self._uncertainty_of is p:
            return
        from dermview.gui import render

        band = (p > UNSURE[0]) & (p < UNSURE[1])
        alpha = np.where(band, 230 - np.abs(p - 0.5) * 300, 0).clip(0, 255).astype(np.uint8)
        self.uncertain.set_buffer(render.colourise(alpha, (255, 160, 0)), self.doc.shape)
        self._uncertainty_of = p

    def _on_undo_index(self, index: int) -> None:
        kept = [(i, p) for i, p in self.markers if i <= index]
        if len(kept) != len(self.markers):
            self.markers = kept
            self._draw_markers()

    def _draw_markers(self) -> None:
        spots = []
        for _, p in self.markers:
            if isinstance(p, ClickPrompt):
                colour = (60, 220, 90) if p.positive else (235, 60, 60)
                spots.append({"pos": (p.col + 0.5, p.row + 0.5), "brush": pg.mkBrush(*colour),
                              "symbol": "o" if p.positive else "x"})
            else:
                spots.append({"pos": ((p.col0 + p.col1) / 2, (p.row0 + p.row1) / 2),
                              "brush": pg.mkBrush(80, 160, 255), "symbol": "s"})
        for item in self._scatter:
            item.setData(spots)
        boxes = [p for _, p in self.markers if isinstance(p, BoxPrompt)]
        pen = pg.mkPen(80, 160, 255, width=1.5, style=QtCore.Qt.PenStyle.DashLine, cosmetic=True)
        for vb, items in self._boxes:
            for old in items:
                vb.removeItem(old)
            items.clear()
            for p in boxes:
                rect = QtWidgets.QGraphicsRectItem(p.col0, p.row0, p.col1 - p.col0,
                                                   p.row1 - p.row0)  # [row0, row1) × [col0, col1)
                rect.setPen(pen)
                rect.setZValue(97)
                vb.addItem(rect, ignoreBounds=True)
                items.append(rect)

    def _session(self, quiet: bool = False):
        """The image's refinement session when it can take a prompt now, else None after
        saying why (``quiet``: only start its preparation, say nothing)."""
        doc = self.doc
        if doc.image is None:
            return None
        saved_label = doc.prob is None and doc.mask is not None and doc.mask.any()
        if doc.prob is None and not (saved_label and self.label_refiner is not None):
            if not quiet:
                self.message.emit("Refine: segment the image first (Ctrl+R); prompts bend the "
                                  "model's probability map")
            return None
        if self._pending is not None and not quiet:
            self.message.emit("Refine: still segmenting the image; the first prompt is applied "
                              "when it is done")
            return None
        if self.session is None:
            # a saved label keeps no probabilities: the map `dermview segment --save-prob`
            # wrote beside it, else the refiner's thread computes them; the label stays the
            # mask refined
            prob = doc.prob
            if saved_label:
                prob = load_prob_map(prob_map_path(doc.path, doc.labels_dir), doc.shape)
            self.session = (self.label_refiner.start(doc.image, mask=doc.mask)
                            if prob is None else
                            self.refiner.start(doc.image, mask=doc.mask, prob=prob))
        if not self.session.ready:  # never wait on the GUI thread (prompt() queues it)
            if not quiet:
                self.message.emit(
                    "Refine: computing the model's probability map for this saved label (a "
                    "label does not keep it); the prompt is applied when it is ready"
                    if saved_label else
                    "Refine: still preparing this image; the prompt is applied when it is ready")
            return None
        if self.session.error is not None:
            if not quiet:
                self.message.emit(f"Refine is not available for this image: {self.session.error}")
            return None
        if self._version != doc.mask_version:
            # painted or undone since the last prompt: go on from the mask as it is now, with
            # the prompts whose markers are still shown; painted pixels stay as painted
            self.session.set_mask(doc.mask, [p for _, p in self.markers],
                                  fixed=doc.hand_edited_map((EditKind.HAND,)))
        return self.session

    # -- prompts --------------------------------------------------------------------------
    def prompt(self, prompt: ClickPrompt | BoxPrompt) -> bool:
        """Apply one prompt: one undo step and a marker. False when nothing changed. On an
        image without a mask (nor a segmentation yet) it starts the segmentation and is
        applied when that is ready (a box drawn round the lesion of a new image only said
        "segment the image first")."""
        doc = self.doc
        if (self._segmenter is not None and self._pending is None and doc.image is not None
                and doc.prob is None and not doc.mask.any()):
            self._pending = prompt
            if not self._segmenter.run():
                self._pending = None
                return False
            self.message.emit("Refine: segmenting the image first; the "
                              + ("box" if isinstance(prompt, BoxPrompt) else "click")
                              + " is applied when it is done")
            self._pending_timer.start()
            return False
        s = self._session()
        if s is None:
            if self.session is not None and not self.session.ready and self._pending is None:
                # the first click on a saved label was dropped ("click again in a moment")
                self._pending, self._pending_label = prompt, self.doc.prob is None
                self._pending_timer.start()
            return False
        from dermview.gui.dialogs import busy_cursor

        try:
            with busy_cursor():  # on this thread: up to a second or two on a 24-MP image
                new = (s.click(prompt.row, prompt.col, prompt.positive)
                       if isinstance(prompt, ClickPrompt)
                       else s.box(prompt.row0, prompt.col0, prompt.row1, prompt.col1))
        except ValueError as exc:  # outside the image
            self.message.emit(f"Refine: {exc}")
            return False
        if isinstance(prompt, BoxPrompt) and not new.any():
            # "the lesion is in here" with nothing found in it wiped the whole mask
            s.undo()
            self.message.emit("Refine: the model finds no lesion in that box; the mask is "
                              "unchanged (draw a larger box, or click on the lesion)")
            return False
        text = ("Refine: box" if isinstance(prompt, BoxPrompt)
                else f"Refine: {'lesion' if prompt.positive else 'not lesion'} click")
        before = self.doc.undo_stack.index()
        changed = push_mask(self.doc, new, text, EditKind.PROMPT)
        self._version = self.doc.mask_version
        # a prompt that changed no pixel pushes no step: the markers of the prompts in force
        # stay (``< index()`` dropped the previous one, its box outline too, while it still
        # bent the mask, and Ctrl+click then picked the wrong prompt)
        self.markers = [(i, p) for i, p in self.markers if i <= before]
        self.markers.append((self.doc.undo_stack.index(), s.prompts[-1]))
        self._draw_markers()
        return changed

    def remove_marker_near(self, row: float, col: float) -> bool:
        """Remove the prompt whose marker is nearest ``(row, col)`` (within
        :data:`MARKER_PICK` of the diagonal): the later prompts are applied again."""
        s = self._session()
        if s is None or not self.markers:
            return False
        pos = [((p.row, p.col) if isinstance(p, ClickPrompt)
                else ((p.row0 + p.row1) / 2, (p.col0 + p.col1) / 2)) for _, p in self.markers]
        d = [np.hypot(r - row, c - col) for r, c in pos]
        k = int(np.argmin(d))
        if d[k] > MARKER_PICK * float(np.hypot(*self.doc.shape)):
            return False
        # the session's prompts end with the markers' prompts (older ones may precede them)
        index = len(s.prompts) - len(self.markers) + k
        try:
            if self._version != self.doc.mask_version:
                raise IndexError
            new = s.remove(index)
        except IndexError:  # made before the mask was edited (or undone) by other means
            self.message.emit("Refine: the mask was edited after that prompt; undo (Ctrl+Z) "
                              "to take it back")
            return False
        push_mask(self.doc, new, "Refine: marker removed", EditKind.PROMPT)
        self._version = self.doc.mask_version
        top = self.doc.undo_stack.index()
        self.markers = [(top, p) for j, (_, p) in enumerate(self.markers) if j != k]
        self._draw_markers()
        return True

    def preview_grow(self, region: np.ndarray | None, add: bool = True,
                     origin: tuple[int, int] = (0, 0)) -> None:
        """Show bool ``region`` (its top left at ``origin`` (row, col) of the image) as the
        pending grow (None: hide it). Only the region's window is drawn and repainted (the
        whole 24-MP layer at each step of the drag took a tenth of a second or more)."""
        from dermview.gui import render

        buf = self.grow_preview
        if region is None:
            buf.clear((1, 1))
            self._grow_box = None
            return
        if buf.shape != self.doc.shape:
            buf.clear(self.doc.shape)
        elif self._grow_box is not None:  # the last window, now transparent
            top, left, h, w = self._grow_box
            buf.set_region(top, left, np.zeros((h, w, 4), np.uint8))
        alpha = np.where(region, np.uint8(150), np.uint8(0))
        buf.set_region(*origin, render.colourise(alpha, GROW_ADD if add else GROW_CUT))
        self._grow_box = (*origin, *region.shape)

    def grow(self, seed: tuple[int, int], tolerance: float, add: bool,
             distance: SeedDistance | None = None) -> bool:
        """Add (or cut) the region grown from ``seed`` with ``tolerance`` ΔE: one undo step."""
        if self.doc.image is None:
            return False
        from dermview.gui.dialogs import busy_cursor

        if distance is None:  # a click: ΔE round the seed, the whole image only if needed
            distance = SeedDistance(self.doc.image, seed)
        region = distance.full_region(tolerance, busy_cursor)
        before = int(self.doc.mask.sum())
        new = apply_region(self.doc.mask, region, add)
        changed = push_mask(self.doc, new, f"Grow from seed ({'add' if add else 'cut'}, "
                                           f"ΔE {tolerance:.0f})", EditKind.HAND)
        # the drag's "… release to add" stayed in the status bar after the release
        n = abs(int(self.doc.mask.sum()) - before)
        self.message.emit(f"Grow from seed: {'added' if add else 'cut'} {n} px (ΔE "
                          f"{tolerance:.0f}); Ctrl+Z undoes it" if changed else
                          f"Grow from seed: nothing to {'add' if add else 'cut'} there "
                          f"(ΔE {tolerance:.0f})")
        return changed


class _Markers(pg.ScatterPlotItem):
    """The prompts' markers: drawn only. A click on one goes on to the view box (the tool):
    pyqtgraph's scatter item would take it, so Ctrl+click on a marker did nothing."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph API)
        ev.ignore()


class RefineTool(Tool):
    """Click / Shift+click / drag-a-box prompts; Ctrl+click removes a marker."""

    name = "refine"

    def __init__(self, ctrl: RefineController) -> None:
        self.ctrl = ctrl
        self._start: QtCore.QPointF | None = None
        self._end: QtCore.QPointF | None = None

    def click(self, pos, double, modifiers) -> None:
        doc = self.ctrl.doc
        if not doc.has_image:
            return
        r, c = to_rc(pos)
        if modifiers & CTRL:
            self.ctrl.remove_marker_near(r, c)
            return
        if 0 <= r < doc.shape[0] and 0 <= c < doc.shape[1]:
            row, col = pixel_rc(pos, doc.shape)
            self.ctrl.prompt(ClickPrompt(row, col, not bool(modifiers & SHIFT)))

    def press(self, pos, modifiers) -> None:
        self._start = self._end = pos

    def move(self, pos) -> None:
        if self._start is None:
            return
        self._end = pos
        a, b = self._start, pos
        corners = [QtCore.QPointF(a.x(), a.y()), QtCore.QPointF(b.x(), a.y()),
                   QtCore.QPointF(b.x(), b.y()), QtCore.QPointF(a.x(), b.y())]
        for pane in self.ctrl.edit.panes:
            pane.set_path(corners, closed=True)

    def release(self, pos) -> None:
        start, self._start = self._start, None
        self.cancel()
        if start is None or not self.ctrl.doc.has_image:
            return
        shape = self.ctrl.doc.shape
        (r0, c0), (r1, c1) = pixel_rc(start, shape), pixel_rc(pos, shape)
        if abs(r1 - r0) >= 2 and abs(c1 - c0) >= 2:
            self.ctrl.prompt(BoxPrompt(min(r0, r1), min(c0, c1), max(r0, r1) + 1, max(c0, c1) + 1))

    def cancel(self) -> None:
        for pane in self.ctrl.edit.panes:
            pane.set_path([])
