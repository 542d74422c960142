"""Segmentation jobs: build a :class:`SegmentJob`, run it in the segmentation worker, apply
the :class:`SegmentResult` to the document (one undo step), and the threshold slider.

Stale results (another image opened, a newer job started, Cancel) are dropped; progress is
reported to the panel and the status bar; the model stays loaded in the worker thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore

from dermview.errors import DermviewError
from dermview.gui.commands import push_threshold
from dermview.gui.controllers.overlays import FILL_ALPHA, OverlayController
from dermview.gui.controllers.preview import PreviewController
from dermview.gui.document import Document
from dermview.gui.model_info import ModelInfo
from dermview.gui.panels import SegmentPanel
from dermview.gui.workers import SegmentJob, SegmentResult, SegmentWorker, WorkerHost
from dermview.label_status import label_source
from dermview.segmentation import model_preprocess_params

#: Below this estimated Jaccard the panel asks for a review (the ISIC challenge's failure cut).
LOW_CONFIDENCE = 0.65


def _metadata(weights: str | None) -> dict[str, Any]:
    """The weights' metadata (no torch), or {} when it cannot be read (the worker reports)."""
    from dermview.model.weights import DEFAULT_WEIGHTS, read_metadata

    try:
        return read_metadata(weights or DEFAULT_WEIGHTS)
    except DermviewError:
        return {}


#: The Segment panel before any segmentation: what to do first (a new user saw "No
#: segmentation yet" and nothing on where the measurements and the diagnosis support are).
NOTHING_YET = ("No segmentation yet: Segment (Ctrl+R) outlines the lesion; the Lesion "
               "(Alt+7) and Diagnosis (Alt+8) panels then measure and classify it.")


