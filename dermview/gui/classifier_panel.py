"""Diagnosis-support panel: the classifier's three calibrated probabilities as bars, the
heat-map toggle, and the permanent research-use notice. Widgets and signals only."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from dermview.gui.style import FocusParking
from dermview.model.classifier import CLASS_TITLES, shown_probabilities

#: Shown in the panel at all times.
NOTICE = ("Decision support for research use only — not a diagnosis. The probabilities come "
          "from a model trained on ISIC 2017 and PH2 images; see its model card (Help → "
          "About).")
#: (key of Classifier.predict, label) in display order.
ROWS = tuple(CLASS_TITLES.items())
#: Tooltip of each probability row: what the number is, and what it cannot say (the three
#: add up to 1 whatever the lesion is; the rows had no tooltip at all).
ROW_TIP = ("Calibrated probability that the lesion in the mask is {what}, among the only three "
           "kinds the model knows (melanoma, seborrheic keratosis, naevus): the three add up "
           "to 1, so a lesion of another kind (a basal cell carcinoma, a vascular lesion) still "
           "gets three numbers. Temperature-scaled on validation images (1.0 would mean "
           "certain); research use, not a diagnosis.")
#: Two probabilities closer than this are called a near tie under the bars.
CLOSE = 0.10


class ClassifierPanel(QtWidgets.QWidget):
    """Classify button, three probability bars with their values, heat-map check box.

    Signals:
        classify_clicked(): the user asked for a classification of the current mask.
        heatmap_toggled(bool): show / hide the heat map of the predicted class.
        auto_changed(bool): "Classify automatically" was switched on / off.
    """

    classify_clicked = QtCore.Signal()
    heatmap_toggled = QtCore.Signal(bool)
    auto_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None, auto: bool = False) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        self.notice = QtWidgets.QLabel(NOTICE)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel { background: #fff4ce; color: #5c4400; padding: 6px; "
                                  "border: 1px solid #e0c36a; border-radius: 3px; }")
        layout.addWidget(self.notice)
        self.classify_button = QtWidgets.QPushButton("Classify lesion")
        self.classify_button.setToolTip("Melanoma / seborrheic keratosis / naevus probabilities "
                                        "of the lesion in the current mask")
        self.classify_button.clicked.connect(self.classify_clicked)
        self._classify_focus = FocusParking(self.classify_button)
        layout.addWidget(self.classify_button)
        self.auto_check = QtWidgets.QCheckBox("Classify automatically")
        self.auto_check.setToolTip("Classify each image's lesion as soon as it has a mask, and "
                                   "again a moment after each edit (off: only on request)")
        self.auto_check.setChecked(auto)
        self.auto_check.toggled.connect(self.auto_changed)
        layout.addWidget(self.auto_check)
        grid = QtWidgets.QGridLayout()
        self.bars: dict[str, QtWidgets.QProgressBar] = {}
        self.values: dict[str, QtWidgets.QLabel] = {}
        for row, (key, text) in enumerate(ROWS):
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            value = QtWidgets.QLabel("–")
            value.setMinimumWidth(44)
            value.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                               | QtCore.Qt.AlignmentFlag.AlignVCenter)
            label = QtWidgets.QLabel(text)
            for w in (label, bar, value):
                w.setToolTip(ROW_TIP.format(what=f"a {text.lower()}"))
            grid.addWidget(label, row, 0)
            grid.addWidget(bar, row, 1)
            grid.addWidget(value, row, 2)
            self.bars[key], self.values[key] = bar, value
        layout.addLayout(grid)
        self.heat_check = QtWidgets.QCheckBox("Show heat map (Grad-CAM of the top class)")
        self.heat_check.setToolTip(
            "Paint where the model found the evidence for its top class on the lesion crop "
            "(Grad-CAM: red raised that class's score most). Read its brightest regions: blurring "
            "them lowers the score most; its faint spread over the skin says little (how this was "
            "checked: the classifier's model card, Help → About). Not the lesion's outline, not a diagnosis.")
        self.heat_check.setEnabled(False)
        self.heat_check.toggled.connect(self.heatmap_toggled)
        layout.addWidget(self.heat_check)
        self.legend = self._legend()
        self.legend.setVisible(False)
        self.heat_check.toggled.connect(self.legend.setVisible)
        layout.addWidget(self.legend)
        self._top = ""  # the shown result's headline
        self._heat = self._note = ""  # what follows it: the heat map's state, a note
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addStretch(1)

    @staticmethod
    def _legend() -> QtWidgets.QWidget:
        """"low [colour ramp of the overlay] high", with what the colours mean."""
        from PySide6 import QtGui

        from dermview.gui import render

        ramp = np.ascontiguousarray(render.heatmap_legend(160, 12))
        image = QtGui.QImage(ramp.data, ramp.shape[1], ramp.shape[0], 3 * ramp.shape[1],
                             QtGui.QImage.Format.Format_RGB888).copy()
        strip = QtWidgets.QLabel()
        strip.setPixmap(QtGui.QPixmap.fromImage(image))
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QtWidgets.QLabel("low"))
        row.addWidget(strip)
        row.addWidget(QtWidgets.QLabel("high"))
        row.addStretch(1)
        box.setToolTip("How much each region raised the top class's score (Grad-CAM, scaled "
                       "to 0-1 for this image): where the model looked, not a diagnosis")
        return box

    def set_busy(self, busy: bool) -> None:
        self._classify_focus.set_enabled(not busy)
        if busy:
            self.message.setText("Classifying…")

    def show_result(self, probs: dict[str, float], top: str, temperature: float,
                    note: str = "") -> None:
        """Show calibrated probabilities (0-1) and the predicted class name (and ``note``
        under it); the heat map follows (:meth:`show_heat`)."""
        shown = shown_probabilities({key: float(probs[key]) for key, _ in ROWS})
        for key, _ in ROWS:
            self.bars[key].setValue(int(round(1000 * float(probs[key]))))
            self.values[key].setText(shown[key])
        # the bar's own name (the model's class is "nevus", the bar reads "Naevus") and what
        # "calibrated" means, not a bare "T = 1.10"
        key = f"p_{top}"
        label = dict(ROWS).get(key, top.replace("_", " "))
        p_top = f"{shown[key]}; " if key in shown else ""
        self._top = (f"Highest: {label} ({p_top}calibrated by temperature scaling, "
                     f"T = {temperature:.2f})") + self._runner_up(probs, key, shown)
        self._heat, self._note = "; heat map: computing…", note
        self.heat_check.setEnabled(False)
        self._show_top()

    @staticmethod
    def _runner_up(probs: dict, top_key: str, shown: dict[str, str]) -> str:
        """A class within :data:`CLOSE` of the highest is named beside it ("Highest:
        Seborrheic keratosis (0.50 …)" read as an answer, with Naevus at 0.49)."""
        if top_key not in probs:
            return ""
        others = [(float(probs[k]), title, k) for k, title in ROWS if k != top_key and k in probs]
        if not others:
            return ""
        p, title, key = max(others)
        if float(probs[top_key]) - p >= CLOSE:
            return ""
        return f"; {title} close behind ({shown[key]}): no clear highest class"

    def show_heat(self, available: bool, why: str = "") -> None:
        """The heat map is ready (the check box is enabled), or not available and ``why``."""
        self.heat_check.setEnabled(available)
        self._heat = "" if available else f"; {why}"
        self._show_top()

    def set_note(self, note: str) -> None:
        """The line under the result ("" = none), e.g. whether the saved label records it."""
        self._note = note
        self._show_top()

    def _show_top(self) -> None:
        self.message.setText(self._top + self._heat + (f"\n{self._note}" if self._note else ""))

    def clear(self, message: str = "") -> None:
        """Forget the shown result (new image, changed mask)."""
        for key, _ in ROWS:
            self.bars[key].setValue(0)
            self.values[key].setText("–")
        self.heat_check.setChecked(False)
        self.heat_check.setEnabled(False)
        self.message.setText(message)
        self._classify_focus.set_enabled(True)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
