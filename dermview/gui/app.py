"""Start-up of the desktop app: ``run_app(args)`` (from the CLI) and ``create_main_window``.

Torch is not imported here: the window shows first, the model loads in a worker thread.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from dermview import __version__, paths


def ensure_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (created once, with the names QSettings/QStandardPaths use)."""
    QtCore.QCoreApplication.setApplicationName(paths.APP_NAME)
    QtCore.QCoreApplication.setOrganizationName("")
    QtCore.QCoreApplication.setApplicationVersion(__version__)
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(argv if argv is not None else [sys.argv[0]])
    if not app.property("dermview_styled"):
        from dermview.gui.style import FocusRingStyle

        app.setStyle(FocusRingStyle())
        _dark_palette(app)
        app.setProperty("dermview_styled", True)
    global _GARBAGE_COLLECTOR
    if _GARBAGE_COLLECTOR is None:
        # Python's cycle collector, run when an allocation happened to trigger it, once ran
        # inside a Qt signal disconnect and destroyed a QObject whose destructor waited for
        # the mutex that disconnect held: the process hung (seen in the test suite, PySide6
        # 6.11). pyqtgraph's collector turns the automatic one off and collects on a timer,
        # in the GUI thread, between events (never inside a Qt call, never in a worker).
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GARBAGE_COLLECTOR = GarbageCollector(interval=GC_INTERVAL_S)
    return app  # type: ignore[return-value]


#: Seconds between the GUI thread's garbage collections (:func:`ensure_app`).
GC_INTERVAL_S = 1.0
_GARBAGE_COLLECTOR = None


def _dark_palette(app: QtWidgets.QApplication) -> None:
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    role = QPalette.ColorRole
    for r, c in ((role.Window, (45, 47, 52)), (role.WindowText, (225, 225, 225)),
                 (role.Base, (33, 35, 39)), (role.AlternateBase, (50, 52, 58)),
                 (role.ToolTipBase, (60, 62, 68)), (role.ToolTipText, (235, 235, 235)),
                 (role.Text, (225, 225, 225)), (role.Button, (55, 57, 63)),
                 (role.ButtonText, (225, 225, 225)), (role.Highlight, (60, 120, 200)),
                 (role.HighlightedText, (255, 255, 255)), (role.Link, (110, 170, 255)),
                 # Qt's default is the light theme's dark grey: invisible on the dark Base
                 (role.PlaceholderText, (140, 142, 148))):
        p.setColor(r, QColor(*c))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor(120, 120, 120))
    app.setPalette(p)


def create_main_window(paths_to_open: list[str | Path] | None = None, device: str | None = None,
                       weights: str | None = None, settings: QtCore.QSettings | None = None,
                       recovery_folder: Path | None = None, show: bool = True):
    """Create (and show) the main window, opening ``paths_to_open``.

    Args:
        paths_to_open: images and/or folders.
        device: ``auto``/``cpu``/``cuda`` (None: last used).
        weights: model weights (None: bundled default).
        settings: a QSettings store (tests pass a temporary INI file); default per-user.
        recovery_folder: autosave folder (default per-user, see :mod:`dermview.gui.settings`).
        show: show the window.

    Returns:
        The :class:`dermview.gui.main_window.MainWindow`.
    """
    ensure_app()
    from dermview.gui.main_window import MainWindow
    from dermview.gui.settings import make_settings

    win = MainWindow(settings if settings is not None else make_settings(), device=device,
                     weights=weights, recovery_folder=recovery_folder)
    if show:
        win.show()
    if paths_to_open:
        win.session.open_paths([Path(p) for p in paths_to_open])
    return win


def _handle_signals(app: QtWidgets.QApplication, win) -> None:
    """SIGTERM / SIGINT: autosave unsaved edits (offered back at the next start) and quit."""
    import signal

    def stop(_signum, _frame) -> None:
        win.edit.commit_stroke()  # a stroke with the button still down is an edit too
        win.saving.journal(force=True)
        win.shutdown()
        app.quit()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):  # not the main thread / platform
            signal.signal(sig, stop)
    # Python runs signal handlers only between bytecodes: wake the interpreter regularly.
    timer = QtCore.QTimer(win)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _setup_logging() -> None:
    """Log warnings and errors to ``<user log dir>/dermview.log`` (never the program folder)."""
    import logging

    try:
        file = paths.user_log_dir(create=True) / "dermview.log"
        handler: logging.Handler = logging.FileHandler(file, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _install_excepthook(win) -> None:
    """Unexpected errors in event handlers: log the traceback, tell the user, keep running."""
    import logging

    def hook(exc_type, exc, tb) -> None:
        logging.getLogger("dermview.gui").error("Unexpected error", exc_info=(exc_type, exc, tb))
        if issubclass(exc_type, KeyboardInterrupt):
            return
        with contextlib.suppress(Exception):
            win.show_error("Unexpected error",
                           f"{exc_type.__name__}: {exc}\n\nThe app keeps running; the details "
                           "were written to the dermview log file. Save your work.")

    sys.excepthook = hook


def run_app(args: argparse.Namespace) -> int:
    """Run the app until its window closes (the CLI's default command)."""
    _setup_logging()
    app = ensure_app()
    requested = list(getattr(args, "paths", []) or [])
    win = create_main_window(requested, device=getattr(args, "device", None),
                             weights=getattr(args, "weights", None))
    _handle_signals(app, win)
    _install_excepthook(win)
    # List unsaved work after a crash (whatever was asked to open), else restore the last
    # session. One callback: opening an image processes events, so a second timer would
    # reopen it re-entrantly (and ask about the recovery twice).
    def start() -> None:
        win.session.offer_recovery_at_start()
        if not requested and not win.doc.has_image:
            win.session.restore_session()

    QtCore.QTimer.singleShot(0, start)
    return int(app.exec())
