"""DICOM images in: dermoscopic and visible-light photographs as RGB, with their scale.

Reads single-frame DICOM photographs (Dermoscopic Photography, VL Photographic, VL
Microscopic and Secondary Capture) stored uncompressed, RLE, JPEG (baseline, extended,
lossless), JPEG-LS or JPEG 2000, through pydicom and its pixel handlers (Pillow, pylibjpeg
with libjpeg and OpenJPEG). The photometric interpretation is honoured (RGB, YBR_FULL,
YBR_FULL_422, YBR_RCT/ICT, MONOCHROME1/2 through their VOI window when they have one, PALETTE
COLOR); for JPEG data the colour space the codestream itself declares (JFIF or Adobe markers,
JPEG 2000 MCT) wins over the header, so a file that declares YBR but holds RGB (or the
reverse) shows its real colours.
A file without the 128-byte preamble and ``DICM`` prefix (with or without its file meta
header, as older capture software and PACS exports write them) is read too.

Privacy: patient identifiers are never put in messages, logs or file names. Messages name the
file and technical attributes only; pydicom's warnings (which may quote element values) are
swallowed while a file is read.

Qt-free; pydicom is imported only when a DICOM file is actually read.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermview.errors import ImageReadError, ImageTooLargeError

__all__ = [
    "DICOM_SUFFIXES",
    "READABLE_SOP_CLASSES",
    "DicomRef",
    "ImageInfo",
    "is_dicom",
    "quiet",
    "read_dicom",
    "read_header",
]

#: File suffixes treated as DICOM (any file with the ``DICM`` marker is read as DICOM too).
DICOM_SUFFIXES = (".dcm", ".dicom")

DERMOSCOPIC_PHOTOGRAPHY = "1.2.840.10008.5.1.4.1.1.77.1.7"
VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

#: SOP classes opened as images (UID → name).
READABLE_SOP_CLASSES = {
    DERMOSCOPIC_PHOTOGRAPHY: "Dermoscopic Photography",
    VL_PHOTOGRAPHIC: "VL Photographic",
    "1.2.840.10008.5.1.4.1.1.77.1.2": "VL Microscopic",
    SECONDARY_CAPTURE: "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}

#: Pixel handler to use where several are installed and pydicom's default is much slower
#: (JPEG-LS: CharLS decoded a 12 MP image several times faster than libjpeg in a trial).
_FASTEST = {"1.2.840.10008.1.2.4.80": ("pyjpegls",), "1.2.840.10008.1.2.4.81": ("pyjpegls",)}
_JPEG_8BIT = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")  # baseline, extended


@dataclass(frozen=True)
class DicomRef:
    """Identity of a DICOM source image (what a DICOM SEG must reference). UIDs only: no
    patient data."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    photometric_interpretation: str  # as declared in the header


@dataclass(frozen=True)
class ImageInfo:
    """What an image file says about itself besides its pixels.

    Attributes:
        pixel_spacing_mm: ``(row, column)`` spacing in millimetres per pixel from DICOM Pixel
            Spacing (0028,0030), else Imager Pixel Spacing (0018,1164); None when unknown
            (every JPEG/PNG/TIFF).
        spacing_source: keyword of the element the spacing came from ("" when unknown).
        dicom: the source's UIDs when the file is DICOM, else None.
    """

    pixel_spacing_mm: tuple[float, float] | None = None
    spacing_source: str = ""
    dicom: DicomRef | None = None

    @property
    def mm_per_px(self) -> float | None:
        """The one scale in mm per pixel of square pixels (the mean of the row and column
        spacing, which differ by at most :data:`SQUARE_TOLERANCE`); None without a spacing
        and for non-square pixels (:attr:`scale_problem`): no single scale gives their
        lengths (one along a row and one down a column differ)."""
        if self.pixel_spacing_mm is None or self.scale_problem:
            return None
        return math.sqrt(self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1])

    @property
    def scale_problem(self) -> str:
        """Why the file's spacing gives no scale (its pixels are not square), else ""."""
        if self.pixel_spacing_mm is None:
            return ""
        row, col = self.pixel_spacing_mm
        if abs(row - col) <= SQUARE_TOLERANCE * max(row, col):
            return ""
        return (f"its DICOM pixels are not square ({row:.5g} mm high × {col:.5g} mm wide): "
                "no single mm-per-pixel scale gives their lengths")


