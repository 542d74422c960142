"""Model → "Improve the model from my labels…": the training process's lifecycle (start,
progress, finish, cancel) driven through the real dialog, switching and reverting models, the
model list, and the sidecar mark of a user-trained model. Each test starts a real
``dermview finetune`` process (a few seconds of CPU; minutes on a busy machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pytestqt")

from _weights import make_weights  # noqa: E402
from PySide6 import QtCore  # noqa: E402
from test_finetune import make_folder  # noqa: E402

from dermview.gui.finetune_dialog import ModelsDialog  # noqa: E402
from dermview.gui.model_list import ModelEntry, list_models  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window

LeftButton = QtCore.Qt.MouseButton.LeftButton
# the app fixtures (window with isolated settings, message boxes recorded) come from tests/_gui.py


def _start(qtbot, win, folder: Path, out: Path, steps: int):
    ctl = win.models
    ctl.use_model(make_weights(out.parent, "base"))  # a tiny base: the run takes seconds
    ctl.extra_args = ["--max-steps", str(steps)]
    ctl.improve()
    dlg = ctl.dialog
    dlg.folder_edit.setText(str(folder))
    dlg.out_edit.setText(str(out))
    events = []
    ctl.process.progress.connect(lambda *a: events.append(a))
    qtbot.mouseClick(dlg.start_btn, LeftButton)
    assert ctl.process.running and not dlg.start_btn.isEnabled() and dlg.cancel_btn.isEnabled()
    return ctl, dlg, events


def test_improve_model_runs_in_a_process_and_switches(qtbot, make_window, tmp_path):
    win = make_window()
    folder = make_folder(tmp_path / "clinic", 8)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl, dlg, events = _start(qtbot, win, folder, out, steps=2)
    assert win.segmenter.weights.endswith("base.pt")
    with qtbot.waitSignal(ctl.process.finished, timeout=900_000) as done:
        pass
    result = done.args[0]
    assert not ctl.process.running and dlg.start_btn.isEnabled()
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert events and events[-1][0] == events[-1][1]  # progress reached its total
    assert any(e[2].startswith("training") for e in events)
    assert result["verdict"] in dlg.result_label.text()
    assert dlg.use_btn.isEnabled() == result["improved"]
    assert f"{result['base']['dice']:.3f}" in dlg.result_label.text()
    dlg.grab().save(str(tmp_path / "finetune_dialog.png"))

    # switch to the new model, see it in the list, then revert to the bundled one
    ctl.use_model(result["out"])
    assert win.segmenter.weights == str(out)
    assert win.settings.get("weights") == str(out)
    info = ModelEntry.read(out)
    assert info is not None and info.user_trained and "fine-tuned from tiny-test on 8" in info.origin
    assert out in ctl.known_models() and any(m.path == out for m in list_models([out]))
    dlg2 = ModelsDialog(list_models([out]), str(out))
    qtbot.addWidget(dlg2)
    row = next(i for i, m in enumerate(dlg2.models) if m.path == out)
    assert "(in use)" in dlg2.table.item(row, 0).text()
    with qtbot.waitSignal(dlg2.use_requested) as used:
        qtbot.mouseClick(dlg2.revert_btn, LeftButton)
    assert used.args == [""]
    ctl.use_model(used.args[0])
    assert win.segmenter.weights is None and win.settings.get("weights") == ""

    # a label whose mask the user-trained model made is marked so in its sidecar
    assert ctl.sidecar() is None  # nothing segmented yet
    win.doc.model.sha256 = info.sha256  # as if the new model had made the mask
    mark = ctl.sidecar()
    assert mark is not None and mark["user_trained"] is True and mark["file"] == "clinic.pt"


def test_cancel_stops_the_process_and_writes_nothing(qtbot, make_window, tmp_path):
    win = make_window()
    folder = make_folder(tmp_path / "clinic", 8)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl, dlg, events = _start(qtbot, win, folder, out, steps=100000)
    qtbot.waitUntil(lambda: any(e[2].startswith("training") for e in events), timeout=900_000)
    assert "min left" in dlg.phase_label.text()
    with qtbot.waitSignal(ctl.process.failed, timeout=120_000) as failed:
        qtbot.mouseClick(dlg.cancel_btn, LeftButton)
    assert "Cancelled" in failed.args[0] and "Cancelled" in dlg.result_label.text()
    assert not ctl.process.running and dlg.start_btn.isEnabled()
    assert sorted(p.name for p in out.parent.iterdir()) == ["base.json", "base.pt"]


def test_too_few_labels_disable_start_and_the_dialog_keeps_its_explanation(
        qtbot, make_window, tmp_path):
    """Trial findings: with one corrected label Start launched a training process only for it
    to refuse ten seconds later; the refusal's two lines squeezed the dialog's explanation,
    whose last line was cut off. Start waits for enough labels; the line says why."""
    win = make_window()
    folder = make_folder(tmp_path / "clinic", 1)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl = win.models
    ctl.improve()
    dlg = ctl.dialog
    dlg.folder_edit.setText(str(folder))
    dlg.out_edit.setText(str(out))
    qtbot.waitExposed(dlg)
    # before Start: the dialog says what labels the folder has and that they are too few
    qtbot.waitUntil(lambda: "needed" in dlg.labels_label.text(), timeout=5000)
    assert dlg.labels_label.text().startswith("1 corrected, 0 accepted label:")
    assert not dlg.start_btn.isEnabled() and "at least" in dlg.start_btn.toolTip()
    qtbot.mouseClick(dlg.start_btn, LeftButton)
    assert not ctl.process.running
    qtbot.wait(50)
    intro = dlg.intro
    assert intro.height() >= intro.heightForWidth(intro.width())  # every line shown
    assert not out.exists()
    # enough labels in another folder: Start is back
    dlg.folder_edit.setText(str(make_folder(tmp_path / "enough", 6)))
    qtbot.waitUntil(dlg.start_btn.isEnabled, timeout=5000)
    assert dlg.labels_label.text().endswith("enough to start") and dlg.start_btn.toolTip() == ""


def test_dialog_says_what_the_default_run_does_in_plain_units(qtbot):
    """Trial finding: the dialog said it "trains a copy" and holds labels out, but the default
    run takes no training step ("Scored on 6 corrected labels (no label trained the model)
    of 6; 0.2 min"); the ETA read "about 0.3 min left"."""
    from dermview.gui.finetune_dialog import FinetuneDialog

    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert "Trains a copy" not in dlg.intro.text() and "no training step" in dlg.intro.text()
    dlg.set_progress(2, 9, "scoring the base model", 18.0)
    assert dlg.phase_label.text() == "Scoring the base model · about 20 s left"
    dlg.set_progress(5, 9, "training", 150.0)
    assert dlg.phase_label.text() == "Training · about 2.5 min left"
    scores = {"dice": 0.98, "jaccard": 0.96, "thresholded_jaccard": 0.96, "failures": 0, "n": 6}
    qtbot.mouseClick(dlg.start_btn, LeftButton)  # as a run starts: the result is cleared
    dlg.show_result({"base": scores, "new": dict(scores, dice=0.97), "verdict": "NOT better",
                     "scheme": "no label trained the model", "labels": 6, "seconds": 12.4,
                     "out": "/tmp/m/wl.pt", "improved": False})
    text = dlg.result_label.text()
    assert "Scored on 6 corrected labels of the 6 labels found; none was used to make the new model; 12 s." \
        in text and "(no label trained the model)" not in text
    dlg.show_result({"base": scores, "new": scores, "verdict": "NOT better", "scheme": "3-fold",
                     "labels": 8, "seconds": 150.0, "out": "/tmp/m/wl.pt", "improved": False})
    assert "Scored on 6 corrected labels (3-fold) of the 8 labels found; 2.5 min." in dlg.result_label.text()


def test_a_second_start_does_not_replace_the_first_runs_model(qtbot, tmp_path):
    """Trial finding: Start again after a finished run wrote to the same suggested file
    (``--overwrite``), replacing the first new model, which may be the one in use."""
    from dermview.gui.finetune_dialog import FinetuneDialog

    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    dlg.folder_edit.setText(str(tmp_path / "wl"))
    dlg.suggest_output(tmp_path)
    first = Path(dlg.out_edit.text())
    assert first.parent == tmp_path and first.name.startswith("wl-")
    first.write_bytes(b"the first run's model")  # as the first run leaves it
    first.with_suffix(".json").write_text("{}")
    with qtbot.waitSignal(dlg.start_clicked) as started:
        qtbot.mouseClick(dlg.start_btn, LeftButton)
    out = Path(started.args[1])
    assert out != first and out.name == f"{first.stem}-2.pt" and dlg.out_edit.text() == str(out)
    assert not out.exists()
    # a name the user typed is theirs
    dlg.out_edit.clear()
    qtbot.keyClicks(dlg.out_edit, str(first))
    with qtbot.waitSignal(dlg.start_clicked) as started:
        qtbot.mouseClick(dlg.start_btn, LeftButton)
    assert Path(started.args[1]) == first


def test_the_model_list_offers_only_segmentation_models(qtbot, make_window, monkeypatch):
    """Trial finding: Model → Models… listed the bundled lesion classifier; "Use selected
    model" on it made it the segmentation model (remembered), and Segment then failed with
    "classifier.pt: unknown resize policy 'lesion-crop'"."""
    from PySide6 import QtGui

    # the trial's screen (the offscreen one is 800 px wide)
    monkeypatch.setattr(QtGui.QScreen, "availableGeometry",
                        lambda _self: QtCore.QRect(0, 0, 1600, 1000))
    win = make_window()
    win.models.show_models()
    dlg = win.models.models_dialog
    qtbot.waitExposed(dlg)
    names = [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]
    assert names and not any("classifier" in n for n in names), names
    assert all(m.path.name != "classifier.pt" for m in dlg.models)
    assert any(m.path.name == "dermview_default.pt" for m in dlg.models)
    # every column in view, no horizontal scrolling (trial finding: "Held-out Dice" was cut)
    assert dlg.table.horizontalScrollBar().maximum() == 0


def test_models_dialog_marks_the_model_in_use_after_a_switch(qtbot, make_window, tmp_path):
    """Trial finding: "(in use)" stayed on the old row after "Use selected model"."""
    win = make_window()
    ctl = win.models
    mine = make_weights(tmp_path, "mine")
    ctl.use_model(None)
    ctl._remember(mine)
    ctl.show_models()
    dlg = ctl.models_dialog
    qtbot.addWidget(dlg)
    names = [dlg.table.item(i, 0).text() for i in range(dlg.table.rowCount())]
    row = next(i for i, m in enumerate(dlg.models) if m.path == mine)
    assert "(in use)" not in names[row] and sum("(in use)" in n for n in names) == 1
    dlg.table.selectRow(row)
    qtbot.mouseClick(dlg.use_btn, LeftButton)
    assert win.segmenter.weights == str(mine)
    names = [dlg.table.item(i, 0).text() for i in range(dlg.table.rowCount())]
    assert "(in use)" in names[row] and sum("(in use)" in n for n in names) == 1
    qtbot.mouseClick(dlg.revert_btn, LeftButton)
    assert "(in use)" not in dlg.table.item(row, 0).text()
    # a double-click on a row uses that model, as the button does
    dlg.show()
    qtbot.waitExposed(dlg)
    rect = dlg.table.visualItemRect(dlg.table.item(row, 1))
    qtbot.mouseClick(dlg.table.viewport(), LeftButton, pos=rect.center())  # a real double
    qtbot.mouseDClick(dlg.table.viewport(), LeftButton, pos=rect.center())  # click: press first
    assert win.segmenter.weights == str(mine) and "(in use)" in dlg.table.item(row, 0).text()
    # and the Improve dialog's time limit reads "10.0 min" (was "10.00 min")
    ctl.improve()
    assert ctl.dialog.minutes.text() == "10.0 min"


def test_a_long_label_summary_is_shown_whole(qtbot, make_window, tmp_path):
    """Seen at 100 %: "0 corrected, 0 accepted, 5 unreviewed (not used), 1 rejected (not
    used) labels: at least 6 corrected ones are needed" wrapped to two lines that the open
    dialog cut at the top and bottom."""
    win = make_window()
    ctl = win.models
    ctl.improve()
    dlg = ctl.dialog
    qtbot.waitExposed(dlg)
    dlg.show_label_summary("0 corrected, 0 accepted, 5 unreviewed (not used), 1 rejected "
                           "(not used) labels: at least 6 corrected ones are needed " * 2, False)
    qtbot.wait(50)
    label = dlg.labels_label
    assert label.height() >= label.heightForWidth(label.width())


def test_models_list_says_why_a_bundled_model_has_no_held_out_dice(qtbot):
    """Trial finding: the Models dialog's "Held-out Dice" column was blank for both bundled
    models, with nothing to say why."""
    from dermview.gui.model_list import ModelEntry

    models = [ModelEntry(Path("bundled.pt"), "bundled", "0" * 64, False,
                         "bundled with dermview", ""),
              ModelEntry(Path("clinic.pt"), "clinic", "1" * 64, True, "fine-tuned from bundled",
                         "0.901 → 0.915 on 31 of your labels (better)")]
    dlg = ModelsDialog(models, None)
    qtbot.addWidget(dlg)
    assert dlg.table.item(0, 1).text() == "—" and "model card" in dlg.table.item(0, 1).toolTip()
    assert dlg.table.item(1, 1).text() == "0.901 → 0.915 on 31 of your labels (better)"
    assert "held out" in dlg.table.horizontalHeaderItem(1).toolTip()
    assert "different images" in dlg.table.horizontalHeaderItem(1).toolTip()
    # the bundled default says its validation Dice, from its training metadata
    from dermview import paths
    from dermview.model.weights import read_metadata

    default = ModelEntry.read(paths.models_dir() / "dermview_default.pt")
    dice = read_metadata(paths.models_dir() / "dermview_default.pt")["metrics"]["dice"]
    assert default is not None and default.heldout.startswith(f"{dice:.3f} on ")
    assert default.heldout.endswith(" validation images")


def test_models_list_says_on_what_a_user_models_dice_was_measured(tmp_path):
    """The column put a bundled model's "0.906 (validation, 323 images)" beside a user model's
    bare "0.901 → 0.915 (better)", measured on the clinic's own labels: read as one measure,
    the two ranked models that were scored on different images."""
    from _weights import make_weights

    from dermview.gui.model_list import ModelEntry

    ft = {"image_dir": str(tmp_path / "clinic"), "improved": True,
          "scores": {"base": {"dice": 0.901, "n": 31}, "new": {"dice": 0.915, "n": 31}}}
    path = make_weights(tmp_path, "clinic", user_trained=True, finetune=ft,
                        training={"kind": "finetune", "steps_per_run": 40, "finished": "2026-12-07T10:00:00"},
                        parent={"name": "bundled", "file": "bundled.pt", "sha256": "0" * 64})
    entry = ModelEntry.read(path)
    assert entry is not None and entry.user_trained
    assert entry.heldout == "0.901 → 0.915 on 31 of your labels (better)"


def test_a_user_trained_model_can_be_deleted_from_the_models_list(
        qtbot, make_window, tmp_path, boxes):
    """Trial finding: a model that was not better stayed on disk and in Model → Models…
    with no way to remove it."""
    from PySide6 import QtWidgets

    Btn = QtWidgets.QMessageBox.StandardButton
    win = make_window()
    ctl = win.models
    mine = make_weights(tmp_path, "mine", user_trained=True)
    used = make_weights(tmp_path, "used", seed=1, user_trained=True)
    ctl._remember(mine)
    ctl.use_model(used)
    ctl.show_models()
    dlg = ctl.models_dialog
    qtbot.addWidget(dlg)

    def select(path):
        dlg.table.selectRow(next(i for i, m in enumerate(dlg.models) if m.path == path))

    select(Path(win.segmenter.weights))  # the model in use: not deletable
    assert not dlg.delete_btn.isEnabled() and "in use" in dlg.delete_btn.toolTip()
    bundled = next(m for m in dlg.models if not m.user_trained)
    select(bundled.path)
    assert not dlg.delete_btn.isEnabled() and "trained here" in dlg.delete_btn.toolTip()
    select(mine)
    assert dlg.delete_btn.isEnabled()
    boxes.answer = Btn.Cancel  # the user changes their mind: nothing happens
    qtbot.mouseClick(dlg.delete_btn, LeftButton)
    assert mine.is_file() and boxes.questions and "mine.pt" in boxes.questions[-1][1]
    boxes.answer = Btn.Yes
    qtbot.mouseClick(dlg.delete_btn, LeftButton)
    assert not mine.exists() and not mine.with_suffix(".json").exists()
    assert all(m.path != mine for m in dlg.models)
    assert dlg.table.rowCount() == len(dlg.models)
    assert mine not in ctl.known_models() and all(m.path != mine for m in
                                                  list_models(ctl.known_models()))
    assert used.is_file()  # the other one stays
    # the controller refuses the model in use even when asked directly
    assert not ctl.delete_model(used) and used.is_file()
    assert "in use" in boxes.warnings[-1][1]
    # the Improve dialog's "Delete the new model" goes through the same confirmation
    new = make_weights(tmp_path, "new", seed=2, user_trained=True)
    scores = {"dice": 0.9, "jaccard": 0.82, "thresholded_jaccard": 0.8, "failures": 1, "n": 5}
    ctl.improve()
    ctl._on_finished({"out": str(new), "improved": False, "verdict": "not better",
                      "base": scores, "new": scores, "scheme": "5-fold", "labels": 25,
                      "seconds": 30.0})
    assert new in ctl.known_models()
    qtbot.mouseClick(ctl.dialog.discard_btn, LeftButton)
    assert not new.exists() and new not in ctl.known_models()
    assert "deleted" in ctl.dialog.phase_label.text() and not ctl.dialog.discard_btn.isEnabled()


def test_the_improve_dialog_deletes_a_new_model_that_is_not_better(qtbot, tmp_path):
    """After a run, "Delete the new model" is offered (a model not better is of no use)."""
    from dermview.gui.finetune_dialog import FinetuneDialog

    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    assert not dlg.discard_btn.isEnabled()  # nothing trained yet
    # ... and nothing to keep or not: closing is just closing
    assert dlg.keep_btn.text() == "Close"
    scores = {"dice": 0.9, "jaccard": 0.82, "thresholded_jaccard": 0.8, "failures": 1, "n": 5}
    dlg.show_result({"out": str(tmp_path / "new.pt"), "improved": False, "verdict": "not better",
                     "base": scores, "new": {**scores, "dice": 0.89}, "scheme": "5-fold",
                     "labels": 25, "seconds": 30.0})
    assert dlg.discard_btn.isEnabled() and not dlg.use_btn.isEnabled()
    assert dlg.keep_btn.text() == "Keep the current model"
    with qtbot.waitSignal(dlg.discard_clicked):
        qtbot.mouseClick(dlg.discard_btn, LeftButton)
    dlg.show_discarded("The new model was deleted.")
    assert not dlg.discard_btn.isEnabled() and "deleted" in dlg.phase_label.text()
    assert dlg.keep_btn.text() == "Close"


def test_a_label_keeps_its_user_trained_mark_after_its_model_was_deleted(
        qtbot, make_window, tmp_path):
    """Re-saving (accepting) a label a since-deleted fine-tuned model made keeps the sidecar's
    ``model_provenance``: the mark came only from the models still listed."""
    from dermview.io import load_mask
    from dermview.labels import LabelMeta, image_sha256, read_label_meta, save_label

    folder = make_folder(tmp_path / "clinic", 1, sidecar_every=0)
    img = next(folder.glob("*.png"))
    mask = load_mask(folder / "labels" / f"{img.stem}_segmentation.png")
    mark = {"user_trained": True, "name": "clinic model", "file": "clinic.pt",
            "origin": "fine-tuned from tiny-test on 25 labels of clinic (2026-12-07 06:00)"}
    sha = "cd" * 32
    save_label(img, mask, LabelMeta(image_sha256=image_sha256(img), image_size=(64, 48),
                                    model_name="clinic model", model_sha256=sha,
                                    source="model", extras={"model_provenance": mark}))
    win = make_window([img])
    assert win.doc.model.sha256 == sha
    assert win.models.sidecar() == mark  # no model of that SHA-256 is listed any more
    assert win.review.accept()
    saved = read_label_meta(img)
    assert saved["review_state"] == "accepted" and saved["model_provenance"] == mark


def _unlabelled_image(make_window, tmp_path, improved: bool):
    """A folder with one image and no label yet (the model's mask is what is saved), a window
    open on it, and the metadata of a run without a training step on that folder."""
    folder = make_folder(tmp_path / "clinic", 1, sidecar_every=0)
    img = next(folder.glob("*.png"))
    (folder / "labels").rename(folder / "expert")
    run = {"parent": {"name": "tiny-test"}, "training": {"steps_per_run": 0, "finished": ""},
           "finetune": {"labels": [{}] * 5, "image_dir": str(folder), "improved": improved}}
    return folder, img, make_window([img]), run


def test_a_label_names_the_model_in_use_when_two_share_its_weights(qtbot, make_window, tmp_path):
    """Trial finding: two runs without a training step wrote models of identical weights (one
    SHA-256); with the first in use, a saved label's ``model_provenance`` named the second
    (and its origin) while ``model_name`` named the first."""
    from dermview.labels import read_label_meta

    folder, img, win, run = _unlabelled_image(make_window, tmp_path, improved=False)
    ctl = win.models
    first = make_weights(tmp_path, "first", name="clinic-first", user_trained=True, **run)
    second = make_weights(tmp_path, "second", name="clinic-second", user_trained=True,
                          **run)  # same seed: the same weights, the same SHA-256
    ctl._remember(second)
    ctl.use_model(first)
    win.actions["segment"].trigger()
    assert win.wait_idle(60) and win.doc.model.name == "clinic-first"
    assert win.review.accept()
    saved = read_label_meta(img)
    assert saved["model_name"] == "clinic-first"
    assert saved["model_provenance"]["name"] == "clinic-first"
    assert saved["model_provenance"]["file"] == "first.pt"
    # the case report's model line says where it came from (it read "fine-tuned from ? on ?
    # labels": the app's mark lacked the parent and the label count)
    line = win.lesion.report_info().model
    assert "USER-TRAINED" in line and "?" not in line, line
    # a run without a training step trained nothing: not "fine-tuned on 5 labels"
    assert "tiny-test with per-image colour standardisation (no training step), scored on " \
        "5 labels" in line
    entry = ModelEntry.read(first)
    assert "fine-tuned" not in entry.origin and entry.origin.endswith(f"scored on 5 labels of {folder.name}")


def test_a_model_found_not_better_is_used_from_the_list_only_when_confirmed(
        qtbot, make_window, tmp_path, boxes):
    """Trial finding: Model → Models… → Use selected model switched to a model its own run
    had found NOT better, without a word (the Improve dialog greys that choice out)."""
    from PySide6 import QtWidgets

    Btn = QtWidgets.QMessageBox.StandardButton
    win = make_window()
    ctl = win.models
    worse = make_weights(tmp_path, "worse", user_trained=True, finetune={
        "improved": False, "verdict": "The new model is NOT better: it fails more often."})
    better = make_weights(tmp_path, "better", seed=1, user_trained=True,
                          finetune={"improved": True, "verdict": "The new model is better."})
    for p in (worse, better):
        ctl._remember(p)
    ctl.show_models()
    dlg = ctl.models_dialog
    qtbot.addWidget(dlg)
    before = win.segmenter.weights

    def use(path):
        dlg.table.selectRow(next(i for i, m in enumerate(dlg.models) if m.path == path))
        qtbot.mouseClick(dlg.use_btn, LeftButton)

    boxes.answer = Btn.Cancel
    use(worse)
    assert boxes.questions and "NOT better: it fails more often" in boxes.questions[-1][1]
    assert win.segmenter.weights == before  # not switched
    boxes.answer = Btn.Yes
    use(worse)
    assert win.segmenter.weights == str(worse)
    asked = len(boxes.questions)
    use(better)  # a better one: no question
    assert win.segmenter.weights == str(better) and len(boxes.questions) == asked


def test_a_model_trained_elsewhere_is_added_to_the_models_list(qtbot, make_window, tmp_path,
                                                              monkeypatch, boxes):
    """A model written by `dermview finetune --out` outside the models folder (or a
    colleague's) was listed only after a start with --weights: "Add model file…" lists it,
    and refuses a file that cannot segment, saying why."""
    from PySide6 import QtWidgets

    win = make_window()
    ctl = win.models
    elsewhere = tmp_path / "lab"
    elsewhere.mkdir()
    theirs = make_weights(elsewhere, "colleague", user_trained=True)
    ctl.show_models()
    dlg = ctl.models_dialog
    qtbot.addWidget(dlg)
    n = dlg.table.rowCount()
    chosen = [str(theirs.with_suffix(".json"))]  # the metadata file chosen: the .pt is meant
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (chosen[0], "")))
    qtbot.mouseClick(dlg.add_btn, LeftButton)
    assert dlg.table.rowCount() == n + 1 and dlg.models[-1].path == theirs
    # no fine-tuning details in its metadata: said so, not "fine-tuned from ? on 0 labels of ?"
    assert dlg.models[-1].origin == "fine-tuned (its metadata does not say from what)"
    assert dlg.table.selectionModel().selectedRows()[0].row() == n
    assert theirs in ctl.known_models() and not boxes.warnings
    qtbot.mouseClick(dlg.use_btn, LeftButton)  # and it can be used at once
    assert win.segmenter.weights == str(theirs)
    # altered after it was written: refused, not listed
    bad = make_weights(elsewhere, "altered", seed=3, user_trained=True)
    with bad.open("ab") as f:
        f.write(b"x")
    chosen[0] = str(bad)
    qtbot.mouseClick(dlg.add_btn, LeftButton)
    assert dlg.table.rowCount() == n + 1 and bad not in ctl.known_models()
    assert boxes.warnings and "altered.pt was not added" in boxes.warnings[-1][1]
    # Cancel in the file dialog: nothing happens
    chosen[0] = ""
    assert not ctl.add_model_file() and dlg.table.rowCount() == n + 1


