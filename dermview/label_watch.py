"""Has an image's label changed on disk? A cheap stat test and a content fingerprint, so that
a window never writes over, or keeps showing a stale copy of, a label saved elsewhere (another
window, a colleague on a shared folder, ``dermview segment``)."""

from __future__ import annotations

import contextlib
import hashlib

from dermview.labels import PathLike, label_paths

__all__ = ["label_fingerprint", "label_stat"]


def label_stat(image_path: PathLike, labels_dir: PathLike | None = None) -> tuple:
    """``(mtime_ns, size)`` of an image's label PNG and sidecar (None for a missing one): a
    cheap test of whether they may have changed since the last look."""
    out = []
    for p in label_paths(image_path, labels_dir):
        try:
            st = p.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


def label_fingerprint(image_path: PathLike, labels_dir: PathLike | None = None) -> str | None:
    """SHA-256 (hex) of the label of an image as it is on disk now: its PNG's bytes and its
    sidecar's (a review verdict changes only the sidecar); None when there is no label (or
    it cannot be read). Two equal fingerprints mean nobody saved the label in between."""
    png_path, json_path = label_paths(image_path, labels_dir)
    digest = hashlib.sha256()
    try:
        digest.update(png_path.read_bytes())
    except OSError:
        return None
    with contextlib.suppress(OSError):
        digest.update(b"\0" + json_path.read_bytes())
    return digest.hexdigest()
