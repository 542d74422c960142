"""Which saved labels a fine-tuning run may use, and how they are held out (no torch, no Qt).

A label is ``<labels_dir>/<stem>_segmentation.png`` with an optional
``<stem>_segmentation.json`` sidecar (:mod:`dermview.labels`). Its review state decides its
use:

- ``corrected``: the sidecar's ``review_state`` says so, or ``edited`` is true, or its ``source`` is
  ``manual`` / ``imported``, or the PNG no longer matches the sidecar's ``mask_sha256`` (edited
  by another tool), or there is no sidecar at all (a mask brought from another tool). Used for
  training *and* held out for scoring.
- ``accepted``: the sidecar's ``review_state`` is ``accepted`` (the model's mask was right as it
  was). Used for training only: scoring the base model on its own output would flatter it.
- anything else (an unreviewed batch result: ``source`` ``model``, not edited, no review; a
  mask the reviewer ``rejected``; or a ``review_state`` this module does not know): not used.

A sidecar whose ``image_sha256`` differs from the image's bytes makes the whole run refuse
(:class:`LabelMismatchError`): the label was drawn on another picture.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dermview.errors import DermviewError
from dermview.io import list_images
from dermview.label_status import saved_label_status
from dermview.labels import (
    image_sha256,
    is_rejected,
    label_paths,
    read_label_meta,
)

#: Review states a label can have for fine-tuning.
CORRECTED, ACCEPTED = "corrected", "accepted"
#: Fewer corrected labels than this: refused (k-fold needs at least two per fold).
MIN_LABELS = 6
#: Folds: every corrected label is held out once (a 5-label hold-out called a worse model
#: better in ``docs/results/bench_finetune_clinic_head_lr1e-4.json``); 3 folds below :data:`KFOLD_5_MIN`
#: labels, else 5.
KFOLD, KFOLD_5_MIN = 3, 15


class FinetuneError(DermviewError):
    """A fine-tuning run cannot start: too few labels, wrong folder, bad output path."""


class LabelMismatchError(FinetuneError):
    """A label's sidecar names another image (its image SHA-256 differs)."""


@dataclass(frozen=True)
class LabelledImage:
    """One image with its label.

    Attributes:
        image: the image file.
        label: the label PNG (0/255, image size).
        image_sha256: SHA-256 of the image bytes (checked against the sidecar, if any).
        label_sha256: SHA-256 of the label PNG bytes.
        review: :data:`CORRECTED` or :data:`ACCEPTED`.
        has_sidecar: whether a readable sidecar was found.
    """

    image: Path
    label: Path
    image_sha256: str
    label_sha256: str
    review: str
    has_sidecar: bool

    def record(self) -> dict[str, object]:
        """JSON-ready provenance of this label (for the new model's metadata)."""
        return {"image": self.image.name, "image_sha256": self.image_sha256,
                "label": self.label.name, "label_sha256": self.label_sha256,
                "review": self.review, "sidecar": self.has_sidecar}


