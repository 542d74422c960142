"""Label files: where they go, their provenance sidecar, backups, autosave and recovery.

A label for ``<folder>/<stem>.<ext>`` is ``<labels_dir>/<stem>_segmentation.png`` (single-channel
0/255 PNG at image resolution, ISIC naming) plus ``<stem>_segmentation.json`` (provenance, see
:class:`LabelMeta`). ``labels_dir`` defaults to ``<folder>/labels``. Every write is atomic (temp
file + rename, :func:`dermview.io.atomic_write_bytes`); saving over a label first keeps the old
pair in ``<labels_dir>/.backup/``. A failed save raises :class:`~dermview.errors.WriteError`
and leaves the previous label as it was.

:class:`RecoveryStore` keeps the working mask of each open image in a recovery folder (one
1-bit PNG per image carrying its metadata in a text chunk, written atomically) so that work
survives a crash.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import hashlib
import io
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from dermview import __version__
from dermview.errors import ImageReadError, MaskError, WriteError
from dermview.io import atomic_write_bytes, encode_png, json_default, load_mask

__all__ = [
    "LABEL_SUFFIX",
    "BACKUP_DIRNAME",
    "MAX_BACKUPS",
    "LabelMeta",
    "RecoveryEntry",
    "RecoveryStore",
    "label_paths",
    "image_sha256",
    "save_label",
    "load_label",
    "read_label_meta",
    "label_status",
    "label_mismatch",
    "list_backups",
    "utc_now",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Suffix added to the image stem (ISIC naming).
LABEL_SUFFIX = "_segmentation"
#: Folder (inside the labels folder) holding earlier versions of overwritten labels.
BACKUP_DIRNAME = ".backup"
#: Backups kept per image; older ones are deleted after a successful save.
MAX_BACKUPS = 20
#: Identifies the sidecar format.
SIDECAR_FORMAT = "dermview-label"
SIDECAR_VERSION = 1
#: Age (s) after which a leftover temporary file of an interrupted write is deleted.
STALE_TEMP_SECONDS = 3600

_STATUS = ("new", "segmented", "corrected")


def utc_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds, e.g. ``2026-01-31T12:00:00.000Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, ensure_ascii=False, default=json_default)


def _user() -> str:
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
        user: login name of the person saving.
        created, modified: ISO-8601 UTC timestamps (``created`` of an overwritten label is
            kept by :func:`save_label`).
        app_version: dermview version.
        source: ``"model"``, ``"manual"`` or ``"imported"``.
        mask_sha256: SHA-256 of the PNG bytes, set by :func:`save_label` (detects a PNG and
            sidecar that do not belong together).
        lesion_pixels: number of lesion pixels, set by :func:`save_label`.
        confidence: estimated Jaccard of the model's mask with an expert's outline, in
            ``[0, 1]`` (:func:`dermview.confidence.estimate_jaccard`), when it was computed.
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
    user: str = field(default_factory=_user)
    created: str = field(default_factory=utc_now)
    modified: str = field(default_factory=utc_now)
    app_version: str = __version__
    source: str = "model"
    mask_sha256: str | None = None
    lesion_pixels: int | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        if self.source not in ("model", "manual", "imported"):
            raise ValueError(f"source must be 'model', 'manual' or 'imported', got {self.source!r}")
        w, h = self.image_size
        self.image_size = (int(w), int(h))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``image_size`` as a list, plus format identification)."""
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return {"format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelMeta:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones take defaults."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
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
    return encode_png(fg.astype(np.uint8) * 255), int(np.count_nonzero(fg))


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


def _backup_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def list_backups(image_path: PathLike, labels_dir: PathLike | None = None) -> list[Path]:
    """Backed-up label PNGs of an image, oldest first (each may have a ``.json`` beside it)."""
    png, _ = label_paths(image_path, labels_dir)
    folder = png.parent / BACKUP_DIRNAME
    if not folder.is_dir():
        return []
    prefix = png.stem + "."
    return sorted(p for p in folder.glob("*.png") if p.name.startswith(prefix)
                  and p.name[len(prefix):-4].endswith("Z"))


def _prune_backups(image_path: Path, labels_dir: PathLike | None) -> None:
    for old in list_backups(image_path, labels_dir)[:-MAX_BACKUPS]:
        for p in (old, old.with_suffix(".json")):
            with contextlib.suppress(OSError):
                p.unlink()


def _sweep_stale_temp(folder: Path, prefix: str) -> None:
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
    json_bytes = (_dumps(new_dict) + "\n").encode("utf-8")

    new_dict = json.loads(json_bytes)  # plain types, as a reader will see it
    unchanged = old_png == png_bytes and _without_modified(old_meta) == _without_modified(new_dict)
    if old_png is not None and not unchanged:
        backup_dir = png_path.parent / BACKUP_DIRNAME
        stamp = _backup_stamp()
        try:
            backup_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise WriteError(
                f"Cannot save {png_path.name}: the backup folder {backup_dir} cannot be "
                f"created ({exc.strerror or exc}). The existing label was left unchanged."
            ) from None
        atomic_write_bytes(backup_dir / f"{png_path.stem}.{stamp}.png", old_png)
        if old_json_bytes is not None:
            atomic_write_bytes(backup_dir / f"{json_path.stem}.{stamp}.json", old_json_bytes)

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
    _prune_backups(image_path, labels_dir)
    for target in (png_path, json_path):
        _sweep_stale_temp(target.parent, f".{target.name}.")
    return png_path, json_path


def read_label_meta(image_path: PathLike, labels_dir: PathLike | None = None) -> dict | None:
    """The sidecar dict of an image's label, or None (missing or unreadable)."""
    return _read_json(label_paths(image_path, labels_dir)[1])


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
        sidecar is missing or unreadable), or None when the image has no label.

    Raises:
        MaskError: the label's size differs from ``shape``.
        ImageReadError: the label PNG is damaged.
    """
    png_path, json_path = label_paths(image_path, labels_dir)
    if not png_path.is_file():
        return None
    mask = load_mask(png_path, shape=tuple(shape))
    return mask, _read_json(json_path)


def label_mismatch(image_path: PathLike, meta: dict | None) -> str | None:
    """Warning text when a loaded label's sidecar names another image file, else None.

    The sidecar's ``image_sha256`` is compared with the image's bytes: a difference means the
    image was changed after labelling, or another image with the same stem (``a.jpg`` and
    ``a.png``) owns the label. No sidecar or no hash: None (nothing to check).
    """
    if not meta or not isinstance(meta.get("image_sha256"), str) or not meta["image_sha256"]:
        return None
    try:
        actual = image_sha256(image_path)
    except ImageReadError:
        return None
    if actual == meta["image_sha256"]:
        return None
    name = Path(image_path).name
    return (f"The saved label of {name} was made for a different file (its SHA-256 does not "
            f"match): the image was changed after labelling, or another image with the same "
            f"name stem shares this label. Check the mask before saving.")


def label_status(image_path: PathLike, labels_dir: PathLike | None = None) -> str:
    """Worklist status: ``"new"`` (no label), ``"segmented"``, or ``"corrected"`` (edited)."""
    png_path, json_path = label_paths(image_path, labels_dir)
    if not png_path.is_file():
        return "new"
    meta = _read_json(json_path)
    return "corrected" if meta and meta.get("edited") is True else "segmented"


# --------------------------------------------------------------------------------------------
# Autosave and crash recovery

_RECOVERY_KEY = "dermview-recovery"


@dataclass(frozen=True)
class RecoveryEntry:
    """One autosaved working mask.

    Attributes:
        image_path: the image it belongs to (absolute).
        saved_at: ISO-8601 UTC time of the autosave.
        meta: the dict given to :meth:`RecoveryStore.save`.
        file: the recovery file.
        shape: the mask's ``(H, W)``.
    """

    image_path: Path
    saved_at: str
    meta: dict
    file: Path
    shape: tuple[int, int]


class RecoveryStore:
    """Autosaves of working masks in a folder, offered back after a crash.

    Each image has one file ``<key>.png`` (1-bit PNG; key = hash of the absolute image path)
    holding the mask and, in an iTXt chunk, the image path, time and caller's metadata. Each
    save is one atomic write, so a crash leaves either the previous or the new autosave.
    Saving a 4000×3000 mask takes about 20 ms.
    """

    def __init__(self, folder: PathLike) -> None:
        self.folder = Path(folder)

    @staticmethod
    def _abs(image_path: PathLike) -> Path:
        return Path(os.path.abspath(os.fspath(image_path)))

    def path_for(self, image_path: PathLike) -> Path:
        """Recovery file for an image (whether or not it exists)."""
        key = os.fsencode(str(self._abs(image_path)))
        return self.folder / f"{hashlib.sha256(key).hexdigest()[:24]}.png"

    def save(self, image_path: PathLike, mask: np.ndarray, meta: dict | None = None) -> None:
        """Autosave the working mask of ``image_path`` (replaces the previous autosave).

        Args:
            image_path: the image being edited.
            mask: ``(H, W)`` mask (non-zero = lesion).
            meta: JSON-serialisable dict given back by :meth:`entries` (e.g. label metadata).

        Raises:
            MaskError: mask not 2-D. WriteError: folder not writable or disk full.
        """
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise MaskError(f"A mask must be 2-D (height × width), got shape {arr.shape}")
        header = {
            "image_path": str(self._abs(image_path)),
            "saved_at": utc_now(),
            "shape": [int(arr.shape[0]), int(arr.shape[1])],
            "meta": meta or {},
        }
        info = PngImagePlugin.PngInfo()
        info.add_itxt(_RECOVERY_KEY, _dumps(header, indent=None))
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr != 0)).save(
            buf, format="PNG", compress_level=1, pnginfo=info
        )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(
                f"Cannot create the recovery folder {self.folder}: {exc.strerror or exc}"
            ) from None
        atomic_write_bytes(self.path_for(image_path), buf.getvalue())

    def _header(self, file: Path) -> dict | None:
        try:
            with Image.open(file) as img:
                text = img.text.get(_RECOVERY_KEY)  # type: ignore[attr-defined]
        except Exception as exc:  # damaged file: skip it, never crash the start-up
            log.warning("Ignoring unreadable recovery file %s: %s", file, exc)
            return None
        if not text:
            return None
        try:
            header = json.loads(text)
        except ValueError:
            return None
        if not isinstance(header, dict) or "image_path" not in header:
            return None
        return header

    def _sweep_temp(self) -> None:
        """Delete temporary files left by a write that was killed (older than an hour, so a
        save in progress in another dermview window is never touched)."""
        _sweep_stale_temp(self.folder, ".")

    def entries(self) -> list[RecoveryEntry]:
        """Autosaves present, newest first (unreadable files are skipped).

        Also removes stale temporary files of interrupted autosaves.
        """
        if not self.folder.is_dir():
            return []
        self._sweep_temp()
        out = []
        for file in self.folder.glob("*.png"):
            header = self._header(file)
            if header is None:
                continue
            shape = header.get("shape") or [0, 0]
            out.append(RecoveryEntry(
                image_path=Path(header["image_path"]),
                saved_at=str(header.get("saved_at", "")),
                meta=header.get("meta") if isinstance(header.get("meta"), dict) else {},
                file=file,
                shape=(int(shape[0]), int(shape[1])),
            ))
        out.sort(key=lambda e: e.saved_at, reverse=True)
        return out

    def entry_for(self, image_path: PathLike) -> RecoveryEntry | None:
        """The autosave of one image, or None."""
        file = self.path_for(image_path)
        if not file.is_file():
            return None
        header = self._header(file)
        if header is None:
            return None
        shape = header.get("shape") or [0, 0]
        return RecoveryEntry(Path(header["image_path"]), str(header.get("saved_at", "")),
                             header.get("meta") or {}, file, (int(shape[0]), int(shape[1])))

    def load(self, entry: RecoveryEntry) -> np.ndarray:
        """The autosaved mask, ``bool`` ``(H, W)``.

        Raises:
            ImageReadError: the recovery file is missing or damaged.
        """
        try:
            with Image.open(entry.file) as img:
                img.load()
                arr = np.asarray(img.convert("1") if img.mode != "1" else img)
        except FileNotFoundError:
            raise ImageReadError(f"Recovery file {entry.file} no longer exists") from None
        except Exception as exc:
            raise ImageReadError(f"Recovery file {entry.file} is damaged ({exc})") from None
        mask = arr.astype(bool, copy=False)
        if tuple(mask.shape) != tuple(entry.shape):
            raise ImageReadError(
                f"Recovery file {entry.file} is damaged (size {mask.shape} instead of "
                f"{entry.shape})"
            )
        return mask

    def discard(self, image_path: PathLike) -> None:
        """Delete the autosave of an image (after saving or when the user declines recovery)."""
        with contextlib.suppress(FileNotFoundError):
            self.path_for(image_path).unlink()
