"""LesionController: keeps the Lesion panel, the axes / colour-region overlays, the scale
(per-device calibration) and the case report in step with the document.

Whenever the mask changes, the analysis is recomputed off the GUI thread, debounced
(:data:`DEBOUNCE_MS` after the last change); a result for an older mask or another image is
dropped. The analysis itself is :func:`dermview.analysis.analyze_lesion`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from dermview.gui.comment_author import comment_text
from dermview.gui.controllers.lesion_scale import other_device_note
from dermview.gui.controllers.lesion_worker import AnalysisWorker
from dermview.gui.document import Document
from dermview.gui.lesion_panel import LesionPanel
from dermview.gui.number_dialog import ask_number
from dermview.gui.ruler import Line
from dermview.gui.settings import Settings
from dermview.gui.workers import WorkerHost
from dermview.label_status import label_source

DEBOUNCE_MS = 400
DEFAULT_DEVICE = "default dermatoscope"


def _describe_preprocessing(params: Any) -> str:
    """Report wording of the preprocessing recorded for the mask (its parameters as a dict:
    the model's metadata or the sidecar's)."""
    from dermview.errors import ParameterError
    from dermview.preprocess.params import PreprocessParams

    if not params:
        return "none"
    try:
        p = PreprocessParams.from_dict(params)
    except (ParameterError, TypeError):  # an older or foreign sidecar: say what it holds
        return ", ".join(f"{k}={v}" for k, v in params.items())
    return "before segmenting: " + p.describe()


def _same_resolution(size: str, w: int, h: int, tolerance: float = 0.02) -> bool:
    """Whether an image ``w`` × ``h`` is at the resolution of the ``"WxH"`` images a
    calibration was made on: each side within ``tolerance`` (PH2 images of one dermatoscope,
    resized to 512 px, are 512×383, 512×384 and 512×385: a frame cropped a pixel
    differently keeps the mm per pixel, and "check the scale" on nearly every image of the
    device read as a wrong scale)."""
    try:
        cw, ch = (int(v) for v in size.split("x"))
    except ValueError:
        return False
    return (cw > 0 and ch > 0 and abs(w - cw) <= tolerance * cw
            and abs(h - ch) <= tolerance * ch)


class LesionController(QtCore.QObject):
    """Signals: ``message(str)`` (status bar), ``error(title, text)``, ``updated()`` (a new
    analysis is shown), ``ruler_wanted()`` (calibration needs a ruler line: select the tool)."""

    message = QtCore.Signal(str)
    error = QtCore.Signal(str, str)
    updated = QtCore.Signal()
    ruler_wanted = QtCore.Signal()

    def __init__(self, doc: Document, panel: LesionPanel, overlays: Any, settings: Settings,
                 panes: tuple[Any, ...], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.panel, self.settings, self.overlays = doc, panel, settings, overlays
        self.analysis: Any = None
        self.last_line: Line | None = None
        self.calibrating = False  # the next ruler line is the calibration line
        self._submitted: Any = None  # the key of the last analysis given to the worker
        self.host = WorkerHost(AnalysisWorker(), "lesion-analysis", self)
        self.host.finished.connect(self._on_result)
        self.host.failed.connect(self._on_failed)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.recompute)
        self.axes_layer = overlays.add_layer("lesion_axes", z=7.0, panes=panes)
        self.colors_layer = overlays.add_layer("lesion_colors", z=4.5, panes=panes)
        overlays.set_visible("lesion_colors", False)
        self.panel_shown = True
        doc.image_changed.connect(self._on_image)
        doc.dirty_changed.connect(lambda _d: self._show_scale())  # a save: the label's device
        doc.mask_changed.connect(lambda *_r: self.schedule("The mask changed"))
        panel.show_axes_changed.connect(lambda _v: self._show_layers())
        panel.show_colors_changed.connect(lambda _v: self._show_layers())
        panel.device_changed.connect(self.set_device)
        panel.calibrate_clicked.connect(self.calibrate)
        panel.type_scale_clicked.connect(self.type_scale)
        panel.clear_calibration_clicked.connect(self.forget_calibration)
        panel.export_clicked.connect(self.export_report)
        doc.add_sidecar_field("lesion", self.sidecar)
        self._report_lines: list[Callable[[], list[tuple[str, str]]]] = []
        self.device = str(settings.get("lesion/device", DEFAULT_DEVICE) or DEFAULT_DEVICE)
        self._show_scale()

    def set_panel_shown(self, shown: bool) -> None:
        """The axes and colour regions are drawn only while the Lesion panel is on screen
        (they explain its numbers, and would clutter the mask while editing otherwise)."""
        self.panel_shown = bool(shown)
        self._show_layers()

    def _show_layers(self) -> None:
        self.overlays.set_visible("lesion_axes",
                                  self.panel_shown and self.panel.axes_check.isChecked())
        self.overlays.set_visible("lesion_colors",
                                  self.panel_shown and self.panel.colors_check.isChecked())

    # -- scale -----------------------------------------------------------------------------
    def devices(self) -> list[str]:
        return sorted(set(self.settings.get_list("lesion/devices")) | {self.device})

    @property
    def calibration(self) -> float | None:
        """The current device's calibration in mm per pixel, or ``None``."""
        v = self.settings.get_float(f"lesion/calibration/{self.device}", 0.0)
        return v if v > 0 and math.isfinite(v) else None

    @property
    def image_scale(self) -> float | None:
        """The open image's own scale in mm per pixel (a DICOM file's Pixel Spacing), or
        ``None``."""
        v = self.doc.info.mm_per_px if self.doc.has_image else None
        return v if v is not None and v > 0 and math.isfinite(v) else None

    @property
    def mm_per_px(self) -> float | None:
        """The scale the measurements use: the image's own (DICOM Pixel Spacing), else the
        current device's calibration, else ``None`` (sizes in px)."""
        own = self.image_scale
        return own if own is not None else self.calibration

    @property
    def scale_source(self) -> str | None:
        """Where :attr:`mm_per_px` comes from (the sidecar's ``scale_source``): ``"dicom:"``
        plus the element (PixelSpacing / ImagerPixelSpacing), ``"calibration:<device>"``,
        or ``None``."""
        if self.image_scale is not None:
            return f"dicom:{self.doc.info.spacing_source or 'PixelSpacing'}"
        return f"calibration:{self.device}" if self.calibration is not None else None

    def set_device(self, name: str) -> None:
        name = name.strip() or DEFAULT_DEVICE
        if name == self.device:
            return
        self.device = name
        self.settings.set("lesion/device", name)
        self.settings.set("lesion/devices", self.devices())
        self._show_scale()
        self.schedule()

    def set_calibration(self, mm_per_px: float | None, how: str = "ruler") -> None:
        """Store (or, with ``None``, forget) the current device's mm per pixel, with the size
        of the image it was measured on and ``how`` it was found (``"ruler"``, ``"typed"``)."""
        self.settings.set(f"lesion/calibration/{self.device}", float(mm_per_px or 0.0))
        self.settings.set(f"lesion/calibration_how/{self.device}", how if mm_per_px else "")
        size = "" if mm_per_px is None or not self.doc.has_image else \
            "{1}x{0}".format(*self.doc.shape)
        self.settings.set(f"lesion/calibration_size/{self.device}", size)
        self.settings.set("lesion/devices", self.devices())
        self._show_scale()
        self.schedule()

    def type_scale(self, mm_per_px: float | None = None) -> bool:
        """Set the current device's scale from a typed mm per pixel (asked for when
        ``None``): the ruler needs a mouse, and a scale known from the device's manual was
        otherwise put in by drawing a line of a made-up length. Returns whether it was set."""
        if mm_per_px is None:
            mm_per_px = ask_number(self.panel, "Scale", f"mm per pixel of {self.device}, at the "
                                   "size of its images opened here:", 0.00001, 10.0,
                                   current=self.calibration)
            if mm_per_px is None:
                return False
        if not (math.isfinite(mm_per_px) and mm_per_px > 0):
            return False
        self.set_calibration(float(mm_per_px), how="typed")
        self.message.emit(f"{self.device}: {self.calibration:.5g} mm per pixel (typed)")
        return True

    def forget_calibration(self) -> None:
        self.set_calibration(None)

    def _show_scale(self) -> None:
        self.panel.set_devices(self.devices(), self.device)
        if self.image_scale is not None:
            self.panel.set_scale(self.image_scale, "from the image's DICOM pixel spacing",
                                 can_forget=self.calibration is not None)
        elif self.calibration is not None:
            self.panel.set_scale(self.calibration, f"calibrated for {self.device}"
                                 + self._size_warning() + self._device_note())
        else:  # a DICOM file's non-square pixels are named (the app measured them with one scale)
            self.panel.set_scale(None, self.doc.info.scale_problem if self.doc.has_image else "",
                                 note=self._device_note().lstrip("; "))

    def _size_warning(self) -> str:
        """Why the calibration may not fit the open image: it was measured on images of
        another size (mm per pixel changes with it: a 256-px export of a 512-px image got
        the 512-px scale, every length halved)."""
        size = str(self.settings.get(f"lesion/calibration_size/{self.device}", "") or "")
        if self.calibration is None or not size or not self.doc.has_image:
            return ""
        h, w = self.doc.shape
        if size == f"{w}x{h}" or _same_resolution(size, w, h):
            return ""
        return (f" on {size.replace('x', '×')} images; this one is {w}×{h}: check the scale "
                "(calibrate on it, or choose its device)")

    def _device_note(self) -> str:
        """A saved label measured with another device's calibration (a clinic's second
        dermatoscope) was measured with the one chosen now, silently."""
        if not self.doc.has_image or self.image_scale is not None:
            return ""
        return other_device_note(self.doc.label_meta, self.device)

    def on_ruler(self, line: Line) -> None:
        """A line drawn with the Ruler tool: show its length; it is the calibration line."""
        self.last_line = line
        px = math.dist(*line)
        mm = self.mm_per_px
        self.message.emit(f"Ruler: {px:.1f} px" + (f" = {px * mm:.2f} mm" if mm else
                                                   " (no scale: calibrate to measure in mm)"))
        if self.calibrating:
            self.calibrating = False
            self.calibrate()

    def calibrate(self, length_mm: float | None = None) -> bool:
        """Calibrate the current device from the last ruler line, ``length_mm`` long (asked
        for when ``None``). Without a line (at least 5 px) the Ruler tool is selected and
        the next line drawn finishes the calibration; returns whether it was stored."""
        if self.last_line is None or math.dist(*self.last_line) < 5:
            self.calibrating = self.doc.has_image
            if not self.calibrating:
                self.error.emit("Calibrate", "Open an image that shows the dermatoscope's "
                                             "ruler first.")
                return False
            self.ruler_wanted.emit()
            self.message.emit("Calibrate: drag along the dermatoscope's ruler (at least 5 px); "
                              "its length in mm is asked when you release.")
            return False
        px = math.dist(*self.last_line)
        if length_mm is None:
            length_mm = ask_number(self.panel, "Calibrate", f"Length of the {px:.0f} px line "
                                   "in mm:", 0.01, 1000.0)
            if length_mm is None:
                return False
        self.set_calibration(float(length_mm) / px)
        self.message.emit(f"{self.device}: {self.calibration:.5g} mm per pixel"
                          + ("; this image keeps the scale its DICOM file gives"
                             if self.image_scale is not None else ""))
        return True

    # -- analysis --------------------------------------------------------------------------
    def schedule(self, why: str = "The scale changed") -> None:
        """Recompute after the mask has not changed for :data:`DEBOUNCE_MS`; the numbers
        shown until then are greyed, with ``why`` they are being measured again."""
        self.timer.start()
        if self.analysis is not None:
            self.panel.set_stale(f"{why}: measuring again…")

    def _on_image(self) -> None:
        self.analysis = None
        self.last_line = None
        self.calibrating = False
        self.axes_layer.clear((1, 1))
        self.colors_layer.clear((1, 1))
        self.panel.clear()
        self._show_scale()  # the image may bring its own scale
        self.schedule()

    def _key(self) -> tuple[Any, int, float | None]:
        return self.doc.path, self.doc.mask_version, self.mm_per_px

    def recompute(self) -> None:
        doc = self.doc
        if not doc.has_image or not doc.mask.any():
            self.host.cancel()
            self.analysis = None
            self.axes_layer.clear((1, 1))
            self.colors_layer.clear((1, 1))
            if doc.has_image:
                self.panel.clear()
            return
        self.panel.set_status("Measuring…")
        self._submitted = self._key()
        self.host.submit((doc.image, doc.mask.copy(), self.mm_per_px, self._submitted))

    def _on_result(self, result: Any) -> None:
        key, analysis, axes, colours = result
        if key != self._key():
            return  # an older mask, image or scale; the newer one is scheduled
        self.analysis = analysis
        self.panel.show_analysis(analysis)
        self.axes_layer.set_buffer(axes, self.doc.shape)
        self.colors_layer.set_buffer(colours, self.doc.shape)
        self.updated.emit()

    def _on_failed(self, text: str) -> None:
        self.analysis = None
        self.panel.clear(f"Cannot measure this mask: {text}")

    @property
    def busy(self) -> bool:
        return self.timer.isActive() or self.host.busy

    def current(self) -> Any:
        """The analysis of the current mask: the last result, or, while one is pending, the
        worker's, waited for (under the wait cursor): a save soon after an edit measured the
        mask again on this thread while the worker measured it too (a 24-MP mask froze the
        window for seconds on two cores); computed here only when the worker cannot give it.
        ``None`` without a lesion."""
        from dermview.analysis import analyze_lesion
        from dermview.errors import DermviewError
        from dermview.gui.dialogs import busy_cursor

        if not self.doc.has_image or not self.doc.mask.any():
            return None
        if self.analysis is None or self.busy:
            with busy_cursor():
                if self.timer.isActive() or not self.host.busy:
                    self.timer.stop()
                    self.recompute()  # now, not after the debounce
                key = self._key()
                outcome = self.host.worker.wait(
                    key, lambda: self.host.busy and self._submitted == key)
                if outcome is not None:
                    if outcome[1] is None:
                        return None  # it cannot be measured (the worker says why)
                    self.analysis = outcome[1]
                    return self.analysis
                try:
                    self.analysis = analyze_lesion(self.doc.image, self.doc.mask, self.mm_per_px)
                except DermviewError:
                    return None
        return self.analysis

    def sidecar(self) -> dict[str, Any] | None:
        """The analysis for the sidecar (``lesion`` key), with where the scale came from."""
        a = self.current()
        if a is None:
            return None
        return {**a.to_dict(), "scale_source": self.scale_source}

    # -- report ----------------------------------------------------------------------------
    def add_report_lines(self, provider: Callable[[], list[tuple[str, str]]]) -> None:
        """Add ``provider()``'s (label, value) lines to every case report (e.g. another
        panel's results for the current image and mask)."""
        self._report_lines.append(provider)

    def report_info(self) -> Any:
        from dermview import __version__
        from dermview.exchange.labelset import imported_from_text
        from dermview.labels import utc_now
        from dermview.model.provenance import describe_model
        from dermview.report import ReportInfo

        doc = self.doc
        meta = doc.label_meta or {}
        mark = doc.sidecar_field("model_provenance") or meta.get("model_provenance")
        # a mask drawn after the prediction was undone is no model's (as its sidecar says)
        from_model = doc.model.name and doc.mask_from_model()
        # a label brought from another tool (an expert's mask, no sidecar) was drawn by nobody
        # here: as the Segment panel says, not "manual"
        imported = doc.label_loaded and label_source(doc.label_meta) == "imported"
        model = (describe_model(doc.model.name, doc.model.sha256, mark) if from_model
                 else "no model (a mask brought " + imported_from_text(meta)
                      + (", edited here)" if doc.dirty else ")") if imported
                 else "no model (manual mask)")
        pre = (doc.model.params if from_model and doc.model.params is not None
               else meta.get("preprocess_params"))
        pre_text = _describe_preprocessing(pre)
        verdict = doc.effective_review()
        state = verdict or "not reviewed"
        reviewer = str(meta.get("user") or "")  # who saved the label shown
        if doc.dirty:
            state += " (not saved yet)"  # a new model mask or an edit, since the last save
            reviewer = doc.saver()  # whoever is editing it now
        # a reviewed mask names who gave the verdict, not the last to save it
        reviewer = doc.verdict_by(verdict) or reviewer
        extra = tuple(line for provider in self._report_lines for line in provider())
        return ReportInfo(image_name=doc.path.name if doc.path else "", model=model,
                          preprocessing=pre_text, reviewer=reviewer,
                          review_state=state, comment=comment_text(doc, reviewer), date=utc_now(),
                          label_saved="" if doc.dirty else str(meta.get("modified") or ""),
                          app_version=__version__, extra=extra,
                          scale_source=self.scale_words())

    def scale_words(self) -> str:
        """Where the scale comes from, for the report (as the Scale box says it, with its
        warning when the calibration was made on images of another size); without one, ""
        or the device the saved label was measured with."""
        if self.image_scale is not None:
            return "from the image's DICOM pixel spacing"
        if self.calibration is not None:
            how = self.settings.get(f"lesion/calibration_how/{self.device}", "") or "ruler"
            kind = "typed-in scale" if how == "typed" else "ruler calibration"
            return f"{kind} for {self.device}" + self._size_warning() + self._device_note()
        return self._device_note().lstrip("; ")  # sizes in px: a label measured in mm says so

    def export_report(self, path: str | Path | None = None) -> Path | None:
        """File → Export report…: write the one-page PDF (asks where when ``path`` is None)."""
        from dermview.errors import DermviewError
        from dermview.report import write_report

        analysis = self.current()
        if analysis is None:
            self.error.emit("Export report", "There is no lesion to report on: segment or draw "
                                             "a mask first.")
            return None
        # as Export DICOM SEG does: a mask the reviewer rejected (wrong) is reported on only
        # when asked for (its measurements are the wrong outline's)
        if self.doc.effective_review() == "rejected":
            from dermview.gui import dialogs

            btn = QtWidgets.QMessageBox.StandardButton
            if dialogs.ask(self.panel.window(), "Report on a rejected mask?",
                           f"The mask of {self.doc.path.name} was rejected in the Review panel "
                           "(wrong, to be redone): the report's measurements would be those of "
                           "that outline.\n\nExport the report anyway?",
                           btn.Yes | btn.Cancel, btn.Cancel) != btn.Yes:
                return None
        if path is None:
            start = str(self.doc.path.with_name(f"{self.doc.path.stem}_report.pdf"))
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self.panel, "Export report", start,
                                                            "PDF (*.pdf)")
            if not path:
                return None
        from dermview.gui.dialogs import busy_cursor

        try:
            with busy_cursor():
                out = write_report(path, self.doc.image, self.doc.mask, analysis, self.report_info())
        except DermviewError as exc:
            self.error.emit("Export report", str(exc))
            return None
        self.message.emit(f"Report written to {out}")
        return out

    def shutdown(self) -> None:
        self.timer.stop()
        self.host.shutdown()
