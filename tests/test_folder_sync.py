"""dermview.folder_sync: the worklist after its folder changed (pure, no Qt)."""

from __future__ import annotations

from pathlib import Path

from dermview.folder_sync import folder_change_text, synced_worklist

F = Path("/clinic")


def test_new_images_take_their_place_in_the_folder_order():
    old = [F / "a.jpg", F / "c.jpg"]
    new, added, gone = synced_worklist(old, [F / "a.jpg", F / "b.jpg", F / "c.jpg"], F)
    assert new == [F / "a.jpg", F / "b.jpg", F / "c.jpg"] and added == [F / "b.jpg"] and gone == []
    assert folder_change_text(F, added, gone) == "clinic changed: 1 new image added to the worklist (b.jpg)"


def test_a_sorted_worklist_keeps_its_order_and_the_new_images_go_last():
    old = [F / "c.jpg", F / "a.jpg"]  # least confident first
    new, added, _ = synced_worklist(old, [F / "a.jpg", F / "b.jpg", F / "c.jpg"], F)
    assert new == [F / "c.jpg", F / "a.jpg", F / "b.jpg"] and added == [F / "b.jpg"]


def test_images_gone_leave_it_but_the_open_one_and_other_folders_stay():
    other = Path("/elsewhere/x.jpg")
    old = [F / "a.jpg", F / "b.jpg", F / "c.jpg", other]
    new, added, gone = synced_worklist(old, [F / "c.jpg"], F, keep=F / "a.jpg")
    assert gone == [F / "b.jpg"] and added == []
    assert new == [F / "c.jpg", F / "a.jpg", other]  # the folder's order, then the rest
    assert "1 image no longer there (deleted, renamed or moved: b.jpg)" in folder_change_text(F, added, gone)


def test_no_change_says_nothing():
    old = [F / "a.jpg"]
    assert synced_worklist(old, [F / "a.jpg"], F) == (old, [], [])
    assert folder_change_text(F, [], []) == ""
