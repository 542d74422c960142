"""Trial S15A (an annotator fixing bad masks fast) replayed on the real window (offscreen)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")
pytest.register_assert_rewrite("_gui")
from _gui import drag  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from dermview.gui.testing import process  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, data, make_window


def _segmented(make_window, path):
    win = make_window([path])
    win.actions["segment"].trigger()
    assert win.wait_idle(120) and win.doc.prob is not None
    return win


def _history(win) -> list[str]:
    stack = win.doc.undo_stack
    return [stack.text(i) for i in range(stack.index())]


def test_a_on_a_mask_edited_now_records_corrected_not_accepted(make_window, data, qtbot):
    """Trial finding: three Refine clicks, then A (Accept mask and save): the sidecar said
    corrected, but the History read 'Review: accepted' and the status bar said only 'Saved
    …'; undoing the edits afterwards left the verdict 'accepted' nobody had given."""
    win = _segmented(make_window, data / "IMD009.jpg")
    win.set_tool("brush")
    win.edit.set_radius(6)
    drag(qtbot, win.before, [(40.5, 330.5), (70.5, 340.5)])  # a stroke far from the lesion
    assert win.doc.hand_changed()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)
    sidecar = data / "labels" / "IMD009_segmentation.json"
    assert json.loads(sidecar.read_text())["review_state"] == "corrected"
    assert _history(win)[-1] == "Review: corrected"
    assert win.doc.review_state == "corrected"
    assert "Saved as corrected" in win.statusBar().currentMessage()


