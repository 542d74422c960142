"""dermview.io: every supported layout decoded to the right pixels, bad files refused with a
clear message, masks read leniently, writes atomic."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import stat
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from _encode import cv_bytes, pil_bytes
from PIL import Image, ImageFile, ImageOps

from dermview import io as dio
from dermview.errors import DermviewError, ImageReadError, ImageTooLargeError, MaskError, WriteError


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    rr, cc = np.mgrid[0:h, 0:w]
    return np.stack([rr * 255 // (h - 1), cc * 255 // (w - 1), (rr + cc) % 256], -1).astype(np.uint8)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif")])
def test_lossless_formats_round_trip_exactly(tmp_path, fmt, suffix):
    rgb = _gradient()
    path = _write(tmp_path / f"img{suffix}", pil_bytes(Image.fromarray(rgb), fmt))
    out = dio.load_image(path)
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.c_contiguous
    assert out.flags.writeable and out.flags.owndata  # not a read-only view of Pillow's bytes
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_decodes_close_to_source(tmp_path):
    rgb = _gradient()
    path = _write(tmp_path / "img.jpeg", pil_bytes(Image.fromarray(rgb), "JPEG", quality=98))
    out = dio.load_image(path)
    assert out.shape == rgb.shape and out.flags.writeable
    out[0, 0] = 0  # callers may draw on it
    assert np.abs(out.astype(int) - rgb).mean() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_reference(tmp_path, orientation):
    stored = Image.fromarray(_gradient(6, 10))
    exif = stored.getexif()
    exif[0x0112] = orientation
    path = _write(tmp_path / "o.png", pil_bytes(stored, "PNG", exif=exif.tobytes()))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    np.testing.assert_array_equal(dio.load_image(path), expected)


def test_exif_rotated_jpeg_pixel_layout(tmp_path):
    # Stored landscape 20×40 (H×W) with a red block at the stored top-left corner; orientation
    # 6 means "rotate 90° clockwise to display": the block must appear top-right, portrait.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:6, :6] = (255, 0, 0)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    path = _write(tmp_path / "rot.jpg", pil_bytes(img, "JPEG", quality=95, exif=exif.tobytes()))
    out = dio.load_image(path)
    assert out.shape == (40, 20, 3)
    assert out[2, 17, 0] > 200 and out[2, 17, 1] < 60  # top-right: red
    assert out[2, 2].max() < 40 and out[37, 2].max() < 40 and out[37, 17].max() < 40


def test_grayscale_is_replicated_to_rgb(tmp_path):
    grey = _gradient()[:, :, 1]
    path = _write(tmp_path / "g.png", pil_bytes(Image.fromarray(grey, "L"), "PNG"))
    out = dio.load_image(path)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


def test_one_bit_image(tmp_path):
    img = Image.new("1", (5, 3), 0)
    img.putpixel((4, 2), 1)
    out = dio.load_image(_write(tmp_path / "b.png", pil_bytes(img, "PNG")))
    assert out[2, 4].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_palette_image(tmp_path):
    img = Image.new("P", (4, 2), 0)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putpixel((3, 1), 1)
    out = dio.load_image(_write(tmp_path / "p.png", pil_bytes(img, "PNG")))
    assert out[0, 0].tolist() == [10, 20, 30] and out[1, 3].tolist() == [200, 100, 50]


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", (4, 2), 0)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putpixel((3, 1), 1)
    path = _write(tmp_path / "pt.png", pil_bytes(img, "PNG", transparency=0))
    out = dio.load_image(path)
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent index → white
    assert out[1, 3].tolist() == [200, 100, 50]


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent → white
    rgba[0, 1] = (0, 0, 0, 128)  # half → mid grey
    rgba[0, 2] = (200, 10, 20, 255)
    out = dio.load_image(_write(tmp_path / "a.png", pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert np.abs(out[0, 1].astype(int) - 127).max() <= 1
    assert out[0, 2].tolist() == [200, 10, 20]
    assert out[1, 0].tolist() == [0, 0, 0]


def test_la_is_composited_on_white(tmp_path):
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = 60
    la[..., 1] = 255
    la[1, 1, 1] = 0
    out = dio.load_image(_write(tmp_path / "la.png", pil_bytes(Image.fromarray(la, "LA"), "PNG")))
    assert out[0, 0].tolist() == [60, 60, 60] and out[1, 1].tolist() == [255, 255, 255]


def test_all_zero_alpha_is_ignored(tmp_path):
    # OpenCV writes 32-bit BMPs whose 4th byte is 0 everywhere; Pillow reads that as RGBA
    # alpha. The image must show its colours, not a blank white page.
    bgra = np.zeros((3, 4, 4), np.uint8)
    bgra[..., :3] = (30, 20, 10)
    ok, buf = cv2.imencode(".bmp", bgra)
    assert ok
    out = dio.load_image(_write(tmp_path / "z.bmp", buf.tobytes()))
    assert out[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("TIFF", ".tif")])
def test_cmyk(tmp_path, fmt, suffix):
    img = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red
    out = dio.load_image(_write(tmp_path / f"cmyk{suffix}", pil_bytes(img, fmt)))
    assert out.shape == (8, 8, 3)
    assert out[4, 4, 0] > 230 and out[4, 4, 1] < 25 and out[4, 4, 2] < 25


_G16 = np.array([[0, 257 * 100, 65535], [1000, 200, 32768]], np.uint16)
_G16_EXPECTED = np.array([[0, 100, 255], [4, 1, 128]], np.uint8)  # nominal 0-65535 range
_RGB16 = np.array(
    [[[65535, 0, 32768], [1000, 20000, 257 * 7]], [[0, 0, 0], [257, 514, 65535]]], np.uint16
)
_RGB16_EXPECTED = np.array([[[255, 0, 128], [4, 78, 7]], [[0, 0, 0], [1, 2, 255]]], np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grey_scaled_over_nominal_range(tmp_path, suffix):
    # Even a dark 16-bit file (all values ≤ 255) is 16-bit: 200 → 1, not 200.
    ok, buf = cv2.imencode(suffix, _G16)
    assert ok
    out = dio.load_image(_write(tmp_path / f"g16{suffix}", buf.tobytes()))
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], _G16_EXPECTED)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_dark_16bit_grey_is_not_mistaken_for_8bit(tmp_path, suffix):
    ok, buf = cv2.imencode(suffix, np.array([[200, 255, 0]], np.uint16))
    assert ok
    out = dio.load_image(_write(tmp_path / f"dark16{suffix}", buf.tobytes()))
    assert out[0, :, 0].tolist() == [1, 1, 0]


def test_big_endian_16bit_tiff(tmp_path):
    # Motorola byte order ("MM"): Pillow gives a '>u2' array, which is not np.uint16.
    img = Image.frombytes("I;16B", (3, 1), np.array([[200, 255, 65535]], ">u2").tobytes())
    data = pil_bytes(img, "TIFF")
    assert data[:2] == b"MM"
    out = dio.load_image(_write(tmp_path / "mm16.tif", data))
    assert out[0, :, 0].tolist() == [1, 1, 255]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_rounded_not_truncated(tmp_path, suffix):
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(_RGB16[:, :, ::-1]))  # OpenCV is BGR
    assert ok
    out = dio.load_image(_write(tmp_path / f"rgb16{suffix}", buf.tobytes()))
    np.testing.assert_array_equal(out, _RGB16_EXPECTED)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgba_composited(tmp_path, suffix):
    bgra = np.zeros((1, 3, 4), np.uint16)
    bgra[0, 0] = (0, 0, 65535, 65535)  # opaque red
    bgra[0, 1] = (0, 0, 0, 0)  # transparent → white
    bgra[0, 2] = (0, 0, 0, 32768)  # half-transparent black → grey
    ok, buf = cv2.imencode(suffix, bgra)
    assert ok
    out = dio.load_image(_write(tmp_path / f"rgba16{suffix}", buf.tobytes()))
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [255, 255, 255]
    assert np.abs(out[0, 2].astype(int) - 127).max() <= 1


def test_16bit_grey_with_alpha_png(tmp_path):
    # Grey+alpha 16-bit (PNG colour type 4), written by hand: OpenCV cannot write it.
    # Pixels: opaque grey 50·257, transparent black (→ white).
    rows = b"".join(b"\x00" + struct.pack(">HHHH", 257 * 50, 65535, 0, 0) for _ in range(2))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 16, 4, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )
    out = dio.load_image(_write(tmp_path / "ga16.png", data))
    assert out[0, 0].tolist() == [50, 50, 50] and out[1, 1].tolist() == [255, 255, 255]


def test_float_tiff(tmp_path):
    f = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = dio.load_image(_write(tmp_path / "f.tif", pil_bytes(Image.fromarray(f, "F"), "TIFF")))
    assert out[0, :, 0].tolist() == [0, 128, 255]


def test_one_pixel(tmp_path):
    out = dio.load_image(
        _write(tmp_path / "1.png", pil_bytes(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    )
    assert out.shape == (1, 1, 3) and out[0, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize("size", [(20000, 8), (8, 20000)])
def test_long_strips(tmp_path, size):
    img = Image.new("RGB", size, (9, 8, 7))
    out = dio.load_image(_write(tmp_path / "strip.png", pil_bytes(img, "PNG")))
    assert out.shape == (size[1], size[0], 3) and out[-1, -1].tolist() == [9, 8, 7]


def _pages(tmp_path, sizes) -> Path:
    pages = [Image.new("RGB", size, (50 + i, 60, 70)) for i, size in enumerate(sizes)]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    return _write(tmp_path / "pages.tif", buf.getvalue())


def test_a_tiff_with_thumbnail_pages_reads_its_first_page(tmp_path):
    out = dio.load_image(_pages(tmp_path, [(40, 30), (8, 6), (4, 3)]))
    assert out.shape == (30, 40, 3) and out[0, 0].tolist() == [50, 60, 70]


def test_a_tiff_of_several_images_is_refused(tmp_path):
    """Trial finding: a 3-page TIFF opened its first page without a word (a label saved for
    the file was that page's only), while a multi-frame DICOM is refused."""
    for sizes in ([(40, 30)] * 3, [(4, 3), (9, 9)]):
        with pytest.raises(ImageReadError, match=rf"pages.tif holds {len(sizes)} images \(a "
                           r"multi-page TIFF\); dermview opens single images only"):
            dio.load_image(_pages(tmp_path, sizes))


def test_tiff_with_damaged_second_page_reads_first_page(tmp_path):
    # Found by fuzzing the first io.py: Pillow's n_frames walked into a broken second IFD and
    # raised a bare TypeError ("Missing dimensions"), which crashed the caller.
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (1, 2, 3)).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    next_ptr = ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0]
    if len(data) % 2:
        data += b"\0"
    fake = len(data)
    data += struct.pack("<H", 1) + struct.pack("<HHII", 259, 3, 1, 1) + struct.pack("<I", 0)
    struct.pack_into("<I", data, next_ptr, fake)
    with pytest.raises(TypeError):  # what Pillow alone does
        _ = Image.open(io.BytesIO(bytes(data))).n_frames
    out = dio.load_image(_write(tmp_path / "pages.tif", bytes(data)))
    assert out.shape == (12, 16, 3) and out[0, 0].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------- size limit


