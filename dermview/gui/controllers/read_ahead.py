"""Reading the next worklist image ahead once the window is idle (:mod:`dermview.image_prefetch`).

Started as soon as an image opened, the read competed with the preview and segmentation
workers for the interpreter and stalled the window for about 0.3 s (twice the stall without
it, measured by ``benchmarks/bench_gui.py``); it now waits until they are done.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from dermview.gui.controllers.session import SessionController
from dermview.gui.worklist import Worklist

POLL_MS = 50  #: how often an idle window is looked for after an image opened


class ReadAheadController(QtCore.QObject):
    """After each opened image, reads the worklist's next one into ``session.prefetch`` as
    soon as ``busy()`` is false (PgDown then opens it without decoding it)."""

    def __init__(self, session: SessionController, worklist: Worklist,
                 busy: Callable[[], bool], parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.session, self.worklist, self.busy = session, worklist, busy
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._try)
        session.opened.connect(lambda _path: self._timer.start())

    def _try(self) -> None:
        if self.busy():
            return
        self._timer.stop()
        self.session.prefetch.start(self.worklist.neighbour(1))
