"""Label files: where they go, their provenance sidecar, backups, autosave and recovery.

A label for ``<folder>/<stem>.<ext>`` is ``<labels_dir>/<stem>_segmentation.png`` (single-channel
0/255 PNG at image resolution, ISIC naming) plus ``<stem>_segmentation.json`` (provenance, see
:class:`LabelMeta`). ``labels_dir`` defaults to ``<folder>/labels``. Every write is atomic (temp
file + rename, :func:`dermview.io.atomic_write_bytes`); saving over a label first keeps the old
pair in ``<labels_dir>/.backup/``. A failed save raises :class:`~dermview.errors.WriteError`
and leaves the previous label as it was. Autosave and crash recovery: :mod:`dermview.recovery`.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dermview import __version__
from dermview.errors import ImageReadError, MaskError, WriteError
from dermview.io import atomic_write_bytes, encode_mask_png, json_default, load_mask
from dermview.label_backups import (
    BACKUP_DIRNAME,
    MAX_BACKUPS,
    backups_of,
    keep_backup,
    prune_backups,
)
from dermview.paths import LABEL_SUFFIX

__all__ = [
    "LABEL_SUFFIX",
    "BACKUP_DIRNAME",
    "MAX_BACKUPS",
    "LabelMeta",
    "label_paths",
    "login_name",
    "image_sha256",
    "save_label",
    "load_label",
    "read_label_meta",
    "read_sidecar",
    "list_backups",
    "utc_now",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Identifies the sidecar format.
SIDECAR_FORMAT = "dermview-label"
SIDECAR_VERSION = 1
#: Age (s) after which a leftover temporary file of an interrupted write is deleted.
STALE_TEMP_SECONDS = 3600

#: Values of :attr:`LabelMeta.review_state`.
REVIEW_STATES = (None, "accepted", "corrected", "rejected")


def is_rejected(meta: dict | None) -> bool:
    """A label's sidecar ``meta`` (None: none) says a reviewer rejected the mask (wrong, to
    be redone: never trained on, exported or measured)."""
    return (meta or {}).get("review_state") == "rejected"


def utc_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds, e.g. ``2026-01-31T12:00:00.000Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, ensure_ascii=False, default=json_default)


def login_name() -> str:
    """The operating system's login name ("unknown" where there is none)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers/services
        return "unknown"


def label_paths(image_path: PathLike, labels_dir: PathLike | None = None) -> tuple[Path, Path]:
    """``(png, json)`` label paths for an image.

    Args:
        image_path: the image file (need not exist).
        labels_dir: folder for labels; default ``<image folder>/labels``.
    """
    image_path = Path(image_path)
    folder = Path(labels_dir) if labels_dir is not None else image_path.parent / "labels"
    base = image_path.stem + LABEL_SUFFIX
    return folder / f"{base}.png", folder / f"{base}.json"


