"""Label policy (Qt-free): which labels folder an image saves to, where its reference
(ground-truth) mask is found. Pure functions of paths, used by the app and testable alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dermview.labels import PathLike
from dermview.paths import LABEL_SUFFIX

__all__ = ["labels_dir_for", "reference_folder", "find_reference"]


def labels_dir_for(image_path: PathLike, chosen: PathLike | None, protected: PathLike,
                   fallback: PathLike) -> Path | None:
    """Labels folder an image saves to (policy of the app).

    Args:
        image_path: the image.
        chosen: the folder the user chose (wins when set).
        protected: a read-only tree (the program's resources) whose images must never get a
            ``labels/`` folder beside them.
        fallback: folder used for images inside ``protected``.

    Returns:
        ``chosen``; else ``fallback`` for images under ``protected``; else ``None``
        (= ``labels/`` beside the image, see :func:`label_paths`).
    """
    if chosen is not None:
        return Path(chosen)
    try:
        Path(image_path).resolve().relative_to(Path(protected).resolve())
    except ValueError:
        return None
    return Path(fallback)


def reference_folder(image_path: PathLike, reference_dir: PathLike | None,
                     labels_dir: PathLike | None) -> Path | None:
    """Folder searched for an image's reference (ground-truth) mask.

    The chosen ``reference_dir``; otherwise the image's own folder (ISIC layout:
    ``<stem>_segmentation.png`` beside the image), unless labels are saved there too (then a
    saved label would be taken for the reference): None.
    """
    if reference_dir is not None:
        return Path(reference_dir)
    image_path = Path(image_path)
    labels = Path(labels_dir) if labels_dir is not None else image_path.parent / "labels"
    return None if labels == image_path.parent else image_path.parent


def find_reference(image_path: PathLike, folder: PathLike | None) -> Path | None:
    """The reference mask file of an image in ``folder``, or None.

    Looks for ``<stem>_segmentation.png``, and, when ``folder`` is not the image's own folder,
    also ``<stem>_mask.png`` and ``<stem>.png``. The image file itself never counts.
    """
    if folder is None:
        return None
    image_path, folder = Path(image_path), Path(folder)
    stem = image_path.stem
    names = [f"{stem}{LABEL_SUFFIX}.png"]
    if folder != image_path.parent:
        names += [f"{stem}_mask.png", f"{stem}.png"]
    for name in names:
        cand = folder / name
        if cand.is_file() and cand != image_path:
            return cand
    return None


def load_reference(image_path: PathLike, folder: PathLike | None, shape: tuple[int, int]
                   ) -> tuple[np.ndarray | None, Path | None, str]:
    """The reference mask of an image (:func:`find_reference`) read at ``shape`` ``(H, W)``:
    ``(bool mask, its file, "")``; ``(None, None, why)`` when it cannot be read or has another
    size (a bad reference must not block the review); ``(None, None, "")`` without one."""
    from dermview.io import load_mask

    cand = find_reference(image_path, folder)
    if cand is None:
        return None, None, ""
    try:
        return load_mask(cand, shape=shape), cand, ""
    except Exception as exc:  # noqa: BLE001 - any unreadable file: reported, not raised
        return None, None, str(exc)
