"""Where dermview finds its bundled resources and where it may write.

Read-only resources (model weights, samples, icons) live in ``resources/``: beside the package
in a source checkout, inside the bundle (``sys._MEIPASS``) in a frozen PyInstaller app. Nothing
is ever written there: settings, autosave, logs and caches go to per-user locations that follow
each platform's convention (on Linux the XDG folders ``QStandardPaths`` also uses for an
application named ``dermview``). ``DERMVIEW_RESOURCES`` overrides the resource folder and
``DERMVIEW_HOME`` puts every user location under one folder (tests, portable use).

Qt-free and torch-free: the CLI, the core and the GUI all use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "dermview"
#: Suffix of a label file's stem: ``<image stem>_segmentation.png`` (ISIC naming).
LABEL_SUFFIX = "_segmentation"


def is_frozen() -> bool:
    """True when running from a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_dir() -> Path:
    """The folder holding ``models/``, ``samples/`` and ``icons/`` (read-only)."""
    override = os.environ.get("DERMVIEW_RESOURCES")
    if override:
        return Path(override).expanduser().resolve()
    if is_frozen():
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent.parent / "resources"


def models_dir() -> Path:
    """Bundled model weights, metadata and model card."""
    return resources_dir() / "models"


def samples_dir() -> Path:
    """Bundled sample images with their reference masks and ATTRIBUTION.md."""
    return resources_dir() / "samples"


def icons_dir() -> Path:
    """Application icons."""
    return resources_dir() / "icons"


def app_dir() -> Path:
    """Folder of the installed program (the bundle folder when frozen, else the source root)."""
    if is_frozen():
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent


def _home_override(kind: str) -> Path | None:
    base = os.environ.get("DERMVIEW_HOME")
    return Path(base).expanduser() / kind if base else None


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "")
    # XDG: relative paths are invalid and must be ignored.
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def _platform_dir(kind: str) -> Path:
    """Per-user folder of a kind (``data``, ``config``, ``cache``, ``logs``) on this platform."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        roots = {"cache": Path(local) / APP_NAME / "cache", "logs": Path(local) / APP_NAME / "logs"}
        return roots.get(kind, Path(local) / APP_NAME)
    if sys.platform == "darwin":
        lib = Path.home() / "Library"
        return {
            "data": lib / "Application Support" / APP_NAME,
            "config": lib / "Preferences" / APP_NAME,
            "cache": lib / "Caches" / APP_NAME,
            "logs": lib / "Logs" / APP_NAME,
        }[kind]
    return {
        "data": _xdg("XDG_DATA_HOME", ".local/share") / APP_NAME,
        "config": _xdg("XDG_CONFIG_HOME", ".config") / APP_NAME,
        "cache": _xdg("XDG_CACHE_HOME", ".cache") / APP_NAME,
        "logs": _xdg("XDG_STATE_HOME", ".local/state") / APP_NAME / "logs",
    }[kind]


def _user_dir(kind: str, create: bool) -> Path:
    path = _home_override(kind) or _platform_dir(kind)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir(create: bool = False) -> Path:
    """Per-user application data (autosave, recovery files, default label folder)."""
    return _user_dir("data", create)


def user_config_dir(create: bool = False) -> Path:
    """Per-user settings."""
    return _user_dir("config", create)


def user_cache_dir(create: bool = False) -> Path:
    """Per-user cache (safe to delete)."""
    return _user_dir("cache", create)


def user_log_dir(create: bool = False) -> Path:
    """Per-user log files."""
    return _user_dir("logs", create)


def autosave_dir(create: bool = False) -> Path:
    """Where unsaved mask edits are autosaved for crash recovery."""
    path = user_data_dir() / "autosave"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
