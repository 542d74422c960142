"""Outline mode and the reference outline stay visible at every zoom (pytest-qt, offscreen).

Trial finding: the outline was a line one image pixel wide in the overlay buffer, so on a
3000-px image seen whole (about a quarter of a screen pixel per image pixel) it all but
vanished, and on light skin a thin yellow line was faint.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtGui  # noqa: E402

from dermview.gui.testing import process  # noqa: E402
from dermview.io import save_image, save_mask  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, make_window

SKIN = (235, 205, 195)  # light skin: where a thin yellow line is faint


def _big_case(folder, shape=(2250, 3000)):
    """A large light-skin image with a dark disc, and the disc as its saved label."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h / 3) ** 2
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = SKIN
    rgb[disc] = (120, 80, 60)
    folder.mkdir()
    save_image(folder / "big.png", rgb)
    (folder / "labels").mkdir()
    save_mask(folder / "labels" / "big_segmentation.png", disc)
    return folder / "big.png", disc


def _yellow(shot: np.ndarray) -> np.ndarray:
    """Pixels of a screenshot (RGB uint8) of the mask colour's hue (255, 214, 0), bright
    enough to see (an antialiased line's edge pixels mix with its dark halo)."""
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    return (r > 150) & (g > 0.6 * r) & (g < 0.95 * r) & (b < 0.35 * r)


def _grab(pane) -> np.ndarray:
    img = pane.viewport().grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : 3 * img.width()].reshape(img.height(), img.width(), 3).copy()


def test_outline_is_a_visible_line_on_a_large_image_seen_whole(make_window, tmp_path, qtbot):
    path, disc = _big_case(tmp_path / "images")
    win = make_window([path])
    assert win.doc.mask.sum() == disc.sum()  # the saved label was opened
    win.seg_panel.outline_radio.setChecked(True)
    pane = win.before if win.before.isVisible() else win.after
    pane.fit()
    process(20)
    shot = _grab(pane)
    # The disc's left and right edges on every screen row through its middle half.
    top = pane.view_to_widget(1500, 2250 / 2 - 2250 / 6)
    bottom = pane.view_to_widget(1500, 2250 / 2 + 2250 / 6)
    rows = range(top.y(), bottom.y())
    yellow = _yellow(shot)
    assert len(rows) > 50
    found = [yellow[r].any() for r in rows]
    assert np.mean(found) > 0.97, "the outline has gaps on screen"
    mid = (top.y() + bottom.y()) // 2
    left = pane.view_to_widget(1500 - 2250 / 3, 2250 / 2).x()
    run = yellow[mid, left - 4: left + 5]
    assert run.sum() >= 2, "the outline is thinner than 2 screen pixels"
    # A dark halo beside it, on the skin side, keeps it visible on light skin.
    dark = shot[mid, left - 6: left + 1].astype(int).sum(axis=1) < sum(SKIN) - 150
    assert dark.any(), "no dark halo next to the outline on light skin"


def test_reference_outline_is_visible_on_a_large_image_seen_whole(make_window, tmp_path, qtbot):
    path, disc = _big_case(tmp_path / "images")
    refs = tmp_path / "refs"
    refs.mkdir()
    save_mask(refs / "big_segmentation.png", disc)
    (tmp_path / "images" / "labels" / "big_segmentation.png").unlink()  # no mask: only the reference
    win = make_window([path])
    win.session.set_reference_dir(refs)
    pane = win.before if win.before.isVisible() else win.after
    pane.fit()
    process(20)
    shot = _grab(pane).astype(int)
    cyan = (shot[..., 0] < 80) & (shot[..., 1] > 150) & (shot[..., 2] > 200)
    top = pane.view_to_widget(1500, 2250 / 2 - 2250 / 6).y()
    bottom = pane.view_to_widget(1500, 2250 / 2 + 2250 / 6).y()
    assert np.mean([cyan[r].any() for r in range(top, bottom)]) > 0.97


def test_an_edit_in_outline_mode_retraces_and_repaints_only_near_it(make_window, tmp_path, qtbot):
    """Tracing and stroking the whole outline of a large mask at every redraw during a stroke
    made brushing in outline mode stutter (p95 25 ms on 4000 x 3000, bench_gui): an edit
    re-traces the outline's tiles it touched and repaints only around itself."""
    from _gui import drag

    from dermview.gui import render

    path, disc = _big_case(tmp_path / "images")
    win = make_window([path])
    win.seg_panel.outline_radio.setChecked(True)
    pane = win.before if win.before.isVisible() else win.after
    pane.fit()
    process(20)
    buf = win.overlays.buffers["mask"]
    before = {key: p for key, (_, p) in buf.outline.items()}
    assert len(before) > 4
    repainted, whole = [], []
    buf.changed_outline.connect(repainted.append)
    buf.changed.connect(whole.append)
    win.set_tool("brush")
    win.edit.set_radius(20)
    drag(qtbot, pane, [(300.5, 300.5), (420.5, 330.5)])  # a blob on the skin, top left
    qtbot.waitUntil(lambda: any(r.contains(QtCore.QPointF(360, 315)) for r in repainted))
    assert not whole, "the whole outline was repainted for a small edit"
    for r in repainted:
        assert r.left() >= 250 and r.top() >= 250 and r.right() <= 470 and r.bottom() <= 380
    traced = render.outline_tiles(win.doc.mask)
    for key, (_, p) in buf.outline.items():
        x, y, _ = traced[key]
        shown = np.array([(p.elementAt(i).x, p.elementAt(i).y) for i in range(p.elementCount())])
        assert np.array_equal(shown, np.column_stack([x, y])), key
        if key != (0, 0):
            assert p is before[key], f"tile {key} far from the edit was re-traced"
    assert (0, 0) in buf.outline and (0, 0) not in before
    # ... and the new blob's outline is on screen
    yellow = _yellow(_grab(pane))
    edge = pane.view_to_widget(360, 315 - 20)
    assert yellow[edge.y() - 3: edge.y() + 4, edge.x() - 3: edge.x() + 4].any()