#: Largest relative difference of the row and column pixel spacing taken as square pixels.
SQUARE_TOLERANCE = 0.01


def _drop(_record: logging.LogRecord) -> bool:
    return False


@contextlib.contextmanager
def quiet() -> Iterator[list[warnings.WarningMessage]]:
    """Silence pydicom's and highdicom's warnings and log records for the duration (they
    may quote element values, patient names included); the warnings are collected in the
    list yielded, for the caller to inspect, never shown. Other loggers are untouched."""
    loggers = [logging.getLogger(name) for name in ("pydicom", "highdicom")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for logger in loggers:
            logger.addFilter(_drop)
        try:
            yield caught
        finally:
            for logger in loggers:
                logger.removeFilter(_drop)


def _bare_dataset(data: bytes) -> bool:
    """True when ``data`` starts like a DICOM dataset written without the 128-byte preamble
    and ``DICM`` prefix (older PACS and capture software write these; the DICOM standard's
    Part 10 files always have them): a little-endian tag of group 0x0002 (the file meta
    header) or 0x0008 (a dataset without it, implicit or explicit VR)."""
    if len(data) < 8 or int.from_bytes(data[0:2], "little") not in (0x0002, 0x0008):
        return False
    element = int.from_bytes(data[2:4], "little")
    vr = data[4:6]
    return element < 0x0100 and (vr.isalpha() and vr.isupper()
                                 or int.from_bytes(data[4:8], "little") < 0x1000)


def is_dicom(data: bytes, path: Path) -> bool:
    """True for a DICOM Part 10 file (``DICM`` at byte 128), a dataset without the preamble
    (:func:`_bare_dataset`) or a ``.dcm``/``.dicom`` name."""
    return (data[128:132] == b"DICM" or path.suffix.lower() in DICOM_SUFFIXES
            or _bare_dataset(data))


def is_dicom_file(path: Path) -> bool:
    """:func:`is_dicom` of the file's first 132 bytes (False when it cannot be read)."""
    try:
        with Path(path).open("rb") as fh:
            return is_dicom(fh.read(132), Path(path))
    except OSError:
        return False


def _set_transfer_syntax(ds: Any) -> None:
    """Give a dataset read without a file meta header the transfer syntax it was read in."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                          ExplicitVRLittleEndian if little else
                                          ExplicitVRBigEndian)


def _stopped_early(ds: Any, data: bytes) -> bool:
    """True when pydicom stopped before the end of the file: it drops an element cut off by
    the end of the file without a word, so the last element read must end where the file
    does (trailing zero padding allowed)."""
    if not ds:
        return True
    raw = ds.get_item(max(ds.keys()))
    if raw is None or getattr(raw, "value_tell", None) is None:
        return False
    length = int(raw.length)
    if length == 0xFFFFFFFF:  # encapsulated pixel data: pydicom warns if its end is missing
        return False
    end = int(raw.value_tell) + length
    return end > len(data) or bool(data[end:].strip(b"\0"))


def _dcmread(data: bytes, path: Path, stop_before_pixels: bool = False) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        bare = data[128:132] != b"DICM" and _bare_dataset(data)
        with quiet() as caught:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels,
                                 force=bare)
            if bare and "PixelData" not in ds and "SOPClassUID" not in ds:
                raise InvalidDicomError
            if bare:
                _set_transfer_syntax(ds)
            ds.file_meta.TransferSyntaxUID  # noqa: B018 - raises on a cut-off meta header
        if len(ds) == 0 or any("end of file" in str(w.message).lower() for w in caught):
            raise EOFError  # pydicom returns what it read before the end
        if not stop_before_pixels and _stopped_early(ds, data):
            raise EOFError
    except InvalidDicomError:
        raise ImageReadError(f"{path.name} is not a readable DICOM file (no DICOM header)") from None
    except (EOFError, AttributeError):
        raise ImageReadError(f"{path.name} is truncated (the file is incomplete)") from None
    except MemoryError:
        raise ImageReadError(f"{path.name} is damaged: it asks for too much memory") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on bad bytes is a bad file
        raise ImageReadError(f"{path.name} is a damaged DICOM file ({type(exc).__name__})") from None
    return ds


def read_header(path: str | Path) -> Any:
    """The dataset of a DICOM file without its pixel data (for writing a SEG that references
    it). Raises :class:`ImageReadError` for an unreadable file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"Cannot read {path}: {exc.strerror or exc}") from None
    return _dcmread(data, path, stop_before_pixels=True)


