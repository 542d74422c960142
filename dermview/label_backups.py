"""Earlier versions of overwritten labels, kept in ``<labels folder>/.backup/``.

:func:`dermview.labels.save_label` keeps the label it is about to replace here (stamped with
the UTC time) and prunes the oldest beyond :data:`MAX_BACKUPS`; paths in, files out.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path

from dermview.errors import WriteError
from dermview.io import atomic_write_bytes

#: Folder (inside the labels folder) holding earlier versions of overwritten labels.
BACKUP_DIRNAME = ".backup"
#: Backups kept per image; older ones are deleted after a successful save.
MAX_BACKUPS = 20


def backups_of(png: Path) -> list[Path]:
    """Backed-up copies of the label PNG ``png``, oldest first (each may have a ``.json``
    beside it)."""
    folder = png.parent / BACKUP_DIRNAME
    if not folder.is_dir():
        return []
    prefix = png.stem + "."
    return sorted(p for p in folder.glob("*.png") if p.name.startswith(prefix)
                  and p.name[len(prefix):-4].endswith("Z"))


def prune_backups(png: Path, keep: int = MAX_BACKUPS) -> None:
    """Delete the backups of ``png`` beyond the newest ``keep``."""
    for old in backups_of(png)[:-keep]:
        for p in (old, old.with_suffix(".json")):
            with contextlib.suppress(OSError):
                p.unlink()


def keep_backup(png_path: Path, json_path: Path, old_png: bytes, old_json: bytes | None) -> None:
    """Keep the label about to be overwritten in ``.backup/`` (stamped with the UTC time).

    Raises:
        WriteError: the backup folder cannot be created (the label is then left unchanged).
    """
    backup_dir = png_path.parent / BACKUP_DIRNAME
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    try:
        backup_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise WriteError(
            f"Cannot save {png_path.name}: the backup folder {backup_dir} cannot be "
            f"created ({exc.strerror or exc}). The existing label was left unchanged."
        ) from None
    atomic_write_bytes(backup_dir / f"{png_path.stem}.{stamp}.png", old_png)
    if old_json is not None:
        atomic_write_bytes(backup_dir / f"{json_path.stem}.{stamp}.json", old_json)
