"""Preprocessing controls: frame and hair removal settings with a live result line.

Edits :class:`~dermview.preprocess.params.PreprocessParams` only; emits ``params_changed``
for every change (the preview controller runs the preview in a worker). Shows the hair count
N, the repair mode and the time of the latest preview, and whether the settings are the
model's own preprocessing: the model is given its trained preprocessing unless "Use these
settings for segmentation" is ticked; otherwise every new image starts from the model's.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from dermview.errors import ParameterError
from dermview.preprocess.params import SE_SHAPES, PreprocessParams

#: The form's name of each :class:`PreprocessParams` field (the note about the model's settings).
_LABELS = {"remove_frame": "Remove dark frame", "frame_threshold": "Frame threshold",
           "remove_hair": "Remove hair", "hair_threshold": "Hair threshold T",
           "hair_sensitivity": "Hair sensitivity", "se_shape": "Element B shape",
           "se_size": "Element B size"}


def _shown(key: str, value: object) -> str:
    """``value`` of the setting ``key`` as the form shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if key == "hair_sensitivity" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return f"{value} px" if key == "se_size" else str(value)


class PreprocessPanel(QtWidgets.QWidget):
    """Form for :class:`PreprocessParams`.

    Signals:
        params_changed(PreprocessParams): the user changed a setting.
        show_frame_changed(bool), show_hair_changed(bool): overlay toggles.
    """

    params_changed = QtCore.Signal(object)
    show_frame_changed = QtCore.Signal(bool)
    show_hair_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        form = QtWidgets.QFormLayout(self)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.frame_check = QtWidgets.QCheckBox("Remove dark frame")
        self.frame_check.setToolTip("Detect the dermoscope's dark frame/vignette and fill it")
        form.addRow(self.frame_check)
        self.frame_spin = QtWidgets.QSpinBox()
        self.frame_spin.setRange(0, 255)
        self.frame_spin.setToolTip("HSL lightness (0-255) below which border-connected pixels "
                                   "count as frame")
        form.addRow("Frame threshold", self.frame_spin)

        self.hair_check = QtWidgets.QCheckBox("Remove hair")
        self.hair_check.setToolTip("Detect hair and repair the pixels under it")
        form.addRow(self.hair_check)

        t_row = QtWidgets.QHBoxLayout()
        self.t_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.t_slider.setRange(0, 200)
        self.t_spin = QtWidgets.QSpinBox()
        self.t_spin.setRange(0, 10_000)
        self.t_slider.setToolTip("T: more than T hairs → dense hair → PDE inpainting; "
                                 "otherwise bilinear repair")
        self.t_spin.setToolTip(self.t_slider.toolTip())
        t_row.addWidget(self.t_slider, 1)
        t_row.addWidget(self.t_spin)
        form.addRow("Hair threshold T", t_row)

        s_row = QtWidgets.QHBoxLayout()
        self.sens_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.sens_slider.setRange(0, 100)
        self.sens_spin = QtWidgets.QDoubleSpinBox()
        self.sens_spin.setRange(0.0, 1.0)
        self.sens_spin.setSingleStep(0.05)
        self.sens_spin.setDecimals(2)
        self.sens_slider.setToolTip("How faint and thin a hair may be and still be found "
                                    "(0 = bold hair only; higher finds fainter, thinner hair, "
                                    "and above 0.5 shorter faint hairs too). "
                                    "Separate from T, which only chooses the repair")
        self.sens_spin.setToolTip(self.sens_slider.toolTip())
        s_row.addWidget(self.sens_slider, 1)
        s_row.addWidget(self.sens_spin)
        form.addRow("Hair sensitivity", s_row)

        self.se_shape = QtWidgets.QComboBox()
        self.se_shape.addItems(list(SE_SHAPES))
        self.se_shape.setToolTip("B, the shape that fills in thin dark lines to find hair (the "
                                 "structuring element of a morphological closing): ellipse "
                                 "(default), rect, cross, or lines (8 oriented lines)")
        form.addRow("Element B shape", self.se_shape)
        self.se_size = QtWidgets.QSpinBox()
        self.se_size.setRange(3, 31)
        self.se_size.setSingleStep(2)
        self.se_size.setSuffix(" px")
        self.se_size.setToolTip("Size of B in pixels of the image scaled to 512 px (odd, 3-31; "
                                "default 9): hair up to about this wide is found. Larger finds "
                                "thicker hair and repairs a wider band, but takes more lesion "
                                "texture (pigment network) with it")
        form.addRow("Element B size", self.se_size)

        overlay_row = QtWidgets.QHBoxLayout()
        self.show_frame = QtWidgets.QCheckBox("Show frame")
        self.show_hair = QtWidgets.QCheckBox("Show hair")
        self.show_frame.setToolTip("Overlay the detected frame (red) on the images")
        self.show_hair.setToolTip("Overlay the detected hair (green) on the images (where it was, on the preprocessed one)")
        overlay_row.addWidget(self.show_frame)
        overlay_row.addWidget(self.show_hair)
        form.addRow(overlay_row)

        self.use_check = QtWidgets.QCheckBox("Use these settings for segmentation")
        self.use_check.setToolTip("Off: the model gets the preprocessing it was trained with and "
                                  "each image starts from it; these settings only change the "
                                  "preview. On: segment with these settings, for every image.")
        form.addRow(self.use_check)
        self.model_note = QtWidgets.QLabel("")
        self.model_note.setWordWrap(True)
        self.model_note.setObjectName("modelNote")
        form.addRow(self.model_note)
        self.reset_button = QtWidgets.QPushButton("Reset to the model's")
        form.addRow(self.reset_button)
        self.result_label = QtWidgets.QLabel("No preview yet")
        self.result_label.setWordWrap(True)
        self.result_label.setObjectName("previewResult")
        form.addRow(self.result_label)

        self.model_params: PreprocessParams | None = None
        self.set_params(PreprocessParams())
        self.use_check.toggled.connect(lambda _v: self._show_note())
        for sig in (self.frame_check.toggled, self.hair_check.toggled,
                    self.frame_spin.valueChanged, self.t_spin.valueChanged, self.sens_spin.valueChanged,
                    self.se_shape.currentIndexChanged, self.se_size.valueChanged):
            sig.connect(self._changed)
        self.t_slider.valueChanged.connect(self._slider_moved)
        self.sens_slider.valueChanged.connect(self._sens_slider_moved)
        self.reset_button.clicked.connect(self.reset)
        self.show_frame.toggled.connect(self.show_frame_changed)
        self.show_hair.toggled.connect(self.show_hair_changed)

    # -- params -------------------------------------------------------------------------------
    def params(self) -> PreprocessParams:
        """The parameters shown (always valid: the widgets' ranges enforce them)."""
        size = self.se_size.value()
        if size % 2 == 0:
            size += 1
        return PreprocessParams(
            remove_frame=self.frame_check.isChecked(),
            frame_threshold=self.frame_spin.value(),
            remove_hair=self.hair_check.isChecked(),
            hair_threshold=self.t_spin.value(),
            se_shape=self.se_shape.currentText(),
            se_size=min(size, 31),
            hair_sensitivity=round(self.sens_spin.value(), 2),
        )

    def set_params(self, params: PreprocessParams) -> None:
        """Show ``params`` without emitting ``params_changed``."""
        self._updating = True
        try:
            self.frame_check.setChecked(params.remove_frame)
            self.frame_spin.setValue(params.frame_threshold)
            self.hair_check.setChecked(params.remove_hair)
            self.t_spin.setValue(params.hair_threshold)
            self.t_slider.setValue(min(params.hair_threshold, self.t_slider.maximum()))
            self.sens_spin.setValue(params.hair_sensitivity)
            self.sens_slider.setValue(round(100 * params.hair_sensitivity))
            self.se_shape.setCurrentText(params.se_shape)
            self.se_size.setValue(params.se_size)
        finally:
            self._updating = False
        self._sync_enabled()
        self._show_note()

    def reset(self) -> None:
        """Back to the model's preprocessing (emits ``params_changed``)."""
        self.set_params(self.model_params or PreprocessParams())
        self.params_changed.emit(self.params())

    def set_model_params(self, params: PreprocessParams | None) -> None:
        """The preprocessing the model was trained with (None: raw images); shows it."""
        self.model_params = params
        self.set_params(params or PreprocessParams())

    def model_changed(self, params: PreprocessParams | None) -> None:
        """Another model's preprocessing is the model's from now on: shown, unless "Use these
        settings for segmentation" keeps the user's (then only the note changes)."""
        self.model_params = params
        if not self.use_check.isChecked():
            self.set_params(params or PreprocessParams())
        self._show_note()

    def for_model(self) -> PreprocessParams | None:
        """What segmentation uses: these settings when "use" is ticked, else the model's."""
        return self.params() if self.use_check.isChecked() else self.model_params

    def new_image(self) -> None:
        """A new image opened: start from the model's preprocessing unless "use" is ticked."""
        if not self.use_check.isChecked():
            self.set_params(self.model_params or PreprocessParams())

    def differences(self) -> list[str]:
        """``"Label value (model's value)"`` for every setting that differs from the model's,
        named as the form names it (the note said ``hair_sensitivity 0.8 (model 0.5)``)."""
        model = (self.model_params or PreprocessParams()).to_dict()
        mine = self.params().to_dict()
        if self.model_params is None:
            model = {**model, "remove_frame": False, "remove_hair": False}
        return [f"{_LABELS.get(k, k)} {_shown(k, mine[k])} (model's {_shown(k, model.get(k))})"
                for k in mine if mine[k] != model.get(k)]

    def _show_note(self) -> None:
        diff = self.differences()
        if self.use_check.isChecked() and diff:
            text = "<b>Segmentation uses these settings</b>, not the model's: " + ", ".join(diff)
        elif diff:
            text = ("Preview only: differs from the model's preprocessing (" + ", ".join(diff) +
                    "); segmentation uses the model's")
        else:
            text = "= the model's preprocessing"
        self.model_note.setText(text)

    def _sync_enabled(self) -> None:
        self.frame_spin.setEnabled(self.frame_check.isChecked())
        for w in (self.t_slider, self.t_spin, self.sens_slider, self.sens_spin, self.se_shape, self.se_size):
            w.setEnabled(self.hair_check.isChecked())

    def _slider_moved(self, value: int) -> None:
        if not self._updating:
            self.t_spin.setValue(value)

    def _sens_slider_moved(self, value: int) -> None:
        if not self._updating:
            self.sens_spin.setValue(value / 100)

    def _changed(self, *_args) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            if self.se_size.value() % 2 == 0:
                self.se_size.setValue(self.se_size.value() + 1)
            if self.t_slider.value() != min(self.t_spin.value(), self.t_slider.maximum()):
                self.t_slider.setValue(min(self.t_spin.value(), self.t_slider.maximum()))
            self.sens_slider.setValue(round(100 * self.sens_spin.value()))
        finally:
            self._updating = False
        self._sync_enabled()
        self._show_note()
        try:
            self.params_changed.emit(self.params())
        except ParameterError as exc:  # cannot happen with the widget ranges; be safe
            self.result_label.setText(str(exc))

    # -- result line --------------------------------------------------------------------------
    def show_result(self, hair_count: int, repair_mode: str, seconds: float,
                    scale_note: str = "", hair_searched: bool = True) -> None:
        """The latest result line; ``hair_searched`` False (Remove hair off): no count, which
        read "Hair count N = 0 · repair: none" as if the image had no hair."""
        mode = {"pde": "PDE inpainting", "bilinear": "bilinear", "none": "none"}.get(
            repair_mode, repair_mode)
        found = (f"Hair count N = <b>{hair_count}</b> · repair: <b>{mode}</b>" if hair_searched
                 else "Hair removal <b>off</b>: hair not looked for")
        self.result_label.setText(f"{found} · {seconds * 1000:.0f} ms{scale_note}")

    def show_message(self, text: str) -> None:
        self.result_label.setText(text)
