"""COCO and labelme: export → pycocotools annToMask / import → identical to the PNG labels;
attributes from the sidecar; polygons; foreign labelme shapes; refusals."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermview.cli import main
from dermview.exchange.coco import read_coco
from dermview.exchange.labelme import labelme_document, labelme_mask
from dermview.io import encode_png, load_mask
from dermview.labels import LabelMeta, image_sha256, label_paths, save_label

STEMS = ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"]


@pytest.fixture
def folder(samples_dir, tmp_path) -> Path:
    """The bundled samples with their expert masks saved as dermview labels: IMD002 as an
    unreviewed model label, IMD009 corrected by hand, ISIC_0000095 accepted with a comment and
    a confidence, ISIC_0024311 without a label."""
    images = tmp_path / "images"
    images.mkdir()
    for stem in STEMS:
        shutil.copy(samples_dir / f"{stem}.jpg", images / f"{stem}.jpg")
    for stem in STEMS[:3]:
        mask = load_mask(samples_dir / f"{stem}_segmentation.png")
        review = {"IMD009": {"review_state": "corrected", "edited": True},
                  "ISIC_0000095": {"review_state": "accepted", "review_comment": "checked",
                                   "extras": {"confidence": 0.875}}}.get(stem, {})
        meta = LabelMeta(image_sha256=image_sha256(images / f"{stem}.jpg"),
                         image_size=(mask.shape[1], mask.shape[0]), model_name="tiny",
                         model_sha256="ab" * 32, **review)
        save_label(images / f"{stem}.jpg", mask, meta)
    return images


def _label(folder: Path, stem: str, labels: Path | None = None) -> np.ndarray:
    return load_mask(label_paths(folder / f"{stem}.jpg", labels)[0])


def test_coco_export_matches_pycocotools_annToMask(folder, tmp_path, capsys):
    from pycocotools.coco import COCO

    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    assert "Exported 3 labels" in capsys.readouterr().out
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(out))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["lesion"]
    names = {img["file_name"]: img for img in coco.dataset["images"]}
    assert sorted(names) == [f"{s}.jpg" for s in STEMS[:3]]
    for stem in STEMS[:3]:
        img = names[f"{stem}.jpg"]
        (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
        mask = _label(folder, stem)
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
        assert ann["area"] == int(mask.sum()) and (img["height"], img["width"]) == mask.shape
        rows, cols = np.nonzero(mask)
        assert ann["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1,
                               rows.max() - rows.min() + 1]
    attrs = {a["image_id"]: a["attributes"] for a in coco.dataset["annotations"]}
    by_name = {img["file_name"]: attrs[img["id"]] for img in coco.dataset["images"]}
    assert by_name["IMD002.jpg"]["review_state"] == "unreviewed"
    assert by_name["IMD009.jpg"]["review_state"] == "corrected" and by_name["IMD009.jpg"]["edited"]
    expected = {"review_state": "accepted", "confidence": 0.875, "comment": "checked",
                "model_name": "tiny"}
    assert {k: by_name["ISIC_0000095.jpg"].get(k) for k in expected} == expected
    assert "confidence" not in by_name["IMD002.jpg"]


def test_a_rejected_mask_is_left_out_of_the_exports_and_named(folder, tmp_path, capsys):
    """A mask a reviewer rejected (wrong, to be redone) is nobody's ground truth: COCO and
    labelme exports leave it out and say so; the other labels are exported."""
    image = folder / "ISIC_0024311.jpg"
    from dermview.io import load_image

    h, w = load_image(image).shape[:2]
    mask = np.zeros((h, w), bool)
    mask[10:50, 10:60] = True
    save_label(image, mask, LabelMeta(image_sha256=image_sha256(image), image_size=(w, h),
                                      review_state="rejected"))
    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "ISIC_0024311" in err and "rejected" in err
    names = [img["file_name"] for img in json.loads(out.read_text())["images"]]
    assert "ISIC_0024311.jpg" not in names and len(names) == 3
    lm = tmp_path / "labelme"
    main(["export", str(folder), "--format", "labelme", "--out", str(lm)])
    assert sorted(p.stem for p in lm.glob("*.json")) == sorted(STEMS[:3])


def test_coco_polygons_are_close(folder, tmp_path):
    out = tmp_path / "poly.json"
    assert main(["export", str(folder), "--format", "coco", "--polygons", "--out", str(out)]) == 0
    labels = read_coco(out)
    for stem in STEMS[:3]:
        mask, ref = labels.mask(f"{stem}.jpg"), _label(folder, stem)
        iou = (mask & ref).sum() / (mask | ref).sum()
        assert 0.97 < iou < 1.0, (stem, iou)  # close, and lossy (outline on pixel centres)


def test_coco_import_round_trip(folder, tmp_path, capsys):
    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    labels = tmp_path / "imported"
    rc = main(["import", str(folder), "--format", "coco", "--from", str(out), "--labels", str(labels)])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in labels.glob("*.png")) == [f"{s}_segmentation.png" for s in STEMS[:3]]
    for stem in STEMS[:3]:
        np.testing.assert_array_equal(_label(folder, stem, labels), _label(folder, stem))
        meta = json.loads(label_paths(folder / f"{stem}.jpg", labels)[1].read_text())
        assert meta["source"] == "imported" and meta["model_name"] == "" and not meta["edited"]
        # what the exporting tool said of the label is kept, as information (not a verdict
        # given here: the worklist shows it as imported)
        origin = meta["imported_from"]
        assert origin["format"] == "coco" and origin["file"] == "coco.json"
    accepted = json.loads(label_paths(folder / "ISIC_0000095.jpg", labels)[1].read_text())
    attrs = accepted["imported_from"]["attributes"]
    assert attrs["review_state"] == "accepted" and attrs["comment"] == "checked"
    assert attrs["reviewed_by"] and attrs["model_name"] == "tiny"
    assert "review_state" not in accepted or accepted["review_state"] in (None, "")
    from dermview.exchange.labelset import imported_from_text
    from dermview.label_status import label_status

    assert label_status(folder / "ISIC_0000095.jpg", labels) == "imported"
    assert imported_from_text(accepted) == (f"from the COCO file coco.json, accepted there by "
                                            f"{attrs['reviewed_by']}")


def test_coco_export_into_a_missing_folder_makes_it(folder, tmp_path, capsys):
    """Trial S15B: labelme and DICOM SEG exports made their --out folder; COCO's failed."""
    out = tmp_path / "new" / "day 1" / "coco.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0, capsys.readouterr().err
    assert len(json.loads(out.read_text())["annotations"]) == 3


