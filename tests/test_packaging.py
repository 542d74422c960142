"""Fast checks of resource lookup and the packaging files (no bundle is built here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dermview import paths

ROOT = Path(__file__).resolve().parent.parent


def test_resources_dir_from_source_has_samples():
    assert paths.resources_dir() == ROOT / "resources"
    assert (paths.samples_dir() / "ATTRIBUTION.md").is_file()


def test_resources_dir_frozen_uses_meipass(monkeypatch, tmp_path):
    monkeypatch.delenv("DERMVIEW_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.is_frozen()
    assert paths.resources_dir() == tmp_path / "resources"
    assert paths.models_dir() == tmp_path / "resources" / "models"


def test_resources_override(monkeypatch, tmp_path):
    monkeypatch.setenv("DERMVIEW_RESOURCES", str(tmp_path))
    assert paths.icons_dir() == tmp_path.resolve() / "icons"


def test_default_weights_follow_resources_dir():
    from dermview.model.weights import DEFAULT_WEIGHTS, MODELS_DIR

    assert paths.models_dir() == MODELS_DIR
    assert DEFAULT_WEIGHTS.parent == MODELS_DIR


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG layout is Linux-only")
def test_user_dirs_follow_xdg_and_are_outside_the_app(monkeypatch, tmp_path):
    monkeypatch.delenv("DERMVIEW_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_data_dir() == tmp_path / "data" / "dermview"
    assert paths.user_config_dir() == tmp_path / "home" / ".config" / "dermview"
    assert not paths.user_data_dir().exists()  # nothing created unless asked
    made = paths.autosave_dir(create=True)
    assert made.is_dir() and made.parent == tmp_path / "data" / "dermview"
    for d in (paths.user_data_dir(), paths.user_config_dir(), paths.user_log_dir()):
        assert paths.app_dir() not in d.parents


def test_dermview_home_override(monkeypatch, tmp_path):
    monkeypatch.setenv("DERMVIEW_HOME", str(tmp_path))
    assert paths.user_log_dir(create=True) == tmp_path / "logs"
    assert (tmp_path / "logs").is_dir()
