"""DICOM SEG out: header, references, dciodvfy (0 errors on every SEG written here), and the
round trips DICOM → segment → SEG → highdicom → identical to the PNG label, and
export → import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _dicom import SECRET_ID, SECRET_NAME, assert_valid_dicom, dicom_bytes

from dermview import __version__
from dermview.cli import main
from dermview.errors import MaskError
from dermview.exchange.dicom_seg import read_dicom_seg, write_dicom_seg
from dermview.io import load_image, load_mask
from dermview.labels import LabelMeta, image_sha256, save_label

LESION_TYPE = ("52988006", "SCT")  # SNOMED CT "Lesion"
CATEGORY = ("49755003", "SCT")  # SNOMED CT "Morphologically abnormal structure"


@pytest.fixture(scope="module")
def case(samples_dir, tmp_path_factory):
    """A bundled sample as a JPEG-compressed Dermoscopic Photography file, its JPEG original,
    and the sample's expert mask."""
    folder = tmp_path_factory.mktemp("case")
    jpg = folder / "IMD009.jpg"
    shutil.copy(samples_dir / "IMD009.jpg", jpg)
    rgb = load_image(jpg)
    dcm = folder / "IMD009_dms.dcm"
    dcm.write_bytes(dicom_bytes(rgb, "jpeg", pixel_spacing=(0.0125, 0.0125)))
    mask = load_mask(samples_dir / "IMD009_segmentation.png")
    return {"jpg": jpg, "dcm": dcm, "mask": mask, "rgb": rgb}


def _code(item) -> tuple[str, str]:
    return str(item.CodeValue), str(item.CodingSchemeDesignator)


def test_seg_of_dicom_source_references_it(case, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    written = write_dicom_seg(case["dcm"], case["mask"], out, model_name="litesegnet",
                              model_sha256="ab" * 32)
    assert [p.name for p in written] == ["IMD009_dms_segmentation.dcm"]  # no SC for DICOM
    assert_valid_dicom(written[0])
    seg = pydicom.dcmread(written[0])
    src = pydicom.dcmread(case["dcm"], stop_before_pixels=True)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.Modality == "SEG"
    assert seg.SegmentationType == "BINARY"
    assert seg.StudyInstanceUID == src.StudyInstanceUID
    assert seg.SeriesInstanceUID != src.SeriesInstanceUID
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == src.SeriesInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPClassUID == src.SOPClassUID
    assert seg.Manufacturer == "dermview" and seg.ManufacturerModelName == "dermview"
    assert __version__ in list(np.atleast_1d(seg.SoftwareVersions))
    (segment,) = seg.SegmentSequence
    assert segment.SegmentLabel == "lesion" and segment.SegmentAlgorithmType == "AUTOMATIC"
    assert _code(segment.SegmentedPropertyTypeCodeSequence[0]) == LESION_TYPE
    assert _code(segment.SegmentedPropertyCategoryCodeSequence[0]) == CATEGORY
    algo = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "litesegnet" and algo.AlgorithmVersion == "ab" * 32
    spacing = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    assert [float(v) for v in spacing] == [0.0125, 0.0125]
    mask, uid = read_dicom_seg(written[0])
    assert uid == src.SOPInstanceUID
    np.testing.assert_array_equal(mask, case["mask"])
    _assert_highdicom_reads(written[0], src.SOPInstanceUID, case["mask"])
    assert SECRET_NAME not in written[0].name and SECRET_ID not in written[0].name


def _assert_highdicom_reads(seg_path: Path, source_uid: str, mask: np.ndarray) -> None:
    """highdicom's reader takes the SEG (it refused one with a Pixel Spacing and no Slice
    Thickness, which its writer makes of a photograph) and gives back ``mask``."""
    import highdicom as hd

    seg = hd.seg.segread(seg_path)
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[source_uid])
    np.testing.assert_array_equal(pixels[0, :, :, 0] != 0, mask != 0)