def test_without_pytorch_the_dialog_says_it_cannot_fine_tune_and_start_stays_off(
        qtbot, make_window, tmp_path, monkeypatch):
    """Trial finding (packaged app, no PyTorch): with enough labels Start was on and the run
    ended "Stopped" with "[PYI-2936:ERROR] Failed to execute script 'launcher' due to
    unhandled exception!". The dialog says at once that this installation cannot fine-tune,
    and why; Start stays off whatever the folder holds."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # as in the frozen app
    win = make_window()
    ctl = win.models
    ctl.improve()
    dlg = ctl.dialog
    qtbot.waitExposed(dlg)
    dlg.folder_edit.setText(str(make_folder(tmp_path / "enough", 6)))
    qtbot.waitUntil(lambda: dlg.labels_label.text().endswith("enough to start"), timeout=5000)
    assert not dlg.start_btn.isEnabled()
    text = dlg.result_label.text()
    assert "Not available here" in text and "PyTorch" in text and "source" in text
    assert "PyTorch" in dlg.start_btn.toolTip()
    qtbot.mouseClick(dlg.start_btn, LeftButton)
    assert not ctl.process.running


def test_without_pytorch_the_finetune_command_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    """``dermview finetune`` from the packaged app printed an ImportError traceback."""
    import sys

    import dermview.finetune as package
    from dermview.cli import main

    for name in ("torch", "dermview.finetune.engine", "dermview.finetune.run"):
        monkeypatch.setitem(sys.modules, name, None)  # as in the frozen app: none of them
    for name in ("engine", "run"):
        monkeypatch.delattr(package, name, raising=False)
    folder = make_folder(tmp_path / "clinic", 6)
    with pytest.raises(ImportError):  # what the frozen app met
        from dermview.finetune import FinetuneSettings  # noqa: F401
    assert main(["finetune", str(folder), "--out", str(tmp_path / "new.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "PyTorch" in err and "from source" in err
    assert not (tmp_path / "new.pt").exists()


def test_the_focus_stays_on_start_while_a_run_goes_on(qtbot):
    """Start is off while a run goes on, and Qt handed its focus on to "Close": the keyboard
    user's next Space closed the dialog of the run just started."""
    from dermview.gui.finetune_dialog import FinetuneDialog

    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.activateWindow()
    dlg.start_btn.setFocus(QtCore.Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(dlg.start_btn.hasFocus)
    dlg.set_running(True)
    assert not dlg.start_btn.isEnabled() and dlg.cancel_btn.isEnabled()
    assert not dlg.keep_btn.hasFocus() and not dlg.cancel_btn.hasFocus()
    dlg.set_running(False)  # the run ended: the focus is back on Start
    assert dlg.start_btn.hasFocus()


def test_a_new_run_does_not_put_the_focus_on_cancel_training(qtbot):
    """After Cancel training was clicked (the focus on it) a second Start must not hand the
    focus back to Cancel: the next Space would stop the run just started."""
    from dermview.gui.finetune_dialog import FinetuneDialog

    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.activateWindow()
    dlg.set_running(True)
    dlg.cancel_btn.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(dlg.cancel_btn.hasFocus)
    dlg.set_running(False)  # cancelled
    dlg.start_btn.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)  # Start again
    qtbot.waitUntil(dlg.start_btn.hasFocus)
    dlg.set_running(True)
    assert not dlg.cancel_btn.hasFocus()


