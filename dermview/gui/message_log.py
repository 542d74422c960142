"""The session's status-bar messages, whole and with their time (View → Messages…).

A status-bar message shows on one line for a few seconds and is cut at the window's edge when
longer (at 150 % an import's or an export's advice was lost, trial S17A); the log keeps each
one. A live readout (the grow tool's tolerance, the ruler's length while dragging) sends a
message per mouse move: one that follows the last within :data:`LIVE_S` and reads the same up
to its first digit replaces it.
"""

from __future__ import annotations

import re
import time
from collections import deque

from PySide6 import QtGui, QtWidgets

from dermview.gui.dialogs import show_in_front

MAX_ENTRIES = 300  #: messages kept (the oldest dropped)
LIVE_S = 1.5  #: a message this soon after the last, the same up to its first digit, replaces it

_UP_TO_DIGIT = re.compile(r"^[^\d]*")


class MessageLog:
    """``(HH:MM:SS, text)`` entries, oldest first. Qt-free but for :func:`show_log`."""

    def __init__(self, clock=time.time) -> None:
        self.entries: deque[tuple[str, str]] = deque(maxlen=MAX_ENTRIES)
        self._clock = clock
        self._last_at = -1e9

    def add(self, text: str) -> None:
        """Record a message shown (empty: none)."""
        if not text:
            return
        now = self._clock()
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        if self.entries:
            last = self.entries[-1][1]
            if last == text or (now - self._last_at < LIVE_S and _UP_TO_DIGIT.match(text).group()
                                == _UP_TO_DIGIT.match(last).group() and re.search(r"\d", text)):
                self.entries.pop()
        self.entries.append((stamp, text))
        self._last_at = now

    def text(self) -> str:
        """The entries as lines, ``HH:MM:SS  message`` (a message's own line breaks kept)."""
        return "\n".join(f"{stamp}  {text}" for stamp, text in self.entries)


def show_log(log: MessageLog, parent: QtWidgets.QWidget) -> QtWidgets.QDialog:
    """A window listing the messages (newest last, scrolled to them), with Copy and Close."""
    dialog = QtWidgets.QDialog(parent)
    dialog.setWindowTitle("Messages")
    view = QtWidgets.QPlainTextEdit(log.text() or "No messages yet in this session.")
    view.setReadOnly(True)
    view.setObjectName("messages")
    view.moveCursor(QtGui.QTextCursor.MoveOperation.End)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    copy = buttons.addButton("Copy all", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
    copy.clicked.connect(lambda: QtWidgets.QApplication.clipboard().setText(log.text()))
    buttons.rejected.connect(dialog.reject)
    layout = QtWidgets.QVBoxLayout(dialog)
    layout.addWidget(view)
    layout.addWidget(buttons)
    em = dialog.fontMetrics().averageCharWidth()
    dialog.resize(min(100 * em, parent.width()), 24 * dialog.fontMetrics().height())
    view.setFocus()
    return show_in_front(dialog)
