"""Messages that name a long image file stay readable (trial S14B), driven through the real
window and its real message box (pytest-qt, offscreen)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtWidgets  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"

pytest_plugins = ("_gui",)
#: The real question box (the shared ``boxes`` fixture answers it without showing it).
REAL_QUESTION = QtWidgets.QMessageBox.question


def test_the_unsaved_changes_question_wraps_a_long_image_name(make_window, tmp_path, qtbot,
                                                              monkeypatch):
    """The question "<name> has unsaved changes" cut a long file name off at the box's right
    edge (at 150 %: "…_dermatoscope_B_ve"): a message box wraps at spaces only."""
    from dermview.gui.commands import EditKind, push_mask

    folder = tmp_path / "images"
    folder.mkdir()
    long_name = "IMD002_" + "_".join(["followup_visit_left_shoulder"] * 6) + ".jpg"
    shutil.copy(SAMPLES / "IMD002.jpg", folder / long_name)
    shutil.copy(SAMPLES / "IMD009.jpg", folder / "IMD009.jpg")
    win = make_window([str(folder / long_name)])
    qtbot.waitUntil(lambda: win.doc.has_image, timeout=10000)
    lesion = np.zeros(win.doc.shape, bool)
    lesion[100:200, 100:200] = True
    push_mask(win.doc, lesion, "Draw", EditKind.HAND)  # unsaved: moving on asks
    seen: list[tuple[str, int, int]] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", staticmethod(REAL_QUESTION))

    def answer() -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox):
            QtCore.QTimer.singleShot(50, answer)
            return
        label = box.findChild(QtWidgets.QLabel, "qt_msgbox_label")
        seen.append((label.text(), label.sizeHint().width(), label.width()))
        box.button(QtWidgets.QMessageBox.StandardButton.Discard).click()

    QtCore.QTimer.singleShot(50, answer)
    win.session.open_image(folder / "IMD009.jpg")
    qtbot.waitUntil(lambda: bool(seen), timeout=10000)
    text, needed, width = seen[0]
    assert "unsaved" in text and text.replace("\u200b", "").startswith(long_name)
    assert needed <= width  # the whole text fits: nothing cut off at the right
