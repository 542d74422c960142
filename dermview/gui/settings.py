"""Persistent settings (QSettings) and per-user folders (never the install folder).

``DERMVIEW_HOME`` (see :mod:`dermview.paths`) puts settings and autosaves under one folder;
otherwise Qt's per-user locations are used (``QStandardPaths.AppDataLocation`` for autosaves,
the platform's native settings store for QSettings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from dermview import paths

MAX_RECENT = 10


def make_settings() -> QtCore.QSettings:
    """The app's settings store (an INI file under ``DERMVIEW_HOME`` when that is set)."""
    if os.environ.get("DERMVIEW_HOME"):
        file = paths.user_config_dir(create=True) / "dermview.ini"
        return QtCore.QSettings(str(file), QtCore.QSettings.Format.IniFormat)
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope,
                            paths.APP_NAME, paths.APP_NAME)


def recovery_dir() -> Path:
    """Folder for autosaved working masks (crash recovery)."""
    if os.environ.get("DERMVIEW_HOME"):
        return paths.autosave_dir()
    base = QtCore.QStandardPaths.writableLocation(
        QtCore.QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "autosave" if base else paths.autosave_dir()


class Settings:
    """Typed access to the QSettings keys the app uses."""

    def __init__(self, store: QtCore.QSettings) -> None:
        self.store = store

    def get(self, key: str, default: Any = None) -> Any:
        return self.store.value(key, default)

    def set(self, key: str, value: Any) -> None:
        self.store.setValue(key, value)

    def get_int(self, key: str, default: int) -> int:
        try:
            return int(self.store.value(key, default))
        except (TypeError, ValueError):
            return default

    def get_float(self, key: str, default: float) -> float:
        try:
            return float(self.store.value(key, default))
        except (TypeError, ValueError):
            return default

    def get_bool(self, key: str, default: bool) -> bool:
        v = self.store.value(key, default)
        if isinstance(v, str):
            return v.lower() in ("1", "true", "yes")
        return bool(v)

    def get_path(self, key: str) -> Path | None:
        v = self.store.value(key, "")
        return Path(v) if v else None

    def get_list(self, key: str) -> list[str]:
        v = self.store.value(key, [])
        if isinstance(v, str):
            return [v] if v else []
        return [str(x) for x in (v or [])]

    def push_recent(self, key: str, path: Path) -> list[str]:
        items = [p for p in self.get_list(key) if p != str(path)]
        items.insert(0, str(path))
        items = items[:MAX_RECENT]
        self.set(key, items)
        return items
