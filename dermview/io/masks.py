"""Masks: reading any image file as a ``bool`` lesion mask, saving as 0/255 PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dermview.errors import ImageReadError, MaskError, WriteError
from dermview.io.atomic import PathLike, atomic_write_bytes
from dermview.io.images import encode_png
from dermview.io.read import _apply_orientation, _decode, _open_pil, _orientation, _read_bytes


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


