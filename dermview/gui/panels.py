"""Side panels of the main window: segmentation controls and correction tools.

Plain widget containers: they hold the controls; the main window connects them to the
document, the workers and the edit controller.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from dermview.gui.icons import icon
from dermview.gui.settings import Settings


class SegmentPanel(QtWidgets.QWidget):
    """Device, Segment/Cancel, progress, threshold, overlay display options, model line."""

    def __init__(self, settings: Settings, parent: QtWidgets.QWidget | None = None) -> None:
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
        self.engine_combo.setCurrentIndex(
            max(0, self.engine_combo.findData(str(settings.get("engine", "auto") or "auto"))))
        form.addRow("Engine", self.engine_combo)
        row = QtWidgets.QHBoxLayout()
        self.segment_button = QtWidgets.QPushButton(icon("segment"), "Segment")
        self.segment_button.setToolTip("Run the model on this image (Ctrl+R)")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.segment_button, 1)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.seg_progress = QtWidgets.QProgressBar()
        self.seg_progress.setRange(0, 100)
        self.seg_progress.setValue(0)
        self.seg_progress.setFormat("Idle")
        form.addRow(self.seg_progress)

        self.threshold_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(1, 99)
        self.threshold_slider.setValue(50)
        self.threshold_label = QtWidgets.QLabel("0.50")
        trow = QtWidgets.QHBoxLayout()
        trow.addWidget(self.threshold_slider, 1)
        trow.addWidget(self.threshold_label)
        self.threshold_slider.setToolTip("Probability threshold of the lesion mask (replaces "
                                         "the working mask; undoable)")
        form.addRow("Threshold", trow)

        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(settings.get_int("overlay_opacity", 80))
        form.addRow("Overlay opacity", self.opacity_slider)
        mode_row = QtWidgets.QHBoxLayout()
        self.filled_radio = QtWidgets.QRadioButton("Filled")
        self.outline_radio = QtWidgets.QRadioButton("Outline")
        (self.outline_radio if settings.get_bool("outline", False)
         else self.filled_radio).setChecked(True)
        mode_row.addWidget(self.filled_radio)
        mode_row.addWidget(self.outline_radio)
        form.addRow("Mask display", mode_row)
        self.mask_check = QtWidgets.QCheckBox("Mask")
        self.mask_check.setChecked(True)
        self.heat_check = QtWidgets.QCheckBox("Heat map")
        self.heat_check.setToolTip("Probability heat map of the model (Ctrl+H)")
        self.ref_check = QtWidgets.QCheckBox("Reference")
        self.ref_check.setToolTip("Outline of the reference (ground-truth) mask, if any")
        self.ref_check.setChecked(True)
        self.diff_check = QtWidgets.QCheckBox("Differences")
        self.diff_check.setToolTip("Where the mask and the reference disagree: magenta = only "
                                   "in the mask, blue = only in the reference")
        show_row = QtWidgets.QGridLayout()
        for i, w_ in enumerate((self.mask_check, self.heat_check, self.ref_check,
                                self.diff_check)):
            show_row.addWidget(w_, i // 2, i % 2)
        form.addRow("Show", show_row)
        self.auto_check = QtWidgets.QCheckBox("Segment automatically on open")
        self.auto_check.setToolTip("Run the model as soon as an image without a saved label "
                                   "opens")
        self.auto_check.setChecked(settings.get_bool("auto_segment", False))
        form.addRow(self.auto_check)
        self.model_label = QtWidgets.QLabel("No segmentation yet")
        self.model_label.setWordWrap(True)
        form.addRow(self.model_label)


class ToolsPanel(QtWidgets.QWidget):
    """Tool buttons, brush radius and whole-mask operations.

    Signals:
        tool_clicked(name): a tool button was pressed.
    """

    tool_clicked = QtCore.Signal(str)

    def __init__(self, radius: int, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setSpacing(3)
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        self.tool_group = QtWidgets.QButtonGroup(self)
        tools = [("pan", "Pan / zoom"), ("brush", "Brush (add)"), ("eraser", "Eraser"),
                 ("polygon_add", "Polygon add"), ("polygon_subtract", "Polygon subtract"),
                 ("lasso_add", "Lasso add"), ("lasso_subtract", "Lasso subtract")]
        for i, (key, text) in enumerate(tools):
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
        size_row.addWidget(QtWidgets.QLabel("Brush radius"))
        size_row.addWidget(self.radius_spin, 1)
        grid.addLayout(size_row, 2, 0, 1, 4)
        self.op_buttons: dict[str, QtWidgets.QPushButton] = {}
        ops = [("fill_holes", "Fill holes"), ("keep_largest", "Keep largest"),
               ("grow", "Grow 1 px"), ("shrink", "Shrink 1 px"), ("smooth", "Smooth"),
               ("clear", "Clear")]
        for i, (key, text) in enumerate(ops):
            b = QtWidgets.QPushButton(icon(key), text)
            grid.addWidget(b, 3 + i // 2, i % 2 * 2, 1, 2)
            self.op_buttons[key] = b
