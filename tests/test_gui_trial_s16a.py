"""Trial S16A (a dermatologist's first clinic week) replayed on the real window (offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtWidgets  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, data, make_window



def test_enter_in_the_device_box_switches_to_the_typed_dermatoscope(make_window, labelled,
                                                                    qtbot):
    """Trial finding: a new dermatoscope's name typed in the Lesion panel's Device box and
    Enter: nothing happened (Enter was the window's "Close polygon"), the Scale line still
    read "calibrated for default dermatoscope" beside the new name, the sizes stayed in mm of
    the other device; only leaving the field switched."""
    win = make_window([str(labelled)])
    win.show()
    win.lesion.set_calibration(0.02, how="typed")
    win.docks["lesion"].show()
    win.docks["lesion"].raise_()
    box = win.lesion_panel.device_combo  # a click puts the focus on the box (not its field)
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "Heine Delta 30")
    assert box.currentText() == "Heine Delta 30"
    qtbot.keyClick(box, QtCore.Qt.Key.Key_Return)
    assert win.lesion.device == "Heine Delta 30"
    assert win.lesion.calibration is None
    assert win.lesion_panel.scale_label.text().startswith("unknown")


def test_closing_the_improve_dialog_during_a_run_says_it_goes_on_and_when_it_ends(
        qtbot, make_window, tmp_path):
    """Trial finding: Esc (or Close) on Model → Improve the model… while it ran hid the
    dialog; the run went on in its process and wrote a model, and nothing said so, nor
    that it had finished or whether the new model was better."""
    pytest.importorskip("torch")
    from test_finetune import make_folder
    from test_finetune_gui import _start

    win = make_window()
    folder = make_folder(tmp_path / "clinic", 8)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl, dlg, _events = _start(qtbot, win, folder, out, steps=1)
    qtbot.keyClick(dlg, QtCore.Qt.Key.Key_Escape)
    assert not dlg.isVisible() and ctl.process.running
    said = win.statusBar().currentMessage()
    assert "goes on in the background" in said and "Improve the model" in said
    with qtbot.waitSignal(ctl.process.finished, timeout=900_000) as done:
        pass
    said = win.statusBar().currentMessage()
    assert said.startswith("The new model is ready") and "Improve the model" in said
    assert ("better: it can be used" in said) == bool(done.args[0]["improved"])


def test_a_label_measured_with_another_dermatoscope_says_so(make_window, labelled, qtbot):
    """Trial finding: a label saved with the calibration of one dermatoscope (its sidecar:
    ``scale_source: calibration:Heine Delta 30``), reopened while another device was chosen,
    was measured, shown and reported in that device's mm without a word."""
    win = make_window([str(labelled)])
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy,
                    timeout=20000)
    win.lesion.set_device("Heine Delta 30")
    win.lesion.set_calibration(0.03, how="typed")
    win.lesion.set_device("default dermatoscope")
    win.lesion.set_calibration(0.02, how="typed")
    win.lesion.set_device("Heine Delta 30")
    assert win.saving.save()
    label = win.lesion_panel.scale_label
    assert "measured with" not in label.text()
    win.lesion.set_device("default dermatoscope")  # the other device's images come next
    assert win.session.open_image(labelled)
    qtbot.waitUntil(lambda: win.doc.label_loaded, timeout=10000)
    note = "this label was measured with the calibration of Heine Delta 30"
    assert note in label.text()
    assert note in win.lesion.scale_words()  # the case report's Scale line too
    win.lesion.set_device("Heine Delta 30")
    assert "measured with" not in label.text()
    win.lesion.forget_calibration()
    win.lesion.set_device("Nikon")  # no calibration: sizes in px, and why the label differs
    assert label.text().startswith("unknown") and "Heine Delta 30" in label.text()
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy
                    and win.lesion.analysis.mm_per_px is None, timeout=20000)
    from dermview.report import measurement_rows  # the case report's Scale line in px

    scale_row = measurement_rows(win.lesion.analysis, win.lesion.scale_words())[0][1]
    assert scale_row.startswith("unknown: sizes in pixels") and "Heine Delta 30" in scale_row
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy
                    and win.lesion.analysis.mm_per_px is None, timeout=20000)
    status = win.lesion_panel.status.text()  # the line under the numbers: why px, once
    assert "no scale for this device" in status and "Heine" not in status


def test_the_tds_row_does_not_say_d_is_not_assessed_under_the_d_row(make_window, labelled,
                                                                   qtbot):
    """Trial finding: the Lesion panel read "D: > 6 mm  yes" and two rows below "TDS  not
    given (D not assessed)": to a clinician, D was assessed just above (the TDS's D is
    Stolz's differential structures, which the report names, not the diameter)."""
    win = make_window([str(labelled)])
    win.lesion.set_calibration(0.02, how="typed")
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy
                    and win.lesion.analysis.mm_per_px is not None, timeout=20000)
    values = win.lesion_panel.values
    assert values["D"].text() in ("yes", "no")
    assert "D not assessed" not in values["TDS"].text()
    assert "differential structures" in values["TDS"].text()


