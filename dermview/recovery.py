"""Autosave and crash recovery of working masks (Qt-free).

:class:`RecoveryStore` journals the working state of each open image in a recovery folder so
that work survives a crash: the mask (1-bit PNG carrying the metadata in a text chunk), the
pixels edited by hand (1-bit PNG) and the model's probability map (``.npy``); every file is
written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from dermview.errors import ImageReadError, MaskError, WriteError
from dermview.io import atomic_write_bytes
from dermview.labels import PathLike, dumps_json, sweep_stale_temp, utc_now

__all__ = ["RecoveryEntry", "RecoveryStore", "this_writer", "writer_alive"]

log = logging.getLogger(__name__)

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
    #: The process that wrote it (``pid``, ``host``, ``started``: its start time), or {}.
    writer: dict = field(default_factory=dict)

    @property
    def in_use(self) -> bool:
        """Written by another dermview process that is still running (a second window on
        the same data): its edits are that window's unsaved work, not a crash's."""
        return writer_alive(self.writer)


def this_writer() -> dict:
    """This process as a journal's writer: pid, host name and start time."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid())}


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def writer_alive(writer: dict) -> bool:
    """True when ``writer`` (:func:`this_writer` of an earlier save) is another process on
    this machine that is still running: same host, and its pid runs with the same start time
    (a pid reused by a later process does not count)."""
    pid, started = writer.get("pid"), writer.get("started")
    if (not isinstance(pid, int) or pid == os.getpid() or not isinstance(started, (int, float))
            or writer.get("host") != socket.gethostname()):
        return False
    now = _start_time(pid)
    return now is not None and abs(now - float(started)) < 1.0


def _writer(header: dict) -> dict:
    w = header.get("writer")
    return w if isinstance(w, dict) else {}


