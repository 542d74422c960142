"""The Lesion panel, its overlays, the ruler and calibration, the sidecar field and File →
Export report…, driven through the real window (pytest-qt, offscreen)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtWidgets  # noqa: E402

from dermview import editing  # noqa: E402
from dermview.gui.controllers import lesion as lesion_controller  # noqa: E402
from dermview.gui.testing import process  # noqa: E402
from dermview.io import load_mask  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
Btn = QtWidgets.QMessageBox.StandardButton


pytest_plugins = ("_gui",)  # the shared ``weights`` and ``make_window`` (boxes is local)


@pytest.fixture
def boxes(monkeypatch):
    shown: list[tuple[str, str]] = []

    def warning(parent, title, text, *a, **k):
        shown.append((title, text))
        return Btn.Ok

    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, staticmethod(warning))
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        staticmethod(lambda *a, **k: Btn.Discard))
    return shown


def wait_analysis(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy, timeout=20000)


def test_panel_shows_measurements_and_axes_of_the_opened_label(make_window, labelled, qtbot):
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    gt = load_mask(SAMPLES / "IMD002_segmentation.png")
    a = win.lesion.analysis
    assert a.size.area_px == int(gt.sum())
    panel = win.lesion_panel
    assert panel.values["area"].text() == f"{int(gt.sum())} px"
    assert panel.values["A"].text().startswith(str(a.asymmetry.value))
    import dataclasses

    for flags, said in [((False, False), "symmetric about both axes"),
                        ((True, False), "asymmetric about the major axis"),
                        ((False, True), "asymmetric about the minor axis"),
                        ((True, True), "asymmetric about both axes")]:
        asym = dataclasses.replace(a.asymmetry, asymmetric=flags)
        panel.show_analysis(dataclasses.replace(a, asymmetry=asym))
        assert f"({said})" in panel.values["A"].text(), flags
    panel.show_analysis(a)
    assert panel.values["C"].text() == str(a.colors.n_colors)
    for row, present, share in zip(panel.color_rows, a.colors.present, a.colors.shares,
                                   strict=True):  # a share only beside a colour on the map
        assert row.text().endswith(f"yes ({100 * share:.0f} % of the lesion)" if present
                                   else ": no"), row.text()
    assert panel.values["D"].text() == "needs a scale"
    assert "pixels" in panel.status.text()
    assert panel.values["A"].toolTip() and panel.values["B"].toolTip()
    # the sizes too: which diameter, which width (the size rows had no tooltip at all)
    for key, words in (("area", "pixels"), ("diameter", "Feret"), ("width", "perpendicular"),
                       ("perimeter", "outline")):
        assert words in panel.values[key].toolTip(), key
    # how A is decided, and that B was never checked against experts (README: not validated)
    assert "threshold" in panel.values["A"].toolTip()
    assert "Not validated" in panel.values["B"].toolTip().replace("\n", " ")
    axes = win.lesion.axes_layer.data
    assert axes[..., 3].any()  # the axes are drawn
    # the yellow major axis passes through the centroid
    r, c = a.size.axes.centroid
    f = axes.shape[0] / gt.shape[0]
    near = axes[round(r * f) - 3: round(r * f) + 4, round(c * f) - 3: round(c * f) + 4, 3]
    assert near.any()
    # drawn only while the Lesion panel is on screen (they would clutter mask editing)
    win.docks["segment"].raise_()
    process(20)
    assert not win.overlays.is_visible("lesion_axes")
    win.docks["lesion"].raise_()
    process(20)
    assert win.overlays.is_visible("lesion_axes")
    assert not win.overlays.is_visible("lesion_colors")
    panel.colors_check.setChecked(True)
    assert win.overlays.is_visible("lesion_colors")
    colours = win.lesion.colors_layer.data
    assert colours[..., 3].any()
    panel.axes_check.setChecked(False)
    assert not win.overlays.is_visible("lesion_axes")
    win.docks["segment"].raise_()
    process(20)
    assert not win.overlays.is_visible("lesion_colors")


def test_mask_edit_is_remeasured_after_a_pause(make_window, labelled, qtbot):
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    before = win.lesion.analysis.size.area_px
    stroke = editing.Stroke(win.doc.mask, 20.0, True)
    win.doc.notify_mask(stroke.add((20.0, 20.0)))  # a blob far from the lesion
    assert win.lesion.busy  # debounced, not yet recomputed
    qtbot.waitUntil(lambda: win.lesion.analysis.size.area_px == int(win.doc.mask.sum())
                    and not win.lesion.busy, timeout=20000)
    assert win.lesion.analysis.size.area_px > before


def test_numbers_of_the_previous_mask_are_greyed_while_measuring_again(make_window, labelled,
                                                                      qtbot):
    """After an edit the old numbers stayed under "Up to date." until the debounce and the
    worker were done (half a second on a 512-px image, seconds on a large one)."""
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    panel = win.lesion_panel
    assert panel.status.text().startswith("Up to date")
    assert panel.values["area"].isEnabled()
    stroke = editing.Stroke(win.doc.mask, 20.0, True)
    win.doc.notify_mask(stroke.add((20.0, 20.0)))
    assert "Up to date" not in panel.status.text()
    assert "measuring again" in panel.status.text()
    assert not panel.values["area"].isEnabled() and not panel.color_rows[0].isEnabled()
    qtbot.waitUntil(lambda: not win.lesion.busy
                    and panel.values["area"].text() == f"{int(win.doc.mask.sum())} px",
                    timeout=20000)
    assert panel.status.text().startswith("Up to date")
    assert panel.values["area"].isEnabled() and panel.color_rows[0].isEnabled()
    win.lesion.type_scale(0.02)  # a new scale: the px numbers are not the mm ones
    assert not panel.values["area"].isEnabled()
    assert "scale changed" in panel.status.text()
    qtbot.waitUntil(lambda: not win.lesion.busy and "mm²" in panel.values["area"].text(),
                    timeout=20000)
    assert panel.values["area"].isEnabled()


def test_ruler_measures_and_calibrates_per_device(make_window, labelled, qtbot, tmp_path):
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.actions["tool_ruler"].trigger()
    assert win.edit.active == "ruler"
    pane = win.before
    vp = pane.viewport()
    p0, p1 = pane.view_to_widget(100.5, 200.5), pane.view_to_widget(300.5, 200.5)
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p0)
    qtbot.mouseMove(vp, p1)
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p1)
    line = win.lesion.last_line
    assert line is not None
    assert math.dist(*line) == pytest.approx(200, abs=3)  # widget rounding
    assert "Ruler:" in win.statusBar().currentMessage()
    assert win.doc.undo_stack.count() == 0  # the ruler never edits the mask
    assert win.lesion.calibrate(length_mm=4.0)
    mm = win.lesion.mm_per_px
    assert mm == pytest.approx(4.0 / math.dist(*line))
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and win.lesion.analysis.mm_per_px == mm
                    and not win.lesion.busy, timeout=20000)
    panel = win.lesion_panel
    a = win.lesion.analysis.size
    # as the case report gives it: mm, and the px it was measured in
    assert panel.values["diameter"].text() == f"{a.diameter_mm:.2f} mm  ({a.diameter_px:.0f} px)"
    assert panel.values["D"].text() in ("yes", "no")
    assert f"{mm:.5g} mm/px" in panel.scale_label.text()
    # another dermatoscope has its own (no) calibration; the first one is kept
    win.lesion.set_device("Heine Delta 30")
    assert win.lesion.mm_per_px is None
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and win.lesion.analysis.mm_per_px is None
                    and not win.lesion.busy, timeout=20000)
    win.lesion.set_device("default dermatoscope")
    assert win.lesion.mm_per_px == pytest.approx(mm)
    # remembered in the settings for the next session
    win2 = make_window()
    assert win2.lesion.mm_per_px == pytest.approx(mm)
    assert set(win2.lesion.devices()) >= {"default dermatoscope", "Heine Delta 30"}


def test_the_ruler_line_is_not_carried_to_the_next_image(make_window, labelled, qtbot):
    """Trial finding: the calibration line drawn on IMD002 stayed drawn (white dashes) on
    IMD003 after PgDown, where it measured nothing; a polygon in progress went along too."""
    other = labelled.parent / "IMD009.jpg"
    shutil.copy(SAMPLES / "IMD009.jpg", other)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.actions["tool_ruler"].trigger()
    vp = win.before.viewport()
    p0, p1 = win.before.view_to_widget(100.5, 200.5), win.before.view_to_widget(300.5, 200.5)
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p0)
    qtbot.mouseMove(vp, p1)
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p1)
    assert not win.before.path_item.path().isEmpty()
    assert win.session.open_image(other)
    qtbot.waitUntil(lambda: win.doc.path == other, timeout=10000)
    assert win.edit.active == "ruler"  # the tool stays, its line goes
    assert all(p.path_item.path().isEmpty() for p in (win.before, win.after))
    win.actions["tool_polygon_add"].trigger()
    for x, y in ((50.5, 50.5), (150.5, 50.5), (150.5, 150.5)):
        qtbot.mouseClick(vp, QtCore.Qt.MouseButton.LeftButton, pos=win.before.view_to_widget(x, y))
    assert win.edit.tool.points
    assert win.session.open_image(labelled)
    qtbot.waitUntil(lambda: win.doc.path == labelled, timeout=10000)
    assert not win.edit.tool.points and win.before.path_item.path().isEmpty()


def test_calibrate_without_a_line_selects_the_ruler_then_asks_the_length(
        make_window, labelled, qtbot, boxes, monkeypatch):
    asked: list[str] = []

    def get_number(parent, title, label, *a, **k):
        asked.append(label)
        return 5.0

    monkeypatch.setattr(lesion_controller, "ask_number", get_number)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    qtbot.mouseClick(win.lesion_panel.calibrate_button, QtCore.Qt.MouseButton.LeftButton)
    assert not boxes and not asked  # no error: the ruler is ready for the calibration line
    assert win.edit.active == "ruler"
    assert "drag along the dermatoscope's ruler" in win.statusBar().currentMessage()
    assert win.lesion.mm_per_px is None
    vp = win.before.viewport()
    p0, p1 = win.before.view_to_widget(50.5, 100.5), win.before.view_to_widget(50.5, 350.5)
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p0)
    qtbot.mouseMove(vp, p1)
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p1)
    assert len(asked) == 1 and "250 px" in asked[0]
    assert win.lesion.mm_per_px == pytest.approx(5.0 / math.dist(*win.lesion.last_line))
    # the next line only measures
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p1)
    qtbot.mouseMove(vp, p0)
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, p0)
    assert len(asked) == 1 and " mm" in win.statusBar().currentMessage()


def test_the_scale_can_be_typed_with_the_keyboard(make_window, labelled, qtbot, monkeypatch):
    """Trial finding (keyboard only): the only way to a scale was dragging the ruler, which
    needs a mouse; a scale known from the dermatoscope's manual had to be put in by drawing
    a line of a made-up length. "Type the scale…" asks for the mm per pixel."""
    asked: list[str] = []

    def get_number(parent, title, label, *a, **k):
        asked.append(label)
        return 0.075

    monkeypatch.setattr(lesion_controller, "ask_number", get_number)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    button = win.lesion_panel.type_button
    assert button.focusPolicy() & QtCore.Qt.FocusPolicy.TabFocus  # reached with Tab
    button.setFocus()
    qtbot.keyClick(button, QtCore.Qt.Key.Key_Space)
    assert asked and "mm per pixel of default dermatoscope" in asked[0]
    assert win.lesion.mm_per_px == pytest.approx(0.075)
    assert "0.075 mm/px" in win.lesion_panel.scale_label.text()
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy
                    and win.lesion.analysis.mm_per_px == pytest.approx(0.075), timeout=20000)
    assert win.lesion.report_info().scale_source == "typed-in scale for default dermatoscope"
    win.lesion.last_line = ((100.0, 100.0), (100.0, 300.0))
    assert win.lesion.calibrate(length_mm=4.0)  # a ruler calibration says so again
    assert win.lesion.report_info().scale_source == "ruler calibration for default dermatoscope"


def test_calibrate_without_an_image_explains(make_window, boxes):
    win = make_window()
    assert not win.lesion.calibrate(length_mm=1.0)
    assert boxes and "ruler" in boxes[-1][1].lower()
    assert win.edit.active != "ruler"


def test_save_writes_the_analysis_into_the_sidecar(make_window, labelled, qtbot):
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    stroke = editing.Stroke(win.doc.mask, 5.0, False)
    win.doc.notify_mask(stroke.add((150.0, 250.0)))
    win.doc.undo_stack.push(editing_command(win, stroke))
    win.actions["save"].trigger()
    assert win.wait_idle(30)
    side = json.loads((labelled.parent / "labels" / "IMD002_segmentation.json").read_text())
    assert side["lesion"]["area_px"] == int(win.doc.mask.sum())
    assert side["lesion"]["units"] == "px" and side["lesion"]["area_mm2"] is None
    assert side["lesion"]["asymmetry"] in (0, 1, 2)


def editing_command(win, stroke):
    from dermview.gui.commands import EditKind, MaskCommand

    return MaskCommand(win.doc, stroke.finish(), "Eraser stroke", EditKind.HAND, applied=True)


def test_export_report_writes_a_pdf(make_window, labelled, qtbot, tmp_path, monkeypatch, boxes):
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    out = tmp_path / "case.pdf"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(out), "PDF (*.pdf)")))
    win.actions["export_report"].trigger()
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000
    assert "Report written" in win.statusBar().currentMessage()
    assert not boxes
    assert win.lesion.report_info().review_state == "not reviewed"  # the saved label, as is
    stroke = editing.Stroke(win.doc.mask, 5.0, False)
    win.doc.notify_mask(stroke.add((150.0, 250.0)))
    win.doc.undo_stack.push(editing_command(win, stroke))
    assert win.lesion.report_info().review_state.endswith("(not saved yet)")
    win.doc.undo_stack.undo()  # back to the saved mask: nothing unsaved to report
    assert win.lesion.report_info().review_state == "not reviewed"


def test_export_report_without_a_mask_explains(make_window, tmp_path, boxes):
    folder = tmp_path / "plain"
    folder.mkdir()
    shutil.copy(SAMPLES / "IMD009.jpg", folder / "IMD009.jpg")
    win = make_window([str(folder / "IMD009.jpg")])
    assert not win.doc.mask.any()
    assert win.lesion.export_report(tmp_path / "x.pdf") is None
    assert boxes and "no lesion" in boxes[-1][1].lower()
    assert not np.any(win.lesion.axes_layer.data[..., 3])


@pytest.mark.parametrize("shape", [(192, 256), (1536, 2048)])
def test_axes_lines_are_equally_thin_on_small_and_large_images(shape):
    """The axes buffer has the same long side for any image, so a 256-px image zoomed to fit the
    view does not get lines several screen pixels thick."""
    from dermview.analysis import analyze_lesion
    from dermview.gui.lesion_overlays import AXES_SIDE, axes_overlay

    h, w = shape
    rr, cc = np.mgrid[:h, :w]
    mask = ((rr - h / 2) / (0.3 * h)) ** 2 + ((cc - w / 2) / (0.4 * w)) ** 2 <= 1
    a = analyze_lesion(np.full((h, w, 3), 180, np.uint8), mask)
    buf = axes_overlay(shape, a)
    assert max(buf.shape[:2]) == AXES_SIDE
    # the major axis is horizontal here: the drawn band at the centre column is a few rows high
    band = np.flatnonzero(buf[:, buf.shape[1] // 2 + 5, 3] > 127)
    assert 1 <= band.size <= 8, band.size


def test_calibration_instructions_fit_the_status_bar_of_a_small_window(
        make_window, labelled, qtbot):
    """Trial finding: at 150 % (a 1600×1000 screen is 1066×666) the status bar's fields
    (pixel readout, Dice against the reference, labels folder) left the calibration
    instructions "Calibrate: drag a" and nothing more; they step aside while a message shows,
    and come back after it."""
    shutil.copy(SAMPLES / "IMD002_segmentation.png", labelled.parent)  # a reference: Dice shown
    win = make_window([str(labelled)])
    win.resize(1066, 666)
    win.show()
    qtbot.waitExposed(win)
    wait_analysis(qtbot, win)
    bar = win.status
    assert "Dice" in bar.metric_label.text() and bar.labels_label.text()
    qtbot.mouseClick(win.lesion_panel.calibrate_button, QtCore.Qt.MouseButton.LeftButton)
    process(10)
    text = bar.currentMessage()
    assert text.startswith("Calibrate: drag along the dermatoscope's ruler")
    shown = [w for w in (bar.pos_label, bar.metric_label, bar.labels_label) if w.isVisible()]
    room = min((w.x() for w in shown), default=bar.width())
    assert bar.fontMetrics().horizontalAdvance(text) <= room
    bar.clearMessage()
    process(5)
    assert bar.metric_label.isVisible() and bar.labels_label.isVisible()


def test_export_report_sits_with_the_other_exports_in_the_file_menu(make_window):
    """Trial finding: File → Export report… came after the worklist moves (Save and next),
    away from Export DICOM SEG / COCO / labelme."""
    win = make_window()
    file_menu = next(m for t, m in win.menus if t == "File")
    entries = [a for a in file_menu.actions() if not a.isSeparator()]
    i = entries.index(win.actions["export_labelme_poly"])
    assert entries[i + 1] is win.actions["export_report"]
    assert entries.index(win.actions["export_report"]) < entries.index(win.actions["prev"])


def _dicom_case(folder: Path, spacing: tuple[float, float]) -> Path:
    """``folder`` with ``case.dcm`` (IMD002 with Pixel Spacing ``spacing``, mm) and its label."""
    from _dicom import dicom_bytes

    from dermview.io import load_image

    (folder / "labels").mkdir(parents=True)
    rgb = load_image(SAMPLES / "IMD002.jpg")
    (folder / "case.dcm").write_bytes(dicom_bytes(rgb, "explicit", pixel_spacing=spacing))
    shutil.copy(SAMPLES / "IMD002_segmentation.png", folder / "labels" / "case_segmentation.png")
    return folder


def test_a_dicom_image_is_measured_with_its_own_pixel_spacing(make_window, tmp_path, qtbot):
    """Trial finding: a dermoscopy DICOM file stating Pixel Spacing was measured in pixels
    ("unknown: sizes in pixels") until the dermatoscope was calibrated by hand; its scale
    now comes from the file (and wins over the device's calibration), JPEGs keep using the
    calibration, and the sidecar says where the scale came from."""
    folder = _dicom_case(tmp_path / "mixed", (0.05, 0.05))
    win = make_window([str(folder / "case.dcm")])
    wait_analysis(qtbot, win)
    panel = win.lesion_panel
    assert win.lesion.mm_per_px == pytest.approx(0.05)
    assert "0.05 mm/px" in panel.scale_label.text()
    assert "DICOM" in panel.scale_label.text()
    assert win.lesion.analysis.mm_per_px == pytest.approx(0.05)
    assert " mm  (" in panel.values["diameter"].text()
    assert not panel.clear_button.isEnabled()  # no calibration to forget
    # a device calibration does not override the file's own spacing
    win.lesion.set_calibration(0.01)
    assert win.lesion.mm_per_px == pytest.approx(0.05)
    assert panel.clear_button.isEnabled()
    win.actions["save"].trigger()
    side = json.loads((folder / "labels" / "case_segmentation.json").read_text())
    assert side["lesion"]["scale_source"] == "dicom:PixelSpacing"
    assert side["lesion"]["mm_per_px"] == pytest.approx(0.05)
    # a JPEG (no spacing in the file) uses the device's calibration
    shutil.copy(SAMPLES / "IMD002.jpg", folder / "IMD002.jpg")
    shutil.copy(SAMPLES / "IMD002_segmentation.png", folder / "labels" / "IMD002_segmentation.png")
    win.session.open_paths([folder / "IMD002.jpg"])
    assert win.wait_idle(30)
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy
                    and win.lesion.analysis.mm_per_px == pytest.approx(0.01), timeout=20000)
    assert "calibrated for default dermatoscope" in panel.scale_label.text()


def test_a_dicom_image_of_non_square_pixels_is_measured_in_pixels_and_says_why(
        make_window, tmp_path, qtbot):
    """Trial finding: Pixel Spacing 0.02 × 0.04 mm was taken as one scale (their geometric
    mean): the longest diameter came out 21 % short, without a word."""
    folder = _dicom_case(tmp_path / "nonsquare", (0.02, 0.04))
    win = make_window([str(folder / "case.dcm")])
    wait_analysis(qtbot, win)
    panel = win.lesion_panel
    assert win.lesion.mm_per_px is None and win.lesion.analysis.mm_per_px is None
    assert panel.values["diameter"].text().endswith(" px")
    assert "sizes in pixels (its DICOM pixels are not square (0.02 mm high × 0.04 mm wide)" \
        in panel.scale_label.text()
    # the status line under the numbers gives the same reason, not "no scale for this device"
    assert "Sizes in pixels: its DICOM pixels are not square" in panel.status.text(), panel.status.text()
    assert "no scale for this device" not in panel.status.text()


def test_long_tooltips_wrap_instead_of_spanning_the_screen(make_window):
    """Trial finding: the explanation of A (257 characters) was one tooltip line 1360 px wide
    on a 1600-px screen; every long prose tooltip of the window is now broken into lines of
    at most 72 characters, with its words unchanged."""
    from dermview.gui.lesion_panel import TIPS

    win = make_window()
    tip = win.lesion_panel.values["A"].toolTip()
    lines = tip.split("\n")
    assert len(lines) >= 3 and max(map(len, lines)) <= 72
    assert " ".join(lines) == TIPS["A"]
    too_long = [w.toolTip()[:40] for w in win.findChildren(QtWidgets.QWidget)
                if len(w.toolTip().split()) >= 9
                and max(map(len, w.toolTip().split("\n"))) > 72]
    assert too_long == []
    # the status bar's labels folder (a path: nowhere to break) keeps its one line
    assert "\n" not in win.status.labels_label.toolTip()


def test_no_colour_stays_bold_on_the_next_image_without_a_mask(make_window, labelled, qtbot):
    """Trial finding: after a lesion with light and dark brown, the next (unsegmented) image
    showed "light brown: —" and "dark brown: —" still in bold."""
    shutil.copy(SAMPLES / "IMD009.jpg", labelled.parent / "IMD009.jpg")
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    panel = win.lesion_panel
    assert any(row.font().bold() for row in panel.color_rows)
    assert win.session.open_image(labelled.parent / "IMD009.jpg")
    process(20)
    assert all(row.text().endswith(": —") for row in panel.color_rows)
    assert not any(row.font().bold() for row in panel.color_rows)


def test_a_colour_found_with_no_share_on_the_map_does_not_read_0_percent(make_window, labelled,
                                                                         qtbot):
    """Trial finding: "dark brown: yes (0 % of the lesion)" beside "light brown: yes (100 %)":
    the colour model found dark brown, the colour map named (almost) none of its pixels."""
    import dataclasses

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    a, panel = win.lesion.analysis, win.lesion_panel
    n = len(a.colors.shares)
    shares = (1.0, 0.0, 0.003) + (0.0,) * (n - 3)
    present = (True, True, True) + (False,) * (n - 3)
    colors = dataclasses.replace(a.colors, shares=shares, present=present, n_colors=3)
    panel.show_analysis(dataclasses.replace(a, colors=colors))
    texts = [row.text() for row in panel.color_rows]
    assert texts[0].endswith("yes (100 % of the lesion)")
    assert texts[1].endswith("yes (overall colour; none painted)")
    # where that colour is, then? the tooltip says how it was judged
    assert "colour statistics as a whole" in panel.color_rows[1].toolTip()
    from dermview.gui.lesion_panel import TIPS

    assert panel.color_rows[0].toolTip() == TIPS["C"]
    assert texts[2].endswith("yes (under 1 % of the lesion)")
    assert not any("(0 %" in t for t in texts), texts


def test_long_status_fields_never_widen_the_window(make_window, tmp_path, qtbot):
    """Trial finding: at 150 % (1440×900 is 960×600) a reference folder's "vs reference
    ISIC_0012902_segmentation.png: Dice 0.790 · Jaccard 0.653" beside the pixel readout and
    the labels folder, then the progress of a segmentation, made the window 1640 px wide: past
    the screen's right edge, with the Segment panel cut off. The fields are cut with "…"
    (whole in the tooltip) and the bar gets only the room left."""
    folder = tmp_path / "a_rather_long_folder_name_for_the_worklist_images"
    folder.mkdir()
    stem = "ISIC_0012902_with_a_long_clinical_photo_name"
    shutil.copy(SAMPLES / "IMD002.jpg", folder / f"{stem}.jpg")
    refs = tmp_path / "refs"
    refs.mkdir()
    shutil.copy(SAMPLES / "IMD002_segmentation.png", refs / f"{stem}_segmentation.png")
    win = make_window(size=(960, 600))
    win.show()
    qtbot.waitExposed(win)
    win.session.open_paths([folder / f"{stem}.jpg"])
    assert win.wait_idle(30)
    win.session.set_reference_dir(refs)
    win.status.show_pixel(win.doc, 10, 10)
    process(10)
    assert win.width() == 960
    win.actions["segment"].trigger()
    win.status._progress_text(f"Segmenting {stem}.jpg (68 of 600, about 1 min left)")
    process(10)
    assert win.width() == 960, "the progress bar widened the window"
    assert win.wait_idle(60)
    process(300)
    bar = win.status
    assert "Dice" in bar.metric_label.text()
    assert bar.metric_label.toolTip() == bar.metric_label.text()  # whole, though cut
    assert win.width() == 960 and bar.minimumSizeHint().width() <= 960


def test_colour_rows_wrap_instead_of_losing_their_end(make_window, labelled, qtbot):
    """Trial finding: at 150 % the Lesion panel showed "dark brown: yes (under 1 % of the
    lesion" in bold, its end cut by the dock's edge; a colour row wraps onto a second line."""
    win = make_window([str(labelled)], size=(960, 640))
    win.show()
    qtbot.waitExposed(win)
    dock = win.docks["lesion"]
    dock.show()
    dock.raise_()
    win.resizeDocks([dock], [250], QtCore.Qt.Orientation.Horizontal)
    wait_analysis(qtbot, win)
    panel = win.lesion_panel
    row = panel.color_rows[3]
    row.setText("dark brown: yes (under 1 % of the lesion)")
    f = row.font()
    f.setBold(True)
    row.setFont(f)
    process(20)
    need = row.fontMetrics().horizontalAdvance(row.text())
    assert need > row.contentsRect().width(), "the test needs a row narrower than its text"
    assert row.wordWrap() and row.height() >= row.heightForWidth(row.width())


def test_report_names_a_reviewer_only_for_a_reviewed_mask(make_window, labelled, qtbot):
    """Trial finding: the report of a model mask nobody had reviewed (Segment all) read
    "Reviewer: root" above "Review state: not reviewed": root had only run the batch."""
    from dermview.report import provenance_rows

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    rows = dict(provenance_rows(win.lesion.report_info()))
    assert rows["Review state"] == "not reviewed"
    assert "Reviewer" not in rows and rows["Prepared by"]
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)  # accepted and saved
    rows = dict(provenance_rows(win.lesion.report_info()))
    assert rows["Review state"] == "accepted" and rows["Reviewer"]
    assert "Prepared by" not in rows