def test_the_sidecar_names_the_tools_that_corrected_the_mask(make_window, data, qtbot):
    """Trial finding: a mask fixed with a Refine box, a not-lesion click and a brush stroke
    was saved with "edit_operations": 3 and nothing saying which tools: the brief's
    reviewer could not tell a Refine fix from a hand-drawn one."""
    win = _segmented(make_window, data / "IMD009.jpg")
    win.set_tool("brush")
    win.edit.set_radius(6)
    drag(qtbot, win.before, [(40.5, 330.5), (70.5, 340.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_G)  # Grow by 1 px
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    sidecar = data / "labels" / "IMD009_segmentation.json"
    meta = json.loads(sidecar.read_text())
    assert meta["edit_tools"] == {"Brush stroke": 1, "Grow 1 px": 1}
    # saved twice in one session: each step counted once
    qtbot.keyClick(win, QtCore.Qt.Key.Key_G)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert json.loads(sidecar.read_text())["edit_tools"] == {"Brush stroke": 1,
                                                               "Grow 1 px": 2}
    # opened again and edited: the earlier session's tools are kept
    assert win.session.open_image(data / "IMD002.jpg")
    assert win.session.open_image(data / "IMD009.jpg")
    qtbot.keyClick(win, QtCore.Qt.Key.Key_G, QtCore.Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert json.loads(sidecar.read_text())["edit_tools"] == {
        "Brush stroke": 1, "Grow 1 px": 2, "Shrink 1 px": 1}
    # a new prediction replaces the corrected mask: no tool corrected that one
    win.actions["segment"].trigger()
    assert win.wait_idle(60)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)
    assert "edit_tools" not in json.loads(sidecar.read_text())



def _refine_with_a_box(make_window, data, qtbot):
    """IMD009 segmented, the Refine tool on, a box drawn round the middle of the image."""
    win = make_window([data / "IMD009.jpg"])
    win.actions["segment"].trigger()
    assert win.wait_idle(60)
    pane = win.view.shown()
    pane.fit()
    process(20)
    if win.refine.session is not None:
        win.refine.session.wait()
    win.actions["tool_refine"].trigger()
    h, w = win.doc.shape
    drag(qtbot, pane, [(w * 0.2, h * 0.2), (w * 0.5, h * 0.5), (w * 0.8, h * 0.8)])
    return win, pane


def _click(qtbot, pane, row, col, modifier=QtCore.Qt.KeyboardModifier.ShiftModifier):
    p = pane.view_to_widget(col + 0.5, row + 0.5)
    qtbot.mouseMove(pane.viewport(), p)
    qtbot.wait(10)
    qtbot.mouseClick(pane.viewport(), QtCore.Qt.MouseButton.LeftButton, modifier, p)
    process(5)


def test_a_not_lesion_click_outside_a_refine_box_is_taken(make_window, data, qtbot):
    """Trial finding: a Refine box, then Shift+click ('not lesion') outside it, where the box
    already says not lesion: the status bar read 'Refine: Iteration of zero-sized operands is
    not enabled' (the graph cut's library refuses an empty update) and the click was lost."""
    win, pane = _refine_with_a_box(make_window, data, qtbot)
    h, w = win.doc.shape
    _click(qtbot, pane, h * 0.05, w * 0.05)
    assert "zero-sized" not in win.statusBar().currentMessage()
    assert len(win.refine.session.prompts) == 2


def test_a_prompt_that_changes_nothing_keeps_the_markers_of_the_prompts_in_force(
        make_window, data, qtbot):
    """Trial finding (ISIC_0000147 at 150 %): a Refine box, then Shift+clicks in its corners;
    a click on a pixel already 'not lesion' changed nothing, and the box's outline and
    marker vanished (the box still bent the mask); the next such click took the marker
    before it too, and Ctrl+click on a marker then removed another prompt than the one
    under the mouse."""
    from dermview.interactive import BoxPrompt, ClickPrompt

    win, pane = _refine_with_a_box(make_window, data, qtbot)
    assert [type(p) for _, p in win.refine.markers] == [BoxPrompt]
    index = win.doc.undo_stack.index()
    h, w = win.doc.shape
    _click(qtbot, pane, h * 0.05, w * 0.05)  # outside the box: already not lesion
    assert win.doc.undo_stack.index() == index  # nothing changed, no step
    assert [type(p) for _, p in win.refine.markers] == [BoxPrompt, ClickPrompt]
    assert len(win.refine._boxes[-1][1]) == 1, "the box's outline went"
    _click(qtbot, pane, h * 0.95, w * 0.95)
    assert [type(p) for _, p in win.refine.markers] == [BoxPrompt, ClickPrompt, ClickPrompt]
    # Ctrl+click on the box's marker removes the box, not a click
    _click(qtbot, pane, h * 0.5 - 0.5, w * 0.5 - 0.5, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert [type(p) for _, p in win.refine.markers] == [ClickPrompt, ClickPrompt]


def test_save_and_next_at_the_end_of_the_worklist_says_there_is_no_next(make_window, data,
                                                                          qtbot):
    """Trial finding: the worklist filtered to one image (Ctrl+F), the mask fixed, Ctrl+Return
    (Save and next): saved, and the same image stayed with only 'Saved …' in the status bar;
    PgDown on the last image did nothing without a word."""
    win = make_window([data])
    last = win.worklist.paths[-1]
    assert win.session.open_image(last)
    win.actions["segment"].trigger()
    assert win.wait_idle(60)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_G)  # Grow 1 px
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Return, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not win.doc.dirty and win.doc.path == last
    assert "last image of the worklist" in win.statusBar().currentMessage()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_PageDown)
    assert win.doc.path == last
    assert "No next image" in win.statusBar().currentMessage()


def test_the_worklist_order_chosen_is_kept_when_the_folder_opens_again(make_window, data,
                                                                        boxes):
    """Trial finding: the worklist sorted least confident first (Conf. header), the app quit
    and the folder opened again: back in name order, the first image by name opened, and
    'Next image to review' then walked the names, not the bad masks first."""
    from dermview.labels import label_paths

    win = make_window([data])
    first, second = win.worklist.paths
    for path, conf in ((first, 0.95), (second, 0.40)):  # batch results with a confidence
        assert win.session.open_image(path)
        win.actions["segment"].trigger()
        assert win.wait_idle(60)
        win.actions["save"].trigger()
        js = label_paths(path)[1]
        meta = json.loads(js.read_text())
        meta.update(review_state=None, confidence=conf)
        js.write_text(json.dumps(meta))
    win.actions["sort_confidence"].trigger()
    assert win.worklist.paths == [second, first]
    again = make_window([data])
    assert again.worklist.paths == [second, first]
    assert again.doc.path == second  # the least confident mask to review first
    again.actions["sort_name"].trigger()
    assert make_window([data]).worklist.paths == [first, second]