def test_the_result_fits_the_improve_dialog(qtbot, tmp_path):
    """Seen at 150 %: after a run the buttons read "elete the new mode" and "ep the current
    mod" and the result table lost its last row (adjustSize stops at two thirds of the
    screen)."""
    from dermview.gui.finetune_dialog import FinetuneDialog

    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    scores = {"dice": 0.9394, "jaccard": 0.889, "thresholded_jaccard": 0.889, "failures": 0, "n": 10}
    dlg.show_result({"out": str(tmp_path / "imp-20261207-1311.pt"), "improved": False,
                     "verdict": "The new model is NOT better: worse (held-out Dice 0.9394 → 0.9368 (gain "
                                "-0.0027, 90% lower bound -0.0067), thresholded Jaccard 0.8889 → 0.8841, "
                                "failures 0 → 0 of 10); keep the base model.",
                     "base": scores, "new": {**scores, "dice": 0.9368}, "scheme": "no label trained the model",
                     "labels": 10, "seconds": 13.0})
    qtbot.wait(50)
    for b in (dlg.start_btn, dlg.cancel_btn, dlg.use_btn, dlg.discard_btn, dlg.keep_btn):
        assert b.width() >= b.sizeHint().width(), b.text()
    label = dlg.result_label
    assert label.height() >= label.heightForWidth(label.width())


