"""Side panels of the main window: segmentation controls and correction tools.

Panels own their widgets and expose what the user does as signals; controllers listen to
them and call their ``set_*`` methods back. Nothing here touches the document.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from dermview.gui.icons import icon
from dermview.gui.style import tab_enters_at_checked
from dermview.gui.tooltips import wrapped

#: Overlay layers the Segmentation panel switches on and off.
LAYERS = ("mask", "heat", "reference", "diff")
REFERENCE_TIP = "Outline of the reference (ground-truth) mask (cyan)"
DIFF_TIP = ("Where the mask and the reference disagree: magenta = only in the mask, blue = only "
            "in the reference (D)")
NO_REFERENCE_TIP = ("This image has no reference mask: File → Reference masks folder… chooses "
                    "where <image>_segmentation.png files are found")


class SegmentPanel(QtWidgets.QWidget):
    """Device, Segment/Cancel, progress, threshold, overlay display options, model line.

    Signals:
        segment_clicked(), cancel_clicked(), segment_all_clicked()
        threshold_moved(float): the threshold slider moved (value in [0.01, 0.99]).
        opacity_changed(float): overlay opacity in [0, 1].
        outline_changed(bool): outline (True) or filled mask.
        layers_changed(dict): ``{layer: visible}`` for :data:`LAYERS`.
        auto_changed(bool), device_changed(str), engine_changed(str)
    """

    segment_clicked = QtCore.Signal()
    cancel_clicked = QtCore.Signal()
    segment_all_clicked = QtCore.Signal()
    threshold_moved = QtCore.Signal(float)
    opacity_changed = QtCore.Signal(float)
    outline_changed = QtCore.Signal(bool)
    layers_changed = QtCore.Signal(dict)
    auto_changed = QtCore.Signal(bool)
    device_changed = QtCore.Signal(str)
    engine_changed = QtCore.Signal(str)

    def __init__(self, opacity: int = 80, outline: bool = False, auto: bool = False,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        form = QtWidgets.QFormLayout(self)
        self.device_combo = QtWidgets.QComboBox()
        for text, key in (("Auto", "auto"), ("CPU", "cpu"), ("CUDA (GPU)", "cuda")):
            self.device_combo.addItem(text, key)
        self.device_combo.setToolTip("Compute device for the model")
        form.addRow("Device", self.device_combo)
        self.engine_combo = QtWidgets.QComboBox()
        for text, key in (("Auto", "auto"), ("ONNX Runtime (CPU)", "onnx"), ("PyTorch", "torch")):
            self.engine_combo.addItem(text, key)
        self.engine_combo.setToolTip("Inference engine: Auto = ONNX Runtime on the CPU, "
                                     "PyTorch on the GPU")
        form.addRow("Engine", self.engine_combo)
        row = QtWidgets.QHBoxLayout()
        self.segment_button = QtWidgets.QPushButton(icon("segment"), "Segment")
        self.segment_button.setToolTip("Run the model on this image (Ctrl+R)")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.segment_button, 1)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.segment_all_button = QtWidgets.QPushButton("Segment all unlabelled images…")
        self.segment_all_button.setToolTip(
            "Run the model on every worklist image without a label, in the background; the "
            "masks are saved as unreviewed model masks (Ctrl+Shift+R)")
        self.segment_all_button.clicked.connect(self.segment_all_clicked)
        form.addRow(self.segment_all_button)
        self.seg_progress = QtWidgets.QProgressBar()
        self.seg_progress.setRange(0, 100)
        self._batch_busy = False
        self.set_idle()
        form.addRow(self.seg_progress)

        self.threshold_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(1, 99)
        self.threshold_slider.setValue(50)
        self.threshold_label = QtWidgets.QLabel("0.50")
        self.pin_check = QtWidgets.QCheckBox("Pin")
        self.pin_check.setToolTip("Keep this threshold for every image (otherwise each image "
                                  "starts at the model's threshold)")
        trow = QtWidgets.QHBoxLayout()
        trow.addWidget(self.threshold_slider, 1)
        trow.addWidget(self.threshold_label)
        trow.addWidget(self.pin_check)
        self.threshold_slider.setToolTip("Probability threshold of the lesion mask, applied to "
                                         "the pixels not edited by hand (undoable)")
        form.addRow("Threshold", trow)

        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(opacity)
        form.addRow("Overlay opacity", self.opacity_slider)
        mode_row = QtWidgets.QHBoxLayout()
        self.filled_radio = QtWidgets.QRadioButton("Filled")
        self.outline_radio = QtWidgets.QRadioButton("Outline")
        (self.outline_radio if outline else self.filled_radio).setChecked(True)
        tab_enters_at_checked([self.filled_radio, self.outline_radio])
        mode_row.addWidget(self.filled_radio)
        mode_row.addWidget(self.outline_radio)
        form.addRow("Mask display", mode_row)
        self.mask_check = QtWidgets.QCheckBox("Mask")
        self.heat_check = QtWidgets.QCheckBox("Heat map")
        self.heat_check.setToolTip("The segmentation model's lesion probability as a heat map "
                                   "(Ctrl+H)")
        self.ref_check = QtWidgets.QCheckBox("Reference")
        self.diff_check = QtWidgets.QCheckBox("Differences")
        self.mask_check.setChecked(True)
        self.ref_check.setChecked(True)
        self.set_reference_available(False)
        show_row = QtWidgets.QGridLayout()
        for i, w_ in enumerate(self._layer_checks()):
            show_row.addWidget(w_, i // 2, i % 2)
        form.addRow("Show", show_row)
        self.auto_check = QtWidgets.QCheckBox("Segment automatically on open")
        self.auto_check.setToolTip("Run the model as soon as an image without a saved label "
                                   "opens")
        self.auto_check.setChecked(auto)
        form.addRow(self.auto_check)
        self.model_label = QtWidgets.QLabel("No segmentation yet: Segment (Ctrl+R) outlines "
                                            "the lesion.")
        self.model_label.setWordWrap(True)
        form.addRow(self.model_label)

        self.segment_button.clicked.connect(self.segment_clicked)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.threshold_slider.valueChanged.connect(self._threshold_moved)
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))
        self.outline_radio.toggled.connect(self.outline_changed)
        for check in self._layer_checks():
            check.toggled.connect(lambda _v: self.layers_changed.emit(self.layers()))
        self.auto_check.toggled.connect(self.auto_changed)
        self.device_combo.currentIndexChanged.connect(
            lambda _i: self.device_changed.emit(self.device))
        self.engine_combo.currentIndexChanged.connect(
            lambda _i: self.engine_changed.emit(self.engine))

    def _layer_checks(self) -> tuple[QtWidgets.QCheckBox, ...]:
        return self.mask_check, self.heat_check, self.ref_check, self.diff_check

    # -- state the controllers read -----------------------------------------------------------
    @property
    def device(self) -> str:
        return str(self.device_combo.currentData())

    @property
    def engine(self) -> str:
        return str(self.engine_combo.currentData())

    @property
    def threshold(self) -> float:
        return self.threshold_slider.value() / 100

    def step_threshold(self, steps: int) -> None:
        """Move the threshold slider by ``steps`` × 0.05 (within 0.01-0.99), as a drag would:
        ``threshold_moved`` is emitted."""
        s = self.threshold_slider
        s.setValue(min(s.maximum(), max(s.minimum(), s.value() + 5 * steps)))

    @property
    def outline(self) -> bool:
        return self.outline_radio.isChecked()

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100

    def layers(self) -> dict[str, bool]:
        return {k: c.isChecked() for k, c in zip(LAYERS, self._layer_checks(), strict=True)}

    # -- set by the controllers (no signals) --------------------------------------------------
    def set_device(self, name: str) -> None:
        """Select ``auto``, ``cpu`` or ``cuda`` (unknown: auto)."""
        i = self.device_combo.findData((name or "auto").lower())
        self.device_combo.setCurrentIndex(max(i, 0))

    def set_engine(self, name: str) -> None:
        """Select ``auto``, ``onnx`` or ``torch`` (unknown: auto)."""
        i = self.engine_combo.findData((name or "auto").lower())
        self.engine_combo.setCurrentIndex(max(i, 0))

    def set_cuda(self, ok: bool, reason: str) -> None:
        """Grey out CUDA with the reason when it is not available."""
        item = self.device_combo.model().item(self.device_combo.findData("cuda"))
        item.setEnabled(ok)
        item.setToolTip("" if ok else reason)
        self.device_combo.setToolTip("Compute device for the model" +
                                     ("" if ok else f"\nCUDA unavailable: {reason}"))

    def set_threshold(self, t: float) -> None:
        """Show threshold ``t`` without emitting ``threshold_moved``."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(t * 100))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{t:.2f}")

    def set_reference_available(self, available: bool) -> None:
        """Reference and Differences can be ticked only when the image has a reference mask
        (they kept their state, so they show again with the next image that has one)."""
        for check, tip in ((self.ref_check, REFERENCE_TIP), (self.diff_check, DIFF_TIP)):
            check.setEnabled(available)
            # wrapped here: set after the window's tooltips were wrapped, and "\n" in it
            # kept it from being wrapped (one line of 140 characters)
            check.setToolTip(wrapped(tip) if available
                             else f"{wrapped(tip)}\n\n{wrapped(NO_REFERENCE_TIP)}")

    def set_batch_busy(self, busy: bool) -> None:
        """While "Segment all" runs its button stops it (the status bar shows its progress)."""
        self.segment_all_button.setText("Stop segmenting all (Esc)" if busy else
                                        "Segment all unlabelled images…")
        self._batch_busy = busy
        self.set_idle()

    def set_idle(self) -> None:
        """No segmentation of the open image running: "Idle", or that a batch runs (the bar
        said "Idle" all along one)."""
        self.set_progress(0, "Segmenting all unlabelled images…" if self._batch_busy else "Idle")

    def set_progress(self, percent: int, text: str) -> None:
        self.seg_progress.setValue(max(percent, 0))
        self.seg_progress.setFormat(text)

    def set_busy(self, busy: bool) -> None:
        if not busy and self.cancel_button.hasFocus():
            # Qt hands a disabled button's focus to the next one: "Segment all unlabelled
            # images…", which Space then started for the whole folder
            self.segment_button.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)
        self.cancel_button.setEnabled(busy)

    def toggle_outline(self) -> None:
        (self.filled_radio if self.outline else self.outline_radio).setChecked(True)

    def _threshold_moved(self, value: int) -> None:
        self.threshold_label.setText(f"{value / 100:.2f}")
        self.threshold_moved.emit(value / 100)


