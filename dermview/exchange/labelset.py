"""The labelled images of a folder, and the label attributes other tools receive."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermview.errors import DermviewError, MaskError
from dermview.io import load_mask
from dermview.labels import is_rejected, label_paths, read_label_meta

__all__ = ["LabelledImage", "labelled_images", "distinct_targets", "label_attributes", "LESION"]

#: The one category / label name dermview exchanges.
LESION = "lesion"


@dataclass(frozen=True)
class LabelledImage:
    """An image with its saved label: ``mask`` ``bool`` ``(H, W)``, ``meta`` the sidecar dict
    (None when it has none)."""

    image: Path
    mask: np.ndarray
    meta: dict[str, Any] | None


#: What ``labelled_images`` reports for a mask the reviewer rejected (left out on purpose).
REJECTED_LEFT_OUT = "the reviewer rejected this mask (to be redone): left out"


def labelled_images(images: Iterable[Path], labels_dir: Path | None,
                    report: Callable[[str, str], None]) -> Iterator[LabelledImage]:
    """Yield each image of ``images`` that has a label in ``labels_dir`` (default
    ``<image folder>/labels``), one at a time (masks of a large folder are never all in
    memory). Images without a label are skipped silently; unusable labels, and masks a
    reviewer rejected (wrong, to be redone: nobody's ground truth), are passed to
    ``report(name, problem)`` and skipped."""
    for image in images:
        png, _ = label_paths(image, labels_dir)
        if not png.is_file():
            continue
        try:
            mask = load_mask(png)
            meta = read_label_meta(image, labels_dir)
            size = (meta or {}).get("image_size")
            if isinstance(size, list) and len(size) == 2 and tuple(size) != (mask.shape[1], mask.shape[0]):
                raise MaskError(f"{png.name} is {mask.shape[1]}×{mask.shape[0]} pixels but its "
                                f"sidecar says the image is {size[0]}×{size[1]}")
        except DermviewError as exc:
            report(str(image), str(exc))
            continue
        if is_rejected(meta):
            report(str(image), REJECTED_LEFT_OUT)
            continue
        yield LabelledImage(image, mask, meta)


def _review_state(meta: dict[str, Any]) -> str:
    review = meta.get("review_state")
    return review if isinstance(review, str) and review else "unreviewed"


def _confidence(meta: dict[str, Any]) -> float | None:
    value = meta.get("confidence", meta.get("estimated_jaccard"))
    if isinstance(value, dict):
        value = value.get("estimated_jaccard", value.get("value"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def distinct_targets(items: Iterable[LabelledImage], targets_of: Callable[[Path], list[Path]],
                     report: Callable[[str, str], None]) -> Iterator[LabelledImage]:
    """The labelled images of ``items`` whose export files (``targets_of(image)``) take no
    name of a file written before them in this export, ignoring letter case; the others go to
    ``report(name, problem)``. ``a.jpg`` and ``a.png`` make one ``a.json`` (the second replaced
    the first with ``--overwrite``), ``Case.jpg`` and ``case.jpg`` two names that are one file
    on Windows and macOS."""
    seen: dict[str, Path] = {}
    for item in items:
        names = [t.name.casefold() for t in targets_of(Path(item.image))]
        other = next((seen[n] for n in names if n in seen), None)
        if other is not None:
            report(str(item.image), f"its export file would take the name of {other.name}'s (the "
                   "names differ only in letter case or suffix): rename one of the two images")
            continue
        seen.update(dict.fromkeys(names, Path(item.image)))
        yield item


def label_attributes(meta: dict[str, Any] | None) -> dict[str, Any]:
    """What a label's sidecar says, for other tools: ``review_state`` (``accepted`` /
    ``corrected`` / ``rejected`` by a reviewer, else ``unreviewed``), ``reviewed_by`` (who gave
    that verdict), ``source``, ``edited`` (corrected by hand), the model's name and SHA-256, the
    reviewer's ``comment`` (and ``comment_by`` when someone else wrote it), ``confidence`` (estimated Jaccard, 0-1) when the sidecar holds
    one and the mask was not edited by hand (it estimates the model's mask), and ``imported_from`` (the format, file and attributes of the file a label was
    imported from, as ``dermview import`` recorded them) for an imported label."""
    meta = meta or {}
    out: dict[str, Any] = {
        "review_state": _review_state(meta),
        "source": str(meta.get("source", "unknown")),
        "edited": meta.get("edited") is True,
    }
    if out["review_state"] != "unreviewed":
        # the colleague taking the export sees who accepted or corrected each mask, as the
        # case report does (older sidecars: who saved the verdict)
        who = meta.get("reviewed_by") or meta.get("user")
        if isinstance(who, str) and who:
            out["reviewed_by"] = who
    if meta.get("model_name"):
        out["model_name"] = str(meta["model_name"])
        out["model_sha256"] = str(meta.get("model_sha256", ""))
    confidence = _confidence(meta)
    if confidence is not None and not out["edited"]:
        # the model's estimate for its own mask: a mask corrected by hand is not that mask
        out["confidence"] = confidence
    comment = meta.get("review_comment")
    if isinstance(comment, str) and comment:
        out["comment"] = comment
        by = meta.get("comment_by")  # a colleague's comment is not the reviewer's (trial S16A)
        if isinstance(by, str) and by:
            out["comment_by"] = by
    origin = meta.get("imported_from")
    if isinstance(origin, dict):
        # a label imported here and not reviewed since is exported with what its source said
        # (exported again it read only "imported, unreviewed": the first tool's verdict lost)
        out["imported_from"] = origin
    return out


_FORMAT_NAMES = {"coco": "COCO", "labelme": "labelme", "dicom-seg": "DICOM SEG"}


def imported_from_text(meta: dict[str, Any] | None) -> str:
    """Where an imported label came from, in words, by its sidecar's ``imported_from``
    (written by ``dermview import``): ``"from the COCO file day1.json, accepted there by Ana
    Ruiz"``; ``"from another tool"`` when the sidecar does not say (a bare mask file)."""
    origin = (meta or {}).get("imported_from")
    if not isinstance(origin, dict):
        return "from another tool"
    fmt = _FORMAT_NAMES.get(str(origin.get("format")), str(origin.get("format") or "another"))
    text = f"from the {fmt} file {origin.get('file', '?')}"
    attrs = origin.get("attributes") if isinstance(origin.get("attributes"), dict) else {}
    state = attrs.get("review_state")
    if state in ("accepted", "corrected", "rejected"):
        by = attrs.get("reviewed_by")
        text += f", {state} there" + (f" by {by}" if by else "")
    elif state == "unreviewed":
        text += ", not reviewed there"
    return text

