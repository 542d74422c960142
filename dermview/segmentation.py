"""One image through the whole chain: (preprocess) → model → threshold/cleanup.

The CLI (``dermview segment``), the GUI workers and the self-test all call
:func:`segment_image`, so they give the same mask for the same image and settings. Torch is
only needed by the segmenter passed in; this module imports neither torch nor Qt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dermview.errors import ParameterError
from dermview.postprocess import mask_from_prob
from dermview.preprocess.params import PreprocessParams

#: ``params="model"``: preprocess exactly as the model was trained (its metadata says).
FROM_MODEL: Literal["model"] = "model"

#: ``tta="auto"``: the flipped pass is added only when the plain mask's estimated Jaccard
#: (:func:`dermview.confidence.estimate_jaccard`) is below this.
TTA_GATE = 0.8


@dataclass
class SegmentationResult:
    """Output of :func:`segment_image`.

    Attributes:
        prob: ``float32`` ``(H, W)`` lesion probability in ``[0, 1]`` (0 inside a removed frame).
        mask: ``bool`` ``(H, W)`` lesion mask (thresholded, cleaned).
        threshold: the probability threshold used.
        preprocessed: the :class:`~dermview.preprocess.Preprocessed` result, or ``None`` when
            the image was not preprocessed.
        params: the preprocessing parameters used, or ``None``.
        timings: seconds per step (``preprocess``, ``predict``, ``postprocess``, ``total``;
            with ``tta="auto"`` also ``gated_tta``: the confidence estimate and, when it ran,
            the flipped pass and the second clean-up).
        tta_applied: whether the flipped pass was averaged in.
    """

    prob: np.ndarray
    mask: np.ndarray
    threshold: float
    preprocessed: Any = None
    params: PreprocessParams | None = None
    timings: dict[str, float] = field(default_factory=dict)
    tta_applied: bool = False


def model_preprocess_params(meta: dict[str, Any]) -> PreprocessParams | None:
    """The preprocessing a model was trained with, from its metadata (no torch needed):
    ``None`` when it was trained on raw images (``"preprocess"`` false or absent)."""
    pre = meta.get("preprocess")
    if isinstance(pre, dict):
        if not pre.get("enabled", True):
            return None
        return PreprocessParams.from_dict(pre.get("params", {k: v for k, v in pre.items()
                                                             if k != "enabled"}))
    return PreprocessParams() if pre else None


def resolve_params(segmenter: Any,
                   params: PreprocessParams | None | Literal["model"]) -> PreprocessParams | None:
    """The preprocessing to apply: ``"model"`` = what the model was trained with."""
    if isinstance(params, str):
        if params != FROM_MODEL:
            raise ValueError(f"params must be PreprocessParams, None or {FROM_MODEL!r}")
        return segmenter.preprocess_params()
    return params


def segment_image(rgb: np.ndarray, segmenter: Any,
                  params: PreprocessParams | None | Literal["model"] = FROM_MODEL,
                  threshold: float | None = None, clean: bool = True,
                  tta: bool | Literal["auto"] = False, preprocessed: Any = None,
                  tta_gate: float = TTA_GATE) -> SegmentationResult:
    """Segment the lesion in one image.

    Args:
        rgb: ``uint8`` ``(H, W, 3)`` RGB image.
        segmenter: a loaded :class:`dermview.model.inference.Segmenter`.
        params: preprocessing (frame and hair removal) before the model; ``None`` = none;
            ``"model"`` (default) = as recorded in the model's metadata.
        threshold: probability threshold in ``[0, 1]``; ``None`` = the model's default.
        clean: keep the main lesion and fill holes (:func:`dermview.postprocess.clean_mask`).
        tta: horizontal-flip test-time augmentation: ``True`` always (about 2× the model
            time), ``"auto"`` only when the plain mask's estimated Jaccard is below
            ``tta_gate`` (:attr:`SegmentationResult.tta_applied` says whether it ran).
        tta_gate: the estimated-Jaccard cut of ``tta="auto"``, in ``[0, 1]``.
        preprocessed: a :class:`dermview.preprocess.Preprocessed` of this very image already
            computed (the GUI's full-size preview); used instead of preprocessing again when
            its parameters and shape match, ignored otherwise.

    Returns:
        :class:`SegmentationResult` at the input resolution.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    thr = segmenter.threshold if threshold is None else float(threshold)
    if not 0.0 <= thr <= 1.0:
        raise ParameterError(f"The threshold must be between 0 and 1, got {thr}")
    params = resolve_params(segmenter, params)
    pre = None
    image = rgb
    if params is not None:
        from dermview.preprocess import preprocess

        reusable = (preprocessed is not None and preprocessed.params == params
                    and preprocessed.image.shape == rgb.shape)
        pre = preprocessed if reusable else preprocess(rgb, params)
        image = pre.image
    t1 = time.perf_counter()
    timings["preprocess"] = t1 - t0

    if tta not in (True, False, "auto"):
        raise ParameterError(f"tta must be True, False or 'auto', got {tta!r}")
    frame = pre.frame_mask if pre is not None and pre.frame_mask is not None \
        and pre.frame_mask.any() else None
    prob = segmenter.predict(image, tta=True) if tta is True else segmenter.predict(image)
    if frame is not None:
        prob[frame] = 0.0  # the dermoscope's frame is never lesion
    t2 = time.perf_counter()
    timings["predict"] = t2 - t1

    mask = mask_from_prob(prob, thr, clean=clean)
    t3 = time.perf_counter()
    timings["postprocess"] = t3 - t2
    flipped_ran = tta is True
    if tta == "auto":
        from dermview.confidence import estimate_jaccard

        if estimate_jaccard(prob, mask) < tta_gate:
            flipped = segmenter.predict_flipped(image)
            if frame is not None:
                flipped[frame] = 0.0
            prob += flipped
            prob *= np.float32(0.5)
            mask = mask_from_prob(prob, thr, clean=clean)
            flipped_ran = True
        t3 = time.perf_counter()
        timings["gated_tta"] = t3 - t2 - timings["postprocess"]
    timings["total"] = t3 - t0
    return SegmentationResult(prob=prob, mask=mask, threshold=thr, preprocessed=pre,
                              params=params, timings=timings, tta_applied=flipped_ran)