def test_an_imported_label_exported_again_keeps_what_its_source_said(folder, tmp_path, capsys):
    """Trial S15B: a label imported from a COCO file and exported again read only "source:
    imported, unreviewed"; the first tool's verdict (accepted by whom, which model) was lost."""
    first = tmp_path / "first.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(first)]) == 0
    labels = tmp_path / "imported"
    assert main(["import", str(folder), "--format", "coco", "--from", str(first), "--labels", str(labels)]) == 0
    again = tmp_path / "again.json"
    assert main(["export", str(folder), "--labels", str(labels), "--format", "coco", "--out", str(again)]) == 0
    capsys.readouterr()
    names = {img["id"]: img["file_name"] for img in json.loads(again.read_text())["images"]}
    attrs = {names[a["image_id"]]: a["attributes"] for a in json.loads(again.read_text())["annotations"]}
    accepted = attrs["ISIC_0000095.jpg"]
    assert accepted["source"] == "imported" and accepted["review_state"] == "unreviewed"
    origin = accepted["imported_from"]
    assert origin["format"] == "coco" and origin["file"] == "first.json"
    assert origin["attributes"]["review_state"] == "accepted" and origin["attributes"]["comment"] == "checked"
    assert origin["attributes"]["model_name"] == "tiny"


def test_labelme_export_import_round_trip(folder, tmp_path, capsys):
    out = tmp_path / "labelme"
    assert main(["export", str(folder), "--format", "labelme", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{s}.json" for s in STEMS[:3]]
    doc = json.loads((out / "IMD009.json").read_text())
    (shape,) = doc["shapes"]
    assert shape["label"] == "lesion" and shape["shape_type"] == "mask"
    assert (out / doc["imagePath"]).resolve() == (folder / "IMD009.jpg").resolve()
    mask = _label(folder, "IMD009")
    rows, cols = np.nonzero(mask)
    assert shape["points"] == [[cols.min(), rows.min()], [cols.max(), rows.max()]]
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape["mask"])))).astype(bool)
    np.testing.assert_array_equal(crop, mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1])
    assert json.loads(shape["description"])["review_state"] == "corrected"
    labels = tmp_path / "imported"
    rc = main(["import", str(folder), "--format", "labelme", "--from", str(out), "--labels", str(labels)])
    assert rc == 0, capsys.readouterr().err
    for stem in STEMS[:3]:
        np.testing.assert_array_equal(_label(folder, stem, labels), _label(folder, stem))
    meta = json.loads(label_paths(folder / "IMD009.jpg", labels)[1].read_text())
    assert meta["imported_from"]["format"] == "labelme"
    assert meta["imported_from"]["file"] == "IMD009.json"
    assert meta["imported_from"]["attributes"]["review_state"] == "corrected"


