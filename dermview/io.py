"""Image and mask files: robust reading, atomic writing.

Images in memory are RGB ``uint8`` arrays of shape ``(H, W, 3)``; masks are ``bool`` ``(H, W)``.
Masks on disk are single-channel PNG with values 0/255, never JPEG. Every write is atomic: the
data goes to a temporary file in the destination folder, is flushed and fsynced, then renamed
over the target with :func:`os.replace`, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from dermview.errors import ImageReadError, ImageTooLargeError, MaskError, WriteError

#: Largest image accepted, in pixels (width × height). Checked from the header, before decoding.
MAX_PIXELS = 80_000_000

#: File suffixes offered in dialogs and picked up when a folder is opened.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

ImageFile.LOAD_TRUNCATED_IMAGES = False
# We enforce our own limit (MAX_PIXELS) before decoding; Pillow's own check would raise a
# less helpful error at a different size.
Image.MAX_IMAGE_PIXELS = None

PathLike = str | os.PathLike[str]


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path} is a folder, not an {what.lower()} file") from None
    except PermissionError:
        raise ImageReadError(f"Cannot read {path}: permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"Cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise ImageReadError(f"{path} is empty (0 bytes): it is not an image")
    return data


def _open_pil(data: bytes, path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{path.name} is not a readable image (supported: JPEG, PNG, BMP, TIFF)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path.name} is damaged and cannot be read ({exc})") from None
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageReadError(f"{path.name} has no pixels ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{path.name} is {width}×{height} pixels ({width * height / 1e6:.0f} MP); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} MP. Downscale it before opening."
        )
    return img


def _decode(img: Image.Image, path: Path) -> Image.Image:
    try:
        img.load()
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        return ImageOps.exif_transpose(img) or img
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        msg = str(exc)
        if "truncated" in msg or isinstance(exc, EOFError):
            raise ImageReadError(f"{path.name} is truncated (the file is incomplete)") from None
        raise ImageReadError(f"{path.name} is damaged and cannot be decoded ({msg})") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - limit disabled above
        raise ImageTooLargeError(f"{path.name}: {exc}") from None


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale an integer or float array of any depth to uint8 over its nominal range."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        top = 65535 if arr.max(initial=0) > 255 else 255
        arr = np.clip(arr.astype(np.float64), 0, top) * (255.0 / top)
        return np.rint(arr).astype(np.uint8)
    arr = arr.astype(np.float64)
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    hi = 1.0 if arr.max(initial=0.0) <= 1.0 else 255.0
    return np.rint(np.clip(arr, 0.0, hi) * (255.0 / hi)).astype(np.uint8)


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _to_uint8(np.asarray(img))
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"))


def _cv2_decode_rgb(data: bytes) -> np.ndarray | None:
    """Decode with OpenCV keeping bit depth (16-bit colour TIFF/PNG); RGB uint8 or None."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        return None
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    else:
        arr = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)
    return _to_uint8(arr)


def load_image(path: PathLike) -> np.ndarray:
    """Read an image file as RGB.

    Accepts JPEG, PNG, BMP and TIFF (8 or 16 bit; grey, palette, RGBA, CMYK). The EXIF
    orientation is applied; transparency is composited onto white; 16-bit data is scaled to
    8 bit. Images over :data:`MAX_PIXELS` are refused before decoding.

    Returns:
        ``uint8`` array ``(H, W, 3)``, C-contiguous.

    Raises:
        ImageReadError: missing, empty, truncated, damaged or non-image file.
        ImageTooLargeError: more than :data:`MAX_PIXELS` pixels.
    """
    path = Path(path)
    data = _read_bytes(path, "Image")
    img = _open_pil(data, path)
    deep_colour = img.format == "TIFF" and img.mode not in (
        "1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LA", "I", "I;16", "I;16B", "I;16L", "F"
    )
    if deep_colour:
        rgb = _cv2_decode_rgb(data)
        if rgb is None:
            raise ImageReadError(f"{path.name}: unsupported TIFF layout ({img.mode})")
    else:
        try:
            rgb = _pil_to_rgb(_decode(img, path))
        except ImageReadError:
            raise
        except (OSError, ValueError) as exc:
            raise ImageReadError(f"{path.name} cannot be converted to RGB ({exc})") from None
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def load_mask(path: PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a lesion mask.

    Any image file works; colour masks are reduced to grey. Values {0, 1} are read as
    background/lesion; otherwise a pixel is lesion when its grey level is above 127.

    Args:
        path: mask file.
        shape: expected ``(H, W)`` (the image's); a mismatch raises :class:`MaskError`.

    Returns:
        ``bool`` array ``(H, W)``.
    """
    path = Path(path)
    data = _read_bytes(path, "Mask")
    img = _decode(_open_pil(data, path), path)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        grey = np.asarray(img)
    else:
        grey = np.asarray(img.convert("L"))
    top = grey.max(initial=0)
    mask = grey > 0 if top <= 1 else grey > (32767 if top > 255 else 127)
    if shape is not None and mask.shape != tuple(shape):
        raise MaskError(
            f"Mask {path.name} is {mask.shape[1]}×{mask.shape[0]} pixels but its image is "
            f"{shape[1]}×{shape[0]}; it does not belong to this image"
        )
    return mask


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    On failure the target is untouched and no temporary file is left behind.

    Raises:
        WriteError: folder missing or read-only, disk full, or any other OS error.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise WriteError(_describe_write_error(path, exc)) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _describe_write_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"Cannot save {path.name}: the disk is full. Nothing was written."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot save {path.name}: the folder {path.parent} is read-only."
    if exc.errno == errno.ENOENT:
        return f"Cannot save {path.name}: the folder {path.parent} does not exist."
    return f"Cannot save {path.name}: {exc.strerror or exc}"


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a ``uint8`` grey ``(H, W)`` or RGB ``(H, W, 3)`` array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def save_mask(path: PathLike, mask: np.ndarray) -> None:
    """Save a mask as single-channel 0/255 PNG, atomically.

    Args:
        path: target; a ``.png`` suffix is required (masks are never saved lossy).
        mask: ``(H, W)``, bool or numeric (non-zero = lesion).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise WriteError(f"Masks are saved as PNG only (lossless); got {path.name}")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise MaskError(f"A mask must be 2-D, got shape {mask.shape}")
    atomic_write_bytes(path, encode_png((mask != 0).astype(np.uint8) * 255))


def save_image(path: PathLike, rgb: np.ndarray) -> None:
    """Save an RGB ``uint8`` ``(H, W, 3)`` image atomically; format from the suffix."""
    path = Path(path)
    buf = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF",
           ".tiff": "TIFF"}.get(path.suffix.lower())
    if fmt is None:
        raise WriteError(f"Unsupported output format for {path.name} (use .png, .jpg, .bmp, .tif)")
    kwargs: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format=fmt, **kwargs)
    atomic_write_bytes(path, buf.getvalue())


def save_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def list_images(folder: PathLike) -> list[Path]:
    """Image files directly in ``folder`` (sorted, labels ``*_segmentation.png`` excluded)."""
    folder = Path(folder)
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        and not p.stem.endswith("_segmentation") and not p.name.startswith(".")
    )
