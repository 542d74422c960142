"""Keyboard focus one can see and follow (pytest-qt, offscreen).

Trial findings (keyboard-only pass, dark theme): Fusion's one-pixel focus frame was hard to find
on the dark palette, on a slider or a combo box not at all; and Tab into "Mask display" landed
on "Filled" while "Outline" was the one chosen.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from dermview.gui.style import FOCUS_RING  # noqa: E402
from dermview.gui.testing import process  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, data, make_window

Key = QtCore.Qt.Key


def _ring_pixels(widget: QtWidgets.QWidget) -> int:
    """Pixels of a widget's rendering within a small distance of the focus-ring colour."""
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    a = a[:, : 3 * img.width()].reshape(img.height(), img.width(), 3).astype(int)
    ring = np.array([FOCUS_RING.red(), FOCUS_RING.green(), FOCUS_RING.blue()])
    return int((np.abs(a - ring).sum(axis=-1) < 60).sum())


def _focused_window(make_window, data, qtbot):
    win = make_window([data / "IMD009.jpg"])
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.docks["segment"].raise_()
    process(5)
    return win


def _tab(qtbot, backwards: bool = False) -> QtWidgets.QWidget:
    key = Key.Key_Backtab if backwards else Key.Key_Tab
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), key)
    process(2)
    return QtWidgets.QApplication.focusWidget()


def test_keyboard_focus_draws_a_visible_ring_on_every_kind_of_control(make_window, data, qtbot):
    win = _focused_window(make_window, data, qtbot)
    sp = win.seg_panel
    controls = [sp.engine_combo, sp.segment_button, sp.threshold_slider, sp.pin_check]
    before = [_ring_pixels(w) for w in controls]
    sp.device_combo.setFocus()
    qtbot.waitUntil(sp.device_combo.hasFocus)
    for control, unfocused in zip(controls, before, strict=True):
        while QtWidgets.QApplication.focusWidget() is not control:
            assert _tab(qtbot) is not sp.device_combo, f"Tab never reached {control!r}"
        process(2)
        ringed = _ring_pixels(control)
        assert ringed > unfocused + 2 * control.height(), f"no visible focus ring on {control!r}"


def test_tab_enters_mask_display_at_the_chosen_style(make_window, data, qtbot):
    win = _focused_window(make_window, data, qtbot)
    sp = win.seg_panel
    sp.outline_radio.setChecked(True)
    sp.opacity_slider.setFocus()
    qtbot.waitUntil(sp.opacity_slider.hasFocus)
    assert _tab(qtbot) is sp.outline_radio  # not "Filled", which is not chosen
    qtbot.keyClick(sp.outline_radio, Key.Key_Left)  # the arrow keys still choose within it
    assert sp.filled_radio.isChecked() and not win.overlays.outline
    assert _tab(qtbot) is not sp.outline_radio  # one tab stop for the group
    assert _tab(qtbot, backwards=True) is sp.filled_radio  # back in at the one now chosen


def test_tab_enters_the_review_verdicts_at_the_current_one(make_window, data, qtbot):
    win = make_window([data / "IMD009.jpg"])
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.docks["review"].raise_()
    panel = win.review_panel
    panel.radios["corrected"].setChecked(True)
    panel.reviewer_edit.setFocus()
    qtbot.waitUntil(panel.reviewer_edit.hasFocus)
    assert _tab(qtbot) is panel.radios["corrected"]
