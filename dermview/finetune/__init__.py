"""Fine-tuning the segmenter on a user's saved labels (Qt-free; training runs on torch).

:func:`finetune` is the whole run (``dermview finetune`` calls it);
:mod:`~dermview.finetune.collect` finds the usable labels (no torch needed).
"""

from dermview.finetune.collect import (
    FinetuneError,
    LabelMismatchError,
    LabelSet,
    collect_labels,
    holdout_plan,
)

__all__ = ["FinetuneError", "LabelMismatchError", "LabelSet", "collect_labels", "holdout_plan",
           "FinetuneCancelled", "FinetuneReport", "FinetuneSettings", "finetune", "unavailable"]

#: Why an installation without PyTorch (the packaged app) cannot fine-tune.
NO_TORCH = ("improving the model trains it with PyTorch, which this installation does not have "
            "(the packaged app runs the models with ONNX Runtime only); install dermview from "
            "source to fine-tune (INSTALL.md: pip install torch, then pip install -e .)")


def unavailable() -> str | None:
    """Why this installation cannot fine-tune (:data:`NO_TORCH`), or None; asked before any
    training process starts (without torch it died with a traceback). Imports nothing."""
    import importlib.util

    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else NO_TORCH


def __getattr__(name: str):  # torch-importing parts load on first use
    if name in ("FinetuneCancelled", "FinetuneReport", "FinetuneSettings"):
        from dermview.finetune import engine

        return getattr(engine, name)
    if name == "finetune":
        from dermview.finetune.run import finetune

        return finetune
    raise AttributeError(name)
