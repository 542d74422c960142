"""A number the user types, in a field that starts empty: a pre-filled value ("1.00" mm for
the ruler line, 0.05 mm per pixel) was taken as a measurement by an Enter pressed at once,
and stored as the dermatoscope's calibration. OK stays off until the field holds a number
in range; a decimal comma is read as a point (a Spanish or German keyboard types "0,02")."""

from __future__ import annotations

import math

from PySide6 import QtWidgets


def parse_number(text: str, minimum: float, maximum: float) -> float | None:
    """``text`` as a number within [``minimum``, ``maximum``], or ``None``."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) and minimum <= value <= maximum else None


def ask_number(parent: QtWidgets.QWidget | None, title: str, label: str, minimum: float,
               maximum: float, current: float | None = None) -> float | None:
    """The number typed (``current``, a value already known, fills the field), or ``None``
    for Cancel / Esc."""
    dlg = QtWidgets.QDialog(parent)
    dlg.setWindowTitle(title)
    edit = QtWidgets.QLineEdit("" if current is None else f"{current:.6g}")
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    lay = QtWidgets.QVBoxLayout(dlg)
    for w in (QtWidgets.QLabel(label), edit, buttons):
        lay.addWidget(w)
    ok = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)

    def check(text: str) -> None:
        ok.setEnabled(parse_number(text, minimum, maximum) is not None)

    edit.textChanged.connect(check)
    check(edit.text())
    edit.selectAll()
    if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    return parse_number(edit.text(), minimum, maximum)
