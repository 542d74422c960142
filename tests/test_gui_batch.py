"""Segmentation → "Segment all unlabelled images…" on the real window (pytest-qt, offscreen):
unlabelled images get unreviewed model labels, reviewed labels and the open image's unsaved
work are left alone, a bad file is skipped with its reason, Esc cancels and keeps what was
written."""

from __future__ import annotations

import json
import os
import shutil
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import SAMPLES, Btn, drag  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from dermview.gui.testing import process  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window

CTRL_SHIFT = QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def folder(data):
    """IMD002, IMD009 (no label), ISIC_0000095 with an accepted label, a damaged file."""
    from dermview.io import load_image
    from dermview.labels import LabelMeta, image_sha256, save_label

    img = data / "ISIC_0000095.jpg"
    shutil.copy(SAMPLES / img.name, img)
    h, w = load_image(img).shape[:2]
    mask = np.zeros((h, w), bool)
    mask[h // 4: h // 2, w // 4: w // 2] = True
    save_label(img, mask, LabelMeta(image_sha256=image_sha256(img), image_size=(w, h),
                                    review_state="accepted"))
    (data / "broken.jpg").write_bytes(b"not a jpeg")
    return data


def _statuses(win):
    return {p.name: win.worklist.table.item(r, 1).text() for r, p in enumerate(win.worklist.paths)}


def test_segment_all_labels_the_unlabelled_images_and_nothing_else(make_window, folder, boxes,
                                                                   qtbot):
    reviewed = (folder / "labels" / "ISIC_0000095_segmentation.png").read_bytes()
    win = make_window([folder])
    opened = win.doc.path
    assert opened.name in ("IMD002.jpg", "IMD009.jpg", "broken.jpg") and not win.doc.mask.any()
    boxes.answer = Btn.Ok
    qtbot.keyClick(win, QtCore.Qt.Key.Key_R, CTRL_SHIFT)
    title, text = boxes.questions[-1]
    assert title == "Segment all unlabelled images" and "never replaced" in text
    assert "3 images" in text  # IMD002, IMD009, broken.jpg
    assert win.wait_idle(180)
    process(50)
    for stem in ("IMD002", "IMD009"):
        meta = json.loads((folder / "labels" / f"{stem}_segmentation.json").read_text())
        assert meta["source"] == "model" and meta.get("review_state") is None
        assert 0.0 <= meta["confidence"] <= 1.0
        assert (folder / "labels" / f"{stem}_prob.png").is_file()  # Refine can use it
    assert (folder / "labels" / "ISIC_0000095_segmentation.png").read_bytes() == reviewed
    assert not (folder / "labels" / "broken_segmentation.png").exists()
    st = _statuses(win)
    assert st["IMD002.jpg"] == st["IMD009.jpg"] == "unreviewed"
    assert st["ISIC_0000095.jpg"] == "accepted ✓"
    message = win.statusBar().currentMessage()
    assert "Segmented 2 images" in message and "1 skipped (broken.jpg" in message
    # The open image (clean, no mask) shows the label written for it.
    if opened.name != "broken.jpg":
        assert win.doc.path == opened and win.doc.label_loaded and win.doc.mask.any()
        assert not win.doc.dirty
    # Nothing left to do: said so, nothing asked.
    asked = len(boxes.questions)
    (folder / "broken.jpg").unlink()
    win.worklist.set_paths([p for p in win.worklist.paths if p.name != "broken.jpg"])
    win.actions["segment_all"].trigger()
    assert len(boxes.questions) == asked and "nothing to segment" in win.statusBar().currentMessage()


def test_the_open_image_with_unsaved_edits_is_left_out(make_window, data, boxes, qtbot):
    win = make_window([data / "IMD009.jpg", data / "IMD002.jpg"])
    editing = win.doc.path
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (150.5, 100.5)])
    painted = win.doc.mask.copy()
    boxes.answer = Btn.Ok
    win.docks["segment"].raise_()
    qtbot.mouseClick(win.seg_panel.segment_all_button, QtCore.Qt.MouseButton.LeftButton)
    assert "1 image" in boxes.questions[-1][1]
    assert win.wait_idle(120)
    process(50)
    assert not (data / "labels" / f"{editing.stem}_segmentation.png").exists()
    others = [p for p in (data / "IMD009.jpg", data / "IMD002.jpg") if p != editing]
    assert (data / "labels" / f"{others[0].stem}_segmentation.png").is_file()
    assert win.doc.dirty and (win.doc.mask == painted).all()  # the edits are untouched


class _Held:
    """Segment all running with its ``hold``-th image held until :attr:`release` is set (the
    images' calls in :attr:`calls`)."""

    def __init__(self, monkeypatch, hold: int) -> None:
        import dermview.model_labels as ml

        real = ml.segment_to_label
        self.calls: list[str] = []
        self.held = threading.Event()
        self.release = threading.Event()

        def slow(image, *a, **k):
            self.calls.append(image.name)
            if len(self.calls) == hold:
                self.held.set()
                self.release.wait(30)
            return real(image, *a, **k)

        monkeypatch.setattr(ml, "segment_to_label", slow)

    def start(self, win, boxes, qtbot) -> None:
        boxes.answer = Btn.Ok
        assert win.batch.start()
        qtbot.waitUntil(self.held.is_set, timeout=60_000)
        # the window has had the images before the held one (their results are queued
        # signals: on a busy machine Esc came before the first one's, "0 masks written")
        qtbot.waitUntil(lambda: f" ({len(self.calls)} of " in win.status.progress.format(),
                        timeout=10_000)


