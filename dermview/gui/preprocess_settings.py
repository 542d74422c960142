"""The Preprocessing panel's "Use these settings for segmentation" and its settings, kept in
the app's settings across restarts (a restart went back to the model's preprocessing without
a word, and the next masks were made with other settings than the user had chosen)."""

from __future__ import annotations

from dermview.errors import DermviewError
from dermview.gui.preprocess_panel import PreprocessPanel
from dermview.gui.settings import Settings
from dermview.preprocess.params import PreprocessParams

USE_KEY, PARAMS_KEY = "preprocess/use", "preprocess/params"


def keep_preprocess_settings(panel: PreprocessPanel, settings: Settings) -> None:
    """Show the last session's choice on ``panel`` (when it used its own settings), then
    remember every later change."""
    if settings.get_bool(USE_KEY, False):
        try:
            params = PreprocessParams.from_json(str(settings.get(PARAMS_KEY, "")))
        except (DermviewError, TypeError, ValueError):
            params = None  # unreadable: the model's preprocessing, as on a first start
        if params is not None:
            panel.set_params(params)
            panel.use_check.setChecked(True)

    def remember() -> None:
        use = panel.use_check.isChecked()
        settings.set(USE_KEY, use)
        if use:
            settings.set(PARAMS_KEY, panel.params().to_json())

    panel.use_check.toggled.connect(lambda _v: remember())
    panel.params_changed.connect(lambda _p: remember())
