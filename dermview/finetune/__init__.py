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
           "FinetuneCancelled", "FinetuneReport", "FinetuneSettings", "finetune"]


def __getattr__(name: str):  # torch-importing parts load on first use
    if name in ("FinetuneCancelled", "FinetuneReport", "FinetuneSettings"):
        from dermview.finetune import engine

        return getattr(engine, name)
    if name == "finetune":
        from dermview.finetune.run import finetune

        return finetune
    raise AttributeError(name)