def test_cancel_keeps_the_masks_written_and_stops(make_window, data, boxes, qtbot, monkeypatch):
    for i in range(3):
        shutil.copy(SAMPLES / "IMD009.jpg", data / f"copy{i}.jpg")
    held = _Held(monkeypatch, hold=2)
    win = make_window([data])
    held.start(win, boxes, qtbot)
    assert win.status.cancel_button.isVisible()
    # the status bar says which image, how far and about how long is left
    qtbot.waitUntil(lambda: "left)" in win.status.progress.format(), timeout=5000)
    assert " (2 of " in win.status.progress.format()
    bar = win.status.progress
    process(20)  # the status bar lays the wider bar out
    assert bar.fontMetrics().horizontalAdvance(bar.format()) < bar.width() <= win.status.PROGRESS_MAX_WIDTH
    button = win.seg_panel.segment_all_button
    assert button.text().startswith("Stop")
    assert win.seg_panel.seg_progress.format() == "Segmenting all unlabelled images…"
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)  # as Esc does
    assert not win.batch.busy and "cancelled" in win.statusBar().currentMessage()
    assert button.text() == "Segment all unlabelled images…"
    assert win.seg_panel.seg_progress.format() == "Idle"
    held.release.set()
    qtbot.waitUntil(lambda: not win.batch.host.worker.running.is_set(), timeout=60_000)
    process(50)
    assert len(held.calls) == 2  # stopped after the image being segmented
    written = sorted(p.name for p in (data / "labels").glob("*_segmentation.png"))
    assert len(written) == 2  # both finished images are kept, whole
    assert all(win.worklist.status(win.worklist.paths.index(data / n.replace("_segmentation.png", ".jpg")))
               == "segmented" for n in written)


def test_time_left_is_rounded_for_the_status_bar():
    from dermview.gui.controllers.batch import time_left

    assert time_left(2.0) == "a few seconds left" and time_left(8.0) == "about 10 s left"
    assert time_left(42.0) == "about 40 s left"
    assert time_left(61.0) == "about 1 min left" and time_left(185.0) == "about 3 min left"


def test_closing_the_window_during_a_batch_stops_it_and_leaves_no_thread(
        make_window, data, boxes, qtbot, monkeypatch):
    held = _Held(monkeypatch, hold=1)
    win = make_window([data])
    held.start(win, boxes, qtbot)
    threading.Timer(0.5, held.release.set).start()  # the image in progress ends meanwhile
    win.close()
    assert win.threads_running() == [] and len(held.calls) == 1
    written = list((data / "labels").glob("*_segmentation.png"))
    assert len(written) <= 1  # stopped after the image in progress
    for png in written:  # whole: its sidecar and map beside it
        assert png.with_suffix(".json").is_file()


def test_esc_stops_segment_all(make_window, data, boxes, qtbot, monkeypatch):
    held = _Held(monkeypatch, hold=1)
    win = make_window([data])
    held.start(win, boxes, qtbot)
    win.view.shown().setFocus()
    qtbot.keyClick(win.view.shown(), QtCore.Qt.Key.Key_Escape)
    assert not win.batch.busy and "cancelled" in win.statusBar().currentMessage()
    held.release.set()


def test_a_long_progress_text_is_elided_not_cut(make_window, qtbot):
    win = make_window([])
    bar = win.status.progress
    text = "Segmenting " + "a_very_long_image_name_" * 8 + ".jpg (68 of 600, about 1 min left)"
    win.status.set_progress(10, text)
    assert bar.maximumWidth() == win.status.PROGRESS_MAX_WIDTH
    assert bar.format().endswith("about 1 min left)") and "…" in bar.format()
    assert bar.fontMetrics().horizontalAdvance(bar.format()) < bar.maximumWidth()
    assert bar.toolTip() == text
    win.status.set_progress(0, "Idle")
    assert bar.maximumWidth() == win.status.PROGRESS_MIN_WIDTH and bar.format() == "Idle"


def test_the_cancel_message_counts_the_image_finished_after_esc(make_window, data, boxes, qtbot,
                                                                monkeypatch):
    """Esc lets the image in progress finish and keeps it: the status bar's count includes it
    (the trial read "229 masks written are kept" with 230 labels on disk)."""
    for i in range(3):
        shutil.copy(SAMPLES / "IMD009.jpg", data / f"copy{i}.jpg")
    held = _Held(monkeypatch, hold=2)
    win = make_window([data])
    held.start(win, boxes, qtbot)
    win.view.shown().setFocus()
    qtbot.keyClick(win.view.shown(), QtCore.Qt.Key.Key_Escape)
    assert "1 mask written" in win.statusBar().currentMessage()
    held.release.set()
    qtbot.waitUntil(lambda: not win.batch.host.worker.running.is_set(), timeout=60_000)
    process(50)
    assert len(list((data / "labels").glob("*_segmentation.png"))) == 2
    assert "cancelled: 2 masks written are kept" in win.statusBar().currentMessage()


