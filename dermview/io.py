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
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from dermview.dicom import DICOM_SUFFIXES, ImageInfo, is_dicom
from dermview.errors import ImageReadError, ImageTooLargeError, MaskError, WriteError
from dermview.paths import LABEL_SUFFIX

#: Largest image accepted, in pixels (width × height). Checked from the header, before decoding.
MAX_PIXELS = 80_000_000

#: File suffixes offered in dialogs and picked up when a folder is opened.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", *DICOM_SUFFIXES)

ImageFile.LOAD_TRUNCATED_IMAGES = False
# We enforce our own limit (MAX_PIXELS) before decoding; Pillow's own check would raise a
# less helpful error at a different size.
Image.MAX_IMAGE_PIXELS = None

PathLike = str | os.PathLike[str]

#: Largest file read, in bytes: far above any 80 MP image, it keeps a huge non-image file (or
#: a device) from being read into memory.
MAX_FILE_BYTES = 1 << 30



def _read_bytes(path: Path, what: str) -> bytes:
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise ImageReadError(f"{path} is a folder, not an {what.lower()} file")
        if not stat.S_ISREG(st.st_mode):
            raise ImageReadError(f"{path} is not a regular file, not an {what.lower()} file")
        if st.st_size > MAX_FILE_BYTES:
            raise ImageReadError(
                f"{path.name} is {st.st_size / 2**30:.1f} GB; files over "
                f"{MAX_FILE_BYTES / 2**30:.0f} GB are not opened"
            )
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


def _damaged(path: Path, exc: BaseException, stage: str = "read") -> ImageReadError:
    """The user-facing error for a decoder failure (Pillow and OpenCV raise many types)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "truncat" in msg.lower() or isinstance(exc, EOFError):
        return ImageReadError(f"{path.name} is truncated (the file is incomplete)")
    return ImageReadError(f"{path.name} is damaged and cannot be {stage} ({msg})")


def _open_pil(data: bytes, path: Path) -> Image.Image:
    """Parse the header only; refuse images over :data:`MAX_PIXELS` before any decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{path.name} is not a readable image (supported: JPEG, PNG, BMP, TIFF)"
        ) from None
    except MemoryError:
        raise ImageReadError(f"{path.name} is damaged: its header asks for too much memory") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on bad bytes is a bad file
        raise _damaged(path, exc) from None
    if width < 1 or height < 1:
        raise ImageReadError(f"{path.name} has no pixels ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{path.name} is {width}×{height} pixels ({width * height / 1e6:.0f} MP); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} MP. Downscale it before opening."
        )
    return img