def image_sha256(path: PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks.

    Raises:
        ImageReadError: the file cannot be read.
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise ImageReadError(f"Image not found: {path}") from None
    except OSError as exc:
        raise ImageReadError(f"Cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


@dataclass
class LabelMeta:
    """Provenance of a label, stored as the JSON sidecar.

    Attributes:
        image_sha256: SHA-256 of the source image file.
        image_size: ``(width, height)`` of the image in pixels.
        model_name: name of the model that produced the first mask ("" for a manual label).
        model_sha256: SHA-256 of the weights file ("" when no model was used).
        preprocess_params: preprocessing parameters used (``PreprocessParams`` as a dict).
        threshold: probability threshold in [0, 1] used to binarise the model output.
        edited: whether the mask was corrected by hand.
        edited_pixels: pixels changed by hand relative to the model mask.
        edit_operations: number of manual edit operations (strokes, fills, ...).
        user: who saved it: the app's reviewer name (Review panel) or, without one, the login
            name (a reviewer name different from the login adds ``login`` to the sidecar).
        created, modified: ISO-8601 UTC timestamps (``created`` of an overwritten label is
            kept by :func:`save_label`).
        app_version: dermview version.
        source: ``"model"``, ``"manual"`` or ``"imported"``.
        mask_sha256: SHA-256 of the PNG bytes, set by :func:`save_label` (detects a PNG and
            sidecar that do not belong together).
        lesion_pixels: number of lesion pixels, set by :func:`save_label`.
        review_state: a reviewer's verdict: ``"accepted"`` (the model's mask is right as it
            is), ``"corrected"`` (corrected by hand), ``"rejected"`` (the mask is wrong and was
            not fixed: to be redone; never used for fine-tuning nor exported), or ``None`` (not
            reviewed, e.g. a batch result of ``dermview segment``).
        review_comment: the reviewer's free-text comment.
        extras: further top-level sidecar keys (written flat beside the others; unknown keys
            of a sidecar that is read land here), e.g. lesion measurements.
        engine: inference engine that ran the model (``"onnx"``, ``"torch"``; "" = none).
    """

    image_sha256: str
    image_size: tuple[int, int]
    model_name: str = ""
    model_sha256: str = ""
    preprocess_params: dict[str, Any] | None = None
    threshold: float | None = None
    edited: bool = False
    edited_pixels: int = 0
    edit_operations: int = 0
    user: str = field(default_factory=login_name)
    created: str = field(default_factory=utc_now)
    modified: str = field(default_factory=utc_now)
    app_version: str = __version__
    source: str = "model"
    mask_sha256: str | None = None
    lesion_pixels: int | None = None
    review_state: str | None = None
    review_comment: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    engine: str = ""

    def __post_init__(self) -> None:
        if self.source not in ("model", "manual", "imported"):
            raise ValueError(f"source must be 'model', 'manual' or 'imported', got {self.source!r}")
        if self.review_state not in REVIEW_STATES:
            raise ValueError(f"review_state must be one of {REVIEW_STATES}, got "
                             f"{self.review_state!r}")
        w, h = self.image_size
        self.image_size = (int(w), int(h))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``image_size`` as a list, plus format identification)."""
        d = asdict(self)
        extras = d.pop("extras")
        d["image_size"] = list(self.image_size)
        head = {"format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION}
        return {**head, **d, **{k: v for k, v in extras.items() if k not in d and k not in head}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelMeta:
        """Inverse of :meth:`to_dict`; unknown keys go to ``extras``, missing ones take
        defaults."""
        known = {f.name for f in fields(cls)} - {"extras"}
        kwargs: dict[str, Any] = {k: v for k, v in d.items() if k in known}
        kwargs["extras"] = {k: v for k, v in d.items()
                            if k not in known and k not in ("format", "format_version")}
        if "image_size" in kwargs:
            kwargs["image_size"] = tuple(kwargs["image_size"])
        return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Saving and loading labels


def _mask_png(mask: np.ndarray) -> tuple[bytes, int]:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise MaskError(f"A mask must be 2-D (height × width), got shape {arr.shape}")
    fg = arr != 0
    return encode_mask_png(fg), int(np.count_nonzero(fg))


def _read_json(path: Path) -> dict[str, Any] | None:
    """Sidecar dict, or None when missing or unreadable (a warning is logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable label sidecar %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("Ignoring label sidecar %s: not a JSON object", path)
        return None
    return data


#: Why :func:`read_sidecar` gives no sidecar: none on disk, unreadable, or written for
#: another mask than the PNG's.
MISSING, DAMAGED, OTHER_MASK = "missing", "damaged", "other mask"


def read_sidecar(png_path: Path, json_path: Path) -> tuple[dict[str, Any] | None, str]:
    """The sidecar of the label PNG ``png_path``: ``(dict, "")``, or ``(None, why)`` with
    ``why`` :data:`MISSING`, :data:`DAMAGED` or :data:`OTHER_MASK` (its ``mask_sha256`` is not
    the PNG's: the PNG was replaced by another tool, or a save was cut off between the PNG and
    its sidecar), so that a mask is never shown with a verdict, reviewer or model that were
    given to a different one. One read of each file."""
    if not json_path.is_file():
        return None, MISSING
    meta = _read_json(json_path)
    if meta is None:
        return None, DAMAGED
    recorded = meta.get("mask_sha256")
    if not isinstance(recorded, str) or not recorded:
        return meta, ""
    try:
        actual = hashlib.sha256(png_path.read_bytes()).hexdigest()
    except OSError:
        return meta, ""
    if actual != recorded:
        log.warning("Ignoring label sidecar %s: it was written for another mask than %s",
                    json_path, png_path.name)
        return None, OTHER_MASK
    return meta, ""


def list_backups(image_path: PathLike, labels_dir: PathLike | None = None) -> list[Path]:
    """Backed-up label PNGs of an image, oldest first (each may have a ``.json`` beside it)."""
    return backups_of(label_paths(image_path, labels_dir)[0])


def sweep_stale_temp(folder: Path, prefix: str) -> None:
    """Delete ``<prefix>*.tmp`` files older than an hour: leftovers of a killed atomic write
    (a save in progress in another window is younger and is left alone)."""
    limit = time.time() - STALE_TEMP_SECONDS
    for tmp in folder.glob(f"{glob.escape(prefix)}*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < limit:
                tmp.unlink()


def _without_modified(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {k: v for k, v in d.items() if k != "modified"}


def save_label(
    image_path: PathLike,
    mask: np.ndarray,
    meta: LabelMeta,
    labels_dir: PathLike | None = None,
) -> tuple[Path, Path]:
    """Save a mask and its provenance sidecar for an image.

    The PNG is single-channel 0/255 at the mask's resolution, which must equal
    ``meta.image_size``. ``meta.modified`` is set to now, ``meta.mask_sha256`` and
    ``meta.lesion_pixels`` are filled in, and ``meta.created`` is taken from the label being
    overwritten, if any. When a different label already exists, it is first copied to
    ``<labels_dir>/.backup/<stem>_segmentation.<UTC stamp>.png`` (and ``.json``); the newest
    :data:`MAX_BACKUPS` backups are kept.

    Returns:
        ``(png_path, json_path)``.

    Raises:
        MaskError: the mask is not 2-D or does not match ``meta.image_size``.
        WriteError: the folder cannot be created or written (read-only, disk full, ...). The
            previous label, if any, is then unchanged and no partial file is left.
    """
    image_path = Path(image_path)
    png_path, json_path = label_paths(image_path, labels_dir)
    arr = np.asarray(mask)
    if arr.ndim == 2 and (arr.shape[1], arr.shape[0]) != tuple(meta.image_size):
        raise MaskError(
            f"The mask is {arr.shape[1]}×{arr.shape[0]} pixels but {image_path.name} is "
            f"{meta.image_size[0]}×{meta.image_size[1]}; the label was not saved"
        )
    png_bytes, lesion_pixels = _mask_png(arr)

    try:
        png_path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # "File exists" said nothing a reader could act on
        raise WriteError(
            f"Cannot save the label in {png_path.parent}: that is a file, not a folder "
            "(rename or move it, or save the labels in another folder). Nothing was saved."
        ) from None
    except OSError as exc:
        raise WriteError(
            f"Cannot create the labels folder {png_path.parent}: {exc.strerror or exc}. "
            "Nothing was saved."
        ) from None

    try:
        old_png = png_path.read_bytes() if png_path.exists() else None
    except OSError:
        old_png = None
    try:
        old_json_bytes = json_path.read_bytes() if json_path.exists() else None
    except OSError:
        old_json_bytes = None
    old_meta = _read_json(json_path) if old_json_bytes is not None else None

    meta.modified = utc_now()
    if old_meta and isinstance(old_meta.get("created"), str):
        meta.created = old_meta["created"]
    meta.mask_sha256 = hashlib.sha256(png_bytes).hexdigest()
    meta.lesion_pixels = lesion_pixels
    new_dict = meta.to_dict()
    json_bytes = (dumps_json(new_dict) + "\n").encode("utf-8")

    new_dict = json.loads(json_bytes)  # plain types, as a reader will see it
    unchanged = old_png == png_bytes and _without_modified(old_meta) == _without_modified(new_dict)
    if old_png is not None and not unchanged:
        keep_backup(png_path, json_path, old_png, old_json_bytes)

    atomic_write_bytes(png_path, png_bytes)
    try:
        atomic_write_bytes(json_path, json_bytes)
    except WriteError:
        # Keep PNG and sidecar consistent: put the previous PNG back (or remove the new one).
        try:
            if old_png is not None:
                atomic_write_bytes(png_path, old_png)
            else:
                png_path.unlink()
        except (OSError, WriteError):
            log.error("Could not roll back %s after a failed sidecar write", png_path)
        raise
    prune_backups(label_paths(image_path, labels_dir)[0], MAX_BACKUPS)
    for target in (png_path, json_path):
        sweep_stale_temp(target.parent, f".{target.name}.")
    return png_path, json_path


def read_label_meta(image_path: PathLike, labels_dir: PathLike | None = None) -> dict | None:
    """The sidecar dict of an image's label, or None (missing, unreadable, or written for
    another mask than the label PNG now on disk)."""
    return read_sidecar(*label_paths(image_path, labels_dir))[0]


def load_label(
    image_path: PathLike,
    shape: tuple[int, int],
    labels_dir: PathLike | None = None,
) -> tuple[np.ndarray, dict | None] | None:
    """Load the saved label of an image.

    Args:
        image_path: the image file.
        shape: the image's ``(H, W)``.
        labels_dir: labels folder (default ``<image folder>/labels``).

    Returns:
        ``(mask, meta)`` with a ``bool`` ``(H, W)`` mask and the sidecar dict (None when the
        sidecar is missing, unreadable or written for another mask), or None when the image has no label.

    Raises:
        MaskError: the label's size differs from ``shape``.
        ImageReadError: the label PNG is damaged.
    """
    png_path, json_path = label_paths(image_path, labels_dir)
    if not png_path.is_file():
        return None
    mask = load_mask(png_path, shape=tuple(shape))
    return mask, read_sidecar(png_path, json_path)[0]