def test_labelme_of_a_dicom_image_holds_its_pixels(folder, tmp_path, capsys):
    """labelme opens imagePath with Pillow, which cannot read DICOM ("cannot identify image
    file"): the JSON of a DICOM image carries the pixels as imageData (PNG), as labelme
    writes them; a JPEG's stays null (labelme reads the file)."""
    from _dicom import dicom_bytes

    from dermview.io import load_image

    rgb = load_image(folder / "IMD002.jpg")
    (folder / "derm.dcm").write_bytes(dicom_bytes(rgb))
    mask = _label(folder, "IMD002")
    save_label(folder / "derm.dcm", mask,
               LabelMeta(image_sha256=image_sha256(folder / "derm.dcm"),
                         image_size=(mask.shape[1], mask.shape[0])))
    out = tmp_path / "labelme"
    assert main(["export", str(folder), "--format", "labelme", "--out", str(out)]) == 0
    doc = json.loads((out / "derm.json").read_text())
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(doc["imageData"]))).convert("RGB"))
    np.testing.assert_array_equal(shown, rgb)
    assert (doc["imageHeight"], doc["imageWidth"]) == rgb.shape[:2]
    assert json.loads((out / "IMD002.json").read_text())["imageData"] is None
    labels = tmp_path / "imported"
    rc = main(["import", str(folder), "--format", "labelme", "--from", str(out), "--labels", str(labels)])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(load_mask(labels / "derm_segmentation.png"), mask)


def test_labelme_polygons(folder, tmp_path):
    out = tmp_path / "labelme"
    assert main(["export", str(folder), "--format", "labelme", "--polygons", "--out", str(out)]) == 0
    doc = json.loads((out / "IMD002.json").read_text())
    assert {s["shape_type"] for s in doc["shapes"]} == {"polygon"}
    mask, ref = labelme_mask(doc), _label(folder, "IMD002")
    assert (mask & ref).sum() / (mask | ref).sum() > 0.97


def test_labelme_foreign_shapes():
    """Shapes drawn in labelme: polygon, rectangle, circle and mask, 'lesion' ones only."""
    square = np.zeros((4, 3), bool)
    square[1:3, :] = True
    doc = {"imageHeight": 30, "imageWidth": 40, "shapes": [
        {"label": "lesion", "shape_type": "rectangle", "points": [[10, 8], [2, 3]]},
        {"label": "lesion", "shape_type": "polygon", "points": [[20, 2], [30, 2], [30, 6], [20, 6]]},
        {"label": "lesion", "shape_type": "circle", "points": [[30, 20], [32, 20]]},
        {"label": "lesion", "shape_type": "mask", "points": [[5, 25], [7, 28]],
         "mask": base64.b64encode(encode_png(square.astype(np.uint8))).decode()},
        {"label": "ruler", "shape_type": "rectangle", "points": [[0, 0], [39, 1]]},
    ]}
    mask = labelme_mask(doc)
    expected = np.zeros((30, 40), bool)
    expected[3:9, 2:11] = True
    expected[2:7, 20:31] = True
    expected[26:28, 5:8] = True
    rr, cc = np.mgrid[0:30, 0:40]
    d2 = (rr - 20) ** 2 + (cc - 30) ** 2
    assert mask[0:2].sum() == 0  # the ruler is not lesion
    np.testing.assert_array_equal(mask & (d2 > 9), expected)  # the circle: radius 2 (± 1 px)
    assert mask[d2 <= 4].all() and 9 <= (mask & (d2 <= 9)).sum() <= 29


