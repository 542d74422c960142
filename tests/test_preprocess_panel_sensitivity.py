"""The Preprocessing panel's hair-sensitivity control, driven like a user (pytest-qt, offscreen):
the live preview follows it and the saved sidecar records it."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import drag  # noqa: E402
from PySide6 import QtCore  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window

from dermview.preprocess import PreprocessParams  # noqa: E402


def test_sensitivity_slider_drives_preview_and_sidecar(make_window, data, qtbot):  # noqa: F811 (fixtures)
    win = make_window([data / "IMD009.jpg"])
    panel = win.panel
    assert panel.sens_spin.value() == pytest.approx(PreprocessParams().hair_sensitivity)
    assert win.doc.preview_params.hair_sensitivity == PreprocessParams().hair_sensitivity
    found = {}
    for value in (0, 100):  # the slider, as a user drags it: 0 = bold hair only
        panel.sens_slider.setValue(value)
        assert win.wait_idle(30)
        assert panel.sens_spin.value() == pytest.approx(value / 100)
        assert win.doc.preview_params.hair_sensitivity == pytest.approx(value / 100)
        found[value] = int(win.doc.preview.hair_mask.sum())
    assert found[100] > found[0]  # IMD009's thin hair appears in the preview
    # Hair off disables the control; Reset brings back the default.
    panel.hair_check.setChecked(False)
    assert not panel.sens_slider.isEnabled() and not panel.sens_spin.isEnabled()
    panel.hair_check.setChecked(True)
    panel.sens_spin.setValue(0.8)
    assert panel.sens_slider.value() == 80
    assert win.wait_idle(30)
    # The label's sidecar records the sensitivity used (the model gets the panel's settings
    # only when asked: issue 10, finding 5).
    panel.use_check.setChecked(True)
    win.segmenter.run()
    assert win.wait_idle(60)
    win.set_tool("brush")
    win.edit.set_radius(5)
    drag(qtbot, win.before, [(30.5, 30.5), (60.5, 30.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    meta = json.loads((data / "labels" / "IMD009_segmentation.json").read_text())
    assert meta["preprocess_params"]["hair_sensitivity"] == pytest.approx(0.8)
    panel.reset_button.click()
    assert panel.sens_spin.value() == pytest.approx(PreprocessParams().hair_sensitivity)
