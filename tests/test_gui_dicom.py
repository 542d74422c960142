"""The app with DICOM: opening a .dcm, File → Export DICOM SEG… (pytest-qt, offscreen)."""

# ruff: noqa: F811  (the fixtures of test_gui_app are imported by name, then requested)

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from _dicom import SECRET_NAME, assert_valid_dicom, dicom_bytes  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import Btn  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from dermview.exchange.dicom_seg import read_dicom_seg  # noqa: E402
from dermview.gui.commands import EditKind, push_mask  # noqa: E402
from dermview.io import load_image  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window

SAMPLE = "IMD009.jpg"


@pytest.fixture
def dcm(samples_dir, tmp_path):
    folder = tmp_path / "dicom"
    folder.mkdir()
    path = folder / "case_1.dcm"
    path.write_bytes(dicom_bytes(load_image(samples_dir / SAMPLE), "jpeg"))
    return path


@pytest.fixture
def export_to(monkeypatch, tmp_path):
    """The folder the export dialog answers with."""
    out = tmp_path / "export"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *_a, **_k: str(out)))
    return out


def test_open_dicom_segment_and_export_seg(make_window, dcm, export_to, boxes, model_name):
    win = make_window([dcm])
    assert win.doc.path == dcm and win.doc.image.shape == load_image(dcm).shape
    assert boxes.warnings == []
    win.actions["segment"].trigger()
    assert win.wait_idle(120) and win.doc.prob is not None
    assert win.actions["export_seg"].isEnabled()
    win.actions["export_seg"].trigger()
    seg_path = export_to / "case_1_segmentation.dcm"
    assert sorted(p.name for p in export_to.iterdir()) == [seg_path.name]  # no SC for DICOM
    assert boxes.warnings == []
    assert_valid_dicom(seg_path)
    mask, uid = read_dicom_seg(seg_path)
    np.testing.assert_array_equal(mask, win.doc.mask)
    seg = pydicom.dcmread(seg_path)
    assert uid == pydicom.dcmread(dcm, stop_before_pixels=True).SOPInstanceUID
    segment = seg.SegmentSequence[0]
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    assert segment.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName == model_name
    assert SECRET_NAME not in win.windowTitle() and SECRET_NAME not in win.statusBar().currentMessage()
    assert "unreviewed model mask" in win.statusBar().currentMessage()
    win.grab().save(str(export_to.parent / "dicom_window.png"))
    # accepted in the Review panel: exported without the warning
    boxes.answer = Btn.Yes  # replace the first export
    win.review_panel.radios["accepted"].click()
    assert win.exchange.export_dicom_seg()[0] == seg_path
    assert "unreviewed" not in win.statusBar().currentMessage()


def test_export_hand_drawn_mask_of_jpeg(make_window, samples_dir, tmp_path, export_to, boxes):
    img = tmp_path / "images" / SAMPLE
    img.parent.mkdir()
    img.write_bytes((samples_dir / SAMPLE).read_bytes())
    win = make_window([img])
    mask = np.zeros(win.doc.shape, bool)
    mask[100:200, 150:300] = True
    push_mask(win.doc, mask, "Polygon add", EditKind.HAND)
    win.actions["export_seg"].trigger()
    seg_path, sc_path = export_to / "IMD009_segmentation.dcm", export_to / "IMD009_image.dcm"
    for p in (seg_path, sc_path):
        assert_valid_dicom(p)
    np.testing.assert_array_equal(read_dicom_seg(seg_path)[0], mask)
    np.testing.assert_array_equal(load_image(sc_path), win.doc.image)
    assert pydicom.dcmread(seg_path).SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    # again: asked before replacing; Cancel keeps the file, Yes replaces it
    before = seg_path.read_bytes()
    push_mask(win.doc, ~mask, "Invert", EditKind.HAND)
    boxes.answer = Btn.Cancel
    assert win.exchange.export_dicom_seg() == []
    assert len(boxes.questions) == 1 and seg_path.read_bytes() == before
    boxes.answer = Btn.Yes
    assert win.exchange.export_dicom_seg()[0] == seg_path
    np.testing.assert_array_equal(read_dicom_seg(seg_path)[0], ~mask)


def test_export_disabled_without_image_and_errors_shown(make_window, dcm, export_to, boxes):
    win = make_window()
    assert not win.actions["export_seg"].isEnabled() and win.exchange.export_dicom_seg() == []
    win = make_window([dcm])
    export_to.write_text("a file where the folder should be")
    win.actions["export_seg"].trigger()
    assert len(boxes.warnings) == 1 and "DICOM SEG not written" in boxes.warnings[0][0]
    assert export_to.read_text() == "a file where the folder should be"


def test_a_rejected_mask_is_exported_only_when_confirmed(make_window, dcm, export_to, boxes):
    win = make_window([dcm])
    win.actions["segment"].trigger()
    assert win.wait_idle(120)
    win.review_panel.radios["rejected"].click()
    boxes.answer = Btn.Cancel
    assert win.exchange.export_dicom_seg() == []
    assert boxes.questions[-1][0] == "Export a rejected mask?" and not export_to.exists()
    boxes.answer = Btn.Yes
    assert win.exchange.export_dicom_seg()[0] == export_to / "case_1_segmentation.dcm"


