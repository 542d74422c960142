"""Reading the next image ahead, in a background thread, while the current one is reviewed.

Opening a 24-MP photograph spent about half a second decoding it on the GUI thread (the
window froze at every step through a worklist of such images). :class:`ImagePrefetch` decodes
one image ahead (:func:`dermview.io.load_image_info` and the file's SHA-256, the two slow
parts of opening it) and hands the result over only when the file is unchanged since it was
read (same size, modification time and inode before and after reading, and when taken);
otherwise the caller reads it itself. Qt-free; one image is held at a time.

The readers silence Pillow's and pydicom's warnings with ``warnings.catch_warnings``, which
is process-wide before Python 3.14: a warning raised on another thread during a read ahead
may go unshown (nothing in the app shows warnings to the user).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Prefetched", "ImagePrefetch", "file_key"]


@dataclass(frozen=True)
class Prefetched:
    """An image read ahead: ``image`` RGB ``uint8`` ``(H, W, 3)``, its
    :class:`~dermview.dicom.ImageInfo` and the SHA-256 (hex) of the file read."""

    image: np.ndarray
    info: Any
    sha256: str


def file_key(path: Path) -> tuple[int, int, int] | None:
    """``(size, mtime_ns, inode)`` of ``path``; None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _preload_libraries(path: Path) -> None:
    """Import pydicom here, in the caller's thread, before a DICOM file is read ahead: two
    threads importing it for the first time at once can see a half-initialised module
    (:mod:`dermview.dicom_preload`; the window imports it too, to write a DICOM SEG)."""
    from dermview.dicom_preload import needs_dicom, preload_dicom

    if needs_dicom([path]):
        preload_dicom()


class ImagePrefetch:
    """Reads one image ahead (:meth:`start`) for a later :meth:`take`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._thread: threading.Thread | None = None
        self._result: tuple[tuple[int, int, int], Prefetched] | None = None

    def start(self, path: str | Path | None) -> None:
        """Read ``path`` ahead (None: drop what is held). A read already running for it goes
        on; one for another image is left to finish, its result dropped."""
        path = None if path is None else Path(path).absolute()
        if path is not None:
            _preload_libraries(path)
        with self._lock:
            if path == self._path and (self._thread is not None or self._result is not None):
                return
            self._path, self._result, self._thread = path, None, None
            if path is None:
                return
            thread = threading.Thread(target=self._read, args=(path,), daemon=True,
                                      name="dermview-prefetch")
            self._thread = thread
        thread.start()

    def take(self, path: str | Path) -> Prefetched | None:
        """The image read ahead for ``path`` (waiting for a read still running), or None: not
        read ahead, unreadable (the caller's own read says why), or changed since."""
        path = Path(path).absolute()
        with self._lock:
            if path != self._path:
                return None
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            result = self._result if path == self._path else None
            self._path, self._result, self._thread = None, None, None
        if result is None or file_key(path) != result[0]:
            return None
        return result[1]

    def holds(self, path: str | Path) -> bool:
        """Whether ``path`` has been read ahead (and not yet taken)."""
        with self._lock:
            return self._result is not None and self._path == Path(path).absolute()

    def running(self) -> bool:
        """Whether a read is under way (for a clean shutdown check)."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _read(self, path: Path) -> None:
        from dermview.io import load_image_info
        from dermview.labels import image_sha256

        before = file_key(path)
        try:
            image, info = load_image_info(path)
            sha256 = image_sha256(path)
        except Exception:  # noqa: BLE001 - any failure: the caller's own read reports it
            result = None
        else:
            after = file_key(path)
            result = (after, Prefetched(image, info, sha256)) if (
                before is not None and before == after) else None
        with self._lock:
            if path == self._path and threading.current_thread() is self._thread:
                self._result, self._thread = result, None