@pytest.mark.parametrize("shape,why", [
    ({"shape_type": "mask", "points": [[0, 0], [2, 2]], "mask": "not base64!"},
     "a mask shape's 'mask' is not a base64 PNG"),
    ({"shape_type": "mask", "points": [[0, 0], [2, 2]], "mask": base64.b64encode(b"text").decode()},
     "a mask shape's 'mask' is not a base64 PNG"),
])
def test_a_bad_labelme_file_says_what_is_wrong(tmp_path, shape, why):
    """Trial finding: a mask shape with bad base64 was reported as "(Error)"."""
    from dermview.errors import ImageReadError
    from dermview.exchange.labelme import read_labelme

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"imageHeight": 4, "imageWidth": 4, "imagePath": "a.png",
                                "shapes": [{"label": "lesion", **shape}]}))
    with pytest.raises(ImageReadError, match=f"bad.json is not a readable labelme file \\({why}\\)"):
        read_labelme(path)
    path.write_text(json.dumps({"shapes": []}))
    with pytest.raises(ImageReadError, match="no 'imageHeight'"):
        read_labelme(path)


def test_labelme_document_of_empty_mask():
    doc = labelme_document(np.zeros((5, 6), bool), "a.jpg", {})
    assert doc["shapes"] == [] and (doc["imageHeight"], doc["imageWidth"]) == (5, 6)
    assert not labelme_mask(doc).any()


