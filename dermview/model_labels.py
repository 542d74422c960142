"""Model masks saved as unreviewed labels (Qt-free): the mask, its provenance sidecar
(``source: "model"``, the estimated Jaccard as ``confidence``) and the probability map, as
``dermview segment --sidecar --save-prob`` writes them and the app's "Segment all" does.

A label that exists is never replaced here: reviewed work stays as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermview.errors import DermviewError
from dermview.io import PathLike, atomic_write_bytes, encode_png
from dermview.labels import LabelMeta, label_paths
from dermview.prob_maps import prob_map_path

__all__ = ["LabelExists", "WrittenLabel", "model_label_meta", "save_prob_map", "segment_to_label"]


class LabelExists(DermviewError):
    """The image has a label already (it is left as it is)."""


@dataclass(frozen=True)
class WrittenLabel:
    """One label written by :func:`segment_to_label`.

    Attributes:
        image: the image.
        mask_path: the ``<stem>_segmentation.png`` written.
        confidence: estimated Jaccard of the mask with an expert's outline, in [0, 1].
        seconds: wall time of the image (read, preprocess, network, write).
    """

    image: Path
    mask_path: Path
    confidence: float
    seconds: float


def model_label_meta(res: Any, seg: Any, image_sha256: str | None,
                     extras: dict[str, Any] | None = None) -> LabelMeta:
    """Sidecar of a model mask nobody reviewed.

    Args:
        res: the :class:`~dermview.segmentation.SegmentationResult`.
        seg: the :class:`~dermview.model.inference.Segmenter` that made it.
        image_sha256: SHA-256 of the image file.
        extras: flat sidecar keys (``confidence``, ``tta``, ``model_provenance``…).
    """
    h, w = res.mask.shape
    return LabelMeta(
        image_sha256=image_sha256, image_size=(w, h),
        model_name=seg.name, model_sha256=seg.weights_sha256,
        preprocess_params=res.params.to_dict() if res.params else None,
        threshold=res.threshold, source="model", engine=seg.engine_name,
        extras=dict(extras or {}),
    )


def save_prob_map(image_path: PathLike, prob: np.ndarray, labels_dir: PathLike | None) -> Path:
    """Write float ``(H, W)`` probabilities in [0, 1] as the 8-bit grey
    :func:`~dermview.prob_maps.prob_map_path` file (atomically); returns its path."""
    path = prob_map_path(image_path, labels_dir)
    prob8 = np.rint(np.clip(prob, 0, 1) * np.float32(255)).astype(np.uint8)
    atomic_write_bytes(path, encode_png(prob8))
    return path


def segment_to_label(image_path: PathLike, seg: Any, params: Any, threshold: float | None,
                     labels_dir: PathLike | None, save_prob: bool = True) -> WrittenLabel:
    """Segment one image and save the mask as an unreviewed model label.

    Args:
        image_path: the image.
        seg: a loaded :class:`~dermview.model.inference.Segmenter`.
        params: preprocessing (:class:`~dermview.preprocess.params.PreprocessParams`,
            ``None`` = none, ``"model"`` = the model's own).
        threshold: probability threshold in [0, 1] (None: the model's).
        labels_dir: the labels folder (None: ``labels/`` beside the image).
        save_prob: also write the probability map (Refine on the label uses it).

    Raises:
        LabelExists: the image has a label already (nothing is written).
        DermviewError: the image cannot be read or the label cannot be written.
    """
    from dermview.confidence import estimate_jaccard
    from dermview.io import load_image
    from dermview.labels import image_sha256, save_label
    from dermview.model.provenance import user_trained_mark
    from dermview.segmentation import segment_image

    t0 = time.perf_counter()
    image_path = Path(image_path)
    mask_path = label_paths(image_path, labels_dir)[0]
    if mask_path.exists():
        raise LabelExists(f"{image_path.name} has a label already ({mask_path.name}); "
                          "it is left as it is")
    res = segment_image(load_image(image_path), seg, params=params, threshold=threshold)
    conf = float(estimate_jaccard(res.prob, res.mask))
    extras: dict[str, Any] = {"confidence": round(conf, 4)}
    mark = user_trained_mark(seg.meta)
    if mark is not None:
        extras["model_provenance"] = mark
    save_label(image_path, res.mask, model_label_meta(res, seg, image_sha256(image_path), extras),
               labels_dir)
    if save_prob:  # after the label: a label without its map is still a label
        save_prob_map(image_path, res.prob, labels_dir)
    return WrittenLabel(image_path, mask_path, conf, time.perf_counter() - t0)
