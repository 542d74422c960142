"""Reading files: bytes with clear errors, Pillow header parsing with the size limit, decoding
frame 0 with the EXIF orientation applied (shared by image and mask reading)."""

from __future__ import annotations

import io
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from dermview.errors import ImageReadError, ImageTooLargeError

#: Largest image accepted, in pixels (width × height). Checked from the header, before decoding.
MAX_PIXELS = 80_000_000

ImageFile.LOAD_TRUNCATED_IMAGES = False
# We enforce our own limit (MAX_PIXELS) before decoding; Pillow's own check would raise a
# less helpful error at a different size.
Image.MAX_IMAGE_PIXELS = None

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
        return ImageReadError(f"{path.name} is truncated (the file is incomplete: a copy or "
                              "transfer was cut off; copy it again from its source)")
    return ImageReadError(f"{path.name} is damaged and cannot be {stage} ({msg})")


def _open_pil(data: bytes, path: Path, supported: str = "JPEG, PNG, BMP, TIFF") -> Image.Image:
    """Parse the header only; refuse images over :data:`MAX_PIXELS` before any decoding.
    ``supported`` names the formats the caller reads (for the message on a non-image)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{path.name} is not a readable image (supported: {supported})"
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

