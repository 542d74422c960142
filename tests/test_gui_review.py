"""The review trial of issue 10 replayed on the real window (pytest-qt, offscreen).

One test per numbered finding of "Never lose or misattribute work" (``test_finding_1_...`` to
``test_finding_5_...``), then the rest of what the trial found. Each drives the widgets a user
drives (slider, mouse, menus, keys) and checks the resulting state and files.
"""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
pytest.register_assert_rewrite("_gui")
from _gui import SAMPLES, Btn, drag  # noqa: E402, F401
from PySide6 import QtCore  # noqa: E402

from dermview.gui.testing import process  # noqa: E402
from dermview.postprocess import mask_from_prob  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


def _segmented(make_window, path):
    win = make_window([path])
    win.actions["segment"].trigger()
    assert win.wait_idle(120) and win.doc.prob is not None
    return win


def _slide_threshold(win, values):
    """Drag the Threshold slider through ``values`` (0-100) and let the debounce fire."""
    for v in values:
        win.seg_panel.threshold_slider.setValue(v)
        process(5)
    process(300)


# --------------------------------------------------------------------------------- finding 1
def test_finding_1_threshold_keeps_hand_edited_pixels(make_window, data, qtbot):
    """Open, Ctrl+R, brush a blob, drag Threshold 0.50 → 0.75: the blob stays."""
    win = _segmented(make_window, data / "IMD009.jpg")
    win.set_tool("brush")
    win.edit.set_radius(8)
    drag(qtbot, win.before, [(40.5, 330.5), (70.5, 340.5)])  # far from the lesion
    blob = win.doc.hand_edited_map()
    assert blob.sum() > 300 and win.doc.mask[blob].all()
    _slide_threshold(win, range(51, 76))
    assert win.doc.threshold == pytest.approx(0.75)
    assert win.doc.mask[blob].all(), "the hand-painted blob was thrown away"
    # Pixels nobody touched follow the new threshold.
    untouched = ~blob
    expected = mask_from_prob(win.doc.prob, 0.75)
    assert np.array_equal(win.doc.mask[untouched], expected[untouched])
    # The slider gesture is one undo step; undo brings back the 0.50 mask with the blob.
    assert win.doc.undo_stack.count() == 3
    win.undo()
    assert win.doc.threshold == pytest.approx(0.5) and win.doc.mask[blob].all()
    # The sidecar counts the stroke as the only hand edit.
    win.redo()
    meta = win.doc.label_meta_for_save(win.panel.params())
    assert meta.edit_operations == 1 and meta.edited_pixels == int(blob.sum())


# --------------------------------------------------------------------------------- finding 2
def test_finding_2_unwritable_labels_folder_offers_another_folder(make_window, data, boxes,
                                                                 qtbot, tmp_path):
    """"Cannot create the labels folder" → "Choose another folder…" → saved there at once;
    File → Labels folder… applies to the open image too."""
    (data / "labels").write_text("a file where the labels folder should be")  # mkdir fails
    win = make_window([data / "IMD009.jpg"])
    win.set_tool("brush")
    drag(qtbot, win.before, [(100.5, 100.5), (140.5, 110.5)])
    edited = win.doc.mask.copy()
    elsewhere = tmp_path / "my labels"
    elsewhere.mkdir()
    boxes.choice, boxes.folder = None, str(elsewhere)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert boxes.choices and "Cannot create the labels folder" in boxes.choices[-1][1]
    assert "Choose another folder…" in boxes.choices[-1][2]
    assert win.doc.dirty and not list(elsewhere.iterdir())  # Cancel: nothing saved
    boxes.choice = "Choose another folder…"
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    png = elsewhere / "IMD009_segmentation.png"
    assert png.is_file() and not win.doc.dirty
    assert win.doc.label_paths[0] == png
    # File → Labels folder… with another writable folder: the next Ctrl+S goes there.
    other = tmp_path / "other"
    other.mkdir()
    drag(qtbot, win.before, [(200.5, 200.5), (220.5, 200.5)])
    boxes.folder = str(other)
    win.actions["labels_dir"].trigger()
    n = len(boxes.choices)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert (other / "IMD009_segmentation.png").is_file() and len(boxes.choices) == n
    assert not np.array_equal(edited, win.doc.mask)


# --------------------------------------------------------------------------------- finding 3
def test_finding_3_cancel_keeps_labels_folder_and_it_is_always_shown(make_window, data, boxes,
                                                                     tmp_path):
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    win = make_window([data / "IMD009.jpg"])
    shown = win.status.labels_label
    assert shown.text().endswith(str(data / "labels"))  # the default, visible from the start
    boxes.folder = str(chosen)
    win.actions["labels_dir"].trigger()
    assert win.saving.labels_dir == chosen and shown.text().endswith(str(chosen))
    boxes.folder = ""  # Cancel
    win.actions["labels_dir"].trigger()
    assert win.saving.labels_dir == chosen, "Cancel changed the labels folder"
    assert shown.text().endswith(str(chosen)) and shown.isVisible()
    assert win.doc.label_paths[0].parent == chosen
    win.actions["labels_beside"].trigger()  # the explicit way back to labels/ beside the image
    assert win.saving.labels_dir is None and shown.text().endswith(str(data / "labels"))


