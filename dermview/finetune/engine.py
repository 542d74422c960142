"""Fine-tuning a segmentation model on a user's saved labels (torch; no Qt).

```python
from dermview.finetune import FinetuneSettings, finetune
report = finetune("clinic/images", "models/clinic.pt", settings=FinetuneSettings())
report.improved, report.base_scores, report.new_scores, report.meta
```

Steps: collect the labels (:mod:`dermview.finetune.collect`), preprocess each image as the
base model was trained and resize it to the network input, score the base model on the
held-out labels with the app's own pipeline (:func:`dermview.segmentation.segment_image`:
preprocessing, threshold, clean-up, at the image's resolution), fine-tune one model per fold
(and, with k-fold, a last one on every label), score the fold models on their held-out
labels, and write the new weights + metadata atomically (nothing is written before the end,
so an interrupted run leaves nothing behind). The number of optimisation steps is fitted to
the time limit after timing one step.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from dermview.errors import DermviewError
from dermview.finetune.collect import (
    FinetuneError,
)
from dermview.io import load_image, load_mask
from dermview.metrics import ISIC_JACCARD_FLOOR, jaccard
from dermview.model import weights as wmod
from dermview.model.inference import Segmenter
from dermview.segmentation import segment_image

#: Reference per-channel mean (R, G, B) and standard deviation (R, G, B) of the shipped model's
#: normalised training inputs, for :class:`dermview.model.blocks.ColourStandardise`; from
#: ``python -m training.colour_reference`` (docs/results/finetune_colour_reference.json).
COLOUR_REF = (1.1096, 0.6853, 0.7151, 0.3816, 0.5105, 0.5758)

#: ``progress(done, total, phase)``: units done of the planned total (steps + images scored).
Progress = Callable[[int, int, str], None]


class FinetuneCancelled(DermviewError):
    """The run was cancelled; nothing was written."""


@dataclass(frozen=True)
class FinetuneSettings:
    """The fine-tuning recipe. Defaults: measured by ``benchmarks/bench_finetune_levers.py``
    (docs/results/bench_finetune_levers.json) on the recipe-tuning images of the simulated
    clinic: per-image colour standardisation at 0.5 and no gradient steps (every training
    variant lost Dice there); ``--max-steps N`` trains the head with geometric augmentation.

    Attributes:
        lr: peak Adam learning rate (cosine decay to 2 % of it, 5 % warm-up).
        layers: ``"head"`` (pyramid + decoder; encoder frozen), ``"last"`` (also the
            encoder's last stage) or ``"all"`` (every weight).
        max_steps: optimisation steps per run at most (fewer when the time limit says so);
            0 = no gradient training.
        min_steps: fewer affordable steps than this is refused (time limit too short).
        batch_size: images per step (the label count, when smaller).
        time_limit_min: limit of the whole run in minutes (of ``clock``).
        seed: seed of the folds, the batches and the augmentation.
        clock: ``"wall"`` (default: wall-clock time) or ``"cpu"`` (this process's CPU time:
            a limit that means the same on a shared, busy machine; benchmarks use it).
        bn_adapt: share of the batch-norm statistics re-estimated on the folder's images
            (AdaBN, :func:`dermview.finetune.train.adapt_bn`; 0 = the base model's).
        colour_aug: colour and illumination augmentation of the training views (False:
            geometric only, so the clinic's colours are learned, not jittered away).
        l2sp: weight of the L2-SP penalty ``sum (w - w_base)^2`` over the trained weights.
        colour_norm: share of per-image colour standardisation put in front of the new model
            (:class:`dermview.model.blocks.ColourStandardise`; 0 = none).
        max_steps 0: no gradient training (the new model is the base with the colour
            standardisation and AdaBN only; no label is used to make it, all score it).
    """

    lr: float = 1e-4
    layers: str = "head"
    max_steps: int = 0
    min_steps: int = 5
    batch_size: int = 8
    time_limit_min: float = 10.0
    seed: int = 0
    clock: str = "wall"
    bn_adapt: float = 0.0
    colour_aug: bool = False
    l2sp: float = 0.0
    colour_norm: float = 0.5

    def __post_init__(self) -> None:
        if self.clock not in ("wall", "cpu"):
            raise FinetuneError(f"clock must be 'wall' or 'cpu', got {self.clock!r}")
        if self.layers not in ("all", "head", "last"):
            raise FinetuneError(f"layers must be 'all', 'head' or 'last', got {self.layers!r}")
        if not (self.lr > 0 and (self.max_steps == 0 or self.max_steps >= self.min_steps >= 1)
                and self.batch_size >= 1 and self.time_limit_min > 0
                and 0.0 <= self.bn_adapt <= 1.0 and 0.0 <= self.colour_norm <= 1.0
                and self.l2sp >= 0):
            raise FinetuneError(f"Invalid fine-tuning settings: {self}")


def clock(settings: FinetuneSettings) -> Callable[[], float]:
    """The seconds counter the time limit is measured with (:attr:`FinetuneSettings.clock`)."""
    import time

    return time.process_time if settings.clock == "cpu" else time.monotonic


@dataclass
class FinetuneReport:
    """Outcome of :func:`finetune`.

    Attributes:
        out: the weights file written.
        meta: its metadata (as written beside it).
        base_scores, new_scores: means over the held-out labels (``dice``, ``jaccard``,
            ``thresholded_jaccard``, ``failures`` = images with Jaccard < 0.65, ``n``).
        improved: whether the held-out scores say the new model is better.
        verdict: one sentence saying so, with the numbers.
        seconds: wall time of the run.
    """

    out: Path
    meta: dict[str, Any]
    base_scores: dict[str, float]
    new_scores: dict[str, float]
    improved: bool
    verdict: str
    seconds: float
    per_image: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Data


def network_arrays(images: Sequence[Path], seg: Segmenter,
                   labels: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Training arrays: each image preprocessed as ``seg``'s model was trained, image and mask
    resized to the network input (stretch). Returns uint8 ``(N, S, S, 3)`` and ``(N, S, S)``
    in ``{0, 1}``."""
    from dermview.preprocess import preprocess
    from training.data import resize_pair

    if seg.meta.get("resize", "stretch") not in ("stretch", "square"):
        raise FinetuneError(f"{seg.name}: only models with a stretched input can be fine-tuned")
    size = seg.input_size[0]
    params = seg.preprocess_params()
    imgs, masks = [], []
    for image, label in zip(images, labels, strict=True):
        rgb = load_image(image)
        mask = load_mask(label, shape=rgb.shape[:2])
        if params is not None:
            rgb = preprocess(rgb, params).image
        a, m = resize_pair(rgb, mask, size)
        imgs.append(a)
        masks.append(m)
    return np.stack(imgs), np.stack(masks)


def network_images(images: Sequence[Path], seg: Segmenter) -> np.ndarray:
    """Images alone (no labels) as :func:`network_arrays` makes them: uint8 ``(N, S, S, 3)``."""
    from dermview.preprocess import preprocess

    size = seg.input_size[0]
    params = seg.preprocess_params()
    out = []
    for image in images:
        rgb = load_image(image)
        if params is not None:
            rgb = preprocess(rgb, params).image
        big = max(rgb.shape[:2]) > size  # as training.data.resize_pair
        out.append(cv2.resize(rgb, (size, size),
                              interpolation=cv2.INTER_AREA if big else cv2.INTER_LINEAR))
    return np.stack(out)


def score_images(seg: Segmenter, images: Sequence[Path], labels: Sequence[Path],
                 cache: dict[Path, Any] | None = None,
                 tick: Callable[[], None] | None = None) -> list[dict[str, float]]:
    """Per-image ``dice``, ``jaccard``, ``thresholded_jaccard`` of the app's pipeline
    (preprocessing as trained, threshold, clean-up) against each label.

    ``cache`` (optional) keeps each image's RGB, preprocessing and mask between calls."""
    from dermview.metrics import dice

    rows = []
    for image, label in zip(images, labels, strict=True):
        if cache is not None and image in cache:
            rgb, pre, gt = cache[image]
        else:
            rgb = load_image(image)
            gt = load_mask(label, shape=rgb.shape[:2])
            pre = None
        res = segment_image(rgb, seg, preprocessed=pre)
        if cache is not None:
            cache[image] = (rgb, res.preprocessed, gt)
        j = jaccard(res.mask, gt)
        rows.append({"dice": dice(res.mask, gt), "jaccard": j,
                     "thresholded_jaccard": j if j >= ISIC_JACCARD_FLOOR else 0.0})
        if tick is not None:
            tick()
    return rows


def summarise(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Means of the per-image scores, plus ``failures`` (Jaccard < 0.65) and ``n``."""
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("dice", "jaccard",
                                                             "thresholded_jaccard")}
    out["failures"] = int(sum(r["jaccard"] < ISIC_JACCARD_FLOOR for r in rows))
    out["n"] = len(rows)
    return out


#: The judge's margin: the held-out mean Dice must rise by at least this much.
JUDGE_MARGIN = 0.005
#: ... and the one-sided lower confidence bound of the paired mean gain (Student t at this
#: level, over the held-out labels) must be above zero.
JUDGE_CONFIDENCE = 0.9


def judge(base_rows: Sequence[dict[str, float]], new_rows: Sequence[dict[str, float]],
          margin: float = JUDGE_MARGIN,
          confidence: float = JUDGE_CONFIDENCE) -> tuple[bool, str]:
    """Whether the new model is better than the base on the same held-out labels (per-image
    rows of :func:`score_images`, paired by position). Better only if the mean Dice gain is at
    least ``margin``, its one-sided ``confidence`` lower bound (paired t) is above zero, there
    are no more failures (Jaccard < 0.65) and the thresholded Jaccard is not lower: a gain
    within the noise of a few labels is not called better. Returns ``(better, sentence)``."""
    from scipy import stats

    base, new = summarise(base_rows), summarise(new_rows)
    gain = np.array([n["dice"] - b["dice"] for b, n in zip(base_rows, new_rows, strict=True)])
    mean = float(gain.mean())
    sd = float(gain.std(ddof=1)) if len(gain) > 1 else 0.0
    lower = mean - float(stats.t.ppf(confidence, max(len(gain) - 1, 1))) * sd / np.sqrt(len(gain))
    nums = (f"held-out Dice {base['dice']:.4f} → {new['dice']:.4f} (gain {mean:+.4f}, "
            f"{confidence:.0%} lower bound {lower:+.4f}), thresholded Jaccard "
            f"{base['thresholded_jaccard']:.4f} → {new['thresholded_jaccard']:.4f}, failures "
            f"{base['failures']} → {new['failures']} of {new['n']}")
    if mean < margin or lower <= 0:
        why = "worse" if mean < 0 else "not clearly better (within the noise of these labels)"
        return False, f"The new model is NOT better: {why} ({nums}); keep the base model."
    if new["failures"] > base["failures"] or new["thresholded_jaccard"] < base["thresholded_jaccard"]:
        return False, f"The new model is NOT better: it fails more often ({nums}); keep the base model."
    return True, f"The new model is better ({nums})."


# --------------------------------------------------------------------------------------------
# Training


def in_memory_segmenter(model: torch.nn.Module, meta: dict[str, Any], device: str,
                        name: str = "fine-tuned") -> Segmenter:
    """A :class:`Segmenter` around a model in memory (eval mode), for scoring."""
    from dermview.model.engines import TorchEngine

    path = Path(f"{name}.pt")
    eng = TorchEngine(model.eval(), meta, device, path, "", threads=1)
    return Segmenter(engine=eng, meta=meta, device=device, weights_path=path, weights_sha256="")


# --------------------------------------------------------------------------------------------
# Output


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl+C back while the finished files are moved into place (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got:
        raise KeyboardInterrupt


def write_model(model: torch.nn.Module, out: Path, meta: dict[str, Any],
                onnx: bool = True) -> dict[str, Any]:
    """Write ``out``, its ONNX export ``out.with_suffix(".onnx")`` (checked against torch by
    :func:`training.export_onnx.export`, listed with its SHA-256 in the metadata) and its
    ``.json`` metadata: all are written in a temporary folder beside ``out`` and then renamed
    into place (the metadata last), so an interruption leaves no partial model."""
    from dermview.io.atomic import _describe_write_error

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:  # e.g. the folder became read-only during the run
        raise FinetuneError(_describe_write_error(out, exc)) from None
    try:
        full = wmod.save_weights(model, tmp / out.name, meta)
        names = [out.name]
        if onnx:
            from training.export_onnx import export

            entry = export(tmp / out.name)
            entry["command"] = f"python -m training.export_onnx {out}"
            full = wmod.set_onnx_entry(wmod.metadata_path(tmp / out.name), entry)
            names.append(entry["file"])
        names.append(wmod.metadata_path(out).name)
        with _sigint_deferred():
            for name in names:
                os.replace(tmp / name, out.parent / name)
    except OSError as exc:  # disk full, permissions: one line, not a traceback
        raise FinetuneError(_describe_write_error(out, exc)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return full


def check_output(out: Path, base_path: Path, overwrite: bool) -> None:
    """Refuse an output that is the base model, the bundled model, or exists already."""
    targets = [out, out.with_suffix(".onnx"), wmod.metadata_path(out)]
    protected = {base_path.resolve(), wmod.DEFAULT_WEIGHTS.resolve()}
    if out.suffix != ".pt":
        raise FinetuneError(f"The new weights file must end in .pt, got {out.name}")
    if out.resolve() in protected:
        raise FinetuneError(f"{out} is the base or bundled model; write the new model elsewhere")
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise FinetuneError(f"{', '.join(existing)} already exists (use --overwrite)")
    _probe_folder(out)


def _probe_folder(out: Path) -> None:
    """Refuse, before any work, a folder ``out`` cannot be written in: a file is made and
    removed in it (or in its nearest existing parent, which the run will create it in).
    ``os.access`` is not enough: it says yes to root, and on read-only mounts."""
    from dermview.io.atomic import _describe_write_error

    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise FinetuneError(f"Cannot write {out.name}: {folder} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise FinetuneError(_describe_write_error(folder / out.name, exc)) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