def test_the_summary_of_a_fast_batch_gives_a_readable_time_per_image(make_window, qtbot):
    from dermview.gui.controllers.batch import BatchOutcome

    win = make_window([])
    out = BatchOutcome(written=[SAMPLES / f"{i}.jpg" for i in range(70)], seconds=3.0)
    win.batch._on_finished(out)
    text = win.statusBar().currentMessage()
    assert "in 3 s (0.04 s per image)" in text, text
    win.batch._on_finished(BatchOutcome(written=[SAMPLES / "a.jpg"] * 10, seconds=20.0))
    assert "(2.0 s per image)" in win.statusBar().currentMessage()


def test_threshold_and_heat_map_of_a_segment_all_label_use_its_saved_map(make_window, data,
                                                                         boxes, qtbot):
    """Trial finding: on a mask Segment all had just written (its probability map saved
    beside it, as Refine uses), the Threshold slider moved to 0.60 and said "This mask has no
    probability map (a saved label)"; the mask stayed too large. Now the slider re-thresholds
    that map, and the heat map shows it."""
    from dermview.postprocess import mask_from_prob
    from dermview.prob_maps import load_prob_map, prob_map_path

    win = make_window([data])
    boxes.answer = Btn.Ok
    qtbot.keyClick(win, QtCore.Qt.Key.Key_R, CTRL_SHIFT)
    assert win.wait_idle(180)
    assert win.session.open_image(data / "IMD009.jpg")
    assert win.doc.label_loaded and win.doc.prob is None and not win.doc.dirty
    before = win.doc.mask.copy()
    win.seg_panel.threshold_slider.setValue(75)
    qtbot.waitUntil(lambda: not np.array_equal(win.doc.mask, before), timeout=5000)
    prob = load_prob_map(prob_map_path(data / "IMD009.jpg"), win.doc.shape)
    assert np.array_equal(win.doc.mask, mask_from_prob(prob, 0.75))
    assert "no probability map" not in win.statusBar().currentMessage()
    assert win.doc.undo_stack.count() == 1  # one undo step, as after Segment
    win.undo()
    assert np.array_equal(win.doc.mask, before)
    # the heat map of another batch label shows its map, with no "no probability map"
    win.doc.undo_stack.setClean()
    assert win.session.open_image(data / "IMD002.jpg") and win.doc.prob is None
    win.statusBar().clearMessage()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_H, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert win.seg_panel.heat_check.isChecked() and win.doc.prob is not None
    assert "no probability map" not in win.statusBar().currentMessage()


def test_segment_all_into_a_folder_that_cannot_be_written_says_so_in_a_box(make_window, data,
                                                                           boxes, qtbot,
                                                                           monkeypatch):
    """Trial finding: Segment all with a read-only labels folder segmented every image (a
    6000×4000 one too), each failing to save, then said only in the status bar "Segmented 0
    images; 7 skipped (…read-only).). The worklist's 'Unreviewed model masks' lists them."
    Now the images after the first refusal are not segmented, a box says why and what to do,
    and the status line does not point at masks that were never written."""
    import dermview.model_labels as ml

    (data / "labels").write_bytes(b"")  # a file where the labels folder would go: unwritable
    runs = []
    real = ml.segment_to_label
    monkeypatch.setattr(ml, "segment_to_label", lambda *a, **k: runs.append(a[0]) or real(*a, **k))
    win = make_window([data])
    said = []
    win.batch.message.connect(lambda text, _ms: said.append(text))
    boxes.answer = Btn.Ok
    qtbot.keyClick(win, QtCore.Qt.Key.Key_R, CTRL_SHIFT)
    assert win.wait_idle(180)
    qtbot.waitUntil(lambda: bool(boxes.warnings), timeout=5000)
    title, text = boxes.warnings[-1]
    assert title == "Masks not saved" and "labels" in text and "File → Labels folder" in text
    assert len(runs) == 1  # the second image was not segmented for nothing
    message = said[-1]
    assert "Segmented 0 images; 2 skipped" in message and "lists them" not in message
    assert ").)" not in message


def test_segment_all_marks_an_unreadable_image_in_the_worklist(make_window, folder, boxes,
                                                               qtbot):
    """Trial finding: Segment all skipped a truncated JPEG ("corrupt.jpg is truncated") and
    the worklist still called it "new", the next image to review."""
    win = make_window([folder])
    boxes.answer = Btn.Ok
    qtbot.keyClick(win, QtCore.Qt.Key.Key_R, CTRL_SHIFT)
    assert win.wait_idle(180)
    qtbot.waitUntil(lambda: _statuses(win)["broken.jpg"] == "unreadable ✗", timeout=5000)
    assert _statuses(win)["IMD002.jpg"] == "unreviewed"