def test_report_says_when_the_label_was_saved_and_when_it_was_made(make_window, labelled, qtbot):
    """Trial S16A: the report's one "Date" was the moment of the export, read as the review's;
    it now has the label's save time beside the report's own, and no save time for a mask
    edited since."""
    import json

    from dermview.report import provenance_rows

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)  # accepted and saved
    side = json.loads(labelled.parent.joinpath("labels", labelled.stem + "_segmentation.json").read_text())
    info = win.lesion.report_info()
    assert info.label_saved == side["modified"]
    rows = dict(provenance_rows(info))
    assert "Date" not in rows and rows["Report made"] != "—"
    assert rows["Label saved"].startswith(side["modified"][:10])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_G)  # grow by 1 px: an edit, not saved
    assert dict(provenance_rows(win.lesion.report_info()))["Label saved"] == "—"


def test_a_colour_just_under_the_whole_lesion_is_not_shown_as_100_percent(
        make_window, labelled, qtbot):
    """Trial finding: IMD008 showed "light brown: yes (100 % of the lesion)" and "dark brown:
    yes (under 1 % of the lesion)": together over 100 %."""
    import dataclasses

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    a = win.lesion.analysis
    shares = (0.0, 0.0, 0.996, 0.004, 0.0, 0.0)
    colors = dataclasses.replace(a.colors, shares=shares,
                                 present=(False, False, True, True, False, False))
    win.lesion_panel.show_analysis(dataclasses.replace(a, colors=colors))
    rows = [r.text() for r in win.lesion_panel.color_rows]
    assert rows[2] == "light brown: yes (over 99 % of the lesion)"
    assert rows[3] == "dark brown: yes (under 1 % of the lesion)"