def _sha256_bytes(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def review_state(meta: dict | None, label_sha256: str) -> str | None:
    """:data:`CORRECTED`, :data:`ACCEPTED` or None (not to be used) for a label's sidecar
    dict (None = no sidecar) and the SHA-256 of its PNG bytes; see the module docstring."""
    if meta is None:
        return CORRECTED
    review = meta.get("review_state")
    if isinstance(review, str) and review.lower() in (CORRECTED, ACCEPTED):
        return review.lower()
    if isinstance(review, str) and review:
        return None  # a state this module does not know
    recorded = meta.get("mask_sha256")
    if (meta.get("edited") is True or meta.get("source") in ("manual", "imported")
            or (isinstance(recorded, str) and recorded and recorded != label_sha256)):
        return CORRECTED
    return None


@dataclass(frozen=True)
class LabelSet:
    """The labels found for a folder of images.

    Attributes:
        items: usable labels, sorted by image name.
        unused: ``(label name, reason)`` of labels found but not used.
    """

    items: tuple[LabelledImage, ...]
    unused: tuple[tuple[str, str], ...]

    @property
    def corrected(self) -> list[int]:
        """Indices (into :attr:`items`) of the corrected labels."""
        return [i for i, it in enumerate(self.items) if it.review == CORRECTED]

    @property
    def accepted(self) -> list[int]:
        """Indices of the accepted labels (training only)."""
        return [i for i, it in enumerate(self.items) if it.review == ACCEPTED]


def collect_labels(image_dir: str | Path, labels_dir: str | Path | None = None) -> LabelSet:
    """Find the labels of the images directly in ``image_dir``.

    Args:
        image_dir: folder of images (``.jpg``, ``.png``, ...).
        labels_dir: folder of the labels; default ``<image_dir>/labels`` (where the app saves).

    Raises:
        FinetuneError: no such folder, or fewer than :data:`MIN_LABELS` corrected labels.
        LabelMismatchError: a sidecar's image SHA-256 differs from its image's bytes.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FinetuneError(f"{image_dir} is not a folder of images")
    images = list_images(image_dir)
    folder = Path(labels_dir) if labels_dir is not None else image_dir / "labels"
    items: list[LabelledImage] = []
    unused: list[tuple[str, str]] = []
    mismatched: list[str] = []
    for img in images:
        found = _label_state(img, folder)
        if found is None:
            continue
        png, meta, label_sha, state = found
        if state is None:
            unused.append((png.name, "rejected by the reviewer (to be redone)" if is_rejected(meta)
                           else "not reviewed (a model mask nobody corrected or accepted)"))
            continue
        sha = image_sha256(img)
        recorded = (meta or {}).get("image_sha256")
        if isinstance(recorded, str) and recorded and recorded != sha:
            mismatched.append(img.name)
            continue
        items.append(LabelledImage(img, png, sha, label_sha, state, meta is not None))
    if mismatched:
        names = ", ".join(mismatched[:3]) + (f" and {len(mismatched) - 3} more"
                                             if len(mismatched) > 3 else "")
        raise LabelMismatchError(
            f"The labels of {names} were made for different image files (the SHA-256 in their "
            f"sidecars does not match the images in {image_dir}): the images were changed after "
            "labelling, or other images share their names. Nothing was trained; fix or remove "
            "those labels first."
        )
    result = LabelSet(tuple(items), tuple(unused))
    n = len(result.corrected)
    if n < MIN_LABELS:
        where = folder if folder.is_dir() else f"{folder} (missing)"
        # the labels not used, by why: "found 0" alone left 4 model masks nobody reviewed unsaid
        why = Counter(reason for _name, reason in unused)
        raise FinetuneError(
            f"Fine-tuning needs at least {MIN_LABELS} corrected labels of images in "
            f"{image_dir}; found {n} in {where}"
            + (f" ({len(result.accepted)} accepted ones are used for training only)"
               if result.accepted else "")
            + ("; not used: " + ", ".join(f"{k} {reason}" for reason, k in why.items())
               if why else "")
            + ". Correct and save more labels first."
        )
    return result


def _label_state(image: Path, folder: Path) -> tuple[Path, dict | None, str, str | None] | None:
    """``(label PNG, sidecar or None, label SHA-256, review state or None)`` of ``image``'s
    label in ``folder``; ``None`` when it has no label."""
    png, _ = label_paths(image, folder)
    if not png.is_file():
        return None
    meta = read_label_meta(image, folder)
    label_sha = _sha256_bytes(png)
    return png, meta, label_sha, review_state(meta, label_sha)


def label_summary(image_dir: str | Path, labels_dir: str | Path | None = None) -> str:
    """One line saying which labels :func:`collect_labels` would find for ``image_dir`` and
    whether they are enough, e.g. ``"3 corrected, 2 accepted, 4 unreviewed labels: at least 6
    corrected ones are needed"``. Reads the sidecars and label PNGs only (no image hashing), so
    it is quick enough to show while a folder is chosen."""
    return summarise_labels(image_dir, labels_dir)[0]


def summarise_labels(image_dir: str | Path, labels_dir: str | Path | None = None) -> tuple[str, bool]:
    """(the line of :func:`label_summary`, whether there are enough corrected labels to
    start)."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        return f"{image_dir} is not a folder", False
    folder = Path(labels_dir) if labels_dir is not None else image_dir / "labels"
    counts = {CORRECTED: 0, ACCEPTED: 0, None: 0, "rejected": 0}
    imported = 0  # corrected ones brought from other tools (the worklist's "imported")
    for img in list_images(image_dir):
        found = _label_state(img, folder)
        if found is not None:
            counts["rejected" if found[3] is None and is_rejected(found[1]) else found[3]] += 1
            imported += found[3] == CORRECTED and saved_label_status(found[1]) == "imported"
    parts = [f"{counts[CORRECTED]} corrected" + (f" ({imported} imported)" if imported else ""),
             f"{counts[ACCEPTED]} accepted"]
    if counts[None]:
        parts.append(f"{counts[None]} unreviewed (not used)")
    if counts["rejected"]:
        parts.append(f"{counts['rejected']} rejected (not used)")
    line = ", ".join(parts) + " label" + ("" if sum(counts.values()) == 1 else "s")
    if counts[CORRECTED] < MIN_LABELS:
        return f"{line}: at least {MIN_LABELS} corrected ones are needed", False
    return f"{line}: enough to start", True


def holdout_plan(n: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """K-fold over ``n`` corrected labels: ``[(train, held_out), ...]`` of index lists, every
    label held out exactly once (:data:`KFOLD` folds, 5 from :data:`KFOLD_5_MIN` labels)."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    k = 5 if n >= KFOLD_5_MIN else KFOLD
    folds = [sorted(order[i::k]) for i in range(k)]
    return [(sorted(set(order) - set(f)), f) for f in folds]


def unlabelled_images(image_dir: str | Path, labels: LabelSet) -> list[Path]:
    """The images directly in ``image_dir`` that are not among ``labels``' items (sorted)."""
    used = {it.image.resolve() for it in labels.items}
    return [p for p in list_images(Path(image_dir)) if p.resolve() not in used]