def test_the_models_list_shows_the_scores_at_150_percent(qtbot, monkeypatch):
    """Seen at 150 %: a user model's long origin ("litesegnet-lite0-pre with per-image colour
    standardisation (no training step), scored on 10 labels of imp (…)") pushed the held-out
    Dice behind the horizontal scroll bar. The Dice is beside the name, and a long origin or
    path is cut in the middle (whole in its tooltip)."""
    from PySide6 import QtGui

    from dermview.gui.model_list import ModelEntry

    monkeypatch.setattr(QtGui.QScreen, "availableGeometry",
                        lambda _self: QtCore.QRect(0, 0, 1066, 666))  # 1600 x 1000 at 150 %
    origin = ("litesegnet-lite0-pre with per-image colour standardisation (no training step), "
              "scored on 10 labels of imp (2026-12-07 13:11)")
    models = [ModelEntry(Path("/opt/dermview/models/dermview_default.pt"), "litesegnet-lite0-pre",
                         "0" * 64, False, "bundled with dermview", "0.906 on 323 validation images"),
              ModelEntry(Path("/home/someone/.local/share/dermview/models/imp-20261207-1311.pt"),
                         "imp-20261207-1311", "1" * 64, True, origin,
                         "0.939 → 0.937 on 10 of your labels (not better)")]
    dlg = ModelsDialog(models, None)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    t = dlg.table
    assert t.horizontalHeaderItem(1).text() == "Held-out Dice"
    for row in range(2):
        cell = t.visualItemRect(t.item(row, 1))
        assert cell.right() <= t.viewport().width(), "the Dice is out of view"
        assert t.columnWidth(1) >= t.sizeHintForColumn(1)  # and whole
    assert t.item(1, 2).toolTip() == origin


