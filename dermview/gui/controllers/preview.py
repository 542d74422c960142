"""The two-stage preprocessing preview: a ≤1024 px copy at once, full size when settings rest.

Every change in the Preprocessing panel preprocesses the small copy in the preview worker and
shows it in the "Preprocessed" view with the frame and hair maps; 400 ms after the last change
the same settings run at full resolution, so zooming in shows the real result (and a
segmentation with these settings can reuse it).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6 import QtCore

from dermview.gui import render
from dermview.gui.controllers.overlays import OverlayController
from dermview.gui.document import Document
from dermview.gui.image_view import ImagePane
from dermview.gui.preprocess_panel import PreprocessPanel
from dermview.gui.workers import PreviewWorker, WorkerHost
from dermview.preprocess.params import PreprocessParams

#: Long side (px) of the copy used for the live preprocessing preview.
PREVIEW_SIDE = 1024


class PreviewController(QtCore.QObject):
    """Runs previews for the open image and shows them (views, overlays, panel line).

    Signals:
        busy_changed(bool): a preview is pending or running.
    """

    busy_changed = QtCore.Signal(bool)

    def __init__(self, doc: Document, panel: PreprocessPanel, before: ImagePane,
                 after: ImagePane, overlays: OverlayController,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.panel, self.before, self.after = doc, panel, before, after
        self.overlays = overlays
        self.host = WorkerHost(PreviewWorker(), "dermview-preview", self)
        self.proxy: np.ndarray | None = None
        self.last_ms = 0.0  # latency of the latest quick preview (request → shown)
        self._started = 0.0
        self.full_timer = QtCore.QTimer(self)
        self.full_timer.setSingleShot(True)
        self.full_timer.setInterval(400)
        self.full_timer.timeout.connect(self._full_preview)
        self.host.finished.connect(self._on_preview)
        self.host.failed.connect(lambda m: panel.show_message(f"Preview failed: {m}"))
        self.host.busy_changed.connect(self.busy_changed)
        panel.params_changed.connect(lambda _p: self.request())
        panel.show_frame_changed.connect(lambda v: overlays.set_visible("frame", v))
        panel.show_hair_changed.connect(lambda v: overlays.set_visible("hair", v))
        doc.image_changed.connect(self._on_image)

    @property
    def busy(self) -> bool:
        return self.host.busy or self.full_timer.isActive()

    def _on_image(self) -> None:
        image = self.doc.image
        self.host.cancel()
        self.full_timer.stop()
        if image is None:
            self.proxy = None
            return
        self.proxy = render.downscale(image, PREVIEW_SIDE)
        self.before.set_image(image)
        self.after.set_image(image)
        self.before.set_title(f"Original · {self.doc.path.name} · "
                              f"{image.shape[1]}×{image.shape[0]}")
        self.after.set_title(f"Preprocessed · {self.doc.path.name} (computing…)")
        self.panel.new_image()
        self.request()

    def request(self) -> None:
        """Preprocess the preview copy with the panel's parameters (in the worker)."""
        self.full_timer.stop()
        if self.proxy is None or not self.doc.has_image:
            return
        self._started = time.perf_counter()
        self.host.submit((self.proxy, self.panel.params()))

    def _on_preview(self, payload: Any) -> None:
        result, params, seconds, display = payload
        if not self.doc.has_image or self.proxy is None:
            return
        full = result.image.shape == self.doc.image.shape
        if result.image.shape != self.proxy.shape and not full:
            return  # a late result for another image
        if full and params != self.panel.params():
            return
        self.show(result, params, seconds, display)
        if not full:
            self.last_ms = (time.perf_counter() - self._started) * 1000
            # Second stage once the settings rest, so it never delays the next quick preview.
            self.full_timer.start()

    def _full_preview(self) -> None:
        params = self.panel.params()
        if self.doc.has_image and self.doc.preview is not None and \
                self.doc.preview_params == params and not self.host.busy:
            self.host.submit((self.doc.image, params))

    def show(self, result: Any, params: PreprocessParams, seconds: float,
             display: dict[str, Any]) -> None:
        """Show a preprocessing result (from a preview or a segmentation) of the open image."""
        self.doc.set_preview(result, params)
        full = self.doc.shape
        self.after.set_image(display["image"], shape=full)
        h, w = result.image.shape[:2]
        scale = "" if (h, w) == full else f" (preview at {w}×{h}; full size follows)"
        # the file's name too: T shows this view alone, in the original's place
        name = f" · {self.doc.path.name}" if self.doc.path is not None else ""
        self.after.set_title("Preprocessed" + name + scale)
        self.overlays.set_map("frame", display["frame"])
        self.overlays.set_map("hair", display["hair"])
        self.panel.show_result(result.hair_count, result.repair_mode, seconds, scale,
                               hair_searched=params.remove_hair)

    def model_changed(self, params: PreprocessParams | None) -> None:
        """Another model segments from now on, trained with ``params`` (None: raw images): the
        panel takes it as the model's preprocessing, and the preview follows the panel."""
        self.panel.model_changed(params)
        self.request()

    def show_segmented(self, result: Any, params: PreprocessParams | None, seconds: float,
                       display: dict[str, Any]) -> None:
        """A segmentation's own preprocessing of the open image: shown when it is what the
        panel's settings give (then at full size); made with other settings (the model's,
        while the panel's are a preview only), the panel's preview stays. It replaced it: the
        view, the hair overlay and N went back to the model's sensitivity while the panel
        still showed the one the user had chosen."""
        if params == self.panel.params():
            self.show(result, params, seconds, display)

    def shutdown(self) -> None:
        self.full_timer.stop()
        self.host.shutdown()
