"""The image pane draws an RGB image as it is: pyqtgraph got levels (0, 255) for uint8
pixels, which made it rescale every pixel at each render (the same picture, about half a
second of the GUI thread per 24-MP image)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtGui  # noqa: E402

from dermview.gui.image_view import ImagePane  # noqa: E402


def test_the_pane_passes_uint8_rgb_through_unscaled(qtbot):
    pane = ImagePane("Original")
    qtbot.addWidget(pane)
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    pane.set_image(rgb)
    item = pane.image_item
    assert item.levels is None  # nothing to rescale: pyqtgraph's pass-through path
    item.render()
    shown = item.qimage.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    row = shown.bytesPerLine()
    pixels = np.frombuffer(shown.constBits(), np.uint8).reshape(30, row)[:, :120].reshape(30, 40, 3)
    np.testing.assert_array_equal(pixels, rgb)