def _check_image(ds: Any, path: Path, max_pixels: int) -> None:
    """Refuse what is not one photograph, before any decoding."""
    sop = str(ds.get("SOPClassUID", ""))
    if sop not in READABLE_SOP_CLASSES:
        import pydicom.uid

        name = pydicom.uid.UID(sop).name if sop else "unknown"
        raise ImageReadError(
            f"{path.name} is a DICOM {name} object, not a photograph (dermview opens "
            "Dermoscopic Photography, VL Photographic and Secondary Capture images)")
    if "PixelData" not in ds:
        raise ImageReadError(f"{path.name} holds no image (a DICOM file without pixel data)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageReadError(
            f"{path.name} is a multi-frame DICOM ({frames} frames); dermview opens single "
            "images only")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows < 1 or cols < 1:
        raise ImageReadError(f"{path.name} has no pixels ({cols}×{rows})")
    samples, bits = int(ds.get("SamplesPerPixel", 1) or 1), int(ds.get("BitsAllocated", 8) or 8)
    if samples not in (1, 3) or bits not in (1, 8, 16):
        raise ImageReadError(f"{path.name} has an unsupported pixel layout ({samples} samples "
                             f"of {bits} bits per pixel)")
    if rows * cols > max_pixels:
        raise ImageTooLargeError(
            f"{path.name} is {cols}×{rows} pixels ({rows * cols / 1e6:.0f} MP); the limit is "
            f"{max_pixels / 1e6:.0f} MP. Downscale it before opening.")
    from pydicom.pixels import get_decoder

    ts = ds.file_meta.TransferSyntaxUID
    try:
        available = get_decoder(ts).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise ImageReadError(
            f"{path.name} uses a compression dermview cannot decode ({ts.name}, "
            f"transfer syntax {ts})")


def _pillow_jpeg(ds: Any, path: Path) -> np.ndarray | None:
    """An 8-bit JPEG frame decoded by Pillow straight from the encapsulated bytes (as fast as
    opening a .jpg), when its codestream names its colour space (JFIF or Adobe marker); None
    otherwise (pydicom's decoders then follow the header)."""
    if ds.file_meta.TransferSyntaxUID not in _JPEG_8BIT or int(ds.get("BitsAllocated", 8)) != 8:
        return None
    from PIL import Image
    from pydicom.encaps import generate_frames

    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    img = Image.open(io.BytesIO(frame))
    if img.format != "JPEG" or not ({"jfif", "adobe"} & set(img.info)):
        return None
    if img.size != (int(ds.Columns), int(ds.Rows)):
        raise ImageReadError(
            f"{path.name} is damaged (its JPEG data is {img.size[0]}×{img.size[1]} pixels but "
            f"its header says {ds.Columns}×{ds.Rows})")
    img.load()
    arr = np.asarray(img.convert("RGB") if img.mode not in ("RGB", "L") else img)
    return arr


def _decode(ds: Any, path: Path) -> tuple[np.ndarray, str]:
    """Pixels of frame 0 and their photometric interpretation after decoding."""
    from pydicom.pixels import get_decoder

    try:
        with quiet():
            arr = _pillow_jpeg(ds, path)
            if arr is not None:
                return arr, "RGB" if arr.ndim == 3 else "MONOCHROME2"
            decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
            plugin = next((p for p in _FASTEST.get(str(ds.file_meta.TransferSyntaxUID), ())
                           if p in decoder.available_plugins), "")
            arr, meta = decoder.as_array(ds, index=0, decoding_plugin=plugin)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(f"{path.name} is damaged: it asks for too much memory") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on bad bytes is a bad file
        msg = str(exc).lower()
        if any(w in msg for w in ("truncat", "less than expected", "end of", "insufficient")):
            raise ImageReadError(f"{path.name} is truncated (the file is incomplete)") from None
        raise ImageReadError(
            f"{path.name} is a damaged DICOM file: its pixel data cannot be decoded "
            f"({type(exc).__name__})") from None
    return arr, str(meta.get("photometric_interpretation", ds.PhotometricInterpretation))