def _orientation(img: Image.Image) -> int:
    """EXIF orientation tag (1-8; 1 when absent or unreadable)."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is ignored, not fatal
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an ``(H, W, ...)`` array as EXIF orientation 1-8 prescribes."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    op = ops.get(orientation)
    return arr if op is None else op(arr)


def _decode(img: Image.Image, path: Path) -> np.ndarray:
    """Decode frame 0 and apply the EXIF orientation; the pixel array (Pillow's layout)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Frame 0 is current after open; n_frames is not asked, as it walks every IFD
            # of a TIFF and a damaged later page would refuse a readable first page.
            img.load()
            arr = np.asarray(img)
    except MemoryError:
        raise ImageReadError(f"{path.name} is damaged: it asks for too much memory") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on bad bytes is a bad file
        raise _damaged(path, exc, "decoded") from None
    return _apply_orientation(arr, _orientation(img))


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


def load_image(path: PathLike) -> np.ndarray:
    """Read an image file as RGB (:func:`load_image_info` without the metadata)."""
    return load_image_info(path)[0]


def load_image_info(path: PathLike) -> tuple[np.ndarray, ImageInfo]:
    """Read an image file as RGB, with what the file says about its scale and origin.

    DICOM photographs (see :mod:`dermview.dicom`) give their pixel spacing in mm per pixel
    and their UIDs; other formats give an empty :class:`~dermview.dicom.ImageInfo`.
    Accepts JPEG, PNG, BMP and TIFF (8 or 16 bit; grey, palette, RGBA, CMYK). The EXIF
    orientation is applied; transparency is composited onto white (an alpha channel that is 0
    everywhere is ignored); 16-bit data is scaled from 0-65535 to 0-255. Images over
    :data:`MAX_PIXELS` are refused from their header, before decoding.

    Returns:
        ``(rgb, info)``: ``uint8`` array ``(H, W, 3)``, C-contiguous, writable, owning its
        memory, and the file's :class:`~dermview.dicom.ImageInfo`.

    Raises:
        ImageReadError: missing, empty, truncated, damaged or non-image file.
        ImageTooLargeError: more than :data:`MAX_PIXELS` pixels.
    """
    path = Path(path)
    data = _read_bytes(path, "Image")
    if is_dicom(data, path):
        from dermview.dicom import read_dicom

        return read_dicom(data, path, MAX_PIXELS)
    img = _open_pil(data, path)
    if _is_deep_colour(img, data):
        # OpenCV keeps the 16 bits that Pillow would truncate, but its decoders trust length
        # fields (a 1 KB PNG claiming a 3 GB chunk made cv2.imdecode allocate 3 GB). Only a
        # file that Pillow decodes whole and whose chunks / strips lie inside it goes on.
        _decode(img, path)  # raises on a damaged file; the 8-bit pixels are discarded
        _check_layout(img, data, path)
        orientation = _orientation(img)
        rgb = _cv2_decode_rgb(data, path, orientation)
        width, height = img.size
        expected = (width, height) if orientation >= 5 else (height, width)
        if rgb.shape[:2] != expected:
            raise ImageReadError(f"{path.name} is damaged (its decoders disagree on its size)")
    else:
        arr = _decode(img, path)
        if img.mode == "I" and _bits_per_sample(img, data) == 16:
            arr = arr.astype(np.uint16)  # 16-bit grey that Pillow widened to 32 bit
        try:
            rgb = _pil_to_rgb(img, arr)
        except MemoryError:
            raise ImageReadError(f"{path.name} is too large to convert") from None
        except Exception as exc:  # noqa: BLE001 - exotic modes Pillow cannot convert
            raise ImageReadError(f"{path.name} cannot be converted to RGB ({exc})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageReadError(f"{path.name} has an unsupported pixel layout {rgb.shape}")
    img.close()  # free Pillow's copy of the pixels before the (possible) copy below
    del data
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    # np.asarray(PIL image) is a read-only view of a bytes object; callers get their own array.
    return (rgb if rgb.flags.writeable and rgb.flags.owndata else rgb.copy()), ImageInfo()


def load_mask(path: PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a lesion mask.

    Any image file works. Colour masks: a pixel is lesion when its brightest channel is
    lesion (so red-on-black masks work). A mask whose colour is uniform but whose alpha varies
    is read from its alpha. Integer values {0, 1} are read as background/lesion; otherwise a
    pixel is lesion above half the range (127 for 8 bit, 32767 for 16 bit, 0.5 for float
    data in 0-1). The EXIF orientation is applied, as for images.

    Args:
        path: mask file.
        shape: expected ``(H, W)`` (the image's); a mismatch raises :class:`MaskError`.

    Returns:
        ``bool`` array ``(H, W)``.

    Raises:
        ImageReadError: missing, empty, damaged or non-image file (or too large).
        MaskError: the mask's size differs from ``shape``.
    """
    path = Path(path)
    data = _read_bytes(path, "Mask")
    img = _open_pil(data, path)
    arr = _decode(img, path)
    if img.mode not in ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "LA", "RGB", "RGBA"):
        try:
            arr = np.asarray(img.convert("RGBA"))
        except Exception as exc:  # noqa: BLE001 - exotic modes Pillow cannot convert
            raise ImageReadError(f"{path.name} cannot be read as a mask ({exc})") from None
        arr = _apply_orientation(arr, _orientation(img))
    if arr.ndim == 3:
        colour, alpha = arr[:, :, :-1], arr[:, :, -1]
        if arr.shape[2] == 3:
            colour, alpha = arr, None
        grey = colour.max(axis=2)
        if alpha is not None and grey.min() == grey.max() and alpha.min() != alpha.max():
            grey = alpha
    else:
        grey = arr
    mask = _binarise(np.asarray(grey))
    if shape is not None and mask.shape != tuple(shape):
        raise MaskError(
            f"Mask {path.name} is {mask.shape[1]}×{mask.shape[0]} pixels but its image is "
            f"{shape[1]}×{shape[0]}; it does not belong to this image"
        )
    return np.ascontiguousarray(mask)


def _binarise(grey: np.ndarray) -> np.ndarray:
    """Lesion = above half the range; integer {0, 1} masks: lesion = 1."""
    if grey.dtype == bool:
        return grey.copy()
    if np.issubdtype(grey.dtype, np.floating):
        grey = np.nan_to_num(grey, nan=0.0, posinf=0.0, neginf=0.0)
        return grey > (0.5 if grey.max(initial=0.0) <= 1.0 else 127.5)
    top = int(grey.max(initial=0))
    return grey > (0 if top <= 1 else 127 if top <= 255 else 32767)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``);
    elsewhere set and restored at once (a brief window other threads could see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    On failure the target is untouched and no temporary file is left behind.

    Raises:
        WriteError: folder missing or read-only, disk full, or any other OS error.
    """
    path = Path(path)
    if path.is_symlink():  # replace the file the link points to, keep the link
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise WriteError(f"Cannot save {path.name}: a folder of that name is in the way")
    try:
        keep_mode: int | None = stat.S_IMODE(path.stat().st_mode)  # an existing file's permissions
    except OSError:
        keep_mode = None  # a new file: 0o666 minus the umask, as open() gives
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp gives 0o600: use the existing file's mode, else what open() would give
        os.chmod(tmp_name, keep_mode if keep_mode is not None else 0o666 & ~current_umask())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_folder(folder)
    except OSError as exc:
        raise WriteError(_describe_write_error(path, exc)) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _describe_write_error(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"Cannot save {path.name}: the disk is full. Nothing was written."
    if exc.errno == errno.EROFS:
        return f"Cannot save {path.name}: the folder {path.parent} is read-only."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (f"Cannot save {path.name}: no permission to write in {path.parent} "
                "(the folder or the file is read-only).")
    if exc.errno == errno.ENOENT:
        return f"Cannot save {path.name}: the folder {path.parent} does not exist."
    return f"Cannot save {path.name}: {exc.strerror or exc}"


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a ``uint8`` grey ``(H, W)`` or RGB ``(H, W, 3)`` array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of a mask as 8-bit grey 0/255 (non-zero = lesion), deflated with zlib's
    run-length strategy: a two-valued image compresses about as well as with the default
    strategy, 3× faster."""
    import cv2

    grey = (np.asarray(mask) != 0).astype(np.uint8) * np.uint8(255)
    ok, buf = cv2.imencode(".png", grey, [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:  # pragma: no cover - OpenCV cannot fail on a 2-D uint8 array
        return encode_png(grey)
    return buf.tobytes()


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
    atomic_write_bytes(path, encode_mask_png(mask))


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


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays as plain numbers and lists, paths as
    strings, sets as lists, objects with ``to_dict()`` (parameter dataclasses) as dicts."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically (numpy values become plain numbers).

    Raises:
        WriteError: the object cannot be written as JSON, or the file cannot be written.
    """
    try:
        text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False,
                          default=json_default, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise WriteError(f"Cannot save {Path(path).name}: {exc}") from None
    atomic_write_bytes(path, text.encode("utf-8"))


def list_images(folder: PathLike) -> list[Path]:
    """Image files directly in ``folder`` (sorted, labels ``*_segmentation.png`` excluded)."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        raise ImageReadError(f"Folder not found: {folder}") from None
    except NotADirectoryError:
        raise ImageReadError(f"{folder} is a file, not a folder") from None
    except PermissionError:
        raise ImageReadError(f"Cannot list {folder}: permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"Cannot list {folder}: {exc.strerror or exc}") from None
    return sorted(
        p for p in entries
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        and not p.stem.endswith(LABEL_SUFFIX) and not p.name.startswith(".")
    )
