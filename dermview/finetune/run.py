"""One fine-tuning run from a folder of labelled images to a new weights file (see
:func:`finetune`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dermview.finetune.collect import (
    FinetuneError,
    LabelSet,
    collect_labels,
    holdout_plan,
    unlabelled_images,
)
from dermview.finetune.engine import (
    JUDGE_CONFIDENCE,
    JUDGE_MARGIN,
    FinetuneCancelled,
    FinetuneReport,
    FinetuneSettings,
    Progress,
    check_output,
    clock,
    in_memory_segmenter,
    judge,
    network_arrays,
    network_images,
    score_images,
    summarise,
    write_model,
)
from dermview.finetune.train import (
    make_views,
    normalise,
    start_model,
    time_one_step,
    train_run,
)
from dermview.labels import utc_now
from dermview.model import weights as wmod
from dermview.model.inference import Segmenter

#: Keys of the base model's metadata that describe the base run, not the new model.
_PARENT_ONLY = ("format", "sha256", "metrics", "training", "name", "parent", "finetune")


def _plan_steps(settings: FinetuneSettings, deadline: float, runs: int, step_s: float,
                score_s: float, now: Callable[[], float] = time.monotonic) -> int:
    """Steps per run that fit before ``deadline`` after ``score_s`` seconds of scoring, a few
    seconds of set-up per run and of writing; :class:`FinetuneError` when fewer than
    ``min_steps`` fit."""
    t = now()
    reserve = 1.3 * score_s + 25.0 + 3.0 * runs  # scoring the new model, set-up, ONNX export
    left = deadline - t - reserve
    steps = min(settings.max_steps, int(left / max(runs * step_s, 1e-6)))
    if steps < settings.min_steps:
        spent = t - (deadline - 60.0 * settings.time_limit_min)
        need = spent + reserve + settings.min_steps * runs * step_s
        raise FinetuneError(
            f"The time limit of {settings.time_limit_min:g} min leaves room for {max(steps, 0)} "
            f"training steps per run ({runs} runs, {step_s:.1f} s per step; at least "
            f"{settings.min_steps} are needed): preparing and scoring the base model took "
            f"{spent:.0f} s, scoring the new one and writing it need about {reserve:.0f} s. "
            f"Allow more time: --time-limit {max(math.ceil(need / 60.0), 1)} or more."
        )
    return steps


def _metadata(seg: Segmenter, base_path: Path, out: Path, labels: LabelSet,
              folds: list[list[str]], scores: dict[str, Any], improved: bool, verdict: str,
              settings: FinetuneSettings, steps: int, seconds: float, command: str,
              image_dir: Path, labels_dir: Path | None) -> dict[str, Any]:
    meta = {k: v for k, v in seg.meta.items() if k not in _PARENT_ONLY}
    new = scores["new"]
    meta.update({
        "name": out.stem,
        "user_trained": True,
        "parent": {"name": seg.name, "file": base_path.name, "sha256": seg.weights_sha256},
        "training": {"kind": "finetune", "command": command, "settings": asdict(settings),
                     "steps_per_run": steps, "device": seg.device, "seconds": round(seconds, 1),
                     "finished": utc_now()},
        "finetune": {
            # absolute: "dermview finetune ." wrote "." (the Models list then named no folder)
            "image_dir": str(image_dir.resolve()),
            "labels_dir": str((labels_dir or image_dir / "labels").resolve()),
            "labels": [it.record() for it in labels.items],
            "unused": [{"label": n, "reason": r} for n, r in labels.unused],
            "holdout": {"scheme": f"{len(folds)}-fold" if steps else "no label trained the model",
                        "folds": folds,
                        "final_model": "all labels" if steps else "no label trains it; all score it",
                        "judge": {"margin": JUDGE_MARGIN, "confidence": JUDGE_CONFIDENCE}},
            "scores": scores, "improved": improved, "verdict": verdict,
        },
        "metrics": {"split": "held-out labels", "dice": new["dice"], "jaccard": new["jaccard"],
                    "thresholded_jaccard": new["thresholded_jaccard"],
                    "failures": new["failures"], "n": new["n"]},
    })
    return meta


#: At most this many unlabelled images of the folder join the labelled ones for AdaBN.
BN_EXTRA_MAX = 200


def finetune(image_dir: str | Path, out: str | Path, labels_dir: str | Path | None = None,
             base: str | Path | None = None, settings: FinetuneSettings | None = None,
             device: str = "auto", overwrite: bool = False, progress: Progress | None = None,
             cancel: Callable[[], bool] | None = None, command: str = "") -> FinetuneReport:
    """Fine-tune ``base`` (default: the bundled model) on the labels of ``image_dir`` and write
    ``out`` (``.pt``) with its ``.json`` metadata.

    The corrected labels are held out in folds (:func:`holdout_plan`); base and new model are
    scored on the same held-out labels; the report says whether the new model is better
    (:func:`judge`). The weights are written either way, with that verdict in the metadata.

    Args:
        progress: called with ``(done, total, phase)`` after every step and scored image.
        cancel: polled before every step; True cancels (:class:`FinetuneCancelled`).
        command: the command line, recorded in the metadata.

    Raises:
        FinetuneError: too few labels, bad output path, time limit too short.
        LabelMismatchError: labels made for other image files.
        WeightsError, DeviceError: as :meth:`Segmenter.load`.
        FinetuneCancelled: ``cancel()`` said so. KeyboardInterrupt passes through. In every
        failure nothing is written.
    """
    settings = settings or FinetuneSettings()
    now = clock(settings)
    t0 = now()
    deadline = t0 + 60.0 * settings.time_limit_min
    image_dir, out = Path(image_dir), Path(out)
    base_path = Path(base) if base is not None else wmod.DEFAULT_WEIGHTS
    check_output(out, base_path, overwrite)
    labels = collect_labels(image_dir, labels_dir)
    seg = Segmenter.load(base_path, device, engine="torch")  # training needs the module
    items = labels.items
    corr, acc = labels.corrected, labels.accepted
    plan = holdout_plan(len(corr), settings.seed)
    kfold = len(plan) > 1
    held = [corr[i] for _, h in plan for i in h]
    runs = len(plan) + kfold
    # a first estimate of the work (refined once a step has been timed)
    state = {"done": 0, "total": 2 * len(held) + len(items) + runs * settings.max_steps,
             "phase": "preparing"}

    def tick(*_: Any) -> None:
        if cancel is not None and cancel():  # also while scoring (a run without steps)
            raise FinetuneCancelled("Fine-tuning was cancelled; nothing was written.")
        state["done"] += 1
        if progress is not None:
            progress(state["done"], max(state["total"], state["done"]), str(state["phase"]))

    images = masks = None  # the network's inputs: only training and AdaBN read them
    if settings.max_steps != 0 or settings.bn_adapt > 0:
        if progress is not None:
            progress(0, 0, "preparing the labelled images")
        images, masks = network_arrays([it.image for it in items], seg,
                                       [it.label for it in items])
    x = None
    if settings.bn_adapt > 0:  # AdaBN sees the labelled and the unlabelled images
        state["phase"] = "adapting the batch-norm statistics"
        extra = unlabelled_images(image_dir, labels)[:BN_EXTRA_MAX]
        x = torch.cat([normalise(seg, images)]
                      + ([normalise(seg, network_images(extra, seg))] if extra else []))
    start = start_model(seg, settings.colour_norm, settings.bn_adapt, x)
    del x
    cache: dict[Path, Any] = {}
    t_score = now()
    state["phase"] = "scoring the base model"
    base_rows = score_images(seg, [items[i].image for i in held], [items[i].label for i in held],
                             cache, tick)
    score_s = now() - t_score
    new_rows: list[dict[str, float]] = []
    model = None
    steps = 0
    if settings.max_steps == 0:  # no label makes the new model: every label scores it
        state["phase"] = "scoring the new model"
        state["total"] = state["done"] + len(held)
        model = start.model
        new_rows = score_images(start, [items[i].image for i in held],
                                [items[i].label for i in held], cache, tick)
    else:
        state["phase"] = "augmenting the labelled images"
        views = make_views(start, images, masks, settings.layers, settings.seed, tick,
                           colour=settings.colour_aug)
        step_s = time_one_step(start, views, settings)
        steps = _plan_steps(settings, deadline, runs, step_s, score_s, now)
        state["total"] = state["done"] + runs * steps + len(held)
        for k, (train_idx, held_idx) in enumerate(plan):
            state["phase"] = f"training {k + 1}/{runs}"
            train = [corr[i] for i in train_idx] + acc
            model = train_run(start, views, views.rows(train), settings, steps, deadline, tick,
                              cancel)
            state["phase"] = f"scoring {k + 1}/{len(plan)}"
            fold_seg = in_memory_segmenter(model, start.meta, seg.device)
            new_rows += score_images(fold_seg, [items[corr[i]].image for i in held_idx],
                                     [items[corr[i]].label for i in held_idx], cache, tick)
        if kfold:
            state["phase"] = f"training {len(plan) + 1}/{len(plan) + 1} (all labels)"
            model = train_run(start, views, views.rows(list(range(len(items)))), settings,
                              steps, deadline, tick, cancel)
        del views
    del images, masks
    assert model is not None
    base_s, new_s = summarise(base_rows), summarise(new_rows)
    improved, verdict = judge(base_rows, new_rows)
    per_image = [{"image": items[i].image.name, "base": b, "new": n}
                 for i, b, n in zip(held, base_rows, new_rows, strict=True)]
    scores = {"base": base_s, "new": new_s, "per_image": per_image}
    folds = ([[items[corr[i]].image.name for i in h] for _, h in plan] if steps
             else [[items[i].image.name for i in held]])
    meta = _metadata(seg, base_path, out, labels, folds, scores, improved, verdict, settings,
                     steps, now() - t0, command, image_dir,
                     Path(labels_dir) if labels_dir is not None else None)
    meta["config"] = start.meta["config"]  # with the colour standardisation, if any
    full = write_model(model, out, meta)
    return FinetuneReport(out=out, meta=full, base_scores=base_s, new_scores=new_s,
                          improved=improved, verdict=verdict, seconds=now() - t0,
                          per_image=per_image)
