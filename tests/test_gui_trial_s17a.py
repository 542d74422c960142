"""Trial S17A (an annotator fixing ~30 machine masks a day) replayed on the real window
(offscreen)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import SAMPLES, drag  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from dermview.gui.testing import process  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, data, make_window


@pytest.fixture
def big_and_small(tmp_path):
    """IMD002 (512 px long side), a 4× copy of it (2048 px) and a half-size one (256 px)."""
    folder = tmp_path / "study"
    folder.mkdir()
    rgb = Image.open(SAMPLES / "IMD002.jpg").convert("RGB")
    rgb.save(folder / "small.png")
    rgb.resize((rgb.width * 4, rgb.height * 4)).save(folder / "big.png")
    rgb.resize((rgb.width // 2, rgb.height // 2)).save(folder / "tiny.png")
    return folder


@pytest.fixture
def worklist_coco(tmp_path):
    """Three sample images with the labels ``dermview segment --sidecar`` gives them, and a
    COCO file of another tool's masks of the same images."""
    from test_gui_exchange import _coco_of_other_tool

    from dermview.cli import main

    folder = tmp_path / "clinic"
    folder.mkdir()
    for name in ("IMD002.jpg", "IMD009.jpg", "ISIC_0000095.jpg"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    assert main(["segment", str(folder), "--out", str(folder / "labels"), "--sidecar"]) == 0
    coco, _theirs = _coco_of_other_tool(tmp_path)
    return folder, coco


def test_default_brush_is_not_a_hairline_after_a_big_first_image(make_window, big_and_small):
    """Trial finding: the study folder opened on a 4000-px image first; every 256-px and
    512-px image after it had a 1-2 px brush (the default 15 px was taken as chosen on the
    first image, whatever its size, and scaled down for the small ones)."""
    win = make_window([str(big_and_small / "big.png")])
    assert win.edit.radius == 60  # 15 px at 512 px long side = the same share of 2048 px
    win.session.open_paths([str(big_and_small / "small.png")])
    assert win.wait_idle(30)
    assert win.edit.radius == 15
    assert win.tools_panel.radius_spin.value() == 15


def test_remembered_brush_keeps_its_share_of_the_image(make_window, big_and_small):
    """Trial finding: the brush size remembered for the next start was the pixel radius on
    the last image, without its size: 30 px chosen on 512-px images, a 256-px image last,
    came back as 15 px chosen on the first image of the next start (a quarter of the share
    on a 2048-px image; after a 4000-px image first, a 1-2 px brush everywhere)."""
    win = make_window([str(big_and_small / "small.png")])
    win.edit.set_radius(30)
    win.session.open_paths([str(big_and_small / "tiny.png")])
    assert win.wait_idle(30)
    assert win.edit.radius == 15
    win.close()
    again = make_window([str(big_and_small / "big.png")])
    assert again.edit.radius == 120
    again.session.open_paths([str(big_and_small / "small.png")])
    assert again.wait_idle(30)
    assert again.edit.radius == 30
    assert again.tools_panel.radius_spin.value() == 30


def test_reject_of_a_corrected_label_edited_again_is_refused_and_says_why(make_window, data,
                                                                           qtbot):
    """Trial finding: a label saved as corrected yesterday, opened and edited again, then X
    (Reject and save, enabled in the Review panel beside "Accept mask and save"): saved as
    *corrected* with the new strokes, the history saying "Review: rejected" and nothing
    saying why; on any other label X refuses a mask edited by hand and says so."""
    win = make_window([data / "IMD009.jpg"])
    win.segmenter.run()
    assert win.wait_idle(60) and win.doc.mask.any()
    win.set_tool("brush")
    win.edit.set_radius(6)
    drag(qtbot, win.before, [(40.5, 330.5), (70.5, 340.5)])  # far from the lesion
    assert win.saving.save()
    sidecar = data / "labels" / "IMD009_segmentation.json"
    assert json.loads(sidecar.read_text())["review_state"] == "corrected"
    win.session.open_image(data / "IMD009.jpg", again=True)
    assert win.wait_idle(30) and win.doc.review_state == "corrected"
    panel = win.review_panel
    process(20)
    assert panel.reject_button.isEnabled()  # rejecting the corrected mask as it is: allowed
    drag(qtbot, win.before, [(200.5, 40.5), (230.5, 50.5)])
    qtbot.waitUntil(lambda: not panel.reject_button.isEnabled(), timeout=3000)
    assert panel.accept_button.text() == "Save as corrected"
    saved = sidecar.read_text()
    qtbot.keyClick(win.view.shown(), QtCore.Qt.Key.Key_X)
    assert "edited by hand" in win.statusBar().currentMessage()
    # undoing gives back the corrected mask opened, not the model's: the advice says so
    assert "reject the mask as it was opened" in win.statusBar().currentMessage()
    assert sidecar.read_text() == saved and win.doc.dirty  # not saved
    assert win.doc.review_state == "corrected"


def _mnemonic(text: str) -> str | None:
    """The letter after ``&`` in a menu text (``&&`` is a literal ampersand)."""
    found = re.search(r"&([^&])", text.replace("&&", ""))
    return found.group(1).lower() if found else None


def test_no_two_items_of_a_menu_share_an_alt_letter(make_window):
    """Trial finding: in the File menu, Alt+F then R only moved between Open recent, Export
    report… and Next image to review (three items underlined R: Qt then triggers none), P
    between Export labels as labelme polygons… and Previous image, N between Next image and
    Save and next."""
    win = make_window()
    menus = [a.menu() for a in win.menuBar().actions()]
    clashes, missing = [], []
    while menus:
        menu = menus.pop()
        letters: dict[str, list[str]] = {}
        for action in menu.actions():
            if action.menu() is not None:
                menus.append(action.menu())
            if not action.isSeparator() and _mnemonic(action.text()):
                letters.setdefault(_mnemonic(action.text()), []).append(action.text())
            elif not action.isSeparator():
                missing.append((menu.title(), action.text()))
        clashes += [(menu.title(), texts) for texts in letters.values() if len(texts) > 1]
    assert clashes == []
    # and every item has one (Edit, View and Segmentation items had none: reached only by
    # their shortcuts; dermview.gui.mnemonics adds one where the table names none)
    assert missing == []


def test_the_seg_export_message_fits_the_status_bar_at_150_percent(make_window, data,
                                                                    tmp_path):
    """Trial finding: at 150 % (1600×1000 screen = 1066×666) File → Export DICOM SEG… of an
    unreviewed model mask said "Exported /tmp/…/labels/ISIC_0000042_segmentation.dcm; it is
    an unreviewed model mask (Segment Algorithm Type AUTOMATIC): accept or correc" — the
    advice to accept or correct it first was cut off by the window's edge."""
    win = make_window([data / "IMD009.jpg"], size=(1066, 666))
    win.show()
    win.segmenter.run()
    assert win.wait_idle(60) and win.doc.mask.any()
    folder = tmp_path / "home" / "sam" / "Documents" / "Melanoma study 2026" / "DICOM exports"
    written = win.exchange.export_dicom_seg(folder)
    assert written and written[0].parent == folder
    bar = win.statusBar()
    said = bar.currentMessage()
    assert "IMD009_segmentation.dcm" in said and "unreviewed" in said
    assert "accept or correct" in said
    assert bar.fontMetrics().horizontalAdvance(said) < bar.width() - 20


def test_segment_all_leaves_the_worklist_least_confident_first_when_so_sorted(
        make_window, tmp_path, boxes):
    """Trial finding: View → Sort worklist: least confident first on a new study folder (no
    masks yet, an order the app keeps for the next folders), then Segment all…: the masks
    came with their confidence, but the worklist stayed in name order, the worst mask third
    of four; the README says the worst come first."""
    folder = tmp_path / "study"
    folder.mkdir()
    for stem in ("IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"):
        (folder / f"{stem}.jpg").write_bytes((SAMPLES / f"{stem}.jpg").read_bytes())
    win = make_window([folder])
    win.actions["sort_confidence"].trigger()
    boxes.answer = QtWidgets.QMessageBox.StandardButton.Ok
    win.actions["segment_all"].trigger()
    assert win.wait_idle(180)
    process(50)
    wl = win.worklist
    conf = [wl.confidence(r) for r in range(len(wl.paths))]
    assert None not in conf and conf == sorted(conf), [p.name for p in wl.paths]
    assert wl.paths[wl.current] == win.doc.path  # the open image stays the current row


def test_an_imported_mask_does_not_keep_the_confidence_of_the_mask_it_replaced(
        make_window, worklist_coco, boxes):
    """Trial finding: images opened earlier in the session kept, in the worklist's Conf.
    column, the confidence of their batch mask (0.83, 0.85, 0.87) after File → Import
    labels… replaced those masks with another tool's, which have none; the other imported
    rows were blank. Sorted least confident first, the imported masks sorted by a number
    that was not theirs."""
    folder, coco = worklist_coco
    win = make_window([folder / "IMD002.jpg"])
    wl = win.worklist
    wl.set_paths(sorted(folder.glob("*.jpg")))
    for name in ("IMD009.jpg", "IMD002.jpg"):  # opened, then left
        assert win.session.open_image(folder / name) and win.wait_idle(30)
    assert all(wl.confidence(r) is not None for r in range(3))
    boxes.answer = QtWidgets.QMessageBox.StandardButton.Yes  # replace the labels
    assert win.exchange.import_labels("coco", coco) == 3
    assert [wl.table.item(r, 1).text() for r in range(3)] == ["imported"] * 3
    assert [wl.confidence(r) for r in range(3)] == [None] * 3
    assert [wl.table.item(r, 2).text() for r in range(3)] == [""] * 3


def test_the_import_message_fits_the_status_bar_at_150_percent(make_window, tmp_path, boxes):
    """Trial finding: at 150 % (1066×666) File → Import labels from labelme… with the open
    image edited said "Imported 14 labels from lm into /tmp/t17a/study/labels: shown as
    imported in the worklist, for review; the unsaved mask of BIG_0000146.jpg stays on
    scree" — that saving would ask before replacing the imported label was cut off."""
    from test_gui_exchange import _coco_of_other_tool

    folder = tmp_path / "home" / "sam" / "Documents" / "Melanoma study 2026" / "clinic"
    folder.mkdir(parents=True)
    for name in ("IMD002.jpg", "IMD009.jpg", "ISIC_0000095.jpg"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    coco, _theirs = _coco_of_other_tool(tmp_path)
    win = make_window([folder / "ISIC_0000095.jpg"], size=(1066, 666))
    win.show()
    win.worklist.set_paths(sorted(folder.glob("*.jpg")))
    win.segmenter.run()
    assert win.wait_idle(60) and win.doc.dirty
    assert win.exchange.import_labels("coco", coco) == 3
    bar = win.statusBar()
    said = bar.currentMessage()
    assert "the unsaved mask of ISIC_0000095.jpg stays on screen" in said
    assert "saving asks" in said and "labels" in said
    assert bar.fontMetrics().horizontalAdvance(said) < bar.width() - 20, said


def test_segment_all_of_one_image_asks_in_the_singular(make_window, data, boxes):
    """Trial finding: with one image left unlabelled, Segment all… asked "Segment 1 image
    without a label and save its mask as unreviewed model masks in labels/ beside each
    image?"."""
    win = make_window([data])
    win.worklist.set_paths([data / "IMD009.jpg"])
    win.actions["segment_all"].trigger()  # boxes.answer: Cancel
    text = boxes.questions[-1][1]
    assert text.startswith("Segment 1 image without a label and save its mask as an "
                           "unreviewed model mask in labels/ beside it?"), text


def test_saving_over_a_label_imported_here_says_it_was_imported(make_window, worklist_coco,
                                                                boxes):
    """Trial finding: the open image edited, File → Import labels… (its label replaced, "the
    unsaved mask stays on screen"), then Ctrl+S asked: "…was saved by sam at 04:10 UTC (not
    reviewed) and is not the one you opened: saved meanwhile in another window or by another
    program, or found in a labels folder chosen since" — Sam had one window, and had just
    imported that label himself."""
    folder, coco = worklist_coco
    win = make_window([folder / "IMD002.jpg"])
    win.worklist.set_paths(sorted(folder.glob("*.jpg")))
    win.actions["op_grow"].trigger()
    assert win.doc.dirty
    boxes.answer = QtWidgets.QMessageBox.StandardButton.Yes  # replace the labels
    assert win.exchange.import_labels("coco", coco) == 3
    boxes.answer = QtWidgets.QMessageBox.StandardButton.No  # keep the imported label
    assert not win.saving.save()
    title, text = boxes.questions[-1]
    assert title == "Label saved meanwhile"
    assert "was imported" in text and "from the COCO file from_other_tool.json" in text
    assert "another window" not in text


def test_a_label_replaced_by_another_program_shows_its_own_confidence(make_window,
                                                                      worklist_coco):
    """Trial finding (as for an import): an image opened earlier kept, in the Conf. column,
    its batch mask's confidence after another program (a colleague's tool, a script)
    replaced its label with one that has none."""
    from dermview.io import load_image
    from dermview.labels import LabelMeta, image_sha256, save_label

    folder, _coco = worklist_coco
    win = make_window([folder / "IMD009.jpg"])
    wl = win.worklist
    wl.set_paths(sorted(folder.glob("*.jpg")))
    assert win.session.open_image(folder / "IMD002.jpg") and win.wait_idle(30)
    row = wl.paths.index(folder / "IMD009.jpg")
    assert wl.confidence(row) is not None
    image = folder / "IMD009.jpg"
    h, w = load_image(image).shape[:2]
    mask = np.zeros((h, w), bool)
    mask[50:150, 60:200] = True
    save_label(image, mask, LabelMeta(image_sha256=image_sha256(image), image_size=(w, h),
                                      source="manual"), folder / "labels")
    wl.refresh(image)
    assert wl.confidence(row) is None and wl.table.item(row, 2).text() == ""


def test_corrected_masks_do_not_pass_for_the_least_confident_model_masks(make_window, tmp_path):
    """Trial finding: a mask corrected by hand kept the model's estimate for the mask it
    replaced (0.79): least confident first listed the corrected masks before the model masks
    still to review, the COCO / labelme exports gave it as the corrected mask's confidence,
    and the Segment panel as this mask's. The reviewed images now sort after those to review,
    the worklist and the exports leave a corrected mask's out, and the panel says it was the
    model's mask's."""
    from dermview.cli import main
    from dermview.labels import LabelMeta, image_sha256, save_label

    folder = tmp_path / "study"
    folder.mkdir()
    made = {"a_corrected": dict(edited=True, review_state="corrected", conf=0.40),
            "b_model": dict(edited=False, review_state=None, conf=0.80),
            "c_accepted": dict(edited=False, review_state="accepted", conf=0.55),
            "d_model": dict(edited=False, review_state=None, conf=0.70)}
    for stem, how in made.items():
        image = folder / f"{stem}.jpg"
        image.write_bytes((SAMPLES / "IMD002.jpg").read_bytes())
        w, h = Image.open(image).size
        mask = np.zeros((h, w), bool)
        mask[h // 4:3 * h // 4, w // 4:3 * w // 4] = True
        save_label(image, mask, LabelMeta(
            image_sha256=image_sha256(image), image_size=(w, h), source="model",
            model_name="m", model_sha256="ab" * 32, edited=how["edited"],
            review_state=how["review_state"], extras={"confidence": how["conf"]}))
    win = make_window()
    assert win.session.open_folder(folder)
    win.actions["sort_confidence"].trigger()
    assert [p.stem for p in win.worklist.paths] == ["d_model", "b_model", "c_accepted",
                                                   "a_corrected"]
    assert [win.worklist.table.item(r, 2).text() for r in range(4)] == ["0.70", "0.80", "0.55", ""]
    assert win.session.open_image(folder / "a_corrected.jpg")
    text = win.seg_panel.model_label.text()
    assert "model's mask <b>0.40</b>, before it was corrected by hand" in text
    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    attrs = {Path(img["file_name"]).stem: ann["attributes"]
             for img in json.loads(out.read_text())["images"]
             for ann in json.loads(out.read_text())["annotations"] if ann["image_id"] == img["id"]}
    assert "confidence" not in attrs["a_corrected"]
    assert attrs["b_model"]["confidence"] == 0.80 and attrs["c_accepted"]["confidence"] == 0.55
