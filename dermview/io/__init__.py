"""Image and mask files: robust reading, atomic writing.

Images in memory are RGB ``uint8`` arrays of shape ``(H, W, 3)``; masks are ``bool`` ``(H, W)``.
Masks on disk are single-channel PNG with values 0/255, never JPEG. Every write is atomic: the
data goes to a temporary file in the destination folder, is flushed and fsynced, then renamed
over the target with :func:`os.replace`, so a crash never leaves a half-written file.

Split by job: :mod:`~dermview.io.read` (bytes, header, decoding), :mod:`~dermview.io.convert`
(pixels to RGB ``uint8``), :mod:`~dermview.io.images`, :mod:`~dermview.io.masks`,
:mod:`~dermview.io.atomic` (writes), :mod:`~dermview.io.jsonfile`; everything public is
importable from ``dermview.io``.
"""

from __future__ import annotations

from dermview.io.atomic import PathLike, atomic_write_bytes, current_umask
from dermview.io.images import (
    IMAGE_SUFFIXES,
    encode_png,
    list_images,
    load_image,
    load_image_info,
    save_image,
)
from dermview.io.jsonfile import json_default, save_json
from dermview.io.masks import encode_mask_png, load_mask, save_mask
from dermview.io.read import MAX_FILE_BYTES, MAX_PIXELS

__all__ = [
    "IMAGE_SUFFIXES", "MAX_FILE_BYTES", "MAX_PIXELS", "PathLike", "atomic_write_bytes",
    "current_umask", "encode_mask_png", "encode_png", "json_default", "list_images", "load_image",
    "load_image_info", "load_mask", "save_image", "save_json", "save_mask",
]