def test_the_end_of_the_review_queue_names_the_masks_rejected_to_redo(make_window, data,
                                                                       qtbot):
    """Trial finding: with one mask rejected (X: "to be redone") and every other image
    reviewed, Ctrl+PgDown said only "No other image in the worklist is waiting for review",
    as if the week's work were done."""
    win = make_window([str(data)])
    for key in (QtCore.Qt.Key.Key_X, QtCore.Qt.Key.Key_A):  # IMD002 rejected, IMD009 accepted
        win.actions["segment"].trigger()
        assert win.wait_idle(120) and win.doc.prob is not None
        qtbot.keyClick(win, key)
        assert win.session.next_image() or key == QtCore.Qt.Key.Key_A
    assert win.doc.path.name == "IMD009.jpg" and win.doc.review_state == "accepted"
    assert not win.session.next_to_review()
    said = win.statusBar().currentMessage()
    assert said.startswith("No other image in the worklist is waiting for review")
    assert "1 rejected mask still to redo" in said


def test_a_comment_of_several_lines_is_printed_on_several_lines(make_window, labelled, qtbot,
                                                                 tmp_path, monkeypatch):
    """Trial finding: a review comment typed on two lines (Enter in the comment box) came
    out in the case report as "line one□line two" (the newline drawn as a box)."""
    from test_gui_lesion import _record_report_text

    drawn = _record_report_text(monkeypatch)
    win = make_window([str(labelled)])
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy,
                    timeout=20000)
    win.review_panel.comment.setPlainText("Irregular network at 3 o'clock\nFollow-up in 3 months")
    out = win.lesion.export_report(tmp_path / "case.pdf")
    assert out is not None and out.read_bytes().startswith(b"%PDF")
    texts = [t for _f, _s, t, _x, _r in drawn]
    assert not any("\n" in t or "\r" in t for t in texts)
    assert "Irregular network at 3 o'clock" in texts and "Follow-up in 3 months" in texts


def test_the_probability_rows_say_what_the_numbers_are_and_cannot_say(make_window):
    """Trial finding: the Diagnosis panel's Melanoma / Seborrheic keratosis / Naevus rows
    and the heat-map switch had no tooltip: nothing said that the three numbers add up to 1
    whatever the lesion is (a basal cell carcinoma still gets three), nor what the heat map
    paints."""
    win = make_window()
    panel = win.classifier_panel
    for key, bar in panel.bars.items():
        assert "add up to 1" in bar.toolTip() and "not a diagnosis" in bar.toolTip(), key
        assert panel.values[key].toolTip() == bar.toolTip()
    assert "Grad-CAM" in panel.heat_check.toolTip()


def test_enter_after_a_run_does_not_start_another(qtbot, make_window, tmp_path):
    """Trial finding: when a run of Improve the model had finished, the keyboard was back on
    Start: Enter, pressed to be done with the before/after table, started a second run,
    which wrote a second model file."""
    pytest.importorskip("torch")
    from _weights import make_weights
    from test_finetune import make_folder

    from dermview.gui.testing import process

    win = make_window()
    folder = make_folder(tmp_path / "clinic", 8)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl = win.models
    ctl.use_model(make_weights(out.parent, "base"))  # a tiny base: the run takes seconds
    ctl.extra_args = ["--max-steps", "1"]
    ctl.improve()
    dlg = ctl.dialog
    dlg.folder_edit.setText(str(folder))
    dlg.out_edit.setText(str(out))
    dlg.activateWindow()
    qtbot.waitUntil(dlg.isActiveWindow, timeout=5000)
    dlg.start_btn.setFocus()
    qtbot.keyClick(dlg.start_btn, QtCore.Qt.Key.Key_Space)  # Start from the keyboard
    assert ctl.process.running
    with qtbot.waitSignal(ctl.process.finished, timeout=900_000) as done:
        pass
    process(20)
    assert dlg.focusWidget() is not dlg.start_btn
    expected = dlg.use_btn if done.args[0]["improved"] else dlg.keep_btn
    assert dlg.focusWidget() is expected and expected.isDefault()
    qtbot.keyClick(dlg.focusWidget(), QtCore.Qt.Key.Key_Return)
    assert not ctl.process.running
    assert sorted(p.name for p in out.parent.glob("*.pt")) == ["base.pt", "clinic.pt"]


