"""Long tooltips wrap into lines of readable length.

Qt shows a plain-text tooltip on one line, up to the width of the screen (the Lesion panel's
250-character explanation of A spanned 1360 px of a 1600-px screen at 100 %), and wraps
rich text into a narrow column of about 30 characters. :func:`wrap_tooltips` breaks every
long prose tooltip under a widget into lines of at most :data:`LINE` characters, once, after
the widgets are built.
"""

from __future__ import annotations

import textwrap

from PySide6 import QtGui, QtWidgets

#: Longest tooltip line, in characters.
LINE = 72
#: Only prose is wrapped: at least this many words (a long file path has nowhere to break).
MIN_WORDS = 9


def wrapped(text: str) -> str:
    """``text`` broken into lines of at most :data:`LINE` characters when it is one long line
    of plain prose, else unchanged."""
    if (len(text) <= LINE or "\n" in text or len(text.split()) < MIN_WORDS
            or QtGui.Qt.mightBeRichText(text)):
        return text
    return textwrap.fill(text, LINE, break_long_words=False, break_on_hyphens=False)


def wrap_tooltips(root: QtWidgets.QWidget) -> int:
    """Wrap the long tooltips of ``root``, its child widgets and their actions; returns how
    many were changed."""
    changed = 0
    for obj in (root, *root.findChildren(QtWidgets.QWidget), *root.findChildren(QtGui.QAction)):
        text = obj.toolTip()
        new = wrapped(text)
        if new != text:
            obj.setToolTip(new)
            changed += 1
    return changed