class RecoveryStore:
    """Journals of working masks in a folder, offered back after a crash.

    Each image has ``<key>.png`` (1-bit PNG; key = hash of the absolute image path) holding
    the mask and, in an iTXt chunk, the image path, time and caller's metadata; optionally
    ``<key>.edited.png`` (pixels edited by hand) and ``<key>.prob.npy`` (``float32``
    probability map). A second dermview window journaling the same image while the first
    one runs writes ``<key>.<pid>.png`` (and its side files) instead, so neither overwrites the
    other's work. Each write is atomic, so a crash leaves either the previous or the new
    journal. Saving a 4000×3000 mask takes about 20 ms.
    """

    def __init__(self, folder: PathLike) -> None:
        self.folder = Path(folder)
        self._mine: set[Path] = set()  # journal files written through this store

    @staticmethod
    def _abs(image_path: PathLike) -> Path:
        return Path(os.path.abspath(os.fspath(image_path)))

    def path_for(self, image_path: PathLike) -> Path:
        """The image's main recovery file ``<key>.png`` (whether or not it exists); a second
        window journaling the same image while the first one's journal is there writes its
        own, ``<key>.<pid>.png`` (:meth:`_own_file`)."""
        key = os.fsencode(str(self._abs(image_path)))
        return self.folder / f"{hashlib.sha256(key).hexdigest()[:24]}.png"

    def _own_file(self, image_path: PathLike) -> Path:
        """Where this store journals the image: the main file when it is free or its own,
        else ``<key>.<pid>.png``: the main file is another window's unsaved work, or a
        crash's (two windows editing one image overwrote each other's journal, so the edits
        of the one that was killed were lost)."""
        main = self.path_for(image_path)
        own = self._mine_of(main)
        if own:
            return own[0]
        return main if not main.exists() else main.with_name(f"{main.stem}.{os.getpid()}.png")

    def adopt(self, entry: RecoveryEntry) -> None:
        """Journal the image in ``entry``'s file from now on (its work was restored here), when
        no running dermview writes it; the next save replaces it in one atomic write."""
        if not entry.in_use and not self._mine_of(entry.file):
            self._mine.add(entry.file)

    def _mine_of(self, file: Path) -> list[Path]:
        """This store's journal files of the image whose journal ``file`` is (same key: the
        main file and the per-window ``<key>.<pid>.png`` share it)."""
        key = file.name.split(".")[0]
        return [f for f in self._mine if f.name.split(".")[0] == key]

    def _files_of(self, image_path: PathLike) -> set[Path]:
        """Every journal of the image (the main file and other windows' own files)."""
        main = self.path_for(image_path)
        if not self.folder.is_dir():
            return set()
        return {f for f in [main, *self.folder.glob(f"{main.stem}.*.png")]
                if f.is_file() and not f.name.endswith(".edited.png")}

    @staticmethod
    def _side(file: Path, kind: str) -> Path:
        """``<stem>.edited.png`` (kind ``"edited"``) or ``<stem>.prob.npy`` (``"prob"``) of
        the journal ``file``."""
        return file.with_name(file.stem + (".edited.png" if kind == "edited" else ".prob.npy"))

    def _mkdir(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(
                f"Cannot create the recovery folder {self.folder}: {exc.strerror or exc}"
            ) from None

    def save(self, image_path: PathLike, mask: np.ndarray, meta: dict | None = None,
             edited: np.ndarray | None = None) -> None:
        """Journal the working mask of ``image_path`` (replaces the previous journal).

        Args:
            image_path: the image being edited.
            mask: ``(H, W)`` mask (non-zero = lesion).
            meta: JSON-serialisable dict given back by :meth:`entries` (e.g. label metadata).
            edited: ``(H, W)`` pixels edited by hand (given back by :meth:`load_edited`).

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
            "writer": this_writer(),
        }
        self._mkdir()
        file = self._own_file(image_path)
        side = self._side(file, "edited")
        if edited is not None:
            atomic_write_bytes(side, _bits_png(np.asarray(edited)))
        else:
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
        atomic_write_bytes(file, _bits_png(arr, header))
        self._mine.add(file)

    def save_prob(self, image_path: PathLike, prob: np.ndarray | None) -> None:
        """Journal the probability map ``float32 (H, W)`` of ``image_path`` (None removes it).

        Raises:
            WriteError: folder not writable or disk full.
        """
        file = self._side(self._own_file(image_path), "prob")
        if prob is None:
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
            return
        self._mkdir()
        buf = io.BytesIO()
        np.save(buf, np.asarray(prob, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(file, buf.getvalue())

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
        sweep_stale_temp(self.folder, ".")

    def entries(self) -> list[RecoveryEntry]:
        """Autosaves present, newest first (unreadable files are skipped).

        Also removes stale temporary files of interrupted autosaves.
        """
        if not self.folder.is_dir():
            return []
        self._sweep_temp()
        out = []
        for file in self.folder.glob("*.png"):
            if file.name.endswith(".edited.png"):  # a side file (edited pixels)
                continue
            entry = self._entry(file)
            if entry is not None:
                out.append(entry)
        out.sort(key=lambda e: e.saved_at, reverse=True)
        return out

    def _entry(self, file: Path) -> RecoveryEntry | None:
        header = self._header(file)
        if header is None:
            return None
        shape = header.get("shape") or [0, 0]
        meta = header.get("meta")
        return RecoveryEntry(Path(header["image_path"]), str(header.get("saved_at", "")),
                             meta if isinstance(meta, dict) else {}, file,
                             (int(shape[0]), int(shape[1])), _writer(header))

    def entry_for(self, image_path: PathLike) -> RecoveryEntry | None:
        """The autosave of one image, or None: the newest one that no running dermview is
        still writing (a crash's), else this store's own, else another window's (``in_use``)."""
        found = [e for e in map(self._entry, self._files_of(image_path)) if e is not None]
        found.sort(key=lambda e: (not e.in_use, e.file not in self._mine, e.saved_at),
                   reverse=True)
        return found[0] if found else None

    def load(self, entry: RecoveryEntry) -> np.ndarray:
        """The journaled mask, ``bool`` ``(H, W)``.

        Raises:
            ImageReadError: the recovery file is missing or damaged.
        """
        return _read_bits(entry.file, entry.shape)

    def load_edited(self, entry: RecoveryEntry) -> np.ndarray | None:
        """The journaled hand-edited pixels ``bool (H, W)``, or None (none journaled).

        Raises:
            ImageReadError: the file is damaged.
        """
        file = self._side(entry.file, "edited")
        return _read_bits(file, entry.shape) if file.is_file() else None

    def load_prob(self, entry: RecoveryEntry) -> np.ndarray | None:
        """The journaled probability map ``float32 (H, W)``, or None (none, or damaged)."""
        file = self._side(entry.file, "prob")
        try:
            prob = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            if file.is_file():
                log.warning("Ignoring unreadable probability journal %s: %s", file, exc)
            return None
        ok = prob.dtype == np.float32 and tuple(prob.shape) == tuple(entry.shape)
        return prob if ok else None

    def discard(self, image_path: PathLike) -> None:
        """Delete this store's journal of an image (after saving or discarding the edits).
        Another window's, or a crash's not offered yet, stays (:meth:`discard_crashed`)."""
        for base in self._files_of(image_path) & self._mine:
            self._remove(base)

    def discard_crashed(self, image_path: PathLike) -> None:
        """Delete the journals of an image left by runs that have ended (the user declined
        to recover them, or adopted them in this store's own journal); those of a dermview
        still running are its unsaved work and stay."""
        for base in self._files_of(image_path) - self._mine:
            header = self._header(base)
            if header is None or not writer_alive(_writer(header)):
                self._remove(base)

    def _remove(self, base: Path) -> None:
        for file in (base, self._side(base, "edited"), self._side(base, "prob")):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
        self._mine.discard(base)


def _bits_png(arr: np.ndarray, header: dict | None = None) -> bytes:
    """1-bit PNG of ``arr != 0`` (fast compression), with ``header`` as an iTXt chunk."""
    info = PngImagePlugin.PngInfo()
    if header is not None:
        info.add_itxt(_RECOVERY_KEY, dumps_json(header, indent=None))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr != 0)).save(buf, format="PNG", compress_level=1,
                                                          pnginfo=info)
    return buf.getvalue()


def _read_bits(file: Path, shape: tuple[int, int]) -> np.ndarray:
    """A 1-bit PNG as ``bool (H, W)``, checked against ``shape``."""
    try:
        with Image.open(file) as img:
            img.load()
            arr = np.asarray(img.convert("1") if img.mode != "1" else img)
    except FileNotFoundError:
        raise ImageReadError(f"Recovery file {file} no longer exists") from None
    except Exception as exc:
        raise ImageReadError(f"Recovery file {file} is damaged ({exc})") from None
    mask = arr != 0  # PIL's 1-bit pixels come as bool bytes of 255: not numpy's True (1)
    if tuple(mask.shape) != tuple(shape):
        raise ImageReadError(
            f"Recovery file {file} is damaged (size {mask.shape} instead of {shape})")
    return mask