def test_the_ruler_length_is_typed_not_taken_from_a_prefilled_value(make_window, labelled,
                                                                     qtbot):
    """Trial finding: the ruler's "Length of the 344 px line in mm" opened with 1.00 filled
    in, and "Type the scale" with 0.05: an Enter pressed at once stored that made-up value
    as the dermatoscope's calibration (1 mm over 344 px). The field now starts empty, Enter
    does nothing until a number is typed, and a decimal comma is read as a point."""
    from dermview.gui.number_dialog import parse_number

    win = make_window([str(labelled)])
    win.show()
    win.lesion.last_line = ((100.0, 100.0), (100.0, 300.0))
    seen: dict[str, object] = {}

    def answer() -> None:
        dlg = QtWidgets.QApplication.activeModalWidget()
        edit = dlg.findChild(QtWidgets.QLineEdit)
        ok = dlg.findChild(QtWidgets.QDialogButtonBox).button(
            QtWidgets.QDialogButtonBox.StandardButton.Ok)
        seen["text"], seen["ok"] = edit.text(), ok.isEnabled()
        qtbot.keyClick(edit, QtCore.Qt.Key.Key_Return)  # the reflex Enter: nothing happens
        seen["still_open"] = dlg.isVisible()
        qtbot.keyClicks(edit, "4,0")
        seen["ok_after"] = ok.isEnabled()
        qtbot.keyClick(edit, QtCore.Qt.Key.Key_Return)

    QtCore.QTimer.singleShot(200, answer)
    assert win.lesion.calibrate()
    assert seen == {"text": "", "ok": False, "still_open": True, "ok_after": True}
    assert win.lesion.calibration == pytest.approx(4.0 / 200.0)
    assert parse_number("0.02", 0.00001, 10) == 0.02 and parse_number("abc", 0, 1) is None
    assert parse_number("0", 0.00001, 10) is None


def test_a_colleagues_comment_is_not_printed_as_the_reviewers(make_window, labelled, qtbot):
    """Trial finding: Dr. Ruíz accepted a mask; a colleague on the same account (Reviewer:
    his name) added a comment and saved. The report read "Reviewer: Dr. Ana Ruíz" and under
    it his comment, as hers: nothing recorded who wrote it."""
    import json

    from dermview.report import provenance_rows

    win = make_window([str(labelled)])
    qtbot.waitUntil(lambda: win.lesion.analysis is not None and not win.lesion.busy,
                    timeout=20000)
    panel = win.review_panel
    panel.reviewer_edit.setText("Dr. Ana Ruíz")
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)  # accepted and saved by her, no comment
    panel.reviewer_edit.setText("Dr. Pablo Gómez")
    panel.comment.setPlainText("Check the border at 3 o'clock")
    qtbot.waitUntil(lambda: win.doc.review_comment.startswith("Check"), timeout=5000)
    assert win.saving.save()
    sidecar = json.loads((labelled.parent / "labels" / "IMD002_segmentation.json").read_text())
    assert sidecar["reviewed_by"] == "Dr. Ana Ruíz" and sidecar["user"] == "Dr. Pablo Gómez"
    assert sidecar["comment_by"] == "Dr. Pablo Gómez"
    rows = dict(provenance_rows(win.lesion.report_info()))
    assert rows["Reviewer"] == "Dr. Ana Ruíz"
    assert rows["Comment"] == "Check the border at 3 o'clock (Dr. Pablo Gómez)"
    # she opens it again later: the comment keeps its author, and saving keeps it his
    panel.reviewer_edit.setText("Dr. Ana Ruíz")
    assert win.session.open_image(labelled)
    qtbot.waitUntil(lambda: win.doc.label_loaded, timeout=10000)
    rows = dict(provenance_rows(win.lesion.report_info()))
    assert rows["Comment"].endswith("(Dr. Pablo Gómez)")
    assert win.saving.save()
    sidecar = json.loads((labelled.parent / "labels" / "IMD002_segmentation.json").read_text())
    assert sidecar["comment_by"] == "Dr. Pablo Gómez"


def test_quitting_during_a_run_asks_before_cancelling_it(qtbot, make_window, tmp_path,
                                                         boxes):
    """Trial finding: Ctrl+Q while Improve the model ran (its dialog closed, the run going on
    in the background) cancelled the run without a word."""
    pytest.importorskip("torch")
    from test_finetune import make_folder
    from test_finetune_gui import _start

    Btn = QtWidgets.QMessageBox.StandardButton
    win = make_window()
    folder = make_folder(tmp_path / "clinic", 8)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl, dlg, _events = _start(qtbot, win, folder, out, steps=100000)
    dlg.reject()
    boxes.answer = Btn.Cancel
    assert not win.close()
    assert boxes.questions and "still running" in boxes.questions[-1][1]
    assert ctl.process.running
    boxes.answer = Btn.Yes
    assert win.close()
    assert not ctl.process.running