def _bomb_png(width: int, height: int) -> bytes:
    """A small PNG whose header claims width × height RGB pixels (its data is a few rows)."""
    rows = (b"\x00" + b"\x00" * (3 * width)) * 4
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )


def _bomb_bmp(width: int, height: int) -> bytes:
    data = bytearray(pil_bytes(Image.new("RGB", (2, 2)), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


@pytest.mark.parametrize("maker,suffix", [(_bomb_png, ".png"), (_bomb_bmp, ".bmp")])
def test_bomb_refused_from_header_before_decoding(tmp_path, monkeypatch, maker, suffix):
    path = _write(tmp_path / f"bomb{suffix}", maker(30000, 30000))
    assert path.stat().st_size < 100_000

    def no_decoding(self):  # any decode attempt fails the test
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as info:
        dio.load_image(path)
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100_000
    msg = str(info.value)
    assert f"bomb{suffix}" in msg and "30000×30000" in msg and "80 MP" in msg


def test_16bit_png_with_lying_chunk_length_is_not_a_memory_bomb(tmp_path):
    # Found by tests/test_fuzz.py: a 1.4 KB 16-bit PNG whose IDAT length field claims ~3 GB
    # made cv2.imdecode allocate 3 GB. Pillow now checks the file before OpenCV decodes it.
    data = bytearray(cv_bytes(".png", np.zeros((12, 16, 3), np.uint16) + 1000))
    at = data.index(b"IDAT") - 4
    struct.pack_into(">I", data, at, 0xC0000497)
    path = _write(tmp_path / "lying16.png", bytes(data))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ImageReadError, match="lying16.png"):
        dio.load_image(path)
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000  # KiB


def test_16bit_tiff_with_lying_strip_size(tmp_path):
    data = bytearray(cv_bytes(".tif", np.zeros((12, 16, 3), np.uint16) + 1000))
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag, kind, count, _ = struct.unpack_from("<HHII", data, at)
        if tag == 279:  # StripByteCounts
            assert kind == 4 and count == 1
            struct.pack_into("<I", data, at + 8, 0x7FFFFFF0)
    path = _write(tmp_path / "lying16.tif", bytes(data))
    with pytest.raises(ImageReadError, match="lying16.tif is (damaged|truncated)"):
        dio.load_image(path)


def test_limit_is_inclusive(tmp_path, monkeypatch):
    monkeypatch.setattr(dio.read, "MAX_PIXELS", 12)
    ok = _write(tmp_path / "ok.png", pil_bytes(Image.new("RGB", (4, 3)), "PNG"))
    assert dio.load_image(ok).shape == (3, 4, 3)
    big = _write(tmp_path / "big.png", pil_bytes(Image.new("RGB", (13, 1)), "PNG"))
    with pytest.raises(ImageTooLargeError):
        dio.load_image(big)


# --------------------------------------------------------------------------- bad files


def _good_jpeg() -> bytes:
    return pil_bytes(Image.fromarray(_gradient(64, 64)), "JPEG", quality=90)


def _good_png() -> bytes:
    rng = np.random.default_rng(0)
    return pil_bytes(Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)), "PNG")


