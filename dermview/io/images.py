"""Images: reading any supported file as RGB (with its DICOM scale), PNG encoding, atomic
saving, and listing the images of a folder."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dermview.dicom import DICOM_SUFFIXES, ImageInfo, is_dicom, is_dicom_file
from dermview.errors import ImageReadError, WriteError
from dermview.io import read
from dermview.io.atomic import PathLike, atomic_write_bytes
from dermview.io.convert import (
    _bits_per_sample,
    _check_layout,
    _cv2_decode_rgb,
    _is_deep_colour,
    _pil_to_rgb,
)
from dermview.io.read import _decode, _open_pil, _orientation, _read_bytes
from dermview.paths import LABEL_SUFFIX

#: File suffixes offered in dialogs and picked up when a folder is opened.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", *DICOM_SUFFIXES)


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

        return read_dicom(data, path, read.MAX_PIXELS)
    img = _open_pil(data, path, "JPEG, PNG, BMP, TIFF, DICOM")  # DICOM was left out
    _refuse_multi_image_tiff(img, path)
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


def _refuse_multi_image_tiff(img: Image.Image, path: Path) -> None:
    """Refuse a TIFF holding several images (pages as large as the first; a multi-frame
    DICOM is refused too): it opened its first page without a word, and a label saved for the
    file was that page's only. Smaller pages after the first (thumbnails, previews) are not
    images of their own: the first page opens."""
    if img.format != "TIFF":
        return
    area, larger = img.size[0] * img.size[1], 0
    try:
        pages = int(img.n_frames)
        for i in range(1, pages):
            img.seek(i)
            larger += img.size[0] * img.size[1] >= area
    except Exception:  # noqa: BLE001 - a broken later page (fuzzing: a bare TypeError): the first is the image
        pass
    try:
        img.seek(0)
    except Exception:  # noqa: BLE001 - any parser failure on bad bytes is a bad file
        raise ImageReadError(f"{path.name} is damaged (its first page cannot be read again)") from None
    if larger:
        raise ImageReadError(f"{path.name} holds {larger + 1} images (a multi-page TIFF); "
                             "dermview opens single images only: save each page as a file of its own")


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a ``uint8`` grey ``(H, W)`` or RGB ``(H, W, 3)`` array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


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


#: Files dermview writes beside an image or label of the same stem: ``dermview segment
#: --save-prob``'s ``<stem>_prob.png``, ``dermview preprocess --save-masks``'s
#: ``<stem>_frame.png`` / ``<stem>_hair.png``, ``--dicom-seg``'s Secondary Capture
#: ``<stem>_image.dcm`` of a non-DICOM image. Not images to open when that stem is there.
DERIVED_SUFFIXES = ("_prob", "_frame", "_hair", "_image")


def _derived(path: Path, stems: set[str]) -> bool:
    for suffix in DERIVED_SUFFIXES:
        if suffix == "_image" and path.suffix.lower() not in DICOM_SUFFIXES:
            continue
        if path.stem.endswith(suffix):
            base = path.stem[: -len(suffix)]
            return base in stems or f"{base}{LABEL_SUFFIX}" in stems
    return False


def _unnamed_dicom(path: Path) -> bool:
    """A DICOM file named without a suffix, as PACS exports and DICOM media name them
    (``IM000001``); the ``DICOMDIR`` index is not an image."""
    if path.suffix or path.name.upper() == "DICOMDIR":
        return False
    return is_dicom_file(path)


def list_images(folder: PathLike) -> list[Path]:
    """Image files directly in ``folder`` (sorted; labels ``*_segmentation.png`` excluded, and
    dermview's own outputs of another file there, :data:`DERIVED_SUFFIXES`); DICOM files
    without a suffix are images too."""
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
    files = [p for p in entries
             if p.is_file() and not p.name.startswith(".")
             and (p.suffix.lower() in IMAGE_SUFFIXES or _unnamed_dicom(p))]
    stems = {p.stem for p in files}
    return sorted(p for p in files
                  if not p.stem.endswith(LABEL_SUFFIX) and not _derived(p, stems))