class SegmentController(QtCore.QObject):
    """Runs the model on the open image and re-thresholds its probability map.

    Signals:
        progress(int, str): percent (-1 = busy) and what is being done.
        busy_changed(bool): a segmentation is pending or running.
        message(str, int): a status-bar message and its duration in ms.
        error(str, str): a message box (title, text) to show.
        confidence_changed(object, float): image path and the estimated Jaccard of the
            model's new mask (see :attr:`ModelInfo.confidence`).
    """

    progress = QtCore.Signal(int, str)
    busy_changed = QtCore.Signal(bool)
    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)
    confidence_changed = QtCore.Signal(object, float)

    def __init__(self, doc: Document, panel: SegmentPanel, preview: PreviewController,
                 overlays: OverlayController, weights: str | None, params: Any,
                 parent: QtCore.QObject | None = None) -> None:
        """``params()`` returns the preprocessing to segment with (PreprocessParams or None)."""
        super().__init__(parent)
        self.doc, self.panel, self.preview, self.overlays = doc, panel, preview, overlays
        self.weights = weights
        self.params = params
        self.cuda_ok: bool | None = None
        self._no_saved_prob: tuple | None = None  # the opened label with no usable saved map
        meta = _metadata(weights)
        #: The model's trained preprocessing (None: raw images) and default threshold.
        self.model_params = model_preprocess_params(meta)
        self.default_threshold = float(meta.get("threshold", 0.5) or 0.5)
        self.host = WorkerHost(SegmentWorker(), "dermview-segment", self)
        self.host.worker.cuda_checked.connect(self._on_cuda_checked,
                                              QtCore.Qt.ConnectionType.QueuedConnection)
        self.host.finished.connect(self._on_result)
        self.host.failed.connect(self._on_failed)
        self.host.progress.connect(self._on_progress)
        self.host.busy_changed.connect(self._on_busy)
        self.threshold_timer = QtCore.QTimer(self)
        self.threshold_timer.setSingleShot(True)
        self.threshold_timer.setInterval(120)
        self.threshold_timer.timeout.connect(self.apply_threshold)
        panel.segment_clicked.connect(self.run)
        panel.cancel_clicked.connect(self.cancel)
        panel.threshold_moved.connect(self._on_threshold_moved)
        doc.threshold_changed.connect(self._on_doc_threshold)
        doc.image_changed.connect(self._on_image)
        doc.prob_changed.connect(self._on_prob)
        # written flat, as `dermview segment --sidecar` does: read by the worklist and export
        doc.add_sidecar_field("confidence", lambda: self.doc.model.confidence
                              if self.doc.mask_from_model() else None)

    @property
    def busy(self) -> bool:
        return self.host.busy

    def set_weights(self, weights: str | None) -> None:
        """Segment with another weights file from the next run on (None = bundled default),
        with the preprocessing and threshold its metadata gives (they stayed the previous
        model's: a model trained on raw images, switched to in Model → Models…, was given the
        bundled model's frame and hair removal, the panel saying "= the model's")."""
        self.weights = weights
        meta = _metadata(weights)
        self.model_params = model_preprocess_params(meta)
        self.default_threshold = float(meta.get("threshold", 0.5) or 0.5)
        self.preview.model_changed(self.model_params)

    @property
    def device(self) -> str:
        return self.panel.device

    def probe(self) -> None:
        """Import torch and look for CUDA in the worker thread (the window does not wait)."""
        self.host.invoke("probe")

    def _on_cuda_checked(self, ok: bool, reason: str) -> None:
        self.cuda_ok = ok
        self.panel.set_cuda(ok, reason)
        if not ok and self.device == "cuda":
            self.message.emit("CUDA was selected but is not available here: choose CPU or Auto "
                              "(Segmentation panel).", 15000)

    def _on_image(self) -> None:
        self.host.cancel()
        self.threshold_timer.stop()
        self._no_saved_prob = None
        self.panel.set_idle()
        self.panel.model_label.setText(self.model_text())
        if self.doc.label_loaded:
            self.panel.set_threshold(self.doc.threshold)
        elif not self.panel.pin_check.isChecked():  # each image starts at the model's
            self.panel.set_threshold(self.default_threshold)

    # -- jobs -----------------------------------------------------------------------------------
    def run(self, automatic: bool = False) -> bool:
        """Segment the open image (a running job is superseded). False when nothing started."""
        doc = self.doc
        if not doc.has_image:
            return False
        if self.device == "cuda" and self.cuda_ok is False:
            self.error.emit("CUDA not available",
                            "The GPU (CUDA) was selected but no CUDA device is available on "
                            "this computer. Choose CPU or Auto in the Segmentation panel.")
            return False
        params = self.params()
        # The full-size preview already holds this image preprocessed with these settings.
        done = doc.preview if doc.preview_params == params else None
        job = SegmentJob(path=doc.path, rgb=doc.image, params=params, device=self.device,
                         engine=self.panel.engine,
                         weights=self.weights, threshold=self.panel.threshold,
                         base_mask=doc.mask.copy(), base_version=doc.mask_version,
                         fill=FILL_ALPHA, preprocessed=done,
                         automatic=bool(automatic))
        self.host.submit(job)
        self.panel.set_progress(0, "Starting…")
        return True

    def batch_settings(self) -> dict[str, Any]:
        """The model settings Segment uses now, for images other than the open one
        (:class:`~dermview.gui.controllers.batch.BatchJob`): the threshold shown only when it
        is pinned (else each image gets the model's)."""
        return {"weights": self.weights, "device": self.device, "engine": self.panel.engine,
                "params": self.params(),
                "threshold": self.panel.threshold if self.panel.pin_check.isChecked() else None}

    def cancel(self) -> None:
        if self.host.busy:
            self.host.cancel()
            self.panel.set_progress(0, "Cancelled")
            self.message.emit("Segmentation cancelled", 3000)

    def _on_busy(self, busy: bool) -> None:
        self.panel.set_busy(busy)
        self.busy_changed.emit(busy)

    def _on_progress(self, percent: int, text: str) -> None:
        self.panel.set_progress(percent, text)
        self.progress.emit(percent, text)

    def _on_failed(self, message: str) -> None:
        self.panel.set_progress(0, "Failed")
        self.error.emit("Segmentation failed", message)

    def _on_result(self, out: SegmentResult) -> None:
        doc, job, res = self.doc, out.job, out.result
        if not doc.has_image or doc.path != job.path or res.prob.shape != doc.shape:
            return  # a late result for another image
        if out.display is not None:
            # Its own time: segmentation may have reused the preview's result (0 s here).
            self.preview.show_segmented(res.preprocessed, res.params,
                                        res.preprocessed.timings.get("total", 0.0), out.display)
        info = ModelInfo(name=out.name, sha256=out.sha256, device=out.device, engine=out.engine,
                         params=res.params.to_dict() if res.params is not None else None,
                         timings=dict(res.timings), confidence=out.confidence)
        alpha = None if self.overlays.outline else out.mask_alpha
        untouched = job.automatic and doc.undo_stack.count() == 0
        with self.overlays.prerendered(alpha, out.heat):
            doc.set_prediction(res.prob, res.mask, res.threshold, info, patch=out.patch,
                               base_version=job.base_version)
        if untouched:  # nobody looked at it yet: leaving the image is no unsaved change
            doc.undo_stack.setClean()
        self.panel.set_threshold(res.threshold)
        # The whole job (model load, preprocessing, network, overlay); the model line shows the
        # network's own time.
        self.panel.set_progress(100, f"Segmented in {out.seconds:.2f} s")
        self.message.emit(f"Segmented with {out.name} on {out.device} in {out.seconds:.2f} s "
                          "(whole job)", 5000)

    def _on_prob(self) -> None:
        """A new probability map (a result, or recovered work): show the model behind it and
        its confidence."""
        self.panel.model_label.setText(self.model_text())
        confidence = self.doc.model.confidence
        if confidence is not None and self.doc.path is not None:
            self.confidence_changed.emit(self.doc.path, confidence)

    def model_text(self) -> str:
        m = self.doc.model
        if not m.name and self.doc.label_loaded:  # "No segmentation yet" beside a mask shown
            from dermview.exchange.labelset import imported_from_text

            kind = {"imported": imported_from_text(self.doc.label_meta),
                    "manual": "drawn by hand"}.get(label_source(self.doc.label_meta),
                                                   "saved earlier")
            return f"The mask is the saved label ({kind}); Segment (Ctrl+R) runs the model"
        if not m.name:
            return NOTHING_YET
        where = f" on {m.device}" + (f" ({m.engine})" if m.engine else "") if m.device else ""
        # The network's own time ("predict"), not the whole job the progress line reports.
        net = m.timings.get("predict", m.timings.get("total")) if m.timings else None
        took = f" · model {net:.2f}\u00a0s" if net is not None else ""
        conf = "" if m.confidence is None else (
            f"<br>Confidence <b>{m.confidence:.2f}</b> (estimated Jaccard with an expert's "
            f"outline{'; review this mask' if m.confidence < LOW_CONFIDENCE else ''})")
        if conf and self.doc.corrected_before():  # the label opened was corrected by hand
            conf = (f"<br>Confidence of the model's mask <b>{m.confidence:.2f}</b>, before it "
                    "was corrected by hand (estimated Jaccard with an expert's outline)")
        return f"Model <b>{m.name}</b>{where}{took}<br>weights {m.sha256[:12]}…{conf}"

    def adopt_saved_prob(self) -> bool:
        """Whether the document has a probability map, after taking the one saved beside a
        model label nobody edited (Segment all's, ``dermview segment --sidecar --save-prob``)
        when the label is as opened and that map gives its mask: the Threshold slider said
        "no probability map" on every Segment all result, though the map was there."""
        doc = self.doc
        if doc.prob is not None:
            return True
        meta = doc.label_meta
        if not (doc.has_image and doc.label_loaded and doc.path is not None and meta
                and label_source(meta) == "model" and meta.get("edited") is False
                and doc.undo_stack.index() == 0):
            return False
        key = (doc.path, doc.labels_dir)  # the label as opened (reset by a new image)
        if key == self._no_saved_prob:
            return False  # looked for already: not read again at every slider step
        from dermview.postprocess import mask_from_prob
        from dermview.prob_maps import load_prob_map, prob_map_path

        prob = load_prob_map(prob_map_path(doc.path, doc.labels_dir), doc.shape)
        # the map is stored in 1/255 steps: a few pixels at the threshold may fall either way;
        # a map far from the mask is another run's, or the label was replaced since
        if prob is None or int(np.count_nonzero(mask_from_prob(prob, doc.threshold) != doc.mask)
                               ) > max(16, doc.mask.sum() // 100):
            self._no_saved_prob = key
            return False
        doc.adopt_prob(prob)
        return True

    def explain_no_prob(self, shown: bool, what: str) -> None:
        """A layer drawn from the probability map (``what``) was turned on: without a map (a
        saved label keeps only its mask) say why nothing shows."""
        if shown and self.doc.has_image and not self.adopt_saved_prob():
            self.message.emit(f"{what}: this image has no probability map (a saved label "
                              "keeps only its mask); Segment (Ctrl+R) to show it", 8000)

    # -- threshold ------------------------------------------------------------------------------
    def _on_threshold_moved(self, t: float) -> None:
        if self.adopt_saved_prob():
            self.threshold_timer.start()
        elif self.doc.has_image and self.doc.mask.any():
            # a saved label opened: no probability map to re-threshold (the slider moved to
            # 0.88 and the mask stayed as it was, without a word)
            self.message.emit(f"This mask has no probability map (a saved label): the "
                              f"threshold {t:.2f} applies when you Segment (Ctrl+R)", 8000)

    def set_threshold(self, threshold: float) -> None:
        """Set the probability threshold and, if there is a prediction, re-threshold now."""
        self.panel.threshold_slider.setValue(round(threshold * 100))
        self.threshold_timer.stop()
        self.apply_threshold()

    def apply_threshold(self) -> None:
        """Re-threshold the probability map at the panel's threshold; pixels edited by hand
        keep their value (one undo step per gesture: consecutive steps merge)."""
        doc = self.doc
        if doc.prob is None:
            return
        from dermview.postprocess import mask_from_prob

        t = self.panel.threshold
        if abs(t - doc.threshold) < 1e-9:
            return
        from dermview.gui.dialogs import busy_cursor

        # about half a second on a 24-MP map (labelling, filling holes, the undo patch), on
        # this thread: the window stood still with the normal cursor at each step
        with busy_cursor():
            new = mask_from_prob(doc.prob, t)
            edited = doc.hand_edited_map()  # a person's pixels are kept as they are
            new[edited] = doc.mask[edited]
            before = doc.threshold
            doc.threshold = t
            push_threshold(doc, new, before, t)

    def _on_doc_threshold(self, t: float) -> None:
        """Undo/redo of a threshold step: show the threshold the mask now corresponds to."""
        self.threshold_timer.stop()
        self.panel.set_threshold(t)

    def shutdown(self) -> None:
        self.threshold_timer.stop()
        self.host.shutdown()