def test_report_and_classify_have_menu_entries_and_shortcuts(
        make_window, labelled, qtbot, tmp_path, monkeypatch, boxes):
    """Trial finding: File → Export report… had no shortcut, and Classify lesion was only a
    button on the Diagnosis tab (no menu entry, no key); Ctrl+P writes the report, Ctrl+D
    (Segmentation → Classify lesion) shows the Diagnosis panel and classifies."""
    win = make_window([str(labelled)])
    win.show()
    qtbot.waitExposed(win)
    wait_analysis(qtbot, win)
    out = tmp_path / "case.pdf"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(out), "PDF (*.pdf)")))
    qtbot.keyClick(win, QtCore.Qt.Key.Key_P, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert out.read_bytes().startswith(b"%PDF")
    seg_menu = next(m for t, m in win.menus if t == "Segmentation")
    assert win.actions["classify"] in seg_menu.actions()
    dock = win.docks["classifier"]
    win.docks["review"].raise_()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_D, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert win.classifier.host.busy or win.classifier.result is not None  # classifying
    assert not dock.visibleRegion().isEmpty()
    qtbot.waitUntil(lambda: not win.classifier.host.busy, timeout=60000)


def test_a_calibration_made_on_images_of_another_size_is_flagged(make_window, labelled, qtbot):
    """Trial finding: calibrated on a 512×383 PH2 image, the "default dermatoscope" scale
    (mm per pixel) was used as it is on the worklist's 256-px ISIC images: every length
    halved, D (> 6 mm) answered from it, and nothing said so."""
    from PIL import Image

    small = labelled.parent / "ISIC_small.jpg"
    Image.open(SAMPLES / "IMD009.jpg").resize((256, 192)).save(small)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.lesion.last_line = ((100.0, 100.0), (100.0, 300.0))
    assert win.lesion.calibrate(length_mm=4.0)
    label = win.lesion_panel.scale_label
    assert "check the scale" not in label.text()
    assert win.session.open_image(small)
    process(20)
    assert "on 512×383 images; this one is 256×192: check the scale" in label.text()
    assert win.session.open_image(labelled)
    process(20)
    assert "check the scale" not in label.text() and "mm/px" in label.text()


def test_a_calibration_is_not_flagged_on_images_of_its_device_a_pixel_taller(
        make_window, labelled, qtbot):
    """Trial finding: calibrated on IMD002 (512×383), every other PH2 image of the same
    dermatoscope (512×384, 512×385: the frame cropped a pixel differently) said "check the
    scale (calibrate on it, or choose its device)": a warning on nearly every image, for
    the same mm per pixel."""
    from PIL import Image

    taller = labelled.parent / "IMD_taller.jpg"
    small = labelled.parent / "ISIC_small.jpg"
    img = Image.open(labelled)
    canvas = Image.new("RGB", (512, 385))
    canvas.paste(img, (0, 0))
    canvas.save(taller)
    img.resize((256, 192)).save(small)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.lesion.last_line = ((100.0, 100.0), (100.0, 300.0))
    assert win.lesion.calibrate(length_mm=4.0)
    label = win.lesion_panel.scale_label
    assert win.session.open_image(taller)
    process(20)
    assert "check the scale" not in label.text() and "mm/px" in label.text()
    assert win.session.open_image(small)  # another resolution still is flagged
    process(20)
    assert "check the scale" in label.text()


def test_the_report_says_where_its_scale_came_from(make_window, labelled, qtbot, tmp_path,
                                                   monkeypatch):
    """Trial finding: the report's Scale line read a bare "0.07583 mm/px", though the Scale
    box warned that it was calibrated on images of another size: the reader of the PDF
    could not tell a ruler calibration on this image from one made on other images."""
    from PIL import Image

    import dermview.report as report

    small = labelled.parent / "ISIC_small.jpg"
    Image.open(labelled).resize((256, 192)).save(small)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.lesion.last_line = ((100.0, 100.0), (100.0, 300.0))
    assert win.lesion.calibrate(length_mm=4.0)
    seen: list[list[tuple[str, str]]] = []
    real = report.measurement_rows
    monkeypatch.setattr(report, "measurement_rows",
                        lambda a, source="": seen.append(real(a, source)) or seen[-1])
    qtbot.waitUntil(lambda: win.lesion.analysis is not None
                    and win.lesion.analysis.mm_per_px is not None and not win.lesion.busy,
                    timeout=20000)
    assert win.lesion.export_report(tmp_path / "a.pdf")
    scale = dict(seen[-1])["Scale"]
    assert scale.endswith("mm/px (ruler calibration for default dermatoscope)")
    assert win.session.open_image(small)
    qtbot.waitUntil(lambda: win.doc.path == small, timeout=10000)
    from dermview.gui.commands import EditKind, push_mask

    lesion = np.zeros(win.doc.shape, bool)
    lesion[40:120, 60:160] = True  # a lesion to report on
    push_mask(win.doc, lesion, "Draw", EditKind.HAND)
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy,
                    timeout=20000)
    assert win.lesion.export_report(tmp_path / "b.pdf")
    assert ("(ruler calibration for default dermatoscope on 512×383 images; this one is "
            "256×192: check the scale") in dict(seen[-1])["Scale"]