def _scale(arr: np.ndarray, bits: int) -> np.ndarray:
    """``uint8`` from samples of ``bits`` stored bits (signed samples shifted to unsigned)."""
    if arr.dtype == np.uint8 and bits <= 8:
        return arr if bits == 8 else (arr.astype(np.uint16) * 255 // ((1 << bits) - 1)).astype(np.uint8)
    if arr.dtype.kind == "i":
        arr = arr.astype(np.int64) + (1 << (bits - 1))
    top = float((1 << bits) - 1)
    return np.rint(np.clip(arr, 0, top) * (255.0 / top)).astype(np.uint8)


def _window(arr: np.ndarray, ds: Any, bits: int) -> np.ndarray:
    """Grey samples through the file's first VOI window (Window Center / Width), as a DICOM
    viewer shows them: a 16-bit image whose values fill 12 bits and whose window says so was
    shown nearly black. Unchanged without a window (or with a VOI LUT table instead)."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return arr
    from pydicom.pixels import apply_windowing

    try:
        with quiet():
            out = apply_windowing(arr.astype(np.float64), ds, index=0)
    except Exception:  # noqa: BLE001 - an unusable window is ignored, as viewers do
        return arr
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:  # windowed into the signed range
        out = out + (1 << (bits - 1))
    top = (1 << bits) - 1
    return np.rint(np.clip(out, 0, top)).astype(np.uint8 if bits <= 8 else np.uint16)


def _to_rgb(arr: np.ndarray, pi: str, ds: Any, path: Path) -> np.ndarray:
    """RGB ``uint8`` ``(H, W, 3)`` from decoded pixels in photometric interpretation ``pi``."""
    bits = int(ds.get("BitsStored", 8) or 8)
    if pi == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        with quiet():
            lut = apply_color_lut(arr, ds)
        lut_bits = 8 if lut.dtype == np.uint8 else 16
        return _scale(lut, lut_bits)
    if pi.startswith("YBR"):  # a decoder left it in YCbCr
        from pydicom.pixels import convert_color_space

        arr = convert_color_space(arr, pi if pi != "YBR_FULL_422" else "YBR_FULL", "RGB")
    if arr.ndim == 2:
        grey = _scale(_window(arr, ds, bits), bits)
        if pi == "MONOCHROME1":
            grey = 255 - grey
        return np.repeat(grey[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageReadError(f"{path.name} has an unsupported pixel layout {arr.shape}")
    return _scale(arr, bits)


def _spacing(ds: Any) -> tuple[tuple[float, float] | None, str]:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, col = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if all(math.isfinite(v) and v > 0 for v in (row, col)):
            return (row, col), keyword
    return None, ""


def _reference(ds: Any) -> DicomRef:
    return DicomRef(
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "")),
    )


def read_dicom(data: bytes, path: Path, max_pixels: int) -> tuple[np.ndarray, ImageInfo]:
    """Decode a DICOM photograph.

    Args:
        data: the file's bytes.
        path: its path (only the name appears in messages).
        max_pixels: largest ``Rows × Columns`` accepted, checked before decoding.

    Returns:
        ``(rgb, info)``: ``uint8`` ``(H, W, 3)`` C-contiguous, writable, and an
        :class:`ImageInfo` with the pixel spacing (mm per pixel) and the source UIDs.

    Raises:
        ImageReadError: not DICOM, truncated, damaged, no pixel data, multi-frame, not a
            photograph, or a transfer syntax without an installed decoder.
        ImageTooLargeError: more than ``max_pixels`` pixels.
    """
    ds = _dcmread(data, path)
    try:  # pydicom parses elements when first used: a damaged one raises here
        with quiet():
            _check_image(ds, path, max_pixels)
            arr, pi = _decode(ds, path)
            rgb = _to_rgb(arr, pi, ds, path)
            if rgb.shape[:2] != (int(ds.Rows), int(ds.Columns)):
                raise ImageReadError(f"{path.name} is damaged (decoded size differs from its "
                                     "header)")
            info = ImageInfo(*_spacing(ds), _reference(ds))
    except (ImageReadError, ImageTooLargeError):
        raise
    except MemoryError:
        raise ImageReadError(f"{path.name} is damaged: it asks for too much memory") from None
    except Exception as exc:  # noqa: BLE001 - a damaged element is a bad file
        raise ImageReadError(f"{path.name} is a damaged DICOM file ({type(exc).__name__})") from None
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if not (rgb.flags.writeable and rgb.flags.owndata):
        rgb = rgb.copy()
    return rgb, info
