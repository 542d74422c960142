"""The status bar's messages, whole, in View → Messages… (a message shows for a few seconds
and is cut at the window's edge at 150 %: an import's or export's advice was lost)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from dermview.gui.message_log import LIVE_S, MessageLog  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


def test_the_log_keeps_messages_and_folds_a_live_readout():
    now = [1000.0]
    log = MessageLog(clock=lambda: now[0])
    log.add("Saved IMD002.jpg")
    log.add("")  # the message cleared: nothing recorded
    now[0] += 0.2
    log.add("Saved IMD002.jpg")  # shown again: once
    for tolerance in (3, 7, 12):  # one message per mouse move while dragging
        now[0] += 0.05
        log.add(f"Grow from seed: tolerance ΔE {tolerance} (drag to change)")
    now[0] += LIVE_S + 1
    log.add("Grow from seed: tolerance ΔE 20 (drag to change)")  # a new drag, later
    now[0] += 0.1
    log.add("Saved IMD009.jpg")  # soon after, but not the same text up to its first digit
    assert [t for _, t in log.entries] == [
        "Saved IMD002.jpg", "Grow from seed: tolerance ΔE 12 (drag to change)",
        "Grow from seed: tolerance ΔE 20 (drag to change)", "Saved IMD009.jpg"]
    assert log.text().splitlines()[0].endswith("  Saved IMD002.jpg")


def test_view_messages_lists_a_message_whole_and_menu_tips_are_left_out(make_window, data,
                                                                          qtbot):
    win = make_window([data])
    win.resize(500, 600)  # a narrow window: the status bar cuts the message
    assert win.session.next_image()  # IMD009, the last
    assert not win.session.next_image()
    said = win.statusBar().currentMessage()
    assert said.startswith("No next image")
    assert said in win.statusBar().toolTip()  # hovering the status bar gives it whole
    tip = "Open an image file"  # as a menu item hovered sends it: shown, not logged
    QtWidgets.QApplication.sendEvent(win, QtGui.QStatusTipEvent(tip))
    assert win.statusBar().currentMessage() == tip
    qtbot.keyClick(win, QtCore.Qt.Key.Key_M, QtCore.Qt.KeyboardModifier.ControlModifier
                   | QtCore.Qt.KeyboardModifier.ShiftModifier)
    dialog = win.status.log_dialog
    assert dialog.isVisible() and dialog.windowTitle() == "Messages"
    text = dialog.findChild(QtWidgets.QPlainTextEdit, "messages").toPlainText()
    assert said in text and tip not in text
    dialog.reject()


@pytest.mark.parametrize("action", ["shortcuts", "about", "messages"])
def test_the_help_and_message_windows_ask_to_be_active(make_window, monkeypatch, action):
    """Trial finding (Xvfb, xdotool): F1 and Help → About opened without the keyboard in
    them (Esc did nothing until the window was clicked); they now ask the window system to
    raise and activate them. (Offscreen, every shown window is active: the request is what
    can be checked here.)"""
    asked = []
    monkeypatch.setattr(QtWidgets.QDialog, "activateWindow", lambda self: asked.append(self))
    win = make_window()
    win.actions[action].trigger()
    dialog = {"shortcuts": lambda: win.shortcuts_dialog, "about": lambda: win.about_dialog,
              "messages": lambda: win.status.log_dialog}[action]()
    assert dialog.isVisible() and asked == [dialog]
    dialog.reject()