def test_a_lesion_running_off_the_image_is_said_to_be_at_least_its_size(
        make_window, labelled, qtbot, tmp_path, monkeypatch):
    """Trial finding: IMD058's lesion runs off the image on three sides; the Lesion panel
    and the report gave its longest diameter (36.9 mm) and area as if it were whole, with
    nothing saying they are only lower bounds."""
    import dermview.report as report
    from dermview.gui.commands import EditKind, push_mask

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    status = win.lesion_panel.status
    assert not win.lesion.analysis.cut_by_edge  # the expert's outline lies inside the image
    assert "runs off the image" not in status.text()
    cut = win.doc.mask.copy()
    cut[:, : cut.shape[1] // 2] |= cut.any(axis=1)[:, None]  # out to the left edge
    push_mask(win.doc, cut, "Cut", EditKind.HAND)
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy
                    and win.lesion.analysis.cut_by_edge, timeout=20000)
    assert "The lesion runs off the image: area and diameters are at least these" in status.text()
    seen: list[list[tuple[str, str]]] = []
    real = report.measurement_rows
    monkeypatch.setattr(report, "measurement_rows",
                        lambda a, source="": seen.append(real(a, source)) or seen[-1])
    assert win.lesion.export_report(tmp_path / "cut.pdf")
    assert dict(seen[-1])["Lesion"].startswith("runs off the image")
    assert win.doc.sidecar_field("lesion")["cut_by_edge"] == 1


