"""The image pane draws an RGB image as it is: pyqtgraph got levels (0, 255) for uint8
pixels, which made it rescale every pixel at each render (the same picture, about half a
second of the GUI thread per 24-MP image)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtGui  # noqa: E402

from dermview.gui import render  # noqa: E402
from dermview.gui.image_view import ImagePane  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


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


def test_an_unlabelled_image_opens_without_colouring_its_empty_mask(make_window, data, labelled,
                                                                    monkeypatch):
    coloured = []
    real = render.colourise

    def counted(alpha, colour, out=None):
        if colour == render.LESION:  # the mask layer (not the reference's differences)
            coloured.append(alpha.shape)
        return real(alpha, colour, out)

    monkeypatch.setattr(render, "colourise", counted)
    win = make_window([data / "IMD009.jpg"])
    buf = win.overlays.buffers["mask"]
    assert not win.doc.mask.any() and coloured == []
    assert buf.shape == win.doc.mask.shape and not buf.data.any()  # transparent, full size
    assert win.session.open_image(labelled)  # a label: its mask is coloured as before
    assert coloured == [win.doc.mask.shape]
    np.testing.assert_array_equal(buf.data[..., 3] > 0, win.doc.mask)