def _run_without_training(qtbot, make_window, tmp_path):
    """A window, and its controller and Improve dialog after one finished default run (no
    training step) from a tiny base model on a folder of 8 labels; and the new model file."""
    win = make_window()
    folder = make_folder(tmp_path / "clinic", 8)
    out = tmp_path / "models" / "clinic.pt"
    out.parent.mkdir()
    ctl, dlg, _ = _start(qtbot, win, folder, out, steps=0)
    with qtbot.waitSignal(ctl.process.finished, timeout=900_000):
        pass
    return win, ctl, dlg, out


def test_a_run_that_makes_the_same_weights_again_says_so(qtbot, make_window, tmp_path):
    """Trial finding: every run of the default recipe (no training step) writes the same
    weights; the dialog called each one a new model and Model → Models… listed the copies
    with nothing to tell them apart from different models."""
    win, ctl, dlg, out = _run_without_training(qtbot, make_window, tmp_path)
    assert "Its weights are those of" not in dlg.result_label.text()  # the first of its kind
    again = out.with_name("clinic-again.pt")
    dlg.out_edit.setText(str(again))
    with qtbot.waitSignal(ctl.process.finished, timeout=900_000):
        qtbot.mouseClick(dlg.start_btn, LeftButton)
    assert ModelEntry.read(again).sha256 == ModelEntry.read(out).sha256
    first = ModelEntry.read(out).label()
    assert f"Its weights are those of {first}" in dlg.result_label.text()
    ctl.show_models()
    rows = {m.path: i for i, m in enumerate(ctl.models_dialog.models)}
    name = ctl.models_dialog.table.item(rows[again], 0).text()
    assert name.endswith(f"(same weights as {first})"), name
    assert "same weights" not in ctl.models_dialog.table.item(rows[out], 0).text()