class ToolsPanel(QtWidgets.QWidget):
    """Tool buttons, brush radius and whole-mask operations.

    Signals:
        tool_clicked(name): a tool button was pressed.
        op_clicked(name): an operation button (``fill_holes``, ``grow``, ...) was pressed.
        radius_changed(int): the brush radius spin box changed (image pixels).
    """

    tool_clicked = QtCore.Signal(str)
    op_clicked = QtCore.Signal(str)
    radius_changed = QtCore.Signal(int)

    TOOLS = (("pan", "Pan / zoom (H)"), ("brush", "Brush (add) (B)"), ("eraser", "Eraser (E)"),
             ("polygon_add", "Polygon add (P)"), ("polygon_subtract", "Polygon subtract (Shift+P)"),
             ("lasso_add", "Lasso add (L)"), ("lasso_subtract", "Lasso subtract (Shift+L)"),
             # the prompt tools and the ruler were in the toolbar only
             ("refine", "Refine: click lesion, Shift+click not lesion, drag a box (R)"),
             ("grow_seed", "Grow from seed: press, drag for the colour tolerance (W)"),
             ("ruler", "Ruler: measure, calibrate (Shift+R)"))
    OPS = (("fill_holes", "Fill holes"), ("keep_largest", "Keep largest"), ("grow", "Grow 1 px"),
           ("shrink", "Shrink 1 px"), ("smooth", "Smooth"), ("clear", "Clear"))

    def __init__(self, radius: int, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setSpacing(3)
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        self.tool_group = QtWidgets.QButtonGroup(self)
        # the active tool in the highlight colour (Fusion's checked button is a shade darker
        # than the others on the dark theme: which tool was on could not be seen)
        self.setStyleSheet("QToolButton:checked { background-color: palette(highlight); "
                           "border: 1px solid palette(link); border-radius: 3px; }")
        for i, (key, text) in enumerate(self.TOOLS):
            b = QtWidgets.QToolButton()
            b.setIcon(icon(key))
            b.setIconSize(QtCore.QSize(28, 28))
            b.setCheckable(True)
            b.setToolTip(text)
            b.setText(text)
            b.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly)
            self.tool_group.addButton(b)
            grid.addWidget(b, i // 4, i % 4)
            self.tool_buttons[key] = b
            b.clicked.connect(lambda _=False, k=key: self.tool_clicked.emit(k))
        size_row = QtWidgets.QHBoxLayout()
        self.radius_spin = QtWidgets.QSpinBox()
        self.radius_spin.setRange(1, 400)
        self.radius_spin.setValue(radius)
        self.radius_spin.setSuffix(" px")
        self.radius_spin.setToolTip("Brush radius in image pixels ([ and ] change it)")
        self.radius_spin.valueChanged.connect(self.radius_changed)
        size_row.addWidget(QtWidgets.QLabel("Brush radius"))
        size_row.addWidget(self.radius_spin, 1)
        below = -(-len(self.TOOLS) // 4)  # the rows the tool buttons take
        grid.addLayout(size_row, below, 0, 1, 4)
        self.op_buttons: dict[str, QtWidgets.QPushButton] = {}
        for i, (key, text) in enumerate(self.OPS):
            b = QtWidgets.QPushButton(icon(key), text)
            grid.addWidget(b, below + 1 + i // 2, i % 2 * 2, 1, 2)
            self.op_buttons[key] = b
            b.clicked.connect(lambda _=False, k=key: self.op_clicked.emit(k))
        grid.setRowStretch(grid.rowCount(), 1)  # keep the buttons together at the top

    def set_tool(self, name: str) -> None:
        if name in self.tool_buttons:
            self.tool_buttons[name].setChecked(True)

    def set_radius(self, radius: int) -> None:
        self.radius_spin.blockSignals(True)
        self.radius_spin.setValue(radius)
        self.radius_spin.blockSignals(False)

    def set_ops_enabled(self, enabled: bool) -> None:
        for b in self.op_buttons.values():
            b.setEnabled(enabled)
