"""Child process for ``tests/test_crash_recovery.py``: runs the real app start-up (``run_app``).

Usage (``QT_QPA_PLATFORM=offscreen`` and ``DERMVIEW_HOME`` set by the caller)::

    python tests/_crash_driver.py edit IMAGE OUTDIR   # open IMAGE, brush stroke, keep running
    python tests/_crash_driver.py restore OUTDIR      # start with no image, answer "Yes" to
                                                      # the recovery question, dump and exit

``edit`` writes ``OUTDIR/edited.npy`` (the working mask right after the stroke) and
``OUTDIR/edit.json``, then leaves the app running (the stroke is journaled at once); the test kills
it with SIGKILL. ``restore`` writes ``OUTDIR/restored.npy`` and ``OUTDIR/restore.json`` (the
questions and warnings the app showed, the image it reopened, dirty state, undo history) and
exits without closing the window (no save, no clean-up).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from dermview.gui.app import ensure_app, run_app

#: Give up (exit code 3) if the app has not reached the expected state in this time.
DEADLINE_S = 20.0


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def _dump_json(path: Path, obj: dict) -> None:
    _write_atomic(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def _dump_mask(path: Path, mask: np.ndarray) -> None:
    _write_atomic(path, lambda f: np.save(f, np.asarray(mask)))


def _main_window():
    from dermview.gui.main_window import MainWindow

    wins = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    return wins[0] if wins else None


def _fail(out: Path, text: str) -> None:
    _dump_json(out / "error.json", {"error": text})
    sys.stdout.flush()
    os._exit(3)


def _edit_when_open(out: Path) -> None:
    """Wait (polling) until ``run_app`` has shown the window with the image, then edit."""
    start = time.monotonic()

    def check() -> None:
        win = _main_window()
        if win is not None and win.doc.has_image and win.isVisible():
            timer.stop()
            _edit(win, out)
        elif time.monotonic() - start > DEADLINE_S:
            _fail(out, "no main window with an open image")

    timer = QtCore.QTimer()
    timer.timeout.connect(check)
    timer.start(50)
    _edit_when_open.timer = timer  # type: ignore[attr-defined]  # keep it alive


def _edit(win, out: Path) -> None:
    """Brush stroke with real mouse events on the "Original" pane."""
    if not win.wait_idle(DEADLINE_S):
        _fail(out, "the app did not become idle")
    win.before.fit()
    QtWidgets.QApplication.processEvents()
    win.set_tool("brush")
    win.edit.set_radius(9)
    vp = win.before.viewport()
    pts = [win.before.view_to_widget(x, y) for x, y in ((60.5, 70.5), (140.5, 90.5), (200.5, 40.5))]
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier
    QTest.mousePress(vp, left, none, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, left, none, pts[-1])
    _dump_mask(out / "edited.npy", win.doc.mask)
    _dump_json(out / "edit.json", {
        "path": str(win.doc.path), "label_loaded": bool(win.doc.label_loaded),
        "dirty": bool(win.doc.dirty), "undo_count": win.doc.undo_stack.count(),
        "pid": os.getpid(),
    })


def _restore(out: Path, questions: list, warnings: list) -> None:
    """Poll until the app reopened an image (via the recovery offer), then dump and exit."""
    start = time.monotonic()
    seen: list[float] = []  # when an open image was first seen

    def check() -> None:
        win = _main_window()
        if win is not None and win.doc.has_image and not seen:
            seen.append(time.monotonic())
        # Dump once the recovery question was answered, or 2 s after an image opened without it
        # (then the test reports that no recovery was offered).
        settled = bool(questions) or (bool(seen) and time.monotonic() - seen[0] > 2.0)
        if win is not None and win.doc.has_image and settled and not win.is_busy():
            stack = win.doc.undo_stack
            _dump_mask(out / "restored.npy", win.doc.mask)
            _dump_json(out / "restore.json", {
                "path": str(win.doc.path), "dirty": bool(win.doc.dirty),
                "label_loaded": bool(win.doc.label_loaded),
                "undo": [stack.text(i) for i in range(stack.count())],
                "questions": questions, "warnings": warnings,
            })
            sys.stdout.flush()
            os._exit(0)  # a crash-like exit: nothing saved, the window never closed
        if time.monotonic() - start > DEADLINE_S:
            _fail(out, f"no image reopened; questions={questions} warnings={warnings}")

    timer = QtCore.QTimer()
    timer.timeout.connect(check)
    timer.start(50)
    _restore.timer = timer  # type: ignore[attr-defined]  # keep it alive


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("edit", "restore"))
    parser.add_argument("rest", nargs="+")
    ns = parser.parse_args(argv)
    ensure_app()
    if ns.mode == "edit":
        image, out = Path(ns.rest[0]), Path(ns.rest[1])
        _edit_when_open(out)
        return run_app(argparse.Namespace(paths=[str(image)], device="cpu", weights=None))
    out = Path(ns.rest[0])
    questions: list[list[str]] = []
    warnings: list[list[str]] = []
    btn = QtWidgets.QMessageBox.StandardButton

    def question(_parent, title, text, *_a, **_k):
        questions.append([title, text])
        return btn.Yes  # "restore"

    def warning(_parent, title, text, *_a, **_k):
        warnings.append([title, text])
        return btn.Ok

    QtWidgets.QMessageBox.question = staticmethod(question)  # type: ignore[method-assign]
    QtWidgets.QMessageBox.warning = staticmethod(warning)  # type: ignore[method-assign]
    QtWidgets.QMessageBox.critical = staticmethod(warning)  # type: ignore[method-assign]
    _restore(out, questions, warnings)
    return run_app(argparse.Namespace(paths=[], device="cpu", weights=None))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
