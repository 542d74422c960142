"""Pixel conversion of decoded images to RGB ``uint8``: bit depth, alpha onto white, palette
and other modes, and the 16-bit colour path through OpenCV (with a layout check first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dermview.errors import ImageReadError
from dermview.io.read import _apply_orientation, _damaged, _orientation


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale samples to uint8 over their nominal range.

    ``uint8`` is kept; ``bool`` maps to 0/255; ``uint16`` is scaled from 0-65535 (a 16-bit file
    is 16-bit even when all its values are small); other integers from the smallest of 0-255,
    0-65535, 0-2³²-1 that holds their maximum; floats from 0-1 when their maximum is ≤ 1, else
    0-255 (NaN and ±inf become 0).
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:  # either byte order (TIFF "MM")
        # exact round(v * 255 / 65535) in 4 bytes per sample
        out = arr.astype(np.uint32)
        out += 128
        out //= 257
        return out.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        peak = int(arr.max(initial=0))
        top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else 4294967295.0
        scaled = np.clip(arr.astype(np.float64), 0, top) * (255.0 / top)
        return np.rint(scaled).astype(np.uint8)
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    hi = 1.0 if arr.max(initial=0.0) <= 1.0 else 255.0
    return np.rint(np.clip(arr, 0.0, hi) * (255.0 / hi)).astype(np.uint8)


def _composite_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` from colour ``(H, W, 3)`` and alpha ``(H, W)`` (same dtype), on white.

    An alpha channel that is 0 everywhere is ignored: some writers (OpenCV's 32-bit BMP)
    leave it zero, and a fully transparent image would otherwise show as blank white.
    """
    if not alpha.any():
        return _to_uint8(colour)
    top = np.float32(65535.0 if colour.dtype == np.uint16 else 255.0)
    a = alpha.astype(np.float32)
    a /= top
    out = colour.astype(np.float32)  # colour·a + top·(1 − a), in place
    out -= top
    out *= a[:, :, None]
    out += top
    np.rint(out, out=out)
    return _to_uint8(out.astype(colour.dtype))


def _pil_to_rgb(img: Image.Image, arr: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` from a decoded Pillow image and its (oriented) pixel array."""
    mode = img.mode
    if mode in ("RGB",):
        return arr
    if mode in ("L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "1"):
        grey = _to_uint8(arr)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "LA":
        grey = arr[:, :, 0]
        return np.repeat(_composite_white(grey[:, :, None], arr[:, :, 1])[:, :, :1], 3, axis=2)
    if mode == "RGBA":
        return _composite_white(arr[:, :, :3], arr[:, :, 3])
    # Palette (with or without transparency), PA, CMYK, YCbCr, LAB, HSV, ...: let Pillow
    # convert the decoded frame, then orient the result.
    return _converted_rgb(img)


def _converted_rgb(img: Image.Image) -> np.ndarray:
    """RGB ``uint8`` via Pillow's own conversion (palette, CMYK, ...), oriented, on white."""
    has_alpha = img.mode in ("PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    conv = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    conv = _apply_orientation(conv, _orientation(img))
    if has_alpha:
        return _composite_white(conv[:, :, :3], conv[:, :, 3])
    return conv


def _bits_per_sample(img: Image.Image, data: bytes) -> int:
    """Bits per sample declared by a PNG or TIFF header (8 when unknown)."""
    try:
        if img.format == "PNG" and len(data) >= 26:
            return int(data[24])
        if img.format == "TIFF":
            bits = img.tag_v2.get(258, (8,))
            bits = bits if isinstance(bits, tuple) else (bits,)
            return max(int(b) for b in bits)
    except Exception:  # noqa: BLE001 - unreadable tags: let Pillow decide
        return 8
    return 8


def _samples_per_pixel(img: Image.Image, data: bytes) -> int:
    """Samples per pixel declared by a PNG or TIFF header (1 when unknown)."""
    try:
        if img.format == "PNG" and len(data) >= 26:
            return {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(int(data[25]), 1)
        if img.format == "TIFF":
            return int(img.tag_v2.get(277, 1))
    except Exception:  # noqa: BLE001 - unreadable tags: let Pillow decide
        return 1
    return 1


def _is_deep_colour(img: Image.Image, data: bytes) -> bool:
    """True for 16-bit-per-sample colour PNG/TIFF, which Pillow would truncate to 8 bit."""
    return _bits_per_sample(img, data) > 8 and _samples_per_pixel(img, data) >= 2


def _check_layout(img: Image.Image, data: bytes, path: Path) -> None:
    """Refuse a PNG chunk or TIFF strip/tile that claims to extend past the end of the file."""
    size = len(data)
    if img.format == "PNG":
        pos = 8
        while pos + 8 <= size:
            length = int.from_bytes(data[pos:pos + 4], "big")
            if length > 0x7FFFFFFF or pos + 12 + length > size:
                raise ImageReadError(f"{path.name} is truncated or damaged (a chunk runs past "
                                     "the end of the file)")
            if data[pos + 4:pos + 8] == b"IEND":
                break
            pos += 12 + length
    elif img.format == "TIFF":
        try:
            for offsets_tag, counts_tag in ((273, 279), (324, 325)):
                offsets = img.tag_v2.get(offsets_tag) or ()
                counts = img.tag_v2.get(counts_tag) or ()
                offsets = offsets if isinstance(offsets, tuple) else (offsets,)
                counts = counts if isinstance(counts, tuple) else (counts,)
                if any(int(o) + int(c) > size for o, c in zip(offsets, counts, strict=False)):
                    raise ImageReadError(f"{path.name} is truncated or damaged (its image data "
                                         "runs past the end of the file)")
        except ImageReadError:
            raise
        except Exception as exc:  # noqa: BLE001 - unreadable tags: a damaged file
            raise _damaged(path, exc) from None


def _cv2_decode_rgb(data: bytes, path: Path, orientation: int) -> np.ndarray:
    """Decode with OpenCV keeping the bit depth (16-bit colour PNG/TIFF); RGB ``uint8``."""
    import cv2

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our message says it
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise _damaged(path, exc, "decoded") from None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if arr is None or arr.ndim not in (2, 3):
        raise ImageReadError(f"{path.name} is damaged or uses an unsupported 16-bit layout")
    if arr.ndim == 2:
        rgb = np.repeat(_to_uint8(arr)[:, :, None], 3, axis=2)
    elif arr.shape[2] == 1:
        rgb = np.repeat(_to_uint8(arr), 3, axis=2)
    elif arr.shape[2] == 2:  # grey + alpha
        grey = _composite_white(arr[:, :, :1], arr[:, :, 1])
        rgb = np.repeat(grey[:, :, :1], 3, axis=2)
    elif arr.shape[2] == 4:
        rgb = _composite_white(arr[:, :, 2::-1], arr[:, :, 3])
    else:
        rgb = _to_uint8(arr[:, :, 2::-1])
    return _apply_orientation(rgb, orientation)

