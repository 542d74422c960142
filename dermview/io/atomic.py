"""Atomic writes: temporary file in the destination folder, fsync, rename over the target."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from dermview.errors import WriteError

PathLike = str | os.PathLike[str]


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``);
    elsewhere set and restored at once (a brief window other threads could see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    On failure the target is untouched and no temporary file is left behind.

    Raises:
        WriteError: folder missing or read-only, disk full, or any other OS error.
    """
    path = Path(path)
    if path.is_symlink():  # replace the file the link points to, keep the link
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise WriteError(f"Cannot save {path}: it is a folder (give a file name)")
    try:
        keep_mode: int | None = stat.S_IMODE(path.stat().st_mode)  # an existing file's permissions
    except OSError:
        keep_mode = None  # a new file: 0o666 minus the umask, as open() gives
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp gives 0o600: use the existing file's mode, else what open() would give
        os.chmod(tmp_name, keep_mode if keep_mode is not None else 0o666 & ~current_umask())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_folder(folder)
    except OSError as exc:
        raise WriteError(_describe_write_error(path, exc)) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _describe_write_error(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"Cannot save {path.name}: the disk is full. Nothing was written."
    if exc.errno == errno.EROFS:
        return f"Cannot save {path.name}: the folder {path.parent} is read-only."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (f"Cannot save {path.name}: no permission to write in {path.parent} "
                "(the folder or the file is read-only).")
    if exc.errno == errno.ENOENT:
        return f"Cannot save {path.name}: the folder {path.parent} does not exist."
    return f"Cannot save {path.name}: {exc.strerror or exc}"