# --------------------------------------------------------------------------------- finding 4
def _crash(win):
    """The window goes away without its normal close path (as after kill -9)."""
    win.segmenter.host.shutdown()
    win.preview.host.shutdown()
    win._closing = True
    win.saving.timer.stop()
    win.hide()


def test_finding_4_crash_recovery_is_listed_at_start_and_keeps_provenance(
        make_window, data, boxes, qtbot, tmp_path, model_name):
    from dermview.recovery import RecoveryStore

    a, b = data / "IMD009.jpg", data / "IMD002.jpg"
    other = tmp_path / "other" / "ISIC_0000095.jpg"
    other.parent.mkdir()
    shutil.copy(SAMPLES / other.name, other)
    win = _segmented(make_window, a)
    win.set_tool("brush")
    win.edit.set_radius(7)
    drag(qtbot, win.before, [(60.5, 60.5), (110.5, 80.5)])
    process(1000)  # the window of loss after a finished stroke is at most 1 s
    store = RecoveryStore(tmp_path / "recovery")
    entry = store.entry_for(a)
    assert entry is not None and np.array_equal(store.load(entry), win.doc.mask)
    expected = win.doc.label_meta_for_save(win.panel.params()).to_dict()
    edited, prob = win.doc.mask.copy(), win.doc.prob.copy()
    _crash(win)
    # An older crash left unsaved work of a second image.
    mask_b = np.zeros((384, 512), bool)
    mask_b[100:200, 100:250] = True
    store.save(b, mask_b)

    # Restart on another image: every recoverable case is listed at once.
    boxes.answer = Btn.Yes
    win2 = make_window([other])
    win2.session.offer_recovery_at_start()
    assert len(boxes.questions) == 1
    title, text = boxes.questions[0]
    assert title == "Recover unsaved edits?" and "IMD009.jpg" in text and "IMD002.jpg" in text
    wl = win2.worklist
    assert {a.resolve(), b.resolve()} <= {p.resolve() for p in wl.paths}
    marked = [wl.table.item(r, 1).text() for r, p in enumerate(wl.paths) if p.name != other.name]
    assert marked == ["unsaved edits ⟲"] * 2
    assert win2.doc.path.name == other.name  # still the image asked for

    # Opening the crashed case restores it without asking again, with its provenance.
    assert win2.session.open_image(a) and win2.wait_idle(30)
    assert len(boxes.questions) == 1
    assert np.array_equal(win2.doc.mask, edited) and win2.doc.dirty
    assert win2.doc.prob is not None and np.array_equal(win2.doc.prob, prob)
    assert win2.doc.undo_stack.text(0) == "Recovered autosave"
    assert win2.saving.save()
    meta = json.loads((data / "labels" / "IMD009_segmentation.json").read_text())
    for key in ("source", "model_name", "model_sha256", "threshold", "edited", "edited_pixels",
                "edit_operations", "preprocess_params"):
        assert meta[key] == expected[key], key
    assert meta["source"] == "model" and meta["model_name"] == model_name
    assert 0 < meta["edited_pixels"] < int(edited.sum())  # the stroke, not every lesion pixel
    assert store.entry_for(a) is None


# --------------------------------------------------------------------------------- finding 5
def test_finding_5_model_gets_its_own_preprocessing_and_threshold_resets(make_window, data):
    """Settings tried in the panel on one image do not feed the model, on this image or the
    next; the panel says when they differ; the threshold starts over per image unless pinned."""
    win = make_window([data])
    model = win.segmenter.model_params
    assert win.panel.params() == (model or type(win.panel.params())())
    assert "the model's preprocessing" in win.panel.model_note.text()
    win.panel.se_size.setValue(21)  # an experiment on the first image
    assert win.wait_idle(30) and win.doc.preview_params.se_size == 21
    assert "se_size 21" in win.panel.model_note.text()
    assert "segmentation uses the model's" in win.panel.model_note.text()
    win.actions["segment"].trigger()
    assert win.wait_idle(120) and win.doc.prob is not None
    used = win.doc.model.params
    assert used == (model.to_dict() if model is not None else None), used
    _slide_threshold(win, [60, 65, 70])
    assert win.doc.threshold == pytest.approx(0.70)
    # The next image starts from the model's preprocessing and threshold.
    win.doc.undo_stack.setClean()
    assert win.session.next_image() and win.wait_idle(30)
    assert win.panel.params().se_size != 21
    assert win.seg_panel.threshold == pytest.approx(win.segmenter.default_threshold)
    # Explicitly asked: the panel's settings are used, and a pinned threshold stays.
    win.panel.use_check.setChecked(True)
    win.panel.se_size.setValue(15)
    win.seg_panel.pin_check.setChecked(True)
    win.seg_panel.threshold_slider.setValue(40)
    assert "Segmentation uses these settings" in win.panel.model_note.text()
    win.actions["segment"].trigger()
    assert win.wait_idle(120) and win.doc.model.params["se_size"] == 15
    win.doc.undo_stack.setClean()
    assert win.session.previous_image() and win.wait_idle(30)
    assert win.panel.params().se_size == 15 and win.seg_panel.threshold == pytest.approx(0.40)