def test_seg_of_jpeg_has_a_secondary_capture(case, tmp_path):
    written = write_dicom_seg(case["jpg"], case["mask"], tmp_path, model_name="m",
                              model_sha256="cd" * 32, edited=True)
    assert [p.name for p in written] == ["IMD009_segmentation.dcm", "IMD009_image.dcm"]
    for path in written:
        assert_valid_dicom(path)
    seg, sc = (pydicom.dcmread(p) for p in written)
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and seg.StudyInstanceUID == sc.StudyInstanceUID
    ref = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert ref.ReferencedSOPInstanceUID == sc.SOPInstanceUID
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    np.testing.assert_array_equal(load_image(written[1]), case["rgb"])  # SC = the image
    np.testing.assert_array_equal(read_dicom_seg(written[0])[0], case["mask"])
    _assert_highdicom_reads(written[0], sc.SOPInstanceUID, case["mask"])
    again = write_dicom_seg(case["jpg"], case["mask"], tmp_path / ".", model_name="m")
    assert pydicom.dcmread(again[1]).SOPInstanceUID == sc.SOPInstanceUID  # same image, same UIDs


def test_manual_and_empty_masks(case, tmp_path):
    empty = np.zeros_like(case["mask"])
    (path,) = write_dicom_seg(case["dcm"], empty, tmp_path)
    assert_valid_dicom(path)
    seg = pydicom.dcmread(path)
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    assert "SegmentationAlgorithmIdentificationSequence" not in seg.SegmentSequence[0]
    mask, _ = read_dicom_seg(path)
    assert mask.shape == empty.shape and not mask.any()
    # nobody reviewed it: Content Creator's Name (Type 2) present and empty, as documented
    # (highdicom left it out)
    assert "ContentCreatorName" in seg and not seg.ContentCreatorName


