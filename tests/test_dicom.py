"""Reading DICOM photographs (dermview.dicom through dermview.io): transfer syntaxes,
photometric interpretations, pixel spacing, refusals and patient privacy. Every file is made
here with pydicom from a bundled sample."""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import pytest
from _dicom import DMS, SECRET_ID, SECRET_NAME, VLP, dataset, dicom_bytes, to_bytes
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import JPEGBaseline8Bit

from dermview import io as dio
from dermview.dicom import ImageInfo
from dermview.errors import ImageReadError, ImageTooLargeError


@pytest.fixture(scope="module")
def rgb(samples_dir) -> np.ndarray:
    """A 96×128 crop of a bundled dermoscopy image (lesion and skin)."""
    img = np.asarray(Image.open(samples_dir / "IMD002.jpg"))
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[h // 2 - 48:h // 2 + 48, w // 2 - 64:w // 2 + 64])


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


LOSSLESS = ["explicit", "implicit", "rle", "jpeg-ls", "j2k-lossless"]
LOSSY = ["jpeg", "jpeg-ls-near", "j2k"]


@pytest.mark.parametrize("syntax", LOSSLESS + LOSSY)
def test_transfer_syntaxes_decode_to_the_image(syntax, rgb, tmp_path):
    path = _write(tmp_path, f"case_{syntax}.dcm", dicom_bytes(rgb, syntax))
    out, info = dio.load_image_info(path)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert out.flags.c_contiguous and out.flags.writeable and out.flags.owndata
    err = np.abs(out.astype(int) - rgb).mean()
    if syntax in LOSSLESS:
        np.testing.assert_array_equal(out, rgb)
    else:
        assert err < 3.0, err
    assert info.pixel_spacing_mm == (0.02, 0.02) and info.mm_per_px == pytest.approx(0.02)
    assert info.spacing_source == "PixelSpacing"
    assert info.dicom is not None and info.dicom.sop_class_uid == DMS
    np.testing.assert_array_equal(dio.load_image(path), out)


def test_jpeg_fast_path_matches_pydicom_decoder(rgb, tmp_path):
    """The JPEG frame is decoded by Pillow directly; pydicom's own decoder gives the same."""
    import pydicom
    from pydicom.pixels import get_decoder

    data = dicom_bytes(rgb, "jpeg")
    out = dio.load_image(_write(tmp_path, "a.dcm", data))
    ds = pydicom.dcmread(io.BytesIO(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, decoding_plugin="pillow")
    assert np.abs(out.astype(int) - ref).max() <= 2


def test_file_that_declares_ybr_but_holds_rgb(rgb, tmp_path):
    """An RGB JPEG codestream (Adobe marker, no colour transform) in a file whose header says
    YBR_FULL_422 shows its real colours; converting it as YBR would shift them badly."""
    out = dio.load_image(_write(tmp_path, "ybr_rgb.dcm", dicom_bytes(rgb, "jpeg-rgb-as-ybr")))
    assert np.abs(out.astype(int) - rgb).mean() < 3.0
    wrong = convert_color_space(out, "YBR_FULL", "RGB")
    assert np.abs(wrong.astype(int) - rgb).mean() > 20


def _strip_app_markers(jpeg: bytes) -> bytes:
    """The JPEG without its APP0-APP15 segments (no JFIF / Adobe colour declaration)."""
    out, pos = bytearray(jpeg[:2]), 2
    while jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        pos += 2 + int.from_bytes(jpeg[pos + 2:pos + 4], "big")
    return bytes(out + jpeg[pos:])


@pytest.mark.parametrize("keep_rgb,photometric", [(False, "YBR_FULL_422"), (True, "RGB")])
def test_markerless_jpeg_follows_the_header(keep_rgb, photometric, rgb, tmp_path):
    """Without JFIF/Adobe markers the header's photometric interpretation decides."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, keep_rgb=keep_rgb)
    frame = _strip_app_markers(buf.getvalue())
    assert b"JFIF" not in frame[:64] and b"Adobe" not in frame[:64]
    ds = dataset(rgb, photometric=photometric)
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    out = dio.load_image(_write(tmp_path, "bare.dcm", to_bytes(ds)))
    assert np.abs(out.astype(int) - rgb).mean() < 3.0


def test_native_ybr_full_is_converted(rgb, tmp_path):
    ds = dataset(rgb, photometric="YBR_FULL")
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    out = dio.load_image(_write(tmp_path, "ybr.dcm", to_bytes(ds)))
    assert np.abs(out.astype(int) - rgb).max() <= 2


def _mono(rgb: np.ndarray, photometric: str, bits: int) -> bytes:
    ds = dataset(rgb, photometric=photometric)
    grey = (rgb[:, :, 1].astype(np.uint32) * ((1 << bits) - 1) + 127) // 255
    ds.SamplesPerPixel = 1
    del ds.PlanarConfiguration
    ds.BitsAllocated = 16 if bits > 8 else 8
    ds.BitsStored, ds.HighBit = bits, bits - 1
    ds.PixelData = grey.astype(np.uint16 if bits > 8 else np.uint8).tobytes()
    return to_bytes(ds)


@pytest.mark.parametrize("photometric,bits", [("MONOCHROME2", 8), ("MONOCHROME2", 12),
                                              ("MONOCHROME1", 8)])
def test_monochrome(photometric, bits, rgb, tmp_path):
    out = dio.load_image(_write(tmp_path, "grey.dcm", _mono(rgb, photometric, bits)))
    assert out.shape == rgb.shape and (out[:, :, 0] == out[:, :, 2]).all()
    expected = rgb[:, :, 1].astype(int)
    expected = 255 - expected if photometric == "MONOCHROME1" else expected
    assert np.abs(out[:, :, 0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize("keyword,spacing,expected", [
    ("PixelSpacing", (0.02, 0.0201), ((0.02, 0.0201), np.sqrt(0.02 * 0.0201))),
    # non-square pixels: no one scale gives their lengths (the geometric mean gave a longest
    # diameter 21 % short, silently)
    ("PixelSpacing", (0.02, 0.03), ((0.02, 0.03), None)),
    ("ImagerPixelSpacing", (0.01, 0.01), ((0.01, 0.01), 0.01)),
    ("PixelSpacing", (0.0, 0.01), (None, None)),  # invalid: no scale rather than a wrong one
    ("PixelSpacing", None, (None, None)),
])
def test_pixel_spacing(keyword, spacing, expected, rgb, tmp_path):
    data = dicom_bytes(rgb, "explicit", pixel_spacing=spacing, spacing_keyword=keyword)
    _, info = dio.load_image_info(_write(tmp_path, "s.dcm", data))
    assert info.pixel_spacing_mm == expected[0]
    assert info.mm_per_px == (pytest.approx(expected[1]) if expected[1] else None)
    assert info.spacing_source == (keyword if expected[0] else "")
    assert bool(info.scale_problem) == (expected[0] is not None and expected[1] is None)


def test_non_dicom_has_empty_info(samples_dir):
    rgb, info = dio.load_image_info(samples_dir / "IMD002.jpg")
    assert info == ImageInfo() and info.mm_per_px is None and rgb.shape[2] == 3


def test_vl_photographic_and_uids(rgb, tmp_path):
    ds = dataset(rgb, sop_class=VLP)
    _, info = dio.load_image_info(_write(tmp_path, "vlp.dcm", to_bytes(ds)))
    ref = info.dicom
    assert (ref.sop_class_uid, ref.sop_instance_uid, ref.study_instance_uid,
            ref.series_instance_uid) == (VLP, ds.SOPInstanceUID, ds.StudyInstanceUID,
                                         ds.SeriesInstanceUID)


def test_dicom_named_jpg_is_read_as_dicom(rgb, tmp_path):
    out = dio.load_image(_write(tmp_path, "actually_dicom.jpg", dicom_bytes(rgb)))
    np.testing.assert_array_equal(out, rgb)


def test_other_sop_class_is_refused(rgb, tmp_path):
    ds = dataset(rgb, sop_class="1.2.840.10008.5.1.4.1.1.2")  # CT Image Storage
    with pytest.raises(ImageReadError, match="ct.dcm is a DICOM CT Image Storage object, not a photograph"):
        dio.load_image(_write(tmp_path, "ct.dcm", to_bytes(ds)))


def test_pixel_limit_checked_before_decoding(rgb, tmp_path, monkeypatch):
    monkeypatch.setattr(dio.read, "MAX_PIXELS", 1000)
    from pydicom.pixels.decoders import base

    def no_decode(*_a, **_k):
        raise AssertionError("decoded")

    monkeypatch.setattr(base.Decoder, "as_array", no_decode)
    with pytest.raises(ImageTooLargeError, match="128×96 pixels"):
        dio.load_image(_write(tmp_path, "big.dcm", dicom_bytes(rgb, "j2k-lossless")))


def test_list_images_includes_dicom(rgb, tmp_path):
    for name in ("a.dcm", "b.DICOM", "c.jpg", "a_segmentation.dcm", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in dio.list_images(tmp_path)] == ["a.dcm", "b.DICOM", "c.jpg"]


def test_patient_identifiers_never_shown(rgb, tmp_path, caplog, capsys):
    """Reading good and bad files: no patient name or ID in messages, logs, warnings, output."""
    caplog.set_level(logging.DEBUG)
    good = _write(tmp_path, "good.dcm", dicom_bytes(rgb, "jpeg"))
    ds = dataset(rgb)
    del ds.PixelData
    bad = _write(tmp_path, "bad.dcm", to_bytes(ds))
    ds = dataset(rgb)
    ds.PatientName = SECRET_NAME * 10  # over the PN length limit: pydicom would warn
    ds.Rows = 500  # and the pixel data is too short
    ugly = _write(tmp_path, "ugly.dcm", to_bytes(ds))
    texts = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dio.load_image_info(good)
        for path in (bad, ugly):
            with pytest.raises(ImageReadError) as info:
                dio.load_image(path)
            texts.append(str(info.value))
    cap = capsys.readouterr()
    texts += [cap.out, cap.err, caplog.text, *(str(w.message) for w in caught)]
    for secret in (SECRET_NAME, SECRET_ID, "SECRETNAME"):
        assert not any(secret in t for t in texts), texts
