"""labelme JSON: one file per image, and back.

Written with one ``mask`` shape labelled ``lesion`` (labelme ≥ 5.5: the two points are the
inclusive bounding box ``[[x1, y1], [x2, y2]]``, ``mask`` the base64 PNG of that crop; exact),
or, optionally, one ``polygon`` shape per region (lossy). The label's attributes go into the
shape's ``flags`` (booleans) and ``description`` (JSON text), where labelme keeps them.

Read back: the union of every ``lesion`` shape (of every shape when none is called
``lesion``): mask, polygon, rectangle and circle, rasterised as labelme does.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dermview.errors import ImageReadError
from dermview.exchange.contours import fill_polygon, mask_polygons
from dermview.exchange.labelset import LESION
from dermview.io import encode_png

__all__ = ["LABELME_VERSION", "labelme_document", "labelme_mask", "labelme_target",
           "read_labelme", "write_labelme"]

#: labelme version whose format is written (mask shapes appeared in 5.5).
LABELME_VERSION = "5.5.0"


def _shape(shape_type: str, points: list[list[float]], attributes: dict[str, Any],
           mask_b64: str | None = None) -> dict[str, Any]:
    return {
        "label": LESION, "points": points, "group_id": None,
        "description": json.dumps(attributes, ensure_ascii=False),
        "shape_type": shape_type,
        "flags": {"edited": bool(attributes.get("edited", False))},
        "mask": mask_b64,
    }


def labelme_document(mask: np.ndarray, image_path: str, attributes: dict[str, Any],
                     polygons: bool = False, image_data: str | None = None) -> dict[str, Any]:
    """The labelme dict of a ``bool`` ``(H, W)`` mask; ``image_path`` relative to the JSON;
    ``image_data`` the image as base64 PNG, or None (labelme then reads ``image_path``)."""
    shapes: list[dict[str, Any]] = []
    if mask.any() and polygons:
        shapes = [_shape("polygon", poly.tolist(), attributes) for poly in mask_polygons(mask)]
    elif mask.any():
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        y1, y2, x1, x2 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        crop = mask[y1:y2 + 1, x1:x2 + 1].astype(np.uint8) * 255
        b64 = base64.b64encode(encode_png(crop)).decode("ascii")
        shapes = [_shape("mask", [[float(x1), float(y1)], [float(x2), float(y2)]], attributes, b64)]
    return {
        "version": LABELME_VERSION, "flags": {}, "shapes": shapes,
        "imagePath": image_path, "imageData": image_data,
        "imageHeight": int(mask.shape[0]), "imageWidth": int(mask.shape[1]),
    }


def labelme_target(image: Path, out_dir: Path) -> Path:
    """Where :func:`write_labelme` writes the JSON of ``image``: ``out_dir/<stem>.json``."""
    return Path(out_dir) / f"{Path(image).stem}.json"


def write_labelme(item: Any, out_dir: Path, polygons: bool = False) -> Path:
    """Write the labelme JSON of a :class:`~dermview.exchange.labelset.LabelledImage` to
    :func:`labelme_target` (``imagePath`` relative to it; replaced if present); the path."""
    import os

    from dermview.exchange.labelset import label_attributes
    from dermview.io import save_json

    target = labelme_target(item.image, out_dir)
    rel = os.path.relpath(Path(item.image).resolve(), Path(out_dir).resolve())
    save_json(target, labelme_document(item.mask, Path(rel).as_posix(),
                                       label_attributes(item.meta), polygons,
                                       _dicom_image_data(Path(item.image))))
    return target


def _dicom_image_data(image: Path) -> str | None:
    """A DICOM image's pixels as base64 PNG, for labelme's ``imageData``: labelme opens
    ``imagePath`` with Pillow, which cannot read DICOM (the file did not open: "cannot identify
    image file"); None for any other image (labelme reads the file itself)."""
    from dermview.dicom import is_dicom_file
    from dermview.io import load_image

    return base64.b64encode(encode_png(load_image(image))).decode("ascii") if is_dicom_file(image) else None


def _shape_mask(shape: dict[str, Any], hw: tuple[int, int]) -> np.ndarray:
    kind = shape.get("shape_type") or "polygon"
    points = [[float(v) for v in p] for p in shape.get("points", [])]
    if kind == "mask":
        try:
            crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape["mask"], validate=True))))
        except (KeyError, TypeError, ValueError, OSError):  # binascii.Error is a ValueError
            raise ValueError("a mask shape's 'mask' is not a base64 PNG") from None
        crop = crop.astype(bool)
        if crop.ndim == 3:
            crop = crop.any(axis=2)
        (x1, y1), _ = np.asarray(points).astype(int)
        if x1 < 0 or y1 < 0:
            raise ValueError("a mask shape starts outside the image")
        out = np.zeros(hw, bool)
        part = out[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]]
        part |= crop[:part.shape[0], :part.shape[1]]
        return out
    if kind == "polygon" and len(points) > 2:
        return fill_polygon(hw, points)
    img = Image.new("L", (hw[1], hw[0]), 0)
    draw = ImageDraw.Draw(img)
    if kind == "rectangle" and len(points) == 2:
        (xa, ya), (xb, yb) = points
        draw.rectangle([min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)], outline=1, fill=1)
    elif kind == "circle" and len(points) == 2:
        (cx, cy), (px, py) = points
        r = math.hypot(cx - px, cy - py)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
    return np.asarray(img, dtype=bool)  # lines and points are not regions: empty


def labelme_mask(doc: dict[str, Any]) -> np.ndarray:
    """The ``bool`` ``(imageHeight, imageWidth)`` lesion mask of a labelme dict."""
    hw = (int(doc["imageHeight"]), int(doc["imageWidth"]))
    shapes = [s for s in doc.get("shapes", []) if isinstance(s, dict)]
    chosen = [s for s in shapes if s.get("label") == LESION] or shapes
    mask = np.zeros(hw, bool)
    for shape in chosen:
        mask |= _shape_mask(shape, hw)
    return mask


def labelme_attributes(doc: dict[str, Any]) -> dict[str, Any]:
    """The label attributes dermview wrote into a labelme dict (the first lesion shape's
    ``description``, JSON): review state, reviewer, model...; {} when there are none (a
    free-text description, another tool's file)."""
    shapes = [s for s in doc.get("shapes", []) if isinstance(s, dict)]
    shape = next((s for s in shapes if s.get("label") == LESION), shapes[0] if shapes else {})
    try:
        attrs = json.loads(str(shape.get("description") or ""))
    except ValueError:
        return {}
    return attrs if isinstance(attrs, dict) else {}


def read_labelme(path: Path) -> tuple[np.ndarray, str, dict[str, Any]]:
    """``(mask, imagePath, attributes)`` of a labelme JSON file (see
    :func:`labelme_attributes`).

    Raises:
        ImageReadError: missing file, or not labelme JSON.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return labelme_mask(doc), str(doc.get("imagePath") or ""), labelme_attributes(doc)
    except FileNotFoundError:
        raise ImageReadError(f"labelme file not found: {path}") from None
    except KeyError as exc:
        raise ImageReadError(f"{Path(path).name} is not a readable labelme file (no "
                             f"{exc})") from None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        # what is wrong, not only its kind: a bad mask shape read "(Error)"
        text = str(exc).strip()
        why = text.splitlines()[0][:160] if text else type(exc).__name__
        raise ImageReadError(f"{Path(path).name} is not a readable labelme file ({why})") from None
