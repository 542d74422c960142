"""The Lesion panel: measurements (mm when the scale is known), A/B/C with what each means,
the colours found, the scale per dermatoscope, and switches for the axes and colour regions.

Widgets and signals only: :class:`dermview.gui.controllers.lesion.LesionController` feeds it
a :class:`~dermview.analysis.LesionAnalysis` and listens to its signals.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from dermview.analysis import COLOR_LABELS, DIAMETER_LIMIT_MM, LesionAnalysis
from dermview.report import COLOR_SWATCHES as SWATCHES
from dermview.report import CUT_BY_EDGE, a_text, d_text

TIPS = {
    "area": "Area: the lesion's pixels in the mask; in mm² (pixels × the scale squared) once "
            "the scale is known.",
    "diameter": "Longest diameter: the largest distance across the lesion (maximum Feret, "
                "caliper, diameter over its pixels' outer corners). The cyan line.",
    "width": "Width across it: the lesion's extent perpendicular to the longest diameter "
             "(the caliper width in that direction).",
    "perimeter": "Perimeter: the length of the lesion's outline, measured along its border "
                 "pixels (a ragged border is longer than a smooth one of the same size).",
    "A": "Asymmetry (PH2 / Stolz scale): 0 = symmetric about both principal axes, 1 = about one, "
         "2 = about none. Each axis is judged on the shape (the share of the lesion its mirror "
         "image does not cover) and on the colours (mean CIELAB ΔE between mirrored points): "
         "asymmetric when shape + a weight × colour exceeds a threshold, both fitted on the PH2 "
         "experts' asymmetry. The yellow lines are the axes.",
    "B": "Border: the number of eighths of the border (0-8) where the pigment stops abruptly "
         "(lightness step across the border within a narrow band). Compactness is P²/(4πA), "
         "1 for a disc; solidity is the area over its convex hull. Not validated: PH2 has no "
         "expert border score to check it against.",
    "C": "Colours present (a per-colour model on the lesion's colours relative to the skin, "
         "fitted on the PH2 experts): white, red, light brown, dark brown, blue-grey, black. "
         "C = how many (1-6). 'Show colour regions' paints them.",
    "D": f"Diameter criterion: longest diameter over {DIAMETER_LIMIT_MM:g} mm. Needs the scale "
         "(a DICOM file's pixel spacing, or calibrate with the ruler); never guessed.",
    "TDS": "Stolz's total dermoscopy score needs D = differential structures, which dermview "
           "does not assess, so it is not given.",
}


#: Why sizes are in pixels when nothing more precise is known.
NO_SCALE = "no scale for this device"
#: Tooltip of a colour found present with no pixel of it on the colour map.
NOT_PAINTED = ("The colour model finds this colour from the lesion's colour statistics as a "
               "whole (against the skin around it); no region of the lesion is clearly enough "
               "of this colour to be painted on the colour map. Check the image.")


class _EnterIsTheFields(QtCore.QObject):
    """Event filter: Enter in the Device box is the box's (it ends the name and switches to
    that device), not the window's Return shortcut (Close polygon), which took it: a new
    dermatoscope typed and Enter changed nothing, the old device's scale still shown."""

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        if ev.type() == QtCore.QEvent.Type.ShortcutOverride and ev.key() in (
                QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter):
            ev.accept()  # the key press then goes to the field
        return False


