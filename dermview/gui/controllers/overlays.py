"""Overlay layers over the image views and the metrics against the reference mask.

Layers (bottom to top): heat map, frame, hair, mask, differences, reference. Each is an
:class:`~dermview.gui.image_view.OverlayBuffer` shown by one or more panes. The controller
redraws the filled mask layer for the rectangle the document reports changed (plus its
one-pixel ring: a pixel's boundary depends on its neighbours), or, in outline mode, the mask's
outline in the tiles the edits touched (:func:`render.outline_tiles`), at most every
:data:`OUTLINE_EVERY_MS` while it changes (a brush stroke's dabs), and keeps Dice/Jaccard
against the reference up to date. Outlines (the mask's in outline mode, the reference's always) are lines
of a fixed screen width (:meth:`OverlayBuffer.set_outline`), visible at every zoom. Colouring
is :mod:`dermview.gui.render`; metrics are :mod:`dermview.metrics`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from PySide6 import QtCore

from dermview.gui import render
from dermview.gui.document import Document
from dermview.gui.image_view import ImagePane
from dermview.gui.overlay_buffer import OverlayBuffer

#: Opacity (0-255) of the mask fill; its boundary is drawn opaque.
FILL_ALPHA = 110
#: Least interval (ms) between two redraws of the mask's outline while it changes.
OUTLINE_EVERY_MS = 40
#: Stacking order of the built-in layers (image = 0).
Z = {"heat": 1, "frame": 2, "hair": 3, "mask": 4, "diff": 5, "reference": 6}


class OverlayController(QtCore.QObject):
    """Owns the overlay buffers and their visibility, opacity and style.

    Signals:
        metrics_changed(str): the status-bar text comparing the mask with the reference.
    """

    metrics_changed = QtCore.Signal(str)

    def __init__(self, doc: Document, before: ImagePane, after: ImagePane,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.panes = (before, after)
        self.buffers: dict[str, OverlayBuffer] = {}
        self._shown_by: dict[str, tuple[ImagePane, ...]] = {}
        # Every layer on both panes: with one large view showing the preprocessed image, a
        # frame / hair overlay drawn on the original only did nothing the user could see.
        for name in ("frame", "hair", "heat", "mask", "diff", "reference"):
            self.add_layer(name, Z[name], self.panes)
        for name in ("frame", "hair", "heat"):
            self.set_visible(name, False)
        self.outline = False
        # (top, left, bottom, right) changed since the outline was last traced (outline mode)
        self._outline_dirty: tuple[int, int, int, int] | None = None
        self.metrics: tuple[float, float] | None = None
        self._pre_alpha: np.ndarray | None = None
        self._pre_heat: np.ndarray | None = None
        self.metric_timer = QtCore.QTimer(self)
        self.metric_timer.setSingleShot(True)
        self.metric_timer.setInterval(150)
        self.metric_timer.timeout.connect(self.update_metrics)
        # the outline of the whole mask (contours of a 12-MP mask take several ms) is redrawn
        # at most every OUTLINE_EVERY_MS while a stroke changes it, not at every mouse move
        self.outline_timer = QtCore.QTimer(self)
        self.outline_timer.setSingleShot(True)
        self.outline_timer.setInterval(OUTLINE_EVERY_MS)
        self.outline_timer.timeout.connect(self._draw_outline)
        doc.image_changed.connect(self._on_image)
        doc.mask_changed.connect(self._on_mask_changed)
        doc.prob_changed.connect(self._on_prob_changed)
        doc.reference_changed.connect(self._on_reference_changed)

    # -- layers ---------------------------------------------------------------------------------
    def add_layer(self, name: str, z: float, panes: tuple[ImagePane, ...]) -> OverlayBuffer:
        """A new overlay layer ``name`` at stacking order ``z`` shown by ``panes``."""
        buf = OverlayBuffer(self)
        self.buffers[name] = buf
        self._shown_by[name] = tuple(panes)
        for pane in panes:
            pane.add_overlay(name, buf, z)
        return buf

    def set_visible(self, name: str, visible: bool) -> None:
        for pane in self._shown_by[name]:
            pane.set_overlay_visible(name, visible)
        if name == "diff" and visible:
            self.update_metrics()

    def set_layers(self, layers: dict[str, bool]) -> None:
        """Visibility of several layers at once (``{name: visible}``)."""
        for name, visible in layers.items():
            self.set_visible(name, visible)

    def is_visible(self, name: str) -> bool:
        return any(p.overlays[name].isVisible() for p in self._shown_by[name])

    def set_opacity(self, opacity: float) -> None:
        """Opacity in [0, 1] of the mask and heat-map layers."""
        for name in ("mask", "heat"):
            for pane in self._shown_by[name]:
                pane.set_overlay_opacity(name, opacity)

    def set_outline(self, outline: bool) -> None:
        """Draw the mask as its outline (True) or filled."""
        self.outline = bool(outline)
        self._draw_mask(None)

    def _draw_mask(self, pre_alpha: np.ndarray | None) -> None:
        """The whole mask layer, filled (from ``pre_alpha`` when coloured off the GUI thread)
        or as its outline."""
        buf, mask = self.buffers["mask"], self.doc.mask
        self.outline_timer.stop()
        self._outline_dirty = None
        if self.outline:
            buf.show_outline_only(mask.shape, render.outline_tiles(mask), render.LESION)
        elif pre_alpha is None and not mask.any():  # an unlabelled image: nothing to colour
            buf.set_outline(None)  # (colouring its empty 24-MP mask took 0.1-0.3 s at open)
            buf.clear(mask.shape)
        else:
            buf.set_outline(None)
            alpha = pre_alpha if pre_alpha is not None else render.mask_alpha(mask, FILL_ALPHA)
            buf.set_buffer(render.colourise(alpha, render.LESION))

    def _draw_outline(self) -> None:
        """Re-trace the outline in the tiles the edits since the last redraw touched."""
        dirty, self._outline_dirty = self._outline_dirty, None
        if self.outline and dirty is not None:
            mask = self.doc.mask
            h, w = mask.shape  # a pixel's boundary depends on its neighbours: one pixel more
            top, left, bottom, right = max(dirty[0] - 1, 0), max(dirty[1] - 1, 0), min(dirty[2] + 1, h), \
                min(dirty[3] + 1, w)
            pieces = render.outline_tiles(mask, region=(top, left, bottom, right))
            self.buffers["mask"].update_outline(pieces, (top, left, bottom, right))

    def set_map(self, name: str, bgra: np.ndarray) -> None:
        """Show a ready-made buffer (frame, hair) stretched over the image."""
        self.buffers[name].set_buffer(bgra, self.doc.shape)

    @contextlib.contextmanager
    def prerendered(self, alpha: np.ndarray | None, heat: np.ndarray | None) -> Iterator[None]:
        """Use buffers coloured off the GUI thread for the next full redraw (a prediction)."""
        self._pre_alpha, self._pre_heat = alpha, heat
        try:
            yield
        finally:
            self._pre_alpha = self._pre_heat = None

    # -- document signals -----------------------------------------------------------------------
    def _on_image(self) -> None:
        for name in ("frame", "hair", "heat"):
            self.buffers[name].clear((1, 1))
        self.metrics = None

    def _on_mask_changed(self, r0: int, r1: int, c0: int, c1: int) -> None:
        buf = self.buffers["mask"]
        mask = self.doc.mask
        if self.outline and buf.display_shape == mask.shape:
            d = self._outline_dirty
            self._outline_dirty = (r0, c0, r1, c1) if d is None else \
                (min(d[0], r0), min(d[1], c0), max(d[2], r1), max(d[3], c1))
            if not self.outline_timer.isActive():
                self.outline_timer.start()
        elif self.outline or buf.shape != mask.shape:
            self._draw_mask(self._pre_alpha)
        else:
            h, w = mask.shape  # the ring: neighbours' boundary pixels change too
            r0, c0, r1, c1 = max(r0 - 1, 0), max(c0 - 1, 0), min(r1 + 1, h), min(c1 + 1, w)
            if self._pre_alpha is not None:
                alpha = np.ascontiguousarray(self._pre_alpha[r0:r1, c0:c1])
            elif not mask[r0:r1, c0:c1].any():  # erased, or an unlabelled image opened:
                buf.clear_region(r0, c0, r1, c1)  # transparent (the boundary is in the mask)
                alpha = None
            else:
                alpha = render.mask_alpha_region(mask, r0, c0, r1, c1, FILL_ALPHA)
            if alpha is not None:
                buf.set_region(r0, c0, render.colourise(alpha, render.LESION))
        if self.doc.reference is not None:
            self.metric_timer.start()

    def _on_prob_changed(self) -> None:
        prob = self.doc.prob
        if prob is None:
            self.buffers["heat"].clear((1, 1))
        else:
            heat = self._pre_heat if self._pre_heat is not None else render.heatmap(prob)
            self.buffers["heat"].set_buffer(heat, prob.shape)

    def _on_reference_changed(self) -> None:
        ref = self.doc.reference
        if ref is None:
            self.buffers["reference"].clear((1, 1))
            self.buffers["reference"].set_outline(None)
            self.buffers["diff"].clear((1, 1))
            self.metrics = None
            self.metrics_changed.emit(self.doc.reference_error and
                                      f"Reference ignored: {self.doc.reference_error}")
        else:
            self.buffers["reference"].show_outline_only(ref.shape, render.outline_tiles(ref),
                                                        render.REFERENCE)
            self.update_metrics()

    def update_metrics(self) -> None:
        """Dice and Jaccard of the working mask against the reference (status-bar text)."""
        ref = self.doc.reference
        if ref is None or not self.doc.has_image:
            return
        from dermview.metrics import dice, jaccard

        if self.is_visible("diff"):
            self.buffers["diff"].set_buffer(render.differences(self.doc.mask, ref), ref.shape)
        name = self.doc.reference_path.name
        if not self.doc.mask.any():  # nothing to compare yet (not "Dice 0.000")
            self.metrics = None
            self.metrics_changed.emit(f"Reference {name}: no mask yet")
            return
        d, j = dice(self.doc.mask, ref), jaccard(self.doc.mask, ref)
        self.metrics = (d, j)
        self.metrics_changed.emit(f"vs reference {name}: Dice {d:.3f} · Jaccard {j:.3f}")