def test_report_of_a_rejected_mask_is_asked_about(make_window, labelled, qtbot, tmp_path,
                                                  monkeypatch):
    """Trial finding: Export DICOM SEG asks before exporting a rejected mask, but File →
    Export report… wrote the case report of a rejected (wrong) outline, its measurements and
    ABC, without a question."""
    from dermview.gui import dialogs

    asked: list[str] = []
    answer = [Btn.Cancel]
    monkeypatch.setattr(dialogs, "ask", lambda parent, title, text, *a: (
        asked.append(title), answer[0])[1])
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_X)  # rejected and saved
    assert win.doc.review_state == "rejected"
    out = tmp_path / "case.pdf"
    assert win.lesion.export_report(out) is None and not out.exists()
    assert asked == ["Report on a rejected mask?"]
    answer[0] = Btn.Yes
    assert win.lesion.export_report(out) == out and out.exists()


def test_the_report_of_an_imported_mask_does_not_call_it_manual(make_window, labelled, qtbot):
    """Trial finding: PH2 expert masks copied into labels/ (status "imported"; the Segment
    panel: "the saved label (from another tool)") were reported as "no model (manual mask)"."""
    from dermview.report import provenance_rows

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    assert win.worklist.status(0) == "imported"
    rows = dict(provenance_rows(win.lesion.report_info()))
    # named as what it is, beside the "Classifier model" (trial finding: a bare "Model")
    assert rows["Segmentation model"] == "no model (a mask brought from another tool)"
    assert "Model" not in rows
    stroke = editing.Stroke(win.doc.mask, 5.0, False)
    win.doc.notify_mask(stroke.add((150.0, 250.0)))
    win.doc.undo_stack.push(editing_command(win, stroke))
    assert win.lesion.report_info().model == "no model (a mask brought from another tool, edited here)"