class LesionPanel(QtWidgets.QWidget):
    """Signals: ``show_axes_changed(bool)``, ``show_colors_changed(bool)``,
    ``device_changed(str)``, ``calibrate_clicked()``, ``type_scale_clicked()``,
    ``clear_calibration_clicked()``,
    ``export_clicked()``."""

    show_axes_changed = QtCore.Signal(bool)
    show_colors_changed = QtCore.Signal(bool)
    device_changed = QtCore.Signal(str)
    calibrate_clicked = QtCore.Signal()
    type_scale_clicked = QtCore.Signal()
    clear_calibration_clicked = QtCore.Signal()
    export_clicked = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._no_scale = NO_SCALE  # why sizes are in pixels (set_scale), for the status line
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self._scale_box())
        self.status = QtWidgets.QLabel("No lesion yet: segment or draw a mask.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        form = QtWidgets.QFormLayout()
        self.values: dict[str, QtWidgets.QLabel] = {}
        for key, text in (("area", "Area"), ("diameter", "Longest diameter"),
                          ("width", "Width across it"), ("perimeter", "Perimeter"),
                          ("D", "D: > 6 mm"), ("A", "A: asymmetry"), ("B", "B: border"),
                          ("C", "C: colours"), ("TDS", "TDS")):
            label = QtWidgets.QLabel(text)
            value = QtWidgets.QLabel("—")
            value.setWordWrap(True)
            value.setObjectName(f"lesion_{key}")
            if key in TIPS:
                label.setToolTip(TIPS[key])
                value.setToolTip(TIPS[key])
            form.addRow(label, value)
            self.values[key] = value
        lay.addLayout(form)
        self.color_rows: list[QtWidgets.QLabel] = []
        grid = QtWidgets.QGridLayout()
        grid.setColumnStretch(1, 1)
        for i, (name, rgb) in enumerate(zip(COLOR_LABELS, SWATCHES, strict=True)):
            swatch = QtWidgets.QLabel()
            pm = QtGui.QPixmap(12, 12)
            pm.fill(QtGui.QColor(*rgb))
            swatch.setPixmap(pm)
            row = QtWidgets.QLabel(f"{name}: —")
            # "dark brown: yes (under 1 % of the lesion)" in bold lost its end at 150 %
            row.setWordWrap(True)
            row.setToolTip(TIPS["C"])
            grid.addWidget(swatch, i, 0)
            grid.addWidget(row, i, 1)
            self.color_rows.append(row)
        lay.addLayout(grid)
        self.axes_check = QtWidgets.QCheckBox("Show axes and diameter")
        self.axes_check.setChecked(True)
        self.axes_check.toggled.connect(self.show_axes_changed)
        self.colors_check = QtWidgets.QCheckBox("Show colour regions")
        self.colors_check.toggled.connect(self.show_colors_changed)
        self.export_button = QtWidgets.QPushButton("Export report…")
        self.export_button.clicked.connect(self.export_clicked)
        for w in (self.axes_check, self.colors_check, self.export_button):
            lay.addWidget(w)
        lay.addStretch(1)

    def _scale_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Scale")
        g = QtWidgets.QGridLayout(box)
        self.device_combo = QtWidgets.QComboBox()
        self.device_combo.setEditable(True)
        self.device_combo.setToolTip("The dermatoscope (each keeps its own calibration)")
        self._enter_filter = _EnterIsTheFields(self)
        for w in (self.device_combo, self.device_combo.lineEdit()):  # the box has the focus
            w.installEventFilter(self._enter_filter)
        self.device_combo.lineEdit().editingFinished.connect(
            lambda: self.device_changed.emit(self.device_combo.currentText().strip()))
        self.device_combo.activated.connect(
            lambda _i: self.device_changed.emit(self.device_combo.currentText().strip()))
        self.scale_label = QtWidgets.QLabel("unknown: sizes in pixels")
        self.scale_label.setWordWrap(True)
        self.calibrate_button = QtWidgets.QPushButton("Calibrate from ruler…")
        self.calibrate_button.setToolTip("Drag along the dermatoscope's ruler (the Ruler tool, "
                                         "Shift+R, is selected for you), then type its length "
                                         "in mm; the last line drawn is used if there is one")
        self.calibrate_button.clicked.connect(self.calibrate_clicked)
        # the ruler needs a mouse; a keyboard user (or one who knows the device's scale) types it
        self.type_button = QtWidgets.QPushButton("Type the scale (mm per pixel)…")
        self.type_button.setToolTip("Type this device's mm per pixel at the open image's size "
                                    "(from its manual, or measured elsewhere)")
        self.type_button.clicked.connect(self.type_scale_clicked)
        self.clear_button = QtWidgets.QPushButton("Forget")
        self.clear_button.setToolTip("Forget this device's calibration")
        self.clear_button.clicked.connect(self.clear_calibration_clicked)
        g.addWidget(QtWidgets.QLabel("Device"), 0, 0)
        g.addWidget(self.device_combo, 0, 1, 1, 2)
        g.addWidget(self.scale_label, 1, 0, 1, 3)
        g.addWidget(self.calibrate_button, 2, 0, 1, 2)
        g.addWidget(self.clear_button, 2, 2)
        g.addWidget(self.type_button, 3, 0, 1, 3)
        return box

    # -- what the controller shows -----------------------------------------------------------
    def set_devices(self, devices: list[str], current: str) -> None:
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        self.device_combo.addItems(devices)
        self.device_combo.setCurrentText(current)
        self.device_combo.blockSignals(False)

    def set_scale(self, mm_per_px: float | None, source: str,
                  can_forget: bool | None = None, note: str = "") -> None:
        """Show the scale in use and where it comes from (without one: why, when ``source``
        says; "" says nothing; ``note``: said in the Scale box only); *Forget* is enabled
        when there is a calibration to forget (``can_forget``; default: when there is a
        scale)."""
        self.scale_label.setText(("unknown: sizes in pixels" + (f" ({source})" if source else "")
                                  + (f" ({note})" if note else ""))
                                 if mm_per_px is None else f"{mm_per_px:.5g} mm/px ({source})")
        # the status line under the numbers gives the same reason (it said "no scale for this
        # device" beside a DICOM file whose non-square pixels were the reason)
        self._no_scale = (source if mm_per_px is None else "") or NO_SCALE
        self.clear_button.setEnabled(mm_per_px is not None if can_forget is None else can_forget)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_stale(self, text: str) -> None:
        """The numbers shown are of the previous mask or scale: grey them and say so until
        :meth:`show_analysis` (they read "Up to date." for the debounce and the measuring
        after an edit, beside the old area)."""
        self._set_values_enabled(False)
        self.set_status(text)

    def _set_values_enabled(self, enabled: bool) -> None:
        for w in (*self.values.values(), *self.color_rows):
            w.setEnabled(enabled)

    def clear(self, text: str = "No lesion yet: segment or draw a mask.") -> None:
        self._set_values_enabled(True)
        for v in self.values.values():
            v.setText("—")
        for row, name in zip(self.color_rows, COLOR_LABELS, strict=True):
            row.setText(f"{name}: —")
            f = row.font()
            f.setBold(False)  # the previous lesion's colours stayed bold beside "—"
            row.setFont(f)
        self.set_status(text)

    def show_analysis(self, a: LesionAnalysis) -> None:
        """Fill the panel from an analysis (formatting only)."""
        s, v = a.size, self.values
        self._set_values_enabled(True)
        if a.mm_per_px is None:
            v["area"].setText(f"{s.area_px} px")
            v["diameter"].setText(f"{s.diameter_px:.0f} px")
            v["width"].setText(f"{s.width_px:.0f} px")
            v["perimeter"].setText(f"{s.perimeter_px:.0f} px")
            v["D"].setText("needs a scale")
        else:
            v["area"].setText(f"{s.area_mm2:.1f} mm²  ({s.area_px} px)")
            # its px beside it, as the area's and the case report's (trial: the report gave
            # "24.34 mm (487 px)" where the panel said only "24.34 mm")
            v["diameter"].setText(f"{s.diameter_mm:.2f} mm  ({s.diameter_px:.0f} px)")
            v["width"].setText(f"{s.width_mm:.2f} mm")
            v["perimeter"].setText(f"{s.perimeter_mm:.1f} mm")
            v["D"].setText(d_text(a))
        v["A"].setText(f"{a.asymmetry.value}  ({a_text(a)})")
        v["B"].setText(f"{a.border.score} / 8  (compactness {a.border.compactness:.2f}, "
                       f"solidity {a.border.solidity:.2f})")
        v["C"].setText(str(a.colors.n_colors))
        # "(D not assessed)" two rows under "D: > 6 mm  yes": Stolz's D is the differential
        # structures, not the diameter of the ABCD rule
        v["TDS"].setText("not given (differential structures not assessed)" if a.tds is None
                         else f"{a.tds:.2f}")
        for row, name, present, share in zip(self.color_rows, COLOR_LABELS, a.colors.present,
                                             a.colors.shares, strict=True):
            # the share of the lesion painted in this colour on the map (absent colours are not
            # painted: a share beside "no" read as a contradiction)
            # (the colour model can find a colour the map names too few pixels after: "yes
            # (0 % of the lesion)" read as a contradiction)
            # (a share just under 1 read "100 %" beside another colour's "under 1 %")
            pct = "over 99" if 0.995 <= share < 1 else f"{100 * share:.0f}"
            row.setText(f"{name}: no" if not present
                        else f"{name}: yes ({pct} % of the lesion)" if share >= 0.01
                        else f"{name}: yes (under 1 % of the lesion)" if share > 0
                        else f"{name}: yes (overall colour; none painted)")
            # "red: yes (not on the colour map)" with no red in view left the clinician
            # asking where the red was (trial finding)
            row.setToolTip(NOT_PAINTED if present and share == 0 else TIPS["C"])
            f = row.font()
            f.setBold(present)
            row.setFont(f)
        status = ("Up to date." if a.mm_per_px is not None
                  else f"Up to date. Sizes in pixels: {self._no_scale}.")
        # a lesion cut by the image's edge measured as if it were whole (IMD058: 36.9 mm,
        # a lower bound, shown as the diameter)
        self.set_status(status + (f" The lesion {CUT_BY_EDGE}." if a.cut_by_edge else ""))
