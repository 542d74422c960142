"""An annotator's day going wrong: labels changed by other programs, crashes, a second window.
Nothing may be lost, nor shown or saved under someone else's name."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")
pytest.register_assert_rewrite("_gui")
from _gui import Btn, drag  # noqa: E402, F401
from PIL import Image  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from dermview import labels  # noqa: E402
from dermview.label_status import label_status  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


def _row_status(win) -> str:
    wl = win.worklist
    return wl.table.item(wl.paths.index(win.doc.path), 1).text()


def test_a_label_png_replaced_by_another_tool_loses_the_old_verdict_and_reviewer(
        make_window, data, boxes, qtbot):
    """IMD009 corrected and saved here; another tool then writes its own mask over the label
    PNG (the sidecar stays). The window shows that mask as one from another tool: not with
    the verdict, comment and name that were given to the mask it replaced, neither here nor
    in the worklist, nor when the folder is opened again."""
    a = data / "IMD009.jpg"
    win = make_window([data])
    assert win.session.open_image(a)
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    win.review_panel.comment.setPlainText("border checked")
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    png, js = labels.label_paths(a)
    assert json.loads(js.read_text())["review_state"] == "corrected"
    assert _row_status(win).startswith("corrected")

    theirs = np.zeros(win.doc.shape, np.uint8)
    theirs[5:60, 5:60] = 255
    Image.fromarray(theirs).save(png)  # the other tool: a PNG, no sidecar of its own
    win.session.check_label_on_disk()
    qtbot.waitUntil(lambda: np.array_equal(win.doc.mask, theirs > 0))
    assert win.doc.review_state is None and win.doc.review_comment == ""
    assert f"saved by {labels.login_name()}" not in win.statusBar().currentMessage()
    assert _row_status(win).startswith("imported")
    assert label_status(a) == "imported"

    win2 = make_window([data])
    assert win2.session.open_image(a)
    assert np.array_equal(win2.doc.mask, theirs > 0) and win2.doc.review_state is None
    assert not win2.review_panel.comment.toPlainText()


def _crash(win):
    """The window goes away without its normal close path (as after kill -9)."""
    for host in win.worker_hosts():
        host.shutdown()
    win.saving.timer.stop()
    win.hide()


def test_recovered_edits_do_not_silently_replace_a_label_saved_after_the_crash(
        make_window, data, boxes, qtbot, tmp_path):
    """Edits of IMD009 journaled, then the app is killed; before it is started again a
    colleague saves IMD009's label (another window, ``dermview segment``). The recovered edits
    were made on the label as it was before: saving them asks before replacing the
    colleague's label, as it does for a label saved while the image is open."""
    from dermview.recovery import RecoveryStore

    a = data / "IMD009.jpg"
    win = make_window([a])
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    store = RecoveryStore(tmp_path / "recovery")
    qtbot.waitUntil(lambda: store.entry_for(a) is not None)
    mine = win.doc.mask.copy()
    _crash(win)

    theirs = np.zeros(mine.shape, bool)
    theirs[10:50, 10:50] = True
    meta = labels.LabelMeta(image_sha256=labels.image_sha256(a),
                            image_size=(mine.shape[1], mine.shape[0]), source="manual",
                            user="colleague", review_state="corrected")
    png, _ = labels.save_label(a, theirs, meta)
    their_bytes = png.read_bytes()

    boxes.answer = Btn.Yes  # restore the edits
    win2 = make_window([a])
    assert [t for t, _ in boxes.questions] == ["Recover unsaved edits?"]
    assert np.array_equal(win2.doc.mask, mine) and win2.doc.dirty

    boxes.answer = Btn.No
    qtbot.keyClick(win2, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(boxes.questions) == 2
    title, text = boxes.questions[-1]
    assert title == "Label saved meanwhile" and "colleague" in text
    assert png.read_bytes() == their_bytes and win2.doc.dirty
    assert np.array_equal(win2.doc.mask, mine)

    boxes.answer = Btn.Yes
    qtbot.keyClick(win2, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not win2.doc.dirty and png.read_bytes() != their_bytes
    assert any(b.read_bytes() == their_bytes for b in labels.list_backups(a))


def test_edits_of_an_image_renamed_or_replaced_while_open_are_saved_for_the_image_shown(
        make_window, data, boxes, qtbot):
    """IMD009 is corrected while another program renames it (the label could not be saved at
    all: "Image not found", the edits stuck unsaved); IMD002 is corrected while its file is
    replaced by another image (the label recorded the new file's SHA-256, for a mask drawn
    on the old one). Both save, with the SHA-256 of the image that was on screen."""
    a, b = data / "IMD009.jpg", data / "IMD002.jpg"
    sha_a, sha_b = labels.image_sha256(a), labels.image_sha256(b)
    win = make_window([data])
    assert win.session.open_image(a)
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    a.rename(data / "IMD009_renamed.jpg")
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert boxes.warnings == [] and not win.doc.dirty
    assert "no longer in its folder" in win.statusBar().currentMessage()
    assert json.loads(labels.label_paths(a)[1].read_text())["image_sha256"] == sha_a

    assert win.session.open_image(b)
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    b.write_bytes((data / "IMD009_renamed.jpg").read_bytes())
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert boxes.warnings == [] and not win.doc.dirty
    assert json.loads(labels.label_paths(b)[1].read_text())["image_sha256"] == sha_b


def test_two_windows_editing_one_image_keep_each_others_journal(make_window, data, boxes,
                                                                 qtbot, tmp_path, monkeypatch):
    """Two dermview windows on one folder correct IMD009; the other one is then killed, and
    this one saves its own correction. The killed window's edits were journaled in the same
    file as this window's (the stroke here overwrote them, and saving deleted the rest): they
    are now kept apart and offered back at the next start."""
    import subprocess
    import sys

    from dermview import recovery

    img = data / "IMD009.jpg"
    store = recovery.RecoveryStore(tmp_path / "recovery")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        qtbot.waitUntil(lambda: recovery._start_time(other.pid) is not None)
        writer = {**recovery.this_writer(), "pid": other.pid,
                  "started": recovery._start_time(other.pid)}
        theirs = np.zeros((384, 512), bool)
        theirs[100:200, 100:250] = True
        with monkeypatch.context() as m:  # the other window journals its unsaved edits
            m.setattr(recovery, "this_writer", lambda: writer)
            store.save(img, theirs)

        win = make_window([img])
        assert "another dermview window" in win.statusBar().currentMessage()
        win.set_tool("brush")
        drag(qtbot, win.before, [(300.5, 300.5), (340.5, 310.5)])
        qtbot.waitUntil(lambda: len(store.entries()) == 2)
        kept = [e for e in store.entries() if e.writer.get("pid") == other.pid]
        assert len(kept) == 1 and np.array_equal(store.load(kept[0]), theirs)
    finally:
        other.kill()
        other.wait()
    # the other window was killed; this one saves its own correction
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not win.doc.dirty and labels.label_paths(img)[0].is_file()
    assert [e.writer.get("pid") for e in store.entries()] == [other.pid]

    boxes.answer = Btn.Yes
    win2 = make_window()
    win2.session.offer_recovery_at_start()
    assert boxes.questions and "IMD009.jpg" in boxes.questions[-1][1]
    qtbot.waitUntil(lambda: win2.doc.path is not None and win2.doc.path.name == img.name)
    assert np.array_equal(win2.doc.mask, theirs) and win2.doc.dirty


def test_a_damaged_sidecar_is_reported_and_kept_as_a_backup_when_saving(make_window, data,
                                                                          boxes, qtbot):
    """A label whose sidecar was cut off (a copy interrupted, another program) opened with
    its mask and no word about the sidecar: the review and provenance it held were silently
    dropped. The status bar now says so and what saving does; saving keeps the old one."""
    a = data / "IMD009.jpg"
    win = make_window([a])
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    png, js = labels.label_paths(a)
    damaged = js.read_bytes()[:40]
    js.write_bytes(damaged)

    win2 = make_window([a])
    assert np.array_equal(win2.doc.mask, win.doc.mask)
    text = win2.statusBar().currentMessage()
    assert js.name in text and "damaged" in text and "Saving writes a new sidecar" in text
    win2.set_tool("brush")
    drag(qtbot, win2.before, [(200.5, 200.5), (240.5, 210.5)])
    qtbot.keyClick(win2, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert json.loads(js.read_text())["review_state"] == "corrected"
    backups = png.parent / labels.BACKUP_DIRNAME
    assert any(b.read_bytes() == damaged for b in backups.glob("*.json"))


def test_a_label_deleted_by_another_program_keeps_the_mask_and_is_not_called_saved(
        make_window, data, boxes, qtbot):
    """IMD009's label is deleted by another program while it is open. The window said "was
    saved by someone elsewhere: shown now" and showed an empty mask (the only copy of the
    work left was dropped); with unsaved edits, saving asked about "their" label that did not
    exist. Now the mask stays, the status bar says what happened and how to write it again,
    and saving asks nothing."""
    a = data / "IMD009.jpg"
    win = make_window([data])
    assert win.session.open_image(a)
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    saved = win.doc.mask.copy()
    png, js = labels.label_paths(a)
    png.unlink()
    js.unlink()
    win.session.check_label_on_disk()
    text = win.statusBar().currentMessage()
    assert "deleted or moved" in text and "Ctrl+S" in text and "saved by" not in text
    assert np.array_equal(win.doc.mask, saved)
    assert _row_status(win).startswith("new")

    drag(qtbot, win.before, [(200.5, 200.5), (240.5, 210.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert boxes.questions == [] and not win.doc.dirty and png.is_file()
    assert np.array_equal(labels.load_label(a, saved.shape)[0], win.doc.mask)


def test_images_added_to_or_removed_from_the_folder_join_or_leave_the_worklist(
        make_window, data, boxes, qtbot):
    """A new image copied into the worklist's folder never showed (only opening the folder
    again found it); one deleted or renamed by another program stayed, to open as
    "unreadable". The folder is now looked at with the labels: added ones join, gone ones
    leave (the open image stays), and the status bar says which."""
    import shutil

    from _gui import SAMPLES

    win = make_window([data])
    assert [p.name for p in win.worklist.paths] == ["IMD002.jpg", "IMD009.jpg"]
    assert win.doc.path.name == "IMD002.jpg"
    shutil.copy(SAMPLES / "ISIC_0000095.jpg", data / "ISIC_0000095.jpg")
    (data / "IMD009.jpg").rename(data / "IMD009 copy.jpg")
    win.session.check_label_on_disk()
    assert [p.name for p in win.worklist.paths] == ["IMD002.jpg", "IMD009 copy.jpg",
                                                     "ISIC_0000095.jpg"]
    text = win.statusBar().currentMessage()
    assert "2 new images added" in text and "ISIC_0000095.jpg" in text
    assert "IMD009.jpg" in text and "no longer there" in text
    assert win.worklist.current == 0

    shutil.copy(SAMPLES / "IMD002.jpg", data / "IMD005.jpg")  # in its place by name
    win.session.check_label_on_disk()
    assert [p.name for p in win.worklist.paths] == ["IMD002.jpg", "IMD005.jpg",
                                                     "IMD009 copy.jpg", "ISIC_0000095.jpg"]

    (data / "IMD002.jpg").unlink()  # the open image: it stays (its mask may be unsaved)
    win.session.check_label_on_disk()
    assert win.worklist.paths[0].name == "IMD002.jpg" and win.doc.path.name == "IMD002.jpg"


def test_sigterm_in_the_middle_of_a_brush_stroke_keeps_the_stroke(make_window, data, boxes,
                                                                   qtbot):
    """SIGTERM (logout, ``kill``) while the mouse button is still down: the pixels painted
    so far were on screen but not an edit yet, so nothing was journaled and the next start
    offered nothing. The stroke now ends there as one undo step and is journaled."""
    from _gui import quit_by_sigterm

    from dermview.recovery import RecoveryStore

    img = data / "IMD009.jpg"
    win = make_window([img])
    win.set_tool("brush")
    vp = win.before.viewport()
    pts = [win.before.view_to_widget(x, 100.5) for x in (100.5, 120.5, 150.5)]
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                     pts[0])
    for p in pts[1:]:
        qtbot.mouseMove(vp, p)
    painted = win.doc.mask.copy()
    assert painted.any() and not win.doc.dirty  # on screen, not an edit yet

    assert quit_by_sigterm(win) == 0
    store = RecoveryStore(win.saving.recovery.folder)
    entry = store.entry_for(img)
    assert entry is not None and np.array_equal(store.load(entry), painted)


def test_unsaved_edits_of_an_image_moved_after_the_crash_are_mentioned_not_hidden(
        make_window, data, boxes, qtbot, tmp_path):
    """After a crash another program renamed IMD009.jpg: its journaled edits were never
    mentioned again (kept unseen in the recovery folder). The next start now says they are
    kept and where the image must be; once it is back, they are offered as before."""
    from dermview.recovery import RecoveryStore

    a = data / "IMD009.jpg"
    mask = np.zeros((384, 512), bool)
    mask[100:200, 100:250] = True
    RecoveryStore(tmp_path / "recovery").save(a, mask)
    a.rename(data / "IMD009 renamed.jpg")

    boxes.answer = Btn.Yes  # keep them
    win = make_window([data / "IMD002.jpg"])
    win.session.offer_recovery_at_start()
    title, text = boxes.questions[-1]
    assert title == "Unsaved edits kept"
    assert "no longer where it was" in text and str(a) in text and "No discards" in text

    (data / "IMD009 renamed.jpg").rename(a)
    win2 = make_window([data / "IMD002.jpg"])
    win2.session.offer_recovery_at_start()
    assert boxes.questions and "IMD009.jpg" in boxes.questions[-1][1]
    assert win2.session.open_image(a) and np.array_equal(win2.doc.mask, mask)


def test_a_colleagues_label_in_a_labels_folder_chosen_with_unsaved_edits_is_not_overwritten(
        make_window, data, boxes, qtbot, tmp_path):
    """Unsaved edits of IMD009, then File → Labels folder… (or "Choose another folder…" after
    a refused save) picks a shared folder that already holds a colleague's label of IMD009:
    Ctrl+S wrote over it without a word. It now asks, as for a label saved meanwhile."""
    a = data / "IMD009.jpg"
    shared = tmp_path / "shared labels"
    win = make_window([a])
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    theirs = np.zeros(win.doc.shape, bool)
    theirs[10:50, 10:50] = True
    meta = labels.LabelMeta(image_sha256=labels.image_sha256(a),
                            image_size=(theirs.shape[1], theirs.shape[0]), source="manual",
                            user="colleague", review_state="corrected")
    png, _ = labels.save_label(a, theirs, meta, shared)
    their_bytes = png.read_bytes()

    boxes.folder = str(shared)
    win.actions["labels_dir"].trigger()
    assert win.doc.dirty and win.doc.label_paths[0] == png
    boxes.answer = Btn.No
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    title, text = boxes.questions[-1]
    assert title == "Label saved meanwhile" and "colleague" in text and str(shared) in text
    assert png.read_bytes() == their_bytes and win.doc.dirty

    boxes.answer = Btn.Yes
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not win.doc.dirty and png.read_bytes() != their_bytes
    assert any(b.read_bytes() == their_bytes for b in labels.list_backups(a, shared))


def test_an_image_unreadable_once_is_not_marked_so_after_it_opens(make_window, data, boxes,
                                                                   qtbot):
    """IMD009.jpg is cut off (a copy still running, a broken transfer): opening it marks it
    "unreadable" and Page Down passes it. Copied again, it opens, yet it stayed "unreadable ✗"
    and Page Down kept passing it. The mark now goes once it opens."""
    from _gui import SAMPLES

    a = data / "IMD009.jpg"
    good = a.read_bytes()
    a.write_bytes(good[: len(good) // 3])
    win = make_window([data])
    assert not win.session.open_image(a, quiet=True)
    assert win.worklist.marks.get(a) == "unreadable"
    text = win.statusBar().currentMessage()  # what happened, and what to do about it
    assert "IMD009.jpg is truncated" in text and "copy it again" in text
    a.write_bytes((SAMPLES / "IMD009.jpg").read_bytes())
    assert win.session.open_image(a)
    assert win.worklist.marks.get(a) is None and not _row_status(win).startswith("unreadable")
    assert win.session.open_image(data / "IMD002.jpg")
    assert win.session.next_image() and win.doc.path == a  # not passed over


def test_edits_saved_just_before_a_kill_are_not_offered_back_as_unsaved(make_window, data,
                                                                        boxes, qtbot, tmp_path):
    """The app is killed after writing IMD009's label but before deleting its journal (a
    6000×4000 save takes seconds): the next start said "found unsaved edits … Restore them?"
    about edits that were saved. A journal that holds what the label already says is now
    dropped without a question; one that differs is still offered."""
    from dermview.recovery import RecoveryStore

    a = data / "IMD009.jpg"
    store = RecoveryStore(tmp_path / "recovery")
    win = make_window([a])
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    qtbot.waitUntil(lambda: store.entry_for(a) is not None)
    win.doc.save(win.panel.params())  # the label is written; the kill comes before the rest
    _crash(win)

    boxes.answer = Btn.Yes
    win2 = make_window()
    win2.session.offer_recovery_at_start()
    assert boxes.questions == [] and store.entry_for(a) is None
    assert win2.session.open_image(a) and boxes.questions == [] and not win2.doc.dirty

    win2.set_tool("brush")
    drag(qtbot, win2.before, [(200.5, 200.5), (240.5, 210.5)])
    qtbot.waitUntil(lambda: store.entry_for(a) is not None)
    _crash(win2)
    win3 = make_window()
    win3.session.offer_recovery_at_start()
    assert boxes.questions and "IMD009.jpg" in boxes.questions[-1][1]


def test_a_comment_typed_before_a_crash_is_recovered_without_a_traceback(make_window, data,
                                                                          boxes, qtbot,
                                                                          tmp_path):
    """A reviewer types a comment on a saved label (the mask unchanged) and the app is
    killed. Restoring it raised IndexError at the next start: the journal's mask, read back
    from its 1-bit PNG, held True as the byte 255, so the 8-pixel comparison saw changes the
    pixel comparison did not. The comment now comes back and the mask is unchanged."""
    from dermview.recovery import RecoveryStore

    a = data / "IMD009.jpg"
    store = RecoveryStore(tmp_path / "recovery")
    win = make_window([a])
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    saved = win.doc.mask.copy()
    win.review_panel.comment.setFocus()
    qtbot.keyClicks(win.review_panel.comment, "recheck the border")
    qtbot.waitUntil(lambda: store.entry_for(a) is not None)
    boxes.answer = Btn.Cancel  # moving on asks; the question names the review, not the mask
    assert not win.session.open_image(data / "IMD002.jpg")
    assert "unsaved changes (Review comment)" in boxes.questions[-1][1]
    boxes.questions.clear()
    _crash(win)

    boxes.answer = Btn.Yes
    win2 = make_window()
    win2.session.offer_recovery_at_start()
    qtbot.waitUntil(lambda: win2.doc.path is not None)
    assert win2.doc.review_comment == "recheck the border" and win2.doc.dirty
    assert np.array_equal(win2.doc.mask, saved)
    assert win2.doc.mask.view(np.uint8).max() == 1


def test_recovered_edits_stay_attributed_to_who_made_them(make_window, data, boxes, qtbot, tmp_path):
    """Dr. A corrects IMD009 and the app is killed before the save; Dr. B, on the same
    computer account, starts it again, types her own name and restores the edits. The prompt
    says whose edits they are, and the label B saves records B as who saved it but A as who
    corrected it (not B); once B edits the mask herself, the correction is hers."""
    from dermview.recovery import RecoveryStore

    a = data / "IMD009.jpg"
    win = make_window([])
    edit = win.review_panel.reviewer_edit
    qtbot.mouseClick(edit, QtCore.Qt.MouseButton.LeftButton)
    qtbot.keyClicks(edit, "Dr. A")
    win.session.open_image(a)
    assert win.wait_idle(30)
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    store = RecoveryStore(tmp_path / "recovery")
    qtbot.waitUntil(lambda: store.entry_for(a) is not None)
    _crash(win)

    win2 = make_window([])
    edit2 = win2.review_panel.reviewer_edit
    qtbot.mouseClick(edit2, QtCore.Qt.MouseButton.LeftButton)
    qtbot.keyClick(edit2, QtCore.Qt.Key.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit2, "Dr. B")
    boxes.answer = Btn.Yes
    win2.session.open_image(a)
    assert win2.wait_idle(30)
    title, text = boxes.questions[-1]
    assert title == "Recover unsaved edits?" and "Dr. A" in text
    qtbot.keyClick(win2, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    meta = labels.read_label_meta(a)
    assert meta["review_state"] == "corrected"
    assert meta["user"] == "Dr. B" and meta["reviewed_by"] == "Dr. A"

    saved = win2.doc.mask.copy()
    win2.set_tool("eraser")
    drag(qtbot, win2.before, [(100.5, 100.5), (140.5, 110.5)])
    assert not np.array_equal(win2.doc.mask, saved)
    qtbot.keyClick(win2, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert labels.read_label_meta(a)["reviewed_by"] == "Dr. B"

    # B's next edits are journaled and lost too; A starts the app on the folder: the list of
    # recovered images says whose they are
    win2.set_tool("brush")
    drag(qtbot, win2.before, [(100.5, 100.5), (140.5, 110.5)])
    qtbot.waitUntil(lambda: store.entry_for(a) is not None)
    _crash(win2)
    win2.settings.set("reviewer_name", "Dr. A")
    boxes.answer = Btn.No
    make_window().session.offer_recovery_at_start()
    title, text = boxes.questions[-1]
    assert title == "Recover unsaved edits?" and "IMD009.jpg" in text and "edits by Dr. B" in text
