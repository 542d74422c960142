"""Shared pytest-qt fixtures for the GUI tests: the window, message boxes, sample data."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from dermview import paths  # noqa: E402
from dermview.gui import dialogs  # noqa: E402
from dermview.gui.app import create_main_window, ensure_app  # noqa: E402
from dermview.gui.testing import default_weights_available, isolate, process, tiny_weights  # noqa: E402
from dermview.model.weights import read_metadata  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
Btn = QtWidgets.QMessageBox.StandardButton


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """The bundled model when present (fast enough), else a small one fitted on the spot."""
    if default_weights_available():
        return paths.models_dir() / "dermview_default.pt"
    return tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def model_name(weights) -> str:
    meta = read_metadata(weights)
    return str(meta.get("name") or Path(weights).stem)


@pytest.fixture
def boxes(monkeypatch):
    """Record message boxes instead of blocking; ``boxes.answer`` is what questions return."""

    class Boxes:
        def __init__(self) -> None:
            self.warnings: list[tuple[str, str]] = []
            self.questions: list[tuple[str, str]] = []
            self.answer = Btn.Cancel
            self.choices: list[tuple[str, str, list[str]]] = []
            self.choice: str | None = None  # what dialogs.choose returns
            self.folder = ""  # what the folder dialog returns ("" = Cancel)

    b = Boxes()

    def warning(parent, title, text, *a, **k):
        b.warnings.append((title, text))
        return Btn.Ok

    def question(parent, title, text, *a, **k):
        b.questions.append((title, text))
        return b.answer

    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", staticmethod(warning))
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", staticmethod(warning))
    def choose(parent, title, text, options):
        b.choices.append((title, text, list(options)))
        return b.choice

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(dialogs, "choose", choose, raising=False)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: b.folder))
    return b


@pytest.fixture
def data(tmp_path) -> Path:
    """Two sample images in a fresh folder (labels go to <folder>/labels)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for stem in ("IMD002", "IMD009"):
        shutil.copy(SAMPLES / f"{stem}.jpg", folder / f"{stem}.jpg")
    return folder


@pytest.fixture
def labelled(tmp_path) -> Path:
    """IMD002 with the bundled expert mask saved as its label (it opens with a mask)."""
    folder = tmp_path / "images"
    (folder / "labels").mkdir(parents=True)
    shutil.copy(SAMPLES / "IMD002.jpg", folder / "IMD002.jpg")
    shutil.copy(SAMPLES / "IMD002_segmentation.png", folder / "labels" / "IMD002_segmentation.png")
    return folder / "IMD002.jpg"


@pytest.fixture
def make_window(qtbot, tmp_path, weights, boxes, monkeypatch):
    monkeypatch.setenv("DERMVIEW_HOME", str(tmp_path / "home"))  # restored after the test
    settings = isolate(tmp_path)
    ensure_app()
    windows = []

    def make(paths=None, size=(1400, 860), **kw):
        """A window of ``size`` (the offscreen screen is small; the views need room for the
        mouse positions the tests use; None: the size the window chose), opened on ``paths``."""
        win = create_main_window(None, weights=str(weights), settings=settings,
                                 recovery_folder=tmp_path / "recovery", **kw)
        windows.append(win)
        if size is not None:
            win.resize(*size)
        if paths:
            win.session.open_paths(paths)
            assert win.wait_idle(30)
        return win

    yield make
    for win in windows:
        win.doc.undo_stack.setClean()
        win.close()
        assert win.threads_running() == []
        win.deleteLater()
    process(10)
    gc.collect()  # this test's cycles, here and now (the app collects between events only)


def spy_wait_cursor(monkeypatch, module, *names: str) -> list[bool]:
    """Replace ``module.<name>`` for each of ``names`` by a wrapper that records, at each
    call, whether the wait (override) cursor is up; returns that list of records."""
    seen: list[bool] = []

    def spying(real):
        def spy(*a, **k):
            seen.append(QtWidgets.QApplication.overrideCursor() is not None)
            return real(*a, **k)
        return spy

    for name in names:
        monkeypatch.setattr(module, name, spying(getattr(module, name)))
    return seen


def drag(qtbot, pane, points_xy, modifier=QtCore.Qt.KeyboardModifier.NoModifier):
    """Press at the first view point, move through the others, release at the last."""
    vp = pane.viewport()
    pts = [pane.view_to_widget(x, y) for x, y in points_xy]
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, modifier, pts[0])
    for p in pts[1:]:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, modifier, pts[-1])
    return pts


def quit_by_sigterm(win) -> int:
    """Send SIGTERM to this process with the app's signal handling on ``win`` installed and
    run the event loop until it quits; returns its exit code (7: it did not quit in 5 s).

    Qt's "quit now" flag must not outlive the test: set outside app.exec() (a stray
    app.exit(), or the Quit event the last window's closing posts), it makes every later event
    loop of the test session return at once. Hence a guard timer stopped here, and no quit on
    the last window closed meanwhile; the Python signal handlers are put back."""
    import signal

    from dermview.gui.app import _handle_signals

    app = QtWidgets.QApplication.instance()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    guard = QtCore.QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: app.exit(7))  # the app stayed open
    app.setQuitOnLastWindowClosed(False)
    try:
        _handle_signals(app, win)
        QtCore.QTimer.singleShot(100, lambda: signal.raise_signal(signal.SIGTERM))
        guard.start(5000)
        return app.exec()
    finally:
        guard.stop()
        app.setQuitOnLastWindowClosed(True)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