@pytest.mark.parametrize(
    "name,data,words",
    [
        ("empty.jpg", b"", "empty (0 bytes)"),
        ("cut.jpg", _good_jpeg()[: len(_good_jpeg()) // 2], "truncated"),
        ("cut.png", _good_png()[: len(_good_png()) // 2], "truncated"),
        ("noise.jpg", np.random.default_rng(1).bytes(4096), "not a readable image"),
        ("notes.png", b"Patient notes: lesion on left forearm.\n" * 10, "not a readable image"),
        ("jpeg-header-only.jpg", _good_jpeg()[:200], "truncated"),
        ("png-signature-only.png", b"\x89PNG\r\n\x1a\n", "not a readable image"),
    ],
)
def test_bad_file_message_names_file_and_problem(tmp_path, name, data, words):
    path = _write(tmp_path / name, data)
    with pytest.raises(ImageReadError) as info:
        dio.load_image(path)
    assert name in str(info.value) and words in str(info.value)
    assert "Traceback" not in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="not found.*nothere.png"):
        dio.load_image(tmp_path / "nothere.png")
    with pytest.raises(ImageReadError, match="is a folder"):
        dio.load_image(tmp_path)


def test_special_file_is_refused_without_reading(tmp_path):
    with pytest.raises(ImageReadError, match="not a regular file"):
        dio.load_image("/dev/zero")


def test_oversized_file_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(dio.read, "MAX_FILE_BYTES", 100)
    path = _write(tmp_path / "big.png", _good_png())
    with pytest.raises(ImageReadError, match="big.png is .* GB"):
        dio.load_image(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = _write(tmp_path / "locked.png", _good_png())
    path.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            dio.load_image(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("folder,name", [
    ("données patient", "lésion 1 ü.jpg"),
    ("病人 images", "病变 ISIC 0000.png"),
    ("with  two spaces", " leading space.bmp"),
])
def test_non_ascii_and_space_paths(tmp_path, folder, name):
    d = tmp_path / folder
    d.mkdir()
    rgb = _gradient()
    dio.save_image(d / name, rgb)
    out = dio.load_image(d / name)
    assert out.shape == rgb.shape
    mask = rgb[:, :, 0] > 100
    label = d / f"{Path(name).stem}_segmentation.png"
    dio.save_mask(label, mask)
    np.testing.assert_array_equal(dio.load_mask(label, shape=mask.shape), mask)
    assert dio.list_images(d) == [d / name]


def test_real_samples_load(samples_dir):
    for path in sorted(samples_dir.glob("*.jpg")):
        rgb = dio.load_image(path)
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
        gt = dio.load_mask(path.with_name(path.stem + "_segmentation.png"), shape=rgb.shape[:2])
        assert 0 < gt.mean() < 1


# --------------------------------------------------------------------------- masks


def _save_grey(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def test_mask_zero_one(tmp_path):
    m = np.zeros((5, 6), np.uint8)
    m[1:3, 2:5] = 1
    out = dio.load_mask(_save_grey(tmp_path / "m01.png", m))
    assert out.dtype == bool and out.shape == (5, 6)
    np.testing.assert_array_equal(out, m == 1)


def test_mask_grey_levels_threshold_at_half(tmp_path):
    m = np.array([[0, 100, 127, 128, 200, 255]], np.uint8)
    out = dio.load_mask(_save_grey(tmp_path / "grey.png", m))
    assert out.tolist() == [[False, False, False, True, True, True]]


def test_mask_jpeg_noise_does_not_flip_pixels(tmp_path):
    m = np.zeros((32, 32), np.uint8)
    m[8:24, 8:24] = 255
    path = tmp_path / "m.jpg"
    Image.fromarray(m).save(path, quality=60)
    out = dio.load_mask(path)
    assert (out != (m > 0)).sum() < 20


def test_mask_rgb_white_and_red(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (255, 255, 255)
    rgb[1, 1] = (255, 0, 0)  # red-on-black masks (a common export) are lesion too
    rgb[2, 2] = (60, 60, 60)
    out = dio.load_mask(_save_grey(tmp_path / "rgb.png", rgb))
    assert out[0, 0] and out[1, 1] and not out[2, 2] and out.sum() == 2


def test_mask_alpha_only(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., :3] = (0, 128, 255)
    rgba[1, 1, 3] = 255
    out = dio.load_mask(_save_grey(tmp_path / "alpha.png", rgba, "RGBA"))
    assert out.sum() == 1 and out[1, 1]


def test_mask_16bit(tmp_path):
    m = np.array([[0, 30000, 40000, 65535]], np.uint16)
    ok, buf = cv2.imencode(".png", m)
    assert ok
    out = dio.load_mask(_write(tmp_path / "m16.png", buf.tobytes()))
    assert out.tolist() == [[False, False, True, True]]


def test_mask_palette(tmp_path):
    img = Image.new("P", (3, 1), 0)
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    img.putpixel((2, 0), 1)
    img.save(tmp_path / "pal.png")
    assert dio.load_mask(tmp_path / "pal.png").tolist() == [[False, False, True]]


def test_mask_size_mismatch(tmp_path):
    path = _save_grey(tmp_path / "ISIC_1_segmentation.png", np.zeros((10, 20), np.uint8))
    with pytest.raises(MaskError) as info:
        dio.load_mask(path, shape=(20, 10))
    msg = str(info.value)
    assert "ISIC_1_segmentation.png" in msg and "20×10" in msg and "10×20" in msg


def test_mask_bad_file(tmp_path):
    with pytest.raises(ImageReadError, match="bad_segmentation.png"):
        dio.load_mask(_write(tmp_path / "bad_segmentation.png", b"not a png"))


def test_save_mask_round_trip_is_single_channel_0_255(tmp_path):
    mask = np.zeros((7, 9), bool)
    mask[2:5, 3:8] = True
    path = tmp_path / "x_segmentation.png"
    dio.save_mask(path, mask)
    on_disk = Image.open(path)
    assert on_disk.mode == "L" and on_disk.format == "PNG"
    assert set(np.unique(np.asarray(on_disk)).tolist()) == {0, 255}
    np.testing.assert_array_equal(dio.load_mask(path), mask)


def test_save_mask_refuses_lossy_and_bad_shape(tmp_path):
    with pytest.raises(WriteError, match="PNG only"):
        dio.save_mask(tmp_path / "m.jpg", np.zeros((2, 2), bool))
    with pytest.raises(MaskError, match="2-D"):
        dio.save_mask(tmp_path / "m.png", np.zeros((2, 2, 3), bool))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- atomic writes


def _label(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "IMD002_segmentation.png"
    old = np.zeros((6, 6), bool)
    old[1:4, 1:4] = True
    dio.save_mask(path, old)
    return path, path.read_bytes()


def test_save_leaves_no_temp_files(tmp_path):
    path, _ = _label(tmp_path)
    dio.save_mask(path, np.ones((6, 6), bool))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert dio.load_mask(path).all()


def test_failure_before_rename_keeps_old_label(tmp_path, monkeypatch):
    path, old_bytes = _label(tmp_path)

    def crash(*_args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(WriteError, match="IMD002_segmentation.png"):
        dio.save_mask(path, np.ones((6, 6), bool))
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_non_os_failure_also_cleans_up(tmp_path, monkeypatch):
    path, old_bytes = _label(tmp_path)

    def interrupted(_fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dio.save_mask(path, np.ones((6, 6), bool))
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


class _FillsDisk:
    """A file object that accepts ``room`` bytes, then fails with ENOSPC."""

    def __init__(self, real, room: int):
        self._real, self._room = real, room

    def write(self, data):
        self._real.write(data[: self._room])
        self._real.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


def test_disk_full_during_write(tmp_path, monkeypatch):
    path, old_bytes = _label(tmp_path)
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FillsDisk(real_fdopen(fd, *a, **k), 10))
    with pytest.raises(WriteError) as info:
        dio.save_mask(path, np.ones((6, 6), bool))
    assert "disk is full" in str(info.value) and path.name in str(info.value)
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_disk_full_at_fsync_new_file(tmp_path, monkeypatch):
    # Delayed allocation (NFS, ext4): ENOSPC shows only at fsync. No partial file remains.
    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match="disk is full"):
        dio.save_json(tmp_path / "x_segmentation.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("err,words", [(errno.EACCES, "no permission to write"),
                                       (errno.EPERM, "no permission to write"),
                                       (errno.EROFS, "is read-only")])
def test_read_only_folder_simulated(tmp_path, monkeypatch, err, words):
    path, old_bytes = _label(tmp_path)

    def refuse(*_a, **_k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(dio.atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(WriteError, match=words):
        dio.save_mask(path, np.ones((6, 6), bool))
    assert path.read_bytes() == old_bytes


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_real(tmp_path):
    path, old_bytes = _label(tmp_path)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(WriteError, match="no permission to write"):
            dio.save_mask(path, np.ones((6, 6), bool))
        assert path.read_bytes() == old_bytes
    finally:
        tmp_path.chmod(0o755)


def test_missing_output_folder(tmp_path):
    with pytest.raises(WriteError, match="does not exist"):
        dio.save_mask(tmp_path / "nope" / "m.png", np.ones((2, 2), bool))


def test_folder_in_the_way(tmp_path):
    (tmp_path / "m.png").mkdir()
    with pytest.raises(WriteError, match="it is a folder"):
        dio.save_mask(tmp_path / "m.png", np.ones((2, 2), bool))


def test_new_file_permissions_follow_umask_and_existing_are_kept(tmp_path):
    umask = os.umask(0o022)
    try:
        dio.save_json(tmp_path / "new.json", {})
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~dio.current_umask()
        (tmp_path / "old.json").write_text("{}")
        (tmp_path / "old.json").chmod(0o640)
        dio.save_json(tmp_path / "old.json", {"b": 2})
        assert stat.S_IMODE((tmp_path / "old.json").stat().st_mode) == 0o640
    finally:
        os.umask(umask)


def test_save_image_and_json(tmp_path):
    rgb = _gradient()
    dio.save_image(tmp_path / "o.png", rgb)
    np.testing.assert_array_equal(dio.load_image(tmp_path / "o.png"), rgb)
    with pytest.raises(WriteError, match="Unsupported output format"):
        dio.save_image(tmp_path / "o.gif", rgb)
    dio.save_json(tmp_path / "é.json", {"name": "lésion"})
    assert "lésion" in (tmp_path / "é.json").read_text(encoding="utf-8")


def test_list_images(tmp_path):
    for name in ["b.JPG", "a.png", "a_segmentation.png", ".a.png.x1.tmp", "notes.txt", "c.tiff"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in dio.list_images(tmp_path)] == ["a.png", "b.JPG", "c.tiff"]
    # dermview's own outputs beside their image or label are not images; alone, they are
    for name in ["a_prob.png", "b_hair.png", "b_frame.png", "a_segmentation_prob.png",
                 "c_image.dcm", "lone_prob.png", "lone_hair.png", "a_image.png"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in dio.list_images(tmp_path)] == [
        "a.png", "a_image.png", "b.JPG", "c.tiff", "lone_hair.png", "lone_prob.png"]
    with pytest.raises(ImageReadError, match="Folder not found"):
        dio.list_images(tmp_path / "missing")
    with pytest.raises(ImageReadError, match="not a folder"):
        dio.list_images(tmp_path / "a.png")


def test_every_error_is_a_dermview_error():
    for cls in (ImageReadError, ImageTooLargeError, MaskError, WriteError):
        assert issubclass(cls, DermviewError)


def test_save_json_writes_numpy_values_as_plain_numbers(tmp_path):
    target = tmp_path / "meta.json"
    dio.save_json(target, {"t": np.float32(0.5), "n": np.int64(3), "a": np.arange(3), "p": tmp_path})
    assert json.loads(target.read_text()) == {"t": 0.5, "n": 3, "a": [0, 1, 2], "p": str(tmp_path)}


def test_save_json_refuses_unserialisable_values_without_writing(tmp_path):
    target = tmp_path / "meta.json"
    with pytest.raises(WriteError, match="meta.json"):
        dio.save_json(target, {"bad": object()})
    with pytest.raises(WriteError, match="meta.json"):
        dio.save_json(target, {"nan": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    dio.atomic_write_bytes(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_umask_is_read_without_changing_it():
    before = os.umask(0o027)
    try:
        assert dio.current_umask() == 0o027
        assert dio.current_umask() == 0o027
    finally:
        os.umask(before)


def test_quota_exceeded_reads_as_a_full_disk(tmp_path, monkeypatch):
    def refuse(*_a, **_k):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(dio.atomic.os, "replace", refuse)
    with pytest.raises(WriteError, match="disk is full"):
        dio.atomic_write_bytes(tmp_path / "x.png", b"data")
    assert list(tmp_path.iterdir()) == []


def test_a_non_image_names_the_formats_that_open_dicom_included(tmp_path):
    """Trial finding: a text file opened as an image said "supported: JPEG, PNG, BMP, TIFF"
    though the app opens DICOM too (masks are not read from DICOM: theirs leaves it out)."""
    from dermview.errors import ImageReadError
    from dermview.io import load_image, load_mask

    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(ImageReadError, match=r"supported: JPEG, PNG, BMP, TIFF, DICOM\)"):
        load_image(notes)
    with pytest.raises(ImageReadError, match=r"supported: JPEG, PNG, BMP, TIFF\)"):
        load_mask(notes)


def test_writing_onto_a_folder_names_the_whole_path(tmp_path):
    """`evaluate ... --csv /tmp/rd` with rd a folder said "Cannot save rd: ..." (the last part
    of the path only); the message names the path given and says what to do."""
    from dermview.errors import WriteError
    from dermview.io.atomic import atomic_write_bytes

    folder = tmp_path / "out" / "rd"
    folder.mkdir(parents=True)
    with pytest.raises(WriteError, match=str(folder).replace("\\", "\\\\") + ": it is a folder"):
        atomic_write_bytes(folder, b"x")