def test_import_refuses_wrong_size_and_keeps_labels(folder, tmp_path, capsys):
    doc = labelme_document(np.ones((10, 10), bool), "IMD002.jpg", {})
    src = tmp_path / "lm"
    src.mkdir()
    (src / "IMD002.json").write_text(json.dumps(doc))
    before = label_paths(folder / "IMD002.jpg")[0].read_bytes()
    rc = main(["import", str(folder), "--format", "labelme", "--from", str(src), "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 1 and "skipped" in err and "10×10 pixels but the image is 512×383" in err
    assert label_paths(folder / "IMD002.jpg")[0].read_bytes() == before
    doc = labelme_document(np.ones((383, 512), bool), "IMD002.jpg", {})
    (src / "IMD002.json").write_text(json.dumps(doc))
    rc = main(["import", str(folder), "--format", "labelme", "--from", str(src)])
    assert rc == 1 and "already exist" in capsys.readouterr().err
    assert label_paths(folder / "IMD002.jpg")[0].read_bytes() == before


def test_export_with_no_labels_writes_nothing(samples_dir, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(samples_dir / "IMD002.jpg", images)
    out = tmp_path / "coco.json"
    assert main(["export", str(images), "--format", "coco", "--out", str(out)]) == 1
    assert "no labels to export" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("content", [b"{not json", b'{"images": 3}', b"[]"])
def test_import_bad_coco_is_one_line(folder, tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    rc = main(["import", str(folder), "--format", "coco", "--from", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "bad.json is not a readable COCO file" in err


def test_export_with_every_label_skipped_does_not_say_there_are_none(folder, tmp_path, capsys):
    out = tmp_path / "labelme"
    assert main(["export", str(folder), "--format", "labelme", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", str(folder), "--format", "labelme", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "no labels to export" not in err
    assert "nothing exported" in err and "3 labels skipped" in err


@pytest.mark.parametrize("fmt, kind", [("labelme", "labelme folder"),
                                       ("dicom-seg", "DICOM SEG file or folder")])
def test_import_from_a_missing_source_says_so(folder, tmp_path, capsys, fmt, kind):
    missing = tmp_path / "nowhere"
    rc = main(["import", str(folder), "--format", fmt, "--from", str(missing)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"--from {missing}: no such {kind}" in err and "no labels found" not in err


def test_import_into_a_file_where_the_labels_folder_goes_says_so_once(folder, tmp_path, capsys):
    """README audit: --labels naming an existing file repeated "Cannot create the labels
    folder …: File exists" once per image."""
    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--format", "coco", "--out", str(out)]) == 0
    capsys.readouterr()
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("a file")
    rc = main(["import", str(folder), "--format", "coco", "--from", str(out), "--labels",
               str(in_the_way)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"{in_the_way}: a file of that name" in err
    assert in_the_way.read_text() == "a file"


def test_export_from_a_missing_labels_folder_says_so(folder, tmp_path, capsys):
    missing = tmp_path / "nolabels"
    rc = main(["export", str(folder), "--labels", str(missing), "--format", "coco",
               "--out", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"--labels {missing}: no such folder" in err


@pytest.mark.parametrize("segmentation, said", [
    ({"size": [100, 512], "counts": [0, 51200]}, "is 512×100 pixels but the file says the image is 512×383"),
    ({"size": [383, 512], "counts": "@@@not-rle"}, "cannot be decoded"),
    ([[1, 2, 3]], "cannot be decoded"),
], ids=["rle-of-another-size", "bad-rle", "odd-polygon"])
def test_import_coco_with_a_bad_annotation_skips_that_image(folder, tmp_path, capsys,
                                                            segmentation, said):
    """A COCO file from another tool whose annotation does not fit its image entry (an RLE of
    another size, undecodable counts, a polygon with an odd number of values) skips that image
    with one line and imports the others; it stopped the import with a traceback."""
    stems = ["IMD002", "IMD009"]
    out = tmp_path / "labels"
    doc = {"images": [{"id": 17 + k, "file_name": f"{stem}.jpg", "width": 512, "height": height}
                      for k, (stem, height) in enumerate(zip(stems, (383, 384), strict=True))],
           "categories": [{"id": 3, "name": "lesion"}],
           "annotations": [
               {"id": 1, "image_id": 17, "category_id": 3, "segmentation": segmentation,
                "iscrowd": 1 if isinstance(segmentation, dict) else 0, "area": 1,
                "bbox": [0, 0, 1, 1]},
               {"id": 2, "image_id": 18, "category_id": 3, "iscrowd": 0, "area": 1,
                "segmentation": [[100, 80, 300, 90, 320, 250, 120, 270]],
                "bbox": [100, 80, 220, 190]}]}
    src = tmp_path / "other_tool.json"
    src.write_text(json.dumps(doc))
    rc = main(["import", str(folder), "--format", "coco", "--from", str(src), "--labels", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert f"skipped {folder / 'IMD002.jpg'}: annotation 1 of IMD002.jpg" in err and said in err
    assert not label_paths(folder / "IMD002.jpg", out)[0].exists()
    assert _label(folder, "IMD009", out).sum() > 0  # the other image is imported


def test_coco_polygons_of_straight_edges_are_exact(samples_dir, tmp_path):
    """COCO polygons follow pixel corners, as pycocotools fills them: a lesion in two parts
    (one touching two borders of the image, one a single pixel) comes back from
    ``annToMask`` pixel for pixel; through pixel centres it lost a row and a column of the
    rectangle and the single pixel."""
    from pycocotools.coco import COCO

    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(samples_dir / "IMD002.jpg", images)
    mask = np.zeros((383, 512), bool)
    mask[0:150, 0:200] = True
    mask[300, 400] = True
    save_label(images / "IMD002.jpg", mask,
               LabelMeta(image_sha256=image_sha256(images / "IMD002.jpg"), image_size=(512, 383)))
    out = tmp_path / "poly.json"
    assert main(["export", str(images), "--format", "coco", "--polygons", "--out", str(out)]) == 0
    coco = COCO(str(out))
    (ann,) = coco.loadAnns(coco.getAnnIds())
    assert len(ann["segmentation"]) == 2
    np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)


def test_import_matches_file_names_that_differ_in_case(folder, tmp_path, capsys):
    """A COCO file written on Windows or macOS names ``imd002.JPG`` for ``IMD002.jpg`` (the
    same file there): its mask is imported; it was 'listed but not in the image folder'."""
    mask = _label(folder, "IMD002")
    from pycocotools import mask as mask_util

    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    doc = {"images": [{"id": 7, "file_name": "C:\\data\\imd002.JPG", "width": 512,
                       "height": 383}],
           "categories": [{"id": 1, "name": "lesion"}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 1,
                            "bbox": [0, 0, 1, 1],
                            "segmentation": {"size": rle["size"],
                                             "counts": rle["counts"].decode()}}]}
    src = tmp_path / "windows.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "labels"
    rc = main(["import", str(folder), "--format", "coco", "--from", str(src), "--labels", str(out)])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(_label(folder, "IMD002", out), mask)


def test_a_name_that_matches_two_images_only_by_case_imports_nothing(folder, tmp_path, capsys):
    """``CASE.JPG`` from a case-insensitive tool, in a folder holding ``Case.jpg`` and
    ``case.jpg``: its mask went to one of them, taken at random (the wrong image when both
    are of one size); now neither gets it, and the message says why. Exact names still
    match."""
    for name in ("Case.jpg", "case.jpg"):
        shutil.copy(folder / "IMD002.jpg", folder / name)
    mask = _label(folder, "IMD002")
    for fmt, out in (("labelme", tmp_path / "labelme_out"), ("coco", tmp_path / "all.json")):
        assert main(["export", str(folder), "--format", fmt, "--out", str(out)]) == 0
    src = tmp_path / "labelme_out"
    for stem in ("IMD009", "ISIC_0000095"):
        (src / f"{stem}.json").unlink()
    doc = json.loads((src / "IMD002.json").read_text())
    doc["imagePath"] = "CASE.JPG"
    (src / "IMD002.json").unlink()
    (src / "CASE.json").write_text(json.dumps(doc))
    (src / "case.json").write_text(json.dumps(dict(doc, imagePath="case.jpg")))
    coco = json.loads((tmp_path / "all.json").read_text())
    coco["images"] = [dict(i, file_name="CASE.JPG") for i in coco["images"]
                      if i["file_name"] == "IMD002.jpg"]
    (tmp_path / "c.json").write_text(json.dumps(coco))
    for fmt, source in (("labelme", src), ("coco", tmp_path / "c.json")):
        labels = tmp_path / f"in_{fmt}"
        capsys.readouterr()
        rc = main(["import", str(folder), "--format", fmt, "--from", str(source),
                   "--labels", str(labels)])
        err = capsys.readouterr().err
        assert rc == 1 and "matches Case.jpg and case.jpg only by letter case" in err, err
        assert not label_paths(folder / "Case.jpg", labels)[0].exists()
        if fmt == "labelme":  # the exact name is imported
            np.testing.assert_array_equal(_label(folder, "case", labels), mask)
        else:
            assert not label_paths(folder / "case.jpg", labels)[0].exists()


@pytest.mark.parametrize("fmt", ["labelme", "dicom-seg"])
def test_export_of_two_images_whose_names_differ_only_in_case_writes_one_and_says_why(
        samples_dir, tmp_path, capsys, fmt):
    """Trial S15B: Case.jpg and case.jpg gave Case.json and case.json, one file on Windows and
    macOS (the second replaced the first, or was refused as existing)."""
    images = tmp_path / "images"
    images.mkdir()
    for name in ("Case.jpg", "case.jpg"):
        shutil.copy(samples_dir / "IMD002.jpg", images / name)
        mask = load_mask(samples_dir / "IMD002_segmentation.png")
        save_label(images / name, mask if name == "Case.jpg" else ~mask,
                   LabelMeta(image_sha256=image_sha256(images / name),
                             image_size=(mask.shape[1], mask.shape[0])))
    out = tmp_path / "out"
    assert main(["export", str(images), "--format", fmt, "--out", str(out), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "case.jpg: its export file would take the name of Case.jpg's" in err, err
    written = sorted(p.name.casefold() for p in out.iterdir())
    assert len(written) == len(set(written))  # no two names that are one file elsewhere
    if fmt == "labelme":
        assert [p.name for p in out.iterdir()] == ["Case.json"]
        np.testing.assert_array_equal(labelme_mask(json.loads((out / "Case.json").read_text())),
                                      load_mask(samples_dir / "IMD002_segmentation.png"))


def test_a_colleagues_comment_is_exported_with_its_author():
    """Trial S16A: a comment added by a colleague to a label someone else accepted is recorded
    as comment_by in the sidecar; the COCO / labelme attributes gave it as the reviewer's."""
    from dermview.exchange.labelset import label_attributes

    meta = {"review_state": "accepted", "reviewed_by": "Dr. Ana Ruíz", "review_comment": "recheck in 3 months",
            "comment_by": "Dr. Bo Lind", "source": "model", "edited": False}
    attrs = label_attributes(meta)
    assert attrs["reviewed_by"] == "Dr. Ana Ruíz" and attrs["comment_by"] == "Dr. Bo Lind"
    assert "comment_by" not in label_attributes({**meta, "comment_by": None})
