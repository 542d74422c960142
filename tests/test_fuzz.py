"""Property-based fuzzing: whatever the bytes or the array, the answer is a valid result or a
project error (:class:`DermviewError`), never another exception.

Quick by default (hypothesis profile ``ci``, see ``conftest.py``). Long run (≥ 5000 examples
per property)::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import io
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import pytest
from _dicom import dicom_bytes
from hypothesis import event, example, given
from hypothesis import strategies as st
from PIL import Image

from dermview import io as dio
from dermview.errors import DermviewError

# Decoding a mutated header that claims up to 80 MP is correct but slow; the fuzz runs with a
# smaller limit so thousands of examples take seconds. The limit itself is tested in test_io.
FUZZ_MAX_PIXELS = 2_000_000


def _seed_files() -> dict[str, bytes]:
    """Small valid files of every layout load_image supports (the corpus to mutate)."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (12, 16, 3), np.uint8)
    seeds: dict[str, bytes] = {}

    def pil(name: str, img: Image.Image, fmt: str, **kw) -> None:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        seeds[name] = buf.getvalue()

    pil("rgb.png", Image.fromarray(rgb), "PNG")
    pil("rgb.jpg", Image.fromarray(rgb), "JPEG", quality=80)
    exif = Image.Image().getexif()
    exif[0x0112] = 6
    pil("exif.jpg", Image.fromarray(rgb), "JPEG", exif=exif.tobytes())
    pil("progressive.jpg", Image.fromarray(rgb), "JPEG", progressive=True)
    pil("rgb.bmp", Image.fromarray(rgb), "BMP")
    pil("rgb.tif", Image.fromarray(rgb), "TIFF")
    pil("lzw.tif", Image.fromarray(rgb), "TIFF", compression="tiff_lzw")
    pil("grey.png", Image.fromarray(rgb[:, :, 0]), "PNG")
    pil("palette.png", Image.fromarray(rgb).convert("P"), "PNG", transparency=3)
    pil("rgba.png", Image.fromarray(np.dstack([rgb, rgb[:, :, :1]]), "RGBA"), "PNG")
    pil("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), "JPEG")
    grey16 = (rgb[:, :, 0].astype(">u2") * 250).tobytes()
    pil("grey16_mm.tif", Image.frombytes("I;16B", (16, 12), grey16), "TIFF")
    big = np.tile(rgb, (3, 3, 1))  # 36×48: OpenJPEG refuses images smaller than 2⁵
    for syntax in ("explicit", "jpeg", "jpeg-rgb-as-ybr", "rle", "jpeg-ls", "j2k-lossless"):
        seeds[f"{syntax}.dcm"] = dicom_bytes(big, syntax)
    for suffix in (".png", ".tif"):
        ok, buf = cv2.imencode(suffix, rgb.astype(np.uint16) * 257)
        assert ok
        seeds[f"rgb16{suffix}"] = buf.tobytes()
        ok, buf = cv2.imencode(suffix, rgb[:, :, 0].astype(np.uint16) * 250)
        assert ok
        seeds[f"grey16{suffix}"] = buf.tobytes()
    return seeds


SEEDS = _seed_files()
SEED_NAMES = sorted(SEEDS)


#: Peak memory a single fuzz example may add (KiB of ru_maxrss). A 2 MP image decodes in
#: tens of MB; a decoder trusting a lying length field allocated 3 GB (see test_io).
FUZZ_MAX_GROWTH_KB = 600_000
_PEAK_AT_START: dict[str, int] = {}


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _check_memory(test: str) -> None:
    start = _PEAK_AT_START.setdefault(test, _peak_kb())
    assert _peak_kb() - start < FUZZ_MAX_GROWTH_KB, "a fuzz example used far too much memory"


@contextlib.contextmanager
def _fuzz_file(data: bytes, suffix: str) -> Iterator[Path]:
    """``data`` as a temporary file ``fuzz<suffix>``, read under the fuzz pixel limit."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"fuzz{suffix}"
        path.write_bytes(data)
        with mock.patch.object(dio.read, "MAX_PIXELS", FUZZ_MAX_PIXELS):
            yield path


def _check_load(data: bytes, suffix: str) -> None:
    """load_image must return RGB uint8 (H, W, 3) or raise a DermviewError, in bounded memory."""
    _check_memory("load_image")
    with _fuzz_file(data, suffix) as path:
        try:
            out = dio.load_image(path)
        except DermviewError as exc:
            assert "fuzz" in str(exc) and "Traceback" not in str(exc)  # names the file
            return
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.ndim == 3 and out.shape[2] == 3 and out.shape[0] >= 1 and out.shape[1] >= 1
    assert out.shape[0] * out.shape[1] <= FUZZ_MAX_PIXELS
    assert out.flags.c_contiguous and out.flags.writeable
    _check_memory("load_image")


_u32 = st.sampled_from([0, 1, 0xFF, 0xFFFF, 30000, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000])


@st.composite
def mutated_files(draw) -> tuple[bytes, str]:
    name = draw(st.sampled_from(SEED_NAMES))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "byte", "u32", "insert", "delete", "truncate", "dup"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "u32":
            order = draw(st.sampled_from(["big", "little"]))
            data[pos:pos + 4] = draw(_u32).to_bytes(4, order)
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[pos:]
        else:  # duplicate a slice (repeated chunks / markers)
            end = min(len(data), pos + draw(st.integers(1, 256)))
            data[pos:pos] = data[pos:end]
    suffix = "." + name.rsplit(".", 1)[1]
    return bytes(data), draw(st.sampled_from([suffix, ".jpg", ".png", ".dcm"]))


@given(mutated_files())
def test_load_image_on_mutated_files(case):
    _check_load(*case)


_MAGIC = [b"", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\x89PNG\r\n\x1a\n", b"BM",
          b"II*\x00", b"MM\x00*", b"GIF89a", b"RIFF", bytes(128) + b"DICM"]


@given(st.sampled_from(_MAGIC), st.binary(max_size=2048),
       st.sampled_from([".jpg", ".png", ".bmp", ".tif", ".dcm"]))
@example(b"", b"", ".png")
@example(b"\x89PNG\r\n\x1a\n", b"", ".png")
def test_load_image_on_random_bytes(magic, body, suffix):
    _check_load(magic + body, suffix)


@given(mutated_files())
def test_load_mask_on_mutated_files(case):
    data, suffix = case
    _check_memory("load_mask")
    with _fuzz_file(data, suffix) as path:
        try:
            mask = dio.load_mask(path)
        except DermviewError:
            return
    assert mask.dtype == bool and mask.ndim == 2 and min(mask.shape) >= 1
    _check_memory("load_mask")


# --------------------------------------------------------------------------- preprocess

preprocess_mod = pytest.importorskip("dermview.preprocess")

_DTYPES = [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float32, np.float64, np.bool_]


@st.composite
def arrays(draw) -> np.ndarray:
    # Half the examples are valid images (uint8, 2-D or H×W×3) so the algorithms get exercised.
    valid = draw(st.booleans())
    dtype = np.dtype(np.uint8 if valid else draw(st.sampled_from(_DTYPES)))
    ndim = draw(st.sampled_from([2, 3, 3, 3] if valid else [0, 1, 2, 3, 3, 3, 4]))
    big = draw(st.booleans())
    dims = [draw(st.integers(0, 700 if big and i == 0 else 40)) for i in range(ndim)]
    hairy = valid and ndim == 3 and draw(st.booleans())
    if hairy:  # big enough for the hair detector to see drawn hairs
        dims[0], dims[1] = draw(st.integers(48, 320)), draw(st.integers(48, 320))
    if ndim == 3:
        dims[2] = 3 if valid else draw(st.sampled_from([3, 3, 3, 1, 2, 4]))
    shape = tuple(dims)
    fill = draw(st.sampled_from(["random", "zeros", "max", "min", "const", "special"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == np.bool_:
        arr = rng.integers(0, 2, shape).astype(bool)
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo, hi = (info.min, info.max) if fill != "random" else (max(info.min, -300), min(info.max, 70000))
        arr = rng.integers(lo, hi, shape, dtype=dtype, endpoint=True)
        if fill in ("zeros", "min", "max", "const"):
            arr[...] = {"zeros": 0, "min": info.min, "max": info.max}.get(fill, draw(st.integers(0, 127)))
    else:
        arr = (rng.standard_normal(shape) * 1e3).astype(dtype)
        if fill == "special" and arr.size:
            flat = arr.reshape(-1)
            flat[rng.integers(0, flat.size, max(1, flat.size // 10))] = draw(
                st.sampled_from([np.nan, np.inf, -np.inf, np.finfo(dtype).max])
            )
    if hairy:
        # A skin-coloured image with a dark vignette and dark curved "hairs".
        arr[...] = np.array([200, 150, 130], np.uint8) + rng.integers(0, 12, shape, np.uint8)
        h, w = shape[:2]
        if draw(st.booleans()):
            rr, cc = np.mgrid[0:h, 0:w]
            arr[((rr - h / 2) / h) ** 2 + ((cc - w / 2) / w) ** 2 > 0.22] = 5
        for _ in range(draw(st.integers(0, 40))):
            pts = rng.integers(0, [w, h], (3, 2)).astype(np.int32)
            cv2.polylines(arr, [pts], False, tuple(int(v) for v in rng.integers(0, 60, 3)),
                          int(rng.integers(1, 4)))
    layout = draw(st.sampled_from(["c", "reversed", "fortran", "readonly"]))
    if layout == "reversed" and arr.ndim >= 1:
        arr = arr[::-1]
    elif layout == "fortran":
        arr = np.asfortranarray(arr)
    elif layout == "readonly":
        arr.setflags(write=False)
    return arr


@st.composite
def params(draw):
    P = preprocess_mod.PreprocessParams
    if draw(st.booleans()):
        return P()
    if draw(st.booleans()):  # valid, non-default settings
        return P(remove_frame=draw(st.booleans()), frame_threshold=draw(st.integers(0, 255)),
                 remove_hair=draw(st.booleans()), hair_threshold=draw(st.integers(0, 60)),
                 se_shape=draw(st.sampled_from(preprocess_mod.SE_SHAPES)),
                 se_size=draw(st.integers(1, 15)) * 2 + 1)
    fields = {
        "remove_frame": st.one_of(st.booleans(), st.just(1)),
        "frame_threshold": st.one_of(st.integers(-5, 300), st.just(60.5)),
        "remove_hair": st.booleans(),
        "hair_threshold": st.integers(-1, 20000),
        "se_shape": st.sampled_from(["ellipse", "rect", "cross", "lines", "star", ""]),
        "se_size": st.integers(0, 40),
    }
    return {k: draw(v) for k, v in fields.items() if draw(st.booleans())}


@given(arrays(), params())
def test_preprocess_on_random_arrays(arr, p):
    before = arr.copy()
    try:
        prm = p if isinstance(p, preprocess_mod.PreprocessParams) else preprocess_mod.PreprocessParams(**p)
        r = preprocess_mod.preprocess(arr, prm)
    except DermviewError as exc:
        event(f"refused: {type(exc).__name__}")
        assert str(exc) and "Traceback" not in str(exc)
        return
    finally:
        np.testing.assert_array_equal(arr, before)  # the input is never modified
    event(f"processed ({r.repair_mode})")
    h, w = arr.shape[:2]
    assert r.image.dtype == np.uint8 and r.image.shape == (h, w, 3)
    assert r.frame_mask.dtype == bool and r.frame_mask.shape == (h, w)
    assert r.hair_mask.dtype == bool and r.hair_mask.shape == (h, w)
    assert not (r.frame_mask & r.hair_mask).any()
    assert r.repair_mode in ("pde", "bilinear", "none") and r.hair_count >= 0
    # Documented: the image changes only inside frame_mask and within one pixel (at the
    # analysis scale, longest side ANALYSIS_SIZE) of hair_mask.
    up = max(h, w) / preprocess_mod.ANALYSIS_SIZE
    if up <= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    else:
        rad = int(np.ceil(up)) + 1
        kernel = np.ones((2 * rad + 1, 2 * rad + 1), np.uint8)
    near_hair = cv2.dilate(r.hair_mask.view(np.uint8), kernel).astype(bool)
    # The frame fill blends: a ring of RING (+ FEATHER) x the short side outside the frame
    # may change as well (dermview.preprocess.frame).
    from dermview.preprocess import frame as frame_mod

    ring = int(np.ceil((frame_mod.RING + frame_mod.FEATHER) * min(h, w) + 2 * up)) + 2
    near_frame = cv2.dilate(r.frame_mask.view(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))).astype(bool) if r.frame_mask.any() \
        else r.frame_mask
    unchanged = ~(near_frame | near_hair)
    rgb = arr if arr.ndim == 3 else np.repeat(arr[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(r.image[unchanged], rgb[unchanged])