def test_mask_of_other_size_writes_nothing(case, tmp_path):
    with pytest.raises(MaskError, match="does not match the image"):
        write_dicom_seg(case["dcm"], case["mask"][:-1], tmp_path)
    with pytest.raises(MaskError):
        write_dicom_seg(case["jpg"], case["mask"][:, :-2], tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- via the CLI

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from _weights import make_weights

    from dermview.model import inference

    torch.set_num_threads(1)
    inference.clear_cache()
    return make_weights(tmp_path_factory.mktemp("weights"))


def test_segment_dicom_seg_round_trip(case, tmp_path, capsys, tiny_weights):
    """DICOM → dermview segment --dicom-seg → SEG → highdicom → the same pixels as the PNG."""
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(case["dcm"], inp / "lesion.dcm")
    shutil.copy(case["jpg"], inp / "other.jpg")
    out = tmp_path / "out"
    rc = main(["segment", str(inp), "--out", str(out), "--weights", str(tiny_weights),
               "--device", "cpu", "--no-preprocess", "--sidecar", "--dicom-seg"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert sorted(p.name for p in out.iterdir()) == [
        "lesion_segmentation.dcm", "lesion_segmentation.json", "lesion_segmentation.png",
        "other_image.dcm", "other_segmentation.dcm", "other_segmentation.json",
        "other_segmentation.png"]
    for stem in ("lesion", "other"):
        seg_path = out / f"{stem}_segmentation.dcm"
        assert_valid_dicom(seg_path)
        png = load_mask(out / f"{stem}_segmentation.png")
        np.testing.assert_array_equal(read_dicom_seg(seg_path)[0], png)
        algo = pydicom.dcmread(seg_path).SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
        assert algo.AlgorithmName == "tiny-test"
    for text in (cap.out, cap.err, *(p.name for p in out.iterdir())):
        assert SECRET_NAME not in text and SECRET_ID not in text
    # existing outputs are kept without --overwrite
    rc = main(["segment", str(inp / "lesion.dcm"), "--out", str(out), "--weights",
               str(tiny_weights), "--device", "cpu", "--dicom-seg"])
    assert rc == 1 and "already exist" in capsys.readouterr().err


def _labelled_pair(case, tmp_path, inverted_b: bool = False, **meta) -> Path:
    """A folder of the case's DICOM (a.dcm) and JPEG (b.jpg), both labelled by the model
    "tiny" (b's mask inverted when ``inverted_b``); ``meta``: further LabelMeta fields, a
    callable of the name for one that differs."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(case["dcm"], images / "a.dcm")
    shutil.copy(case["jpg"], images / "b.jpg")
    for name in ("a.dcm", "b.jpg"):
        fields = {k: v(name) if callable(v) else v for k, v in meta.items()}
        label = LabelMeta(image_sha256=image_sha256(images / name),
                          image_size=(case["mask"].shape[1], case["mask"].shape[0]),
                          model_name="tiny", model_sha256="ef" * 32, **fields)
        save_label(images / name, ~case["mask"] if inverted_b and name == "b.jpg" else case["mask"], label)
    return images


def test_export_import_dicom_seg_round_trip(case, tmp_path, capsys):
    images = _labelled_pair(case, tmp_path, inverted_b=True, edited=lambda name: name == "b.jpg")
    segs = tmp_path / "segs"
    assert main(["export", str(images), "--format", "dicom-seg", "--out", str(segs)]) == 0
    assert sorted(p.name for p in segs.iterdir()) == ["a_segmentation.dcm", "b_image.dcm",
                                                      "b_segmentation.dcm"]
    for p in segs.iterdir():
        assert_valid_dicom(p)
    labels = tmp_path / "imported"
    capsys.readouterr()
    rc = main(["import", str(images), "--format", "dicom-seg", "--from", str(segs),
               "--labels", str(labels)])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(load_mask(labels / "a_segmentation.png"), case["mask"])
    np.testing.assert_array_equal(load_mask(labels / "b_segmentation.png"), ~case["mask"])
    meta = json.loads((labels / "a_segmentation.json").read_text())
    assert meta["source"] == "imported" and meta["image_sha256"] == image_sha256(images / "a.dcm")
    # one SEG file as --from (trial finding: it said "no labels found in …_segmentation.dcm")
    one = tmp_path / "one"
    rc = main(["import", str(images), "--format", "dicom-seg", "--from",
               str(segs / "b_segmentation.dcm"), "--labels", str(one)])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in one.iterdir()) == ["b_segmentation.json", "b_segmentation.png"]
    np.testing.assert_array_equal(load_mask(one / "b_segmentation.png"), ~case["mask"])


def test_export_of_a_non_ascii_reviewer_is_utf8_and_valid(case, tmp_path, capsys):
    """A reviewer called "Ana Ruíz" went into Content Creator's Name as Latin-1 bytes with no
    Specific Character Set (dciodvfy: character invalid for the default repertoire)."""
    images = _labelled_pair(case, tmp_path, review_state="accepted", user="Ana Ruíz",
                            extras={"reviewed_by": "Ana Ruíz"})
    segs = tmp_path / "segs"
    assert main(["export", str(images), "--format", "dicom-seg", "--out", str(segs)]) == 0
    for name in ("a_segmentation.dcm", "b_segmentation.dcm"):
        assert_valid_dicom(segs / name)
        raw = (segs / name).read_bytes()
        assert "Ana Ruíz".encode() in raw and "Ana Ruíz".encode("latin-1") not in raw
        seg = pydicom.dcmread(segs / name)
        assert seg.SpecificCharacterSet == "ISO_IR 192"
        assert str(seg.ContentCreatorName) == "Ana Ruíz"


def test_import_of_a_seg_keeps_what_it_says_of_the_mask(case, tmp_path, capsys):
    """The SEG's reviewer (Content Creator), model (algorithm name, SHA-256) and hand edits
    (SEMIAUTOMATIC) were lost on import: its imported_from held no attributes, where COCO's
    and labelme's keep the review state, reviewer and model."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(case["dcm"], images / "a.dcm")
    shutil.copy(case["jpg"], images / "b.jpg")
    states = {"a.dcm": ("accepted", False), "b.jpg": ("corrected", True)}
    for name, (state, edited) in states.items():
        meta = LabelMeta(image_sha256=image_sha256(images / name),
                         image_size=(case["mask"].shape[1], case["mask"].shape[0]),
                         model_name="tiny", model_sha256="ef" * 32, edited=edited,
                         review_state=state, user="Ana Ruíz", extras={"reviewed_by": "Ana Ruíz"})
        save_label(images / name, case["mask"], meta)
    segs, labels = tmp_path / "segs", tmp_path / "imported"
    assert main(["export", str(images), "--format", "dicom-seg", "--out", str(segs)]) == 0
    assert main(["import", str(images), "--format", "dicom-seg", "--from", str(segs),
                 "--labels", str(labels)]) == 0, capsys.readouterr().err
    for name, (state, edited) in states.items():
        stem = name.split(".")[0]
        meta = json.loads((labels / f"{stem}_segmentation.json").read_text())
        assert meta["source"] == "imported"
        attrs = meta["imported_from"]["attributes"]
        assert attrs == {"review_state": state, "reviewed_by": "Ana Ruíz", "edited": edited,
                         "source": "model", "model_name": "tiny", "model_sha256": "ef" * 32}
    from dermview.exchange.labelset import imported_from_text

    meta = json.loads((labels / "b_segmentation.json").read_text())
    assert imported_from_text(meta) == ("from the DICOM SEG file b_segmentation.dcm, "
                                        "corrected there by Ana Ruíz")


def test_the_review_comment_and_its_author_go_out_in_the_seg_and_come_back(case, tmp_path, capsys):
    """The SEG left the review comment out (COCO and labelme carry it, with ``comment_by`` when
    a colleague wrote it): the reviewer reading the SEG elsewhere lost the note."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(case["dcm"], images / "a.dcm")
    shutil.copy(case["jpg"], images / "b.jpg")
    notes = {"a.dcm": ("Biopsy: border\nirregular at 3 o'clock", "Ana Ruíz"),
             "b.jpg": ("Seen again in 3 months", "Dr Bo Li")}
    for name, (comment, by) in notes.items():
        meta = LabelMeta(image_sha256=image_sha256(images / name),
                         image_size=(case["mask"].shape[1], case["mask"].shape[0]),
                         model_name="tiny", model_sha256="ef" * 32, review_state="accepted",
                         review_comment=comment, user=by,
                         extras={"reviewed_by": "Ana Ruíz", "comment_by": by})
        save_label(images / name, case["mask"], meta)
    segs, labels = tmp_path / "segs", tmp_path / "imported"
    assert main(["export", str(images), "--format", "dicom-seg", "--out", str(segs)]) == 0
    a, b = (pydicom.dcmread(segs / f"{s}_segmentation.dcm") for s in "ab")
    assert str(a.ImageComments) == "Biopsy: border\nirregular at 3 o'clock"  # the reviewer's own
    assert str(b.ImageComments) == "Seen again in 3 months\n(comment by Dr Bo Li)"
    for stem in "ab":
        assert_valid_dicom(segs / f"{stem}_segmentation.dcm")
    assert main(["import", str(images), "--format", "dicom-seg", "--from", str(segs),
                 "--labels", str(labels)]) == 0, capsys.readouterr().err
    attrs = {s: json.loads((labels / f"{s}_segmentation.json").read_text())["imported_from"]["attributes"]
             for s in "ab"}
    assert attrs["a"]["comment"] == "Biopsy: border\nirregular at 3 o'clock"
    assert "comment_by" not in attrs["a"]
    assert (attrs["b"]["comment"], attrs["b"]["comment_by"]) == ("Seen again in 3 months", "Dr Bo Li")


def test_segment_writes_nothing_when_the_seg_is_refused(case, tmp_path, capsys, tiny_weights,
                                                        monkeypatch):
    import highdicom

    def refuse(*_a, **_k):
        raise RuntimeError("refused by highdicom")

    monkeypatch.setattr(highdicom.seg, "Segmentation", refuse)
    out = tmp_path / "out"
    rc = main(["segment", str(case["dcm"]), "--out", str(out), "--weights", str(tiny_weights),
               "--device", "cpu", "--no-preprocess", "--sidecar", "--dicom-seg"])
    err = capsys.readouterr().err
    assert rc == 1 and "Cannot write a DICOM SEG for IMD009_dms.dcm" in err
    assert "Traceback" not in err and list(out.iterdir()) == []


def test_highdicom_tables_are_loaded_once_with_the_gc_paused(monkeypatch):
    import gc

    from highdicom import _standard_utils as std

    from dermview.exchange import dicom_seg

    seen = []
    real = std.get_module_attribute_map.__wrapped__

    @__import__("functools").lru_cache(1)
    def spy():
        seen.append(gc.isenabled())
        return real()

    monkeypatch.setattr(std, "get_module_attribute_map", spy)
    monkeypatch.setattr(dicom_seg, "_TABLES_LOADED", False)
    was = gc.isenabled()  # off once a GUI test made the app (it collects on a timer then)
    gc.enable()
    try:
        hd = dicom_seg._highdicom()
        assert seen == [False] and gc.isenabled() and hd.__name__ == "highdicom"
        dicom_seg._highdicom()
        assert seen == [False]  # once
    finally:
        if not was:
            gc.disable()


def _without_preamble(data: bytes, meta: bool) -> bytes:
    """The file as older capture software writes it: no 128-byte preamble and ``DICM``
    prefix (``meta``: the file meta header kept), else the bare implicit-VR dataset."""
    if meta:
        return data[132:]
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    del ds.file_meta
    ds.preamble = None
    buf = pydicom.filebase.DicomBytesIO()
    pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return buf.getvalue()


@pytest.mark.parametrize("meta", [True, False], ids=["meta-header", "bare-dataset"])
def test_segment_reads_dicom_without_preamble(case, tmp_path, capsys, tiny_weights, meta):
    """A DICOM file without preamble (with or without its file meta header; the first named
    without a suffix, as PACS exports name files) is segmented and its SEG references it;
    it was refused as 'not a readable DICOM file (no DICOM header)'."""
    src = pydicom.dcmread(case["dcm"])
    src.decompress()
    inp = tmp_path / "in"
    inp.mkdir()
    name = "IMG0001" if meta else "lesion.dcm"
    (inp / name).write_bytes(_without_preamble(_to_bytes(src), meta))
    out = tmp_path / "out"
    rc = main(["segment", str(inp / name), "--out", str(out), "--weights", str(tiny_weights),
               "--device", "cpu", "--no-preprocess", "--dicom-seg"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    stem = name.removesuffix(".dcm")
    np.testing.assert_array_equal(load_image(inp / name), src.pixel_array)
    mask, uid = read_dicom_seg(out / f"{stem}_segmentation.dcm")
    assert uid == src.SOPInstanceUID
    np.testing.assert_array_equal(mask, load_mask(out / f"{stem}_segmentation.png"))
    assert not (out / f"{stem}_image.dcm").exists()  # the source itself is referenced


def _to_bytes(ds) -> bytes:
    buf = pydicom.filebase.DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _other_tools_seg(src, segments, kind="BINARY"):
    """A SEG as another tool writes it with highdicom: ``segments`` = ``[(label, mask)]``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    descriptions = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion if label == "lesion" else codes.SCT.Tissue,
        algorithm_type="MANUAL") for n, (label, _mask) in enumerate(segments, 1)]
    pixels = np.stack([m for _label, m in segments], axis=-1)[None]
    return hd.seg.Segmentation(
        source_images=[src], pixel_array=pixels.astype(np.float32 if kind == "FRACTIONAL" else np.uint8),
        segmentation_type=kind, segment_descriptions=descriptions,
        series_instance_uid=generate_uid(), series_number=5, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="other", manufacturer_model_name="other",
        software_versions="1", device_serial_number="1",
        **({"fractional_type": "PROBABILITY"} if kind == "FRACTIONAL" else {}))


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL"])
def test_import_takes_the_lesion_segment_of_another_tools_seg(case, tmp_path, capsys, kind):
    """A SEG of several segments (a ruler first, then the lesion) imports its lesion segment
    (it took segment 1, the ruler); a FRACTIONAL one from probability 0.5 (0.3 counted as
    lesion)."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(case["dcm"], images / "a.dcm")
    src = pydicom.dcmread(images / "a.dcm")
    ruler = np.zeros_like(case["mask"])
    ruler[-20:, :100] = True
    lesion = case["mask"].astype(np.float32)
    if kind == "FRACTIONAL":
        lesion[:10, :10] = 0.3  # unsure, not lesion
    segs = tmp_path / "segs"
    segs.mkdir()
    _other_tools_seg(src, [("ruler", ruler), ("lesion", lesion)], kind).save_as(segs / "x.dcm")
    labels = tmp_path / "imported"
    rc = main(["import", str(images), "--format", "dicom-seg", "--from", str(segs),
               "--labels", str(labels)])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(load_mask(labels / "a_segmentation.png"), case["mask"])
