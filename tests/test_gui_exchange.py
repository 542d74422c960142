"""File → Export labels as COCO… / labelme…: the worklist's saved labels (pytest-qt, offscreen)."""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import SAMPLES, Btn, drag, spy_wait_cursor  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from dermview.exchange.coco import read_coco  # noqa: E402
from dermview.exchange.labelme import read_labelme  # noqa: E402
from dermview.io import load_image, load_mask  # noqa: E402
from dermview.labels import LabelMeta, image_sha256, save_label  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, make_window


def _label(image, review: str | None, box: tuple[int, int, int, int]) -> np.ndarray:
    h, w = load_image(image).shape[:2]
    mask = np.zeros((h, w), bool)
    r0, r1, c0, c1 = box
    mask[r0:r1, c0:c1] = True
    save_label(image, mask, LabelMeta(image_sha256=image_sha256(image), image_size=(w, h),
                                      model_name="litesegnet", review_state=review),
               image.parent / "labels")
    return mask


@pytest.fixture
def worklist(tmp_path):
    """Three images, two of them labelled (one accepted, one a model mask nobody reviewed)."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    for name in ("IMD002.jpg", "IMD009.jpg", "ISIC_0000095.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    masks = {"IMD002.jpg": _label(folder / "IMD002.jpg", "accepted", (50, 200, 60, 300)),
             "ISIC_0000095.jpg": _label(folder / "ISIC_0000095.jpg", None, (100, 400, 200, 600))}
    return folder, masks


def _save_name(monkeypatch, path):
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), "COCO JSON (*.json)")))


def test_export_worklist_labels_as_coco(make_window, worklist, monkeypatch, tmp_path, boxes):
    folder, masks = worklist
    out = tmp_path / "out" / "clinic_coco.json"
    out.parent.mkdir()
    _save_name(monkeypatch, out)
    win = make_window([folder])
    assert win.actions["export_coco"].isEnabled()
    win.actions["export_coco"].trigger()
    coco = read_coco(out)
    assert set(coco.file_names) == set(masks)  # IMD009 has no label: not listed
    for name, mask in masks.items():
        assert np.array_equal(coco.mask(name), mask)
    anns = {a["image_id"]: a for a in json.loads(out.read_text())["annotations"]}
    states = {name: anns[i]["attributes"]["review_state"] for name, i in coco.file_names.items()}
    assert states == {"IMD002.jpg": "accepted", "ISIC_0000095.jpg": "unreviewed"}
    said = win.statusBar().currentMessage()
    assert "Exported 2 labels as COCO" in said  # trial finding: it read "2 label(s)", "mask(s)"
    assert "1 of them is an unreviewed model mask" in said  # ISIC_0000095: nobody reviewed it
    assert not boxes.warnings


def test_the_exports_name_the_reviewer_of_each_mask(make_window, worklist, monkeypatch,
                                                   tmp_path, boxes, qtbot):
    """Trial finding: an annotator ("Ana Ruiz" in the Review panel) accepted masks and handed
    the COCO / labelme export to a colleague: the attributes said "accepted" but not by whom
    (the sidecar and the case report do)."""
    folder, _masks = worklist
    win = make_window([folder / "ISIC_0000095.jpg"])
    win.review_panel.reviewer_edit.setText("Ana Ruiz")
    win.actions["accept"].trigger()  # A: accept and save
    qtbot.waitUntil(lambda: not win.doc.dirty)
    out = tmp_path / "coco.json"
    _save_name(monkeypatch, out)
    win.actions["export_coco"].trigger()
    coco = json.loads(out.read_text())
    names = {img["id"]: img["file_name"] for img in coco["images"]}
    attrs = {names[a["image_id"]]: a["attributes"] for a in coco["annotations"]}
    assert attrs["ISIC_0000095.jpg"]["review_state"] == "accepted"
    assert attrs["ISIC_0000095.jpg"]["reviewed_by"] == "Ana Ruiz"
    assert "reviewed_by" not in attrs.get("IMD009.jpg", {})
    lm = tmp_path / "labelme"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(lm)))
    win.actions["export_labelme"].trigger()
    (shape,) = json.loads((lm / "ISIC_0000095.json").read_text())["shapes"]
    assert json.loads(shape["description"])["reviewed_by"] == "Ana Ruiz"


def test_unsaved_changes_are_named_before_the_export(make_window, worklist, monkeypatch,
                                                     tmp_path, boxes, qtbot):
    folder, masks = worklist
    out = tmp_path / "coco.json"
    _save_name(monkeypatch, out)
    win = make_window([folder / "IMD002.jpg"])
    assert win.doc.path.name == "IMD002.jpg"
    win.set_tool("brush")
    drag(qtbot, win.before, [(300.5, 300.5), (340.5, 310.5)])  # paint beside the saved mask
    assert win.doc.dirty
    boxes.answer = Btn.Cancel
    assert win.exchange.export_labels("coco") == 0
    assert boxes.questions and "IMD002.jpg" in boxes.questions[-1][1] and not out.exists()
    boxes.answer = Btn.Yes
    assert win.exchange.export_labels("coco") == 1  # the worklist: the one image opened
    assert np.array_equal(read_coco(out).mask("IMD002.jpg"), masks["IMD002.jpg"])  # as saved


def test_export_labelme_asks_before_replacing(make_window, worklist, boxes, tmp_path):
    folder, masks = worklist
    target = tmp_path / "labelme"
    boxes.folder = str(target)
    win = make_window([folder])
    win.actions["export_labelme"].trigger()
    files = sorted(p.name for p in target.iterdir())
    assert files == ["IMD002.json", "ISIC_0000095.json"]
    mask, image_path, _attrs = read_labelme(target / "IMD002.json")
    assert np.array_equal(mask, masks["IMD002.jpg"])
    assert (target / image_path).resolve() == (folder / "IMD002.jpg").resolve()
    before = (target / "IMD002.json").stat().st_mtime_ns
    boxes.answer = Btn.Cancel
    assert win.exchange.export_labels("labelme") == 0
    assert "2 labelme files already exist in" in boxes.questions[-1][1]
    assert (target / "IMD002.json").stat().st_mtime_ns == before


def test_export_labelme_polygons_from_the_file_menu(make_window, worklist, boxes, tmp_path):
    """Trial finding: the app wrote labelme "mask" shapes only (labelme 5.5 or later); a
    colleague on an older labelme, or a tool that reads polygons, had to use `dermview export
    --polygons` on the command line. The polygons re-rasterised as labelme does (PIL polygon,
    outline and fill) give the saved masks."""
    from PIL import Image, ImageDraw

    folder, masks = worklist
    target = tmp_path / "labelme_poly"
    boxes.folder = str(target)
    win = make_window([folder])
    file_menu = next(m for t, m in win.menus if t == "File")
    assert win.actions["export_labelme_poly"] in file_menu.actions()
    win.actions["export_labelme_poly"].trigger()
    for name, mask in masks.items():
        doc = json.loads((target / f"{name.rsplit('.', 1)[0]}.json").read_text())
        assert {s["shape_type"] for s in doc["shapes"]} == {"polygon"}
        canvas = Image.new("L", (doc["imageWidth"], doc["imageHeight"]), 0)
        for shape in doc["shapes"]:
            ImageDraw.Draw(canvas).polygon([tuple(p) for p in shape["points"]], outline=1, fill=1)
        assert np.count_nonzero(np.asarray(canvas).astype(bool) != mask) <= 4


def test_unusable_labels_are_listed_and_the_rest_exported(make_window, worklist, tmp_path, boxes):
    folder, masks = worklist
    (folder / "labels" / "ISIC_0000095_segmentation.png").write_bytes(b"not a png")
    win = make_window([folder])
    assert win.exchange.export_labels("coco", tmp_path / "c.json") == 1
    assert set(read_coco(tmp_path / "c.json").file_names) == {"IMD002.jpg"}
    assert boxes.warnings and "ISIC_0000095" in boxes.warnings[-1][1]
    said = win.statusBar().currentMessage()
    assert "1 skipped" in said and "Exported 1 label as COCO" in said
    # nothing saved at all: said so, nothing written
    shutil.rmtree(folder / "labels")
    assert win.exchange.export_labels("coco", tmp_path / "none.json") == 0
    assert not (tmp_path / "none.json").exists()
    assert "No image of the worklist has a saved label" in boxes.warnings[-1][1]


def test_no_saved_label_is_said_before_any_question_or_file_dialog(make_window, data, boxes,
                                                                   monkeypatch, qtbot):
    """Trial finding: with no label saved yet, Export labels as COCO asked about the unsaved
    mask, then for a file name, and only then said there was nothing to export."""
    asked: list[str] = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: asked.append("file") or ("", "")))
    win = make_window([data])
    win.set_tool("brush")
    drag(qtbot, win.before, [(300.5, 300.5), (340.5, 310.5)])
    assert win.doc.dirty
    boxes.answer = Btn.Yes
    for action in ("export_coco", "export_labelme"):
        win.actions[action].trigger()
        assert not boxes.questions and not asked, (boxes.questions, asked)
        title, text = boxes.warnings[-1]
        assert title == "Nothing to export" and "Ctrl+S" in text


def test_a_rejected_mask_is_left_out_without_a_warning_box(make_window, worklist, tmp_path,
                                                          boxes):
    """Trial finding: every export warned "Some labels not exported" about the rejected mask,
    which is left out on purpose; the summary line says it instead."""
    folder, masks = worklist
    _label(folder / "IMD009.jpg", "rejected", (10, 100, 10, 100))
    win = make_window([folder])
    assert win.exchange.export_labels("coco", tmp_path / "c.json") == 2
    assert set(read_coco(tmp_path / "c.json").file_names) == set(masks)
    assert not boxes.warnings
    said = win.statusBar().currentMessage()
    assert "1 rejected left out" in said and "skipped" not in said


def test_the_export_dialogs_start_where_the_last_export_went(make_window, worklist, tmp_path,
                                                            monkeypatch, boxes):
    """Trial finding: every export dialog opened on the images' folder again, so each export
    of the day meant browsing to the hand-off folder again (also after a restart)."""
    folder, _ = worklist
    handoff = tmp_path / "handoff"
    handoff.mkdir()
    starts: list[str] = []

    def save_name(parent, title, start, *a, **k):
        starts.append(start)
        return str(handoff / "day1.json"), "COCO JSON (*.json)"

    def folder_dialog(parent, title, start, *a, **k):
        starts.append(start)
        return str(handoff / "lm") if "labelme" in title else ""

    (handoff / "lm").mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(save_name))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        staticmethod(folder_dialog))
    win = make_window([folder])
    assert win.exchange.export_labels("coco") == 2
    assert starts[-1] == str(folder / "labels_coco.json")  # the first time: the images' folder
    assert win.exchange.export_labels("labelme") == 2
    assert starts[-1] == str(folder)
    win2 = make_window([folder])  # a restart: the same settings
    assert win2.exchange.export_labels("coco") == 2
    assert starts[-1] == str(handoff / "labels_coco.json")
    boxes.answer = Btn.Yes  # replace the labelme files of the first export
    assert win2.exchange.export_labels("labelme") == 2 and starts[-1] == str(handoff / "lm")


def test_an_imported_label_accepted_here_stays_imported(make_window, worklist, tmp_path,
                                                        qtbot):
    """Accepting (or correcting) a mask brought from another tool saved it as "manual": its
    origin was lost, and the report said "no model (manual mask)". It stays "imported",
    with what the exporting tool said of it (here: accepted by its reviewer there)."""
    from dermview.cli import main
    from dermview.labels import label_paths, read_label_meta

    folder, masks = worklist
    out = tmp_path / "day1.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    colleague = tmp_path / "colleague"
    colleague.mkdir()
    for name in masks:
        shutil.copy(folder / name, colleague / name)
    assert main(["import", str(colleague), "--format", "coco", "--from", str(out)]) == 0
    image = colleague / "IMD002.jpg"
    win = make_window([image])
    said = win.seg_panel.model_label.text()
    assert "from the COCO file day1.json, accepted there by" in said, said
    assert win.review.accept()
    meta = read_label_meta(image)
    assert meta["source"] == "imported" and meta["review_state"] == "accepted"
    assert meta["imported_from"]["attributes"]["review_state"] == "accepted"
    assert "a mask brought from the COCO file day1.json" in win.lesion.report_info().model
    # a label with no sidecar at all (another tool's bare PNG) stays imported too
    png, js = label_paths(colleague / "ISIC_0000095.jpg")
    js.unlink()
    win.session.open_image(colleague / "ISIC_0000095.jpg")
    assert win.review.accept()
    assert read_label_meta(colleague / "ISIC_0000095.jpg")["source"] == "imported"


def test_the_dicom_seg_and_label_exports_show_the_wait_cursor(make_window, worklist, tmp_path,
                                                               monkeypatch, boxes):
    """Trial on 6000×4000 images: Export DICOM SEG froze the window 1-1.3 s with the normal
    cursor (written on the GUI thread), and each 24-MP label of a COCO / labelme export took
    half a second before the progress showed. Both now run under the wait cursor."""
    pytest.importorskip("highdicom")
    from dermview.exchange import coco, dicom_seg, labelme

    seen = [spy_wait_cursor(monkeypatch, module, name) for module, name in
            ((dicom_seg, "write_dicom_seg"), (coco, "write_coco"), (labelme, "write_labelme"))]
    folder, _ = worklist
    win = make_window([folder])
    assert win.exchange.export_dicom_seg(tmp_path / "dcm")
    assert win.exchange.export_labels("coco", tmp_path / "out.json") == 2
    assert win.exchange.export_labels("labelme", tmp_path / "labelme") == 2
    assert all(calls and all(calls) for calls in seen)  # each export, under the wait cursor
    assert QtWidgets.QApplication.overrideCursor() is None


def _coco_of_other_tool(tmp_path, box=(20, 120, 30, 160)):
    """A COCO file of the three images as another tool labelled them (one box each)."""
    from dermview.cli import main

    other = tmp_path / "other_tool"
    other.mkdir()
    masks = {}
    for name in ("IMD002.jpg", "IMD009.jpg", "ISIC_0000095.jpg"):
        shutil.copy(SAMPLES / name, other / name)
        masks[name] = _label(other / name, "accepted", box)
    coco = tmp_path / "from_other_tool.json"
    assert main(["export", str(other), "--format", "coco", "--out", str(coco)]) == 0
    return coco, masks


def test_import_labels_from_coco_in_the_app(make_window, worklist, monkeypatch, tmp_path, boxes,
                                            qtbot):
    """Trial S15B: the app had no import (the CLI only). File → Import labels from COCO…
    brings another tool's masks in as imported labels, for review; an image that has a label
    keeps it unless the user says to replace it (backed up)."""
    from dermview.labels import label_paths

    folder, masks = worklist
    coco, theirs = _coco_of_other_tool(tmp_path)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(coco), "COCO JSON (*.json)")))
    win = make_window([folder])
    qtbot.waitUntil(lambda: not win.segmenter.busy, timeout=20000)
    assert win.session.open_image(folder / "IMD002.jpg"), boxes.questions
    assert win.doc.label_loaded and not win.doc.dirty
    row = win.worklist.paths.index(folder / "IMD009.jpg")
    assert win.worklist.table.item(row, 1).text() == "new"
    boxes.answer = Btn.No  # keep the labels there are
    win.actions["import_coco"].trigger()
    assert "2 images of the import already have a label" in boxes.questions[-1][1]
    assert np.array_equal(load_mask(label_paths(folder / "IMD009.jpg")[0]), theirs["IMD009.jpg"])
    assert win.worklist.table.item(row, 1).text() == "imported"
    for name, mask in masks.items():  # kept
        assert np.array_equal(load_mask(label_paths(folder / name)[0]), mask)
    # kept at the user's word: said in the status bar, not listed in a warning as problems
    assert not boxes.warnings
    said = win.statusBar().currentMessage()
    assert said.startswith("Imported 1 label from from_other_tool.json") and \
        "2 images kept their labels (not replaced)" in said, said
    assert "Replace them with the imported masks? (The old labels are kept" in boxes.questions[-1][1]

    boxes.answer = Btn.Yes  # now replace them
    win.actions["import_coco"].trigger()
    for name in masks:
        assert np.array_equal(load_mask(label_paths(folder / name)[0]), theirs[name])
    assert any((folder / "labels" / ".backup").iterdir())
    # the open image, not edited here, shows the imported mask, and the status bar says it was
    # the import (not "saved by <user> elsewhere")
    assert np.array_equal(win.doc.mask, theirs["IMD002.jpg"]) and not win.doc.dirty
    said = win.statusBar().currentMessage()
    assert said.startswith("Imported 3 labels from from_other_tool.json") and "IMD002.jpg shows its imported mask" in said
    win.session.check_label_on_disk()  # the label watch's next look says nothing more
    assert win.statusBar().currentMessage() == said

    assert win.worklist.table.item(0, 1).text() == "imported"
    boxes.answer = Btn.No  # all kept: nothing imported, and no warning
    win.actions["import_coco"].trigger()
    assert not boxes.warnings
    assert win.statusBar().currentMessage() == ("No label imported from from_other_tool.json; "
                                                "3 images kept their labels (not replaced)")

    boxes.answer = Btn.Yes
    win.actions["op_grow"].trigger()  # edited here, then imported again: the edit stays
    grown = win.doc.mask.copy()
    assert win.doc.dirty and not np.array_equal(grown, theirs["IMD002.jpg"])
    win.actions["import_coco"].trigger()
    assert np.array_equal(win.doc.mask, grown) and win.doc.dirty
    assert "the unsaved mask of IMD002.jpg stays on screen" in win.statusBar().currentMessage()


def test_labelme_export_of_names_that_differ_only_in_case_says_why(make_window, boxes, tmp_path):
    """Case.jpg and case.jpg gave Case.json and case.json: one file on Windows and macOS."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    for name in ("Case.jpg", "case.jpg"):
        shutil.copy(SAMPLES / "IMD002.jpg", folder / name)
        _label(folder / name, "accepted", (50, 200, 60, 300))
    target = tmp_path / "labelme"
    boxes.folder = str(target)
    win = make_window([folder])
    win.actions["export_labelme"].trigger()
    assert [p.name for p in target.iterdir()] == ["Case.json"]
    title, text = boxes.warnings[-1]
    assert title == "Some labels not exported" and "case.jpg: its export file would take the name" in text


def test_import_lists_the_labels_it_could_not_use(make_window, monkeypatch, tmp_path, boxes, qtbot):
    """A mask of an image the folder does not hold is named in a warning, the others imported."""
    coco, theirs = _coco_of_other_tool(tmp_path)
    folder = tmp_path / "clinic"
    folder.mkdir()
    for name in ("IMD002.jpg", "IMD009.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(coco), "COCO JSON (*.json)")))
    win = make_window([folder])
    qtbot.waitUntil(lambda: not win.segmenter.busy, timeout=20000)
    assert win.exchange.import_labels("coco") == 2
    title, text = boxes.warnings[-1]
    assert title == "Some labels not imported" and "Imported 2 labels from from_other_tool.json; 1 label skipped" in text
    assert "ISIC_0000095.jpg: listed in from_other_tool.json but not in the image folder" in text
