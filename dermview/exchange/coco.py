"""COCO instance annotations: one JSON for a folder of labels, and back.

Each labelled image is an ``images`` entry (file name, width, height) with one annotation of
category ``lesion``: its mask as compressed RLE (pycocotools; exact) or, optionally, polygons
(lossy: outer outlines only, through pixel corners as pycocotools fills them), its area and
bounding box, ``iscrowd`` 0, and the label's attributes (review state, confidence, source, model: see
:func:`~dermview.exchange.labelset.label_attributes`) under ``attributes``, as CVAT writes them.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from dermview import __version__
from dermview.errors import ImageReadError, MaskError
from dermview.exchange.contours import corner_polygons
from dermview.exchange.labelset import LESION, LabelledImage, label_attributes

__all__ = ["coco_document", "coco_annotation", "read_coco", "write_coco", "CocoLabels"]


def coco_annotation(mask: np.ndarray, image_id: int, ann_id: int, attributes: dict[str, Any],
                    polygons: bool = False) -> dict[str, Any]:
    """One COCO annotation of a ``bool`` ``(H, W)`` mask (category id 1, ``lesion``)."""
    from pycocotools import mask as mask_util

    rle = mask_util.encode(np.asfortranarray(mask, dtype=np.uint8))
    segmentation: Any = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
    if polygons:
        segmentation = [[round(float(v), 2) for v in poly.reshape(-1)] for poly in corner_polygons(mask)]
    return {
        "id": ann_id, "image_id": image_id, "category_id": 1,
        "segmentation": segmentation,
        "area": int(mask_util.area(rle)),
        "bbox": [float(v) for v in mask_util.toBbox(rle)],
        "iscrowd": 0,
        "attributes": attributes,
    }


def coco_document(items: Iterable[LabelledImage], image_root: Path,
                  polygons: bool = False) -> dict[str, Any]:
    """The COCO dict of labelled images; ``file_name`` is relative to ``image_root``. An image
    whose mask is empty is listed without an annotation (reviewed: no lesion)."""
    images, annotations = [], []
    for image_id, item in enumerate(items, start=1):
        h, w = item.mask.shape
        images.append({"id": image_id, "file_name": item.image.relative_to(image_root).as_posix(),
                       "width": int(w), "height": int(h)})
        if item.mask.any():
            annotations.append(coco_annotation(item.mask, image_id, len(annotations) + 1,
                                               label_attributes(item.meta), polygons))
    return {
        "info": {"description": "Lesion masks exported by dermview", "version": __version__},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": LESION, "supercategory": "skin"}],
    }


def write_coco(items: Iterable[LabelledImage], image_root: Path, out: Path,
               polygons: bool = False) -> int:
    """Write :func:`coco_document` of ``items`` to ``out`` (atomically; nothing is written
    when there is no labelled image); the number of images in it.

    Raises:
        WriteError: the file cannot be written.
    """
    from dermview.io import save_json

    doc = coco_document(items, image_root, polygons)
    if doc["images"]:
        save_json(out, doc)
    return len(doc["images"])


class CocoLabels:
    """The masks of a COCO file, decoded one image at a time with pycocotools' ``annToMask``.

    An image's mask is the union of its annotations of category ``lesion`` (of every category
    when none is called ``lesion``); an image without annotations has an empty mask.
    """

    def __init__(self, coco: Any) -> None:
        self._coco = coco
        names = {c["name"]: c["id"] for c in coco.dataset.get("categories", [])}
        self._cat_ids = [names[LESION]] if LESION in names else coco.getCatIds()
        self.file_names = {str(img["file_name"]): int(i) for i, img in coco.imgs.items()}

    def attributes(self, file_name: str) -> dict[str, Any]:
        """The ``attributes`` of the image's first lesion annotation (as dermview and CVAT
        write them: review state, reviewer, model...); {} when it has none."""
        ids = self._coco.getAnnIds(imgIds=[self.file_names[file_name]], catIds=self._cat_ids)
        attrs = self._coco.loadAnns(ids[0])[0].get("attributes") if ids else None
        return attrs if isinstance(attrs, dict) else {}

    def mask(self, file_name: str) -> np.ndarray:
        """``bool`` ``(height, width)`` mask of the image called ``file_name`` in the file."""
        image_id = self.file_names[file_name]
        img = self._coco.imgs[image_id]
        try:
            mask = np.zeros((int(img["height"]), int(img["width"])), bool)
        except (KeyError, TypeError, ValueError):
            raise MaskError(f"{file_name} has no valid width and height in the COCO "
                            "file") from None
        for ann in self._coco.loadAnns(self._coco.getAnnIds(imgIds=[image_id], catIds=self._cat_ids)):
            mask |= self._ann_mask(ann, file_name, mask.shape)
        return mask

    def _ann_mask(self, ann: dict, file_name: str, shape: tuple[int, int]) -> np.ndarray:
        """One annotation's mask; MaskError when it cannot be decoded or its RLE is of
        another size than its image (pycocotools returns the RLE's own size)."""
        what = f"annotation {ann.get('id', '?')} of {file_name} in the COCO file"
        try:
            ann_mask = np.asarray(self._coco.annToMask(ann), dtype=bool)
        except Exception as exc:  # noqa: BLE001 - pycocotools raises many types on bad data
            raise MaskError(f"{what} cannot be decoded ({type(exc).__name__})") from None
        if ann_mask.shape != shape:
            raise MaskError(f"{what} is {ann_mask.shape[1]}×{ann_mask.shape[0]} pixels but "
                            f"the file says the image is {shape[1]}×{shape[0]}")
        return ann_mask


def read_coco(path: Path) -> CocoLabels:
    """Open a COCO annotation file (see :class:`CocoLabels`).

    Raises:
        ImageReadError: the file is missing or not COCO.
    """
    from pycocotools.coco import COCO

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        coco = COCO()
        coco.dataset = doc
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
        return CocoLabels(coco)
    except FileNotFoundError:
        raise ImageReadError(f"COCO file not found: {path}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ImageReadError(f"{Path(path).name} is not a readable COCO file "
                             f"({type(exc).__name__}: {exc})") from None