def test_the_models_list_names_the_first_model_with_the_same_weights(tmp_path):
    run = {"training": {"steps_per_run": 0, "finished": ""},
           "finetune": {"labels": [{}] * 5, "image_dir": str(tmp_path), "improved": False}}
    a = make_weights(tmp_path, "a", name="clinic", user_trained=True, **run)
    b = make_weights(tmp_path, "b", name="clinic", user_trained=True, **run)  # same weights
    c = make_weights(tmp_path, "c", name="other", user_trained=True, seed=1, **run)
    entries = {m.path: m for m in list_models([a, b, c])}
    assert entries[a].same_as == "" and entries[c].same_as == ""
    assert entries[b].same_as == "clinic (a.pt)" and entries[a].label() == "clinic (a.pt)"


def test_a_label_of_the_base_model_is_not_marked_user_trained_after_a_run(
        qtbot, make_window, tmp_path):
    """Trial finding: a run without a training step wrote the base model's state dict
    unchanged (its colour standardisation was config only), so the new model had the base's
    SHA-256: labels the base model made afterwards were marked USER-TRAINED, with the new
    model's name, in their sidecars and case reports."""
    from dermview.labels import read_label_meta

    win, ctl, _dlg, out = _run_without_training(qtbot, make_window, tmp_path)
    folder = tmp_path / "clinic" / "images"
    base = Path(win.segmenter.weights)
    assert ModelEntry.read(out).sha256 != ModelEntry.read(base).sha256  # two models, two SHAs
    img = tmp_path / "new.png"
    img.write_bytes(next(folder.glob("*.png")).read_bytes())
    win.session.open_paths([img])
    assert win.wait_idle(60)
    win.actions["segment"].trigger()
    assert win.wait_idle(60) and win.doc.model.name == "tiny-test"
    assert win.review.accept()
    saved = read_label_meta(img)
    assert saved["model_sha256"] == ModelEntry.read(base).sha256
    assert "model_provenance" not in saved or not saved["model_provenance"], saved


def test_a_label_of_the_base_model_is_not_marked_by_an_older_copy_of_its_weights(
        qtbot, make_window, tmp_path):
    """A user model written before the colour standardisation was saved with the weights has
    its base's SHA-256: a label the base model made is still not marked as that model's."""
    from dermview.labels import read_label_meta

    _folder, img, win, run = _unlabelled_image(make_window, tmp_path, improved=True)
    ctl = win.models
    ctl._remember(make_weights(tmp_path, "old", name="clinic-old", user_trained=True, **run))
    ctl.use_model(make_weights(tmp_path, "base"))  # same seed: the same SHA-256
    win.actions["segment"].trigger()
    assert win.wait_idle(60) and win.doc.model.name == "tiny-test"
    assert win.review.accept()
    assert not read_label_meta(img).get("model_provenance")
    assert "USER-TRAINED" not in win.lesion.report_info().model
