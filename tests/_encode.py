"""Encoders for test images made in memory (bytes of a file in a given format)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def pil_bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    """``img`` saved by Pillow in format ``fmt`` (e.g. "PNG", "JPEG")."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def cv_bytes(suffix: str, arr: np.ndarray) -> bytes:
    """``arr`` (OpenCV channel order) encoded by OpenCV as ``suffix`` (e.g. ".png")."""
    ok, buf = cv2.imencode(suffix, arr)
    assert ok
    return buf.tobytes()