def test_export_seg_opens_its_folder_dialog_on_a_folder_that_exists(make_window, dcm, monkeypatch,
                                                                    boxes):
    """Trial finding: before any label was saved the dialog opened on "labels" (not there
    yet), with its Choose button greyed out until another folder was typed or picked."""
    asked: list[str] = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda _parent, _title, start, *a, **k:
                                     asked.append(start) or ""))
    win = make_window([dcm])
    assert not (dcm.parent / "labels").exists()
    push_mask(win.doc, np.ones(win.doc.shape, bool), "Polygon add", EditKind.HAND)
    win.actions["export_seg"].trigger()
    assert asked == [str(dcm.parent)]
    (dcm.parent / "labels").mkdir()
    win.actions["export_seg"].trigger()
    assert asked[-1] == str(dcm.parent / "labels")  # the labels folder once it exists


def test_the_seg_of_a_reviewed_mask_names_its_reviewer(make_window, dcm, export_to, boxes,
                                                       tmp_path):
    """Trial finding: the DICOM SEG of a mask "Ana Ruiz" had accepted read, in pydicom /
    highdicom, exactly as an unreviewed model mask (AUTOMATIC, no Content Creator's Name):
    nothing in the file said anyone had checked it. The reviewer is now its Content Creator's
    Name (from the app and from `dermview export --format dicom-seg`); an unreviewed mask keeps
    the attribute empty."""
    from dermview.cli import main

    win = make_window([dcm])
    win.actions["segment"].trigger()
    assert win.wait_idle(120)
    win.actions["export_seg"].trigger()
    seg_path = export_to / "case_1_segmentation.dcm"
    assert not str(pydicom.dcmread(seg_path).get("ContentCreatorName") or "")
    win.review_panel.reviewer_edit.setText("Ana Ruiz")
    win.review_panel.comment.setPlainText("Excise: new since March")
    win.actions["accept"].trigger()  # A: accept and save
    boxes.answer = Btn.Yes  # replace the first export
    assert win.exchange.export_dicom_seg()[0] == seg_path
    assert_valid_dicom(seg_path)
    assert str(pydicom.dcmread(seg_path).ContentCreatorName) == "Ana Ruiz"
    # the review comment goes with it (the SEG left it out, where COCO / labelme carry it)
    assert str(pydicom.dcmread(seg_path).ImageComments) == "Excise: new since March"
    out = tmp_path / "cli_seg"
    assert main(["export", str(dcm.parent), "--format", "dicom-seg", "--out", str(out)]) == 0
    assert str(pydicom.dcmread(out / seg_path.name).ContentCreatorName) == "Ana Ruiz"


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_grey_dicom_is_shown_through_its_window(make_window, samples_dir, tmp_path, boxes,
                                                signed):
    """A 16-bit MONOCHROME2 photograph whose values fill 12 bits, with the Window Center /
    Width that says so, opens as its grey image (as a DICOM viewer shows it); it was scaled
    from the full 16-bit range and shown nearly black (values up to 15 of 255)."""
    from _dicom import dataset, to_bytes

    grey = np.asarray(load_image(samples_dir / SAMPLE)[:, :, 1])
    ds = dataset(np.repeat(grey[:, :, None], 3, axis=2))
    del ds.PlanarConfiguration
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = int(signed)
    stored = grey.astype(np.int32) * 16 - (2048 if signed else 0)
    ds.WindowCenter, ds.WindowWidth = (0 if signed else 2048), 4096
    ds.PixelData = stored.astype("<i2" if signed else "<u2").tobytes()
    path = tmp_path / "grey16.dcm"
    path.write_bytes(to_bytes(ds))
    win = make_window([path])
    assert win.doc.path == path and boxes.warnings == []
    shown = win.doc.image.astype(int)
    assert (shown[:, :, 0] == shown[:, :, 2]).all()
    assert np.abs(shown[:, :, 0] - grey).max() <= 1


def test_folder_of_dicom_files_named_without_suffix(make_window, dcm, boxes):
    """A PACS export / DICOM media folder (files named IM000001, a DICOMDIR index beside them)
    opens as a worklist of its DICOM images; it said there were no images in the folder."""
    folder = dcm.parent / "SE000001"
    folder.mkdir()
    for name in ("IM000001", "IM000002"):
        (folder / name).write_bytes(dcm.read_bytes())
    (folder / "DICOMDIR").write_bytes(dcm.read_bytes())  # an index, not an image
    (folder / "NOTES").write_text("not an image")
    win = make_window([folder])
    assert [p.name for p in win.worklist.paths] == ["IM000001", "IM000002"]
    assert win.doc.path == folder / "IM000001" and boxes.warnings == []
    np.testing.assert_array_equal(win.doc.image, load_image(dcm))