@pytest.mark.parametrize("when", ["within the pause", "while the worker measures"])
def test_a_save_soon_after_an_edit_waits_for_the_worker_instead_of_measuring_again(
        make_window, labelled, qtbot, monkeypatch, when):
    """Saving right after an edit measured the mask a second time on the GUI thread, beside
    the worker measuring it too (a 6000×4000 label froze the window 1-3 s on two cores): the
    save now takes the worker's analysis, and the mask is measured once, off the GUI thread."""
    import threading

    import dermview.analysis as analysis

    real, calls = analysis.analyze_lesion, []

    def spy(*a, **k):
        on_gui = threading.current_thread() is threading.main_thread()
        calls.append(on_gui)
        if not on_gui:
            import time

            time.sleep(0.3)  # a large image: the save comes while it measures
        return real(*a, **k)

    monkeypatch.setattr(analysis, "analyze_lesion", spy)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    calls.clear()
    stroke = editing.Stroke(win.doc.mask, 5.0, False)
    win.doc.notify_mask(stroke.add((150.0, 250.0)))
    win.doc.undo_stack.push(editing_command(win, stroke))
    if when == "while the worker measures":
        qtbot.waitUntil(lambda: bool(calls) and not win.lesion.timer.isActive(), timeout=5000)
    assert win.lesion.busy
    win.actions["save"].trigger()
    assert calls == [False]  # measured once, by the worker
    side = json.loads((labelled.parent / "labels" / "IMD002_segmentation.json").read_text())
    assert side["lesion"]["area_px"] == int(win.doc.mask.sum())
    wait_analysis(qtbot, win)
    assert calls == [False] and win.lesion.analysis.size.area_px == int(win.doc.mask.sum())
    assert win.lesion_panel.isEnabled()


