"""Findings of the docs-and-hair-removal trial (a new user reading the README first, then the
Preprocessing panel on hairy PH2 images), each driving the real window (pytest-qt,
offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from PySide6 import QtCore  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


def test_finding_shortcuts_list_names_each_action_once(make_window, data, qtbot):
    """Help → Keyboard shortcuts listed "Close polygon" (Return, Enter) and "Cancel" (Esc)
    twice: under Edit / Segmentation, and again in a "Tools" group at the end."""
    win = make_window([data / "IMD009.jpg"])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_F1)
    table = win.shortcuts_dialog.table
    rows = [(table.item(r, 0).text().strip(), table.item(r, 1).text())
            for r in range(table.rowCount())
            if table.item(r, 1) is not None and table.item(r, 1).text()]
    doubles = sorted({row for row in rows if rows.count(row) > 1})
    assert doubles == []
    assert ("Close polygon", "Return, Enter") in rows and ("Cancel", "Esc") in rows  # once
