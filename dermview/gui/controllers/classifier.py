"""Diagnosis support in the app: classify the lesion of the current mask in a worker thread,
show the probabilities and the Grad-CAM heat map, and record them in the sidecar."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore

from dermview.gui.classifier_panel import ClassifierPanel
from dermview.gui.controllers.overlays import OverlayController
from dermview.gui.document import Document
from dermview.gui.image_view import ImagePane
from dermview.gui.workers import WorkerHost, _Worker

LAYER = "classifier_heat"
#: Pause (ms) after the last mask change before an automatic classification (a brush stroke
#: changes the mask many times; the Lesion panel waits about as long).
AUTO_DELAY_MS = 600


class ClassifyWorker(_Worker):
    """Payload ``(key, rgb, mask)``; result ``{key, probs, top, model_sha256, model_name,
    temperature}``
    (ONNX Runtime: fast, so the probabilities are shown before the heat map is ready)."""

    def work(self, job: int, payload: Any) -> dict[str, Any]:
        from dermview.model.classifier import CLASSES, PROB_KEYS, Classifier

        key, rgb, mask = payload
        clf = Classifier.load(None, device="cpu")
        probs = clf.predict(rgb, mask)
        top = CLASSES[max(range(len(CLASSES)), key=lambda i: probs[PROB_KEYS[i]])]
        return {"key": key, "probs": probs, "top": top, "model_sha256": clf.meta["sha256"],
                "model_name": str(clf.meta.get("name") or clf.path.stem),
                "temperature": clf.temperature}


class HeatmapWorker(_Worker):
    """Payload ``(key, rgb, mask, top)``; result ``(key, display)``: the premultiplied heat
    map buffer of class ``top``, or None where PyTorch is missing (the packaged app)."""

    def work(self, job: int, payload: Any) -> tuple[Any, Any]:
        from dermview.errors import ModelError
        from dermview.gui import render
        from dermview.model.classifier import Classifier

        key, rgb, mask, top = payload
        try:
            heat, _ = Classifier.load(None, device="cpu").heatmap(rgb, mask, top)
        except ModelError:
            return key, None
        self.check(job)
        return key, render.heatmap(heat)


class ClassifierController(QtCore.QObject):
    """Connects the :class:`ClassifierPanel` to the document; one result per image and mask
    (a result is for the ``(path, mask_version)`` it was asked for, else dropped). The
    probabilities come first; the Grad-CAM (PyTorch, slower: the network is built on
    first use) follows in its own worker and enables the heat-map check box. With the
    panel's "Classify automatically" on, an image with a mask is classified when it opens and
    :data:`AUTO_DELAY_MS` after the last edit of its mask."""

    def __init__(self, doc: Document, panel: ClassifierPanel, overlays: OverlayController,
                 pane: ImagePane, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.panel, self.overlays = doc, panel, overlays
        self.result: dict[str, Any] | None = None
        self._mask: Any = None  # the copy of the mask being classified (the heat map's input)
        self.host = WorkerHost(ClassifyWorker(), "dermview-classifier", self)
        self.heat_host = WorkerHost(HeatmapWorker(), "dermview-heatmap", self)
        overlays.add_layer(LAYER, z=1.6, panes=(pane,))
        overlays.set_visible(LAYER, False)
        self.host.finished.connect(self._on_result)
        self.host.failed.connect(self._on_failed)
        self.host.busy_changed.connect(panel.set_busy)
        self.heat_host.finished.connect(self._on_heatmap)
        self.heat_host.failed.connect(lambda text: panel.show_heat(False, f"no heat map: {text}"))
        self.auto_timer = QtCore.QTimer(self)
        self.auto_timer.setSingleShot(True)
        self.auto_timer.setInterval(AUTO_DELAY_MS)
        self.auto_timer.timeout.connect(lambda: self.classify(auto=True))
        panel.classify_clicked.connect(self.classify)
        panel.auto_changed.connect(self._on_auto_changed)
        panel.heatmap_toggled.connect(lambda on: overlays.set_visible(LAYER, on))
        doc.image_changed.connect(self._on_image_changed)
        doc.mask_changed.connect(self._on_mask_changed)
        doc.add_sidecar_field("classifier", self.sidecar)

    @property
    def auto(self) -> bool:
        return self.panel.auto_check.isChecked()

    def classify(self, auto: bool = False) -> None:
        """Classify the lesion in the current mask (in the worker); ``auto``: asked by the
        automatic mode (nothing to say when there is no mask yet, nothing to redo when the
        result is current)."""
        if not self.doc.has_image or self.doc.image is None:
            self.panel.show_message("" if auto else "Open an image first.")
            return
        if not self.doc.mask.any():
            self.panel.show_message("Classifies automatically once the lesion is segmented or "
                                    "drawn." if auto else
                                    "Segment or draw the lesion first: the mask is empty.")
            return
        if auto and (self.host.busy or (self.result is not None
                                        and self.result["key"] == self._key())):
            return
        self._forget("")
        self._mask = self.doc.mask.copy()
        self.host.submit((self._key(), self.doc.image, self._mask))

    def _key(self) -> tuple[Any, int]:
        return self.doc.path, self.doc.mask_version

    def _on_result(self, res: dict[str, Any]) -> None:
        if res["key"] != self._key():
            return  # a late result for another image or an older mask
        self.result = res
        self.panel.show_result(res["probs"], res["top"], res["temperature"], self._unsaved_note())
        self.heat_host.submit((res["key"], self.doc.image, self._mask, res["top"]))

    def refresh_note(self, *_args: object) -> None:
        """After a save: the result is in the sidecar now (the note goes)."""
        if self.result is not None:
            self.panel.set_note(self._unsaved_note())

    def _unsaved_note(self) -> str:
        """What to say when the result is not in the saved label: the sidecar records it on a
        save, and a label saved before the classification (A, then Classify) was never
        saved again, so the result was lost on the next image without a word."""
        doc = self.doc
        if not doc.label_loaded or doc.dirty:
            return ""  # nothing saved yet, or a save is due anyway
        if (doc.label_meta or {}).get("classifier") == self.sidecar():
            return ""
        return "Not in the saved label: save (Ctrl+S) to record it."

    def _on_heatmap(self, res: tuple[Any, Any]) -> None:
        key, display = res
        if self.result is None or key != self._key():
            return  # the mask or image changed since: that result was forgotten
        if display is None:
            self.panel.show_heat(False, "no heat map: this installation has no PyTorch")
            return
        self.overlays.set_map(LAYER, display)
        self.panel.show_heat(True)

    def _on_failed(self, message: str) -> None:
        self._forget(f"Classification failed: {message}")

    def _on_image_changed(self) -> None:
        self._forget("")
        # after the opening's own mask notification (which forgets a result)
        QtCore.QTimer.singleShot(0, self, lambda path=self.doc.path: self._show_saved(path))
        if self.auto:
            self.auto_timer.start()

    def _show_saved(self, path: Any) -> None:
        """Show the result the opened label's sidecar recorded (the panel stayed empty on
        reopening a classified label: Classify had to be clicked again to see it)."""
        from dermview.model.classifier import PROB_KEYS

        doc = self.doc
        saved = (doc.label_meta or {}).get("classifier") if doc.label_loaded else None
        if (path != doc.path or doc.dirty or self.result is not None or self.host.busy
                or not isinstance(saved, dict) or not all(k in saved for k in PROB_KEYS)):
            return
        try:
            probs = {k: float(saved[k]) for k in PROB_KEYS}
            top, temperature = str(saved["predicted"]), float(saved["temperature"])
        except (KeyError, TypeError, ValueError):
            return
        self.result = {"key": self._key(), "probs": probs, "top": top,
                       "temperature": temperature,
                       "model_sha256": str(saved.get("model_sha256", "")),
                       "model_name": str(saved.get("model_name", ""))}
        self._mask = doc.mask.copy()
        self.panel.show_result(probs, top, temperature,
                               "As saved with this label (Classify lesion computes it again).")
        self.heat_host.submit((self.result["key"], doc.image, self._mask, top))

    def _on_mask_changed(self, *_rect: int) -> None:
        if self.result is not None or self.host.busy:
            self._forget("The mask changed: classifying again in a moment…" if self.auto
                         else "The mask changed: classify again.")
        if self.auto:
            self.auto_timer.start()

    def _on_auto_changed(self, on: bool) -> None:
        if on:
            self.classify(auto=True)
        else:
            self.auto_timer.stop()

    def _forget(self, message: str) -> None:
        self.host.cancel()
        self.heat_host.cancel()
        self.result = self._mask = None
        self.overlays.set_visible(LAYER, False)
        self.panel.clear(message)

    def sidecar(self) -> dict[str, Any] | None:
        """What the sidecar records for the saved mask (``None`` = not classified)."""
        if self.result is None:
            return None
        return {**{k: round(float(v), 6) for k, v in self.result["probs"].items()},
                "predicted": self.result["top"], "temperature": self.result["temperature"],
                "model_sha256": self.result["model_sha256"],
                "model_name": self.result.get("model_name", ""),
                "note": "decision support for research use only, not a diagnosis"}

    def report_lines(self) -> list[tuple[str, str]]:
        """The case report's diagnosis-support lines (not classified: a line that says so; the
        report of an unclassified lesion said nothing about diagnosis support at all, as if
        the app had none)."""
        if self.result is None:
            return [("Classifier (calibrated)", "not run for this outline (Diagnosis panel: "
                     "Classify lesion)" if self.doc.mask.any() else "not run (no outline)")]
        from dermview.report import classifier_lines, classifier_model_text

        r = self.result
        return list(classifier_lines(r["probs"], classifier_model_text(
            r.get("model_name", ""), r.get("model_sha256", ""), r.get("temperature"))))

    def shutdown(self) -> None:
        self.auto_timer.stop()
        self.host.shutdown()
        self.heat_host.shutdown()