def test_alt_7_then_a_accepts_the_mask_instead_of_renaming_the_dermatoscope(
        make_window, labelled, qtbot):
    """Xvfb trial at 150 %: Alt+7 (the Lesion panel, the keyboard in it) put the keyboard in
    the Device box with its name selected; A, to accept the mask, then replaced the name by
    "a" (a new dermatoscope without calibration) and accepted nothing."""
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.show()
    qtbot.waitExposed(win)
    act = win.findChild(type(win.actions["save"]), "action_panel_lesion")
    act.trigger()
    focus = QtWidgets.QApplication.focusWidget()
    assert focus is not None and win.docks["lesion"].isAncestorOf(focus)
    qtbot.keyClick(focus, QtCore.Qt.Key.Key_A)
    focus.clearFocus()  # the Device box, had it the keyboard, takes the name now
    assert win.lesion.device == "default dermatoscope"
    qtbot.waitUntil(lambda: win.doc.effective_review() == "accepted", timeout=10000)
    assert win.lesion_panel.device_combo.currentText() == "default dermatoscope"



def _record_report_text(monkeypatch) -> list[tuple[str, float, str, float, bool]]:
    """What the report draws: (font, size, text, x, right-aligned) of each string."""
    from reportlab.pdfgen.canvas import Canvas

    drawn: list[tuple[str, float, str, float, bool]] = []
    for method, right in (("drawString", False), ("drawRightString", True)):
        original = getattr(Canvas, method)

        def record(self, x, y, text, *a, _original=original, _right=right, **k):
            drawn.append((self._fontname, self._fontsize, str(text), float(x), _right))
            return _original(self, x, y, text, *a, **k)

        monkeypatch.setattr(Canvas, method, record)
    return drawn


