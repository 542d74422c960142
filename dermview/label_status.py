"""What a saved label says about itself: its worklist status, where its mask came from, and
whether its sidecar and its image still belong to it. Reading and writing the files:
:mod:`dermview.labels`."""

from __future__ import annotations

from pathlib import Path

from dermview.errors import ImageReadError
from dermview.label_backups import BACKUP_DIRNAME
from dermview.labels import (
    DAMAGED,
    MISSING,
    OTHER_MASK,
    REVIEW_STATES,
    PathLike,
    image_sha256,
    label_paths,
    read_sidecar,
)

__all__ = ["label_mismatch", "label_source", "label_status", "label_status_meta", "saved_label_status",
           "sidecar_problem"]


def label_mismatch(image_path: PathLike, meta: dict | None, sha256: str | None = None) -> str | None:
    """Warning text when a loaded label's sidecar names another image file, else None.

    The sidecar's ``image_sha256`` is compared with the image's bytes (``sha256``: their
    hash when the caller has it, e.g. the app's, taken when the image opened): a difference
    means the image was changed after labelling, or another image with the same stem (``a.jpg``
    and ``a.png``) owns the label. No sidecar or no hash: None (nothing to check).
    """
    if not meta or not isinstance(meta.get("image_sha256"), str) or not meta["image_sha256"]:
        return None
    try:
        actual = sha256 or image_sha256(image_path)
    except ImageReadError:
        return None
    if actual == meta["image_sha256"]:
        return None
    name = Path(image_path).name
    return (f"The saved label of {name} was made for a different file (its SHA-256 does not "
            f"match): the image was changed after labelling, or another image with the same "
            f"name stem shares this label. Check the mask before saving.")


def sidecar_problem(image_path: PathLike, labels_dir: PathLike | None = None) -> str | None:
    """Why the sidecar of an image's label was not used (a sentence that says what saving
    does about it), or None: no label, no sidecar, or a sidecar that belongs to the PNG."""
    png_path, json_path = label_paths(image_path, labels_dir)
    if not png_path.is_file():
        return None
    problem = read_sidecar(png_path, json_path)[1]
    if problem == DAMAGED:
        why = "is damaged (cut off, or not a dermview sidecar)"
    elif problem == OTHER_MASK:
        why = ("was written for another mask (the PNG was replaced by another program, or a "
               "save was interrupted)")
    else:
        return None
    return (f"The sidecar {json_path.name} {why}: the mask was loaded without its review and "
            f"provenance. Saving writes a new sidecar; the old one is kept in {BACKUP_DIRNAME}/.")


def label_status(image_path: PathLike, labels_dir: PathLike | None = None) -> str:
    """See :func:`label_status_meta`, without the sidecar."""
    return label_status_meta(image_path, labels_dir)[0]


def label_status_meta(image_path: PathLike, labels_dir: PathLike | None = None
                      ) -> tuple[str, dict | None]:
    """Worklist status: ``"new"`` (no label), ``"accepted"`` (a reviewer accepted the mask),
    ``"corrected"`` (reviewed as corrected, or edited by hand), ``"rejected"`` (a reviewer
    said the mask is wrong, to be redone), ``"imported"`` (a mask brought from another tool:
    no sidecar, one written for another mask, or ``dermview import``'s, not reviewed yet;
    fine-tuning takes it as a corrected label) or ``"segmented"`` (a model mask nobody reviewed, e.g. from
    ``dermview segment``; also a label whose sidecar cannot be read); and the sidecar it read
    (:func:`~dermview.labels.read_sidecar`'s: None when there is none it could use), so that
    a caller needing both reads the files once."""
    png_path, json_path = label_paths(image_path, labels_dir)
    if not png_path.is_file():
        return "new", None
    meta, problem = read_sidecar(png_path, json_path)
    if problem == MISSING:
        return "imported", None
    # an unreadable sidecar: "segmented" (one for another mask: "imported")
    return saved_label_status({} if problem == DAMAGED else meta), meta


def label_source(meta: dict | None) -> str:
    """Where a saved label's mask came from, by its sidecar ``meta`` (None: it has none):
    ``"imported"`` (no sidecar: a mask brought from another tool; or ``dermview import``'s),
    ``"manual"``, or ``"model"`` (also a sidecar that does not say)."""
    if meta is None:
        return "imported"
    source = meta.get("source")
    return source if source in ("imported", "manual") else "model"


def saved_label_status(meta: dict | None) -> str:
    """:func:`label_status` of a label that exists, from its sidecar ``meta`` (None: it has
    none)."""
    if meta is not None and meta.get("review_state") in REVIEW_STATES[1:]:
        return str(meta["review_state"])
    if meta is not None and meta.get("edited") is True:
        return "corrected"
    return "imported" if label_source(meta) == "imported" else "segmented"