def test_the_report_prints_a_non_ascii_reviewer(make_window, labelled, qtbot, tmp_path,
                                                monkeypatch, boxes):
    """Trial S14B: "Dr. Łucja Müller-Ørsted" came out as "Dr. ■ucja Müller-Ørsted" (Helvetica
    encodes Latin-1 only)."""
    from reportlab.pdfbase import pdfmetrics

    drawn = _record_report_text(monkeypatch)
    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    win.review_panel.reviewer_edit.setText("Dr. Łucja Müller-Ørsted")
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)  # accepted and saved: the reviewer is named
    out = win.lesion.export_report(tmp_path / "case.pdf")
    assert out is not None and out.read_bytes().startswith(b"%PDF")
    assert any("Dr. Łucja Müller-Ørsted" in t for _, _, t, _, _ in drawn)
    for font, _size, text, _x, _right in drawn:  # every letter has a glyph in its font
        glyphs = getattr(getattr(pdfmetrics.getFont(font), "face", None), "charToGlyph", None)
        if glyphs is None:  # a standard font: only what WinAnsi encodes
            assert all(ch == "?" or ch.encode("cp1252", "replace") != b"?" for ch in text), \
                (font, text)
        else:
            assert all(ord(ch) in glyphs for ch in text), (font, text)



def test_a_long_image_name_stays_on_the_report_page_and_off_its_title(
        make_window, labelled, qtbot, tmp_path, monkeypatch, boxes):
    """Trial S14B: a long image name ran over the title "Lesion report" and off the page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics

    long_name = "IMD002_" + "_".join(["followup_visit_left_shoulder"] * 5) + ".jpg"
    image = labelled.with_name(long_name)
    shutil.copy(labelled, image)
    shutil.copy(labelled.parent / "labels" / "IMD002_segmentation.png",
                labelled.parent / "labels" / f"{image.stem}_segmentation.png")
    drawn = _record_report_text(monkeypatch)
    win = make_window([str(image)])
    wait_analysis(qtbot, win)
    assert win.lesion.export_report(tmp_path / "case.pdf") is not None
    for font, size, text, x, right in drawn:
        w = pdfmetrics.stringWidth(text, font, size)
        left, end = (x - w, x) if right else (x, x + w)
        assert left >= 0 and end <= A4[0], text  # on the page
    texts = [t for _, _, t, _, _ in drawn]
    assert long_name in "".join(texts)  # whole, in wrapped lines one after the other
    title = next(d for d in drawn if d[2] == "Lesion report")
    header = next(d for d in drawn if d[4] and d[2].endswith("UTC"))
    title_end = title[3] + pdfmetrics.stringWidth(title[2], title[0], title[1])
    assert header[3] - pdfmetrics.stringWidth(header[2], header[0], header[1]) > title_end


def test_the_report_gives_the_scale_the_panel_shows(make_window, labelled, qtbot):
    """Trial S14B: a ruler calibration of 0.050004 mm/px read "0.05 mm/px" in the report
    beside the panel's "0.050004 mm/px"."""
    from dermview.report import measurement_rows

    win = make_window([str(labelled)])
    wait_analysis(qtbot, win)
    assert win.lesion.type_scale(0.0500036)
    qtbot.waitUntil(lambda: win.lesion.analysis.mm_per_px is not None and not win.lesion.busy,
                    timeout=20000)
    shown = win.lesion_panel.scale_label.text().split(" mm/px")[0]
    assert shown == "0.050004"
    scale = dict(measurement_rows(win.lesion.analysis, win.lesion.scale_words()))["Scale"]
    assert scale.startswith(f"{shown} mm/px")
