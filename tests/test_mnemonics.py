"""Menu mnemonics added where the action table names none (:mod:`dermview.gui.mnemonics`)."""

from dermview.gui.mnemonics import mnemonic, with_mnemonics


def test_items_keep_their_letter_and_the_others_get_a_free_one():
    texts = ["&Open image…", "Open folder…", "Outline", "R&&D notes", "Zoom in", "Zoom out"]
    out = with_mnemonics(texts)
    assert out[0] == "&Open image…"  # named in the table: kept
    assert out[1] == "Open &folder…"  # O is taken: the next word's first letter
    letters = [mnemonic(t) for t in out]
    assert None not in letters and len(set(letters)) == len(letters)
    assert out[3].replace("&&", "").count("&") == 1  # a literal && stays a literal


def test_an_item_left_without_a_letter_gets_one_by_moving_another():
    # greedily "Ab" takes a and "Ba" b; "ab" then has no letter unless one of them moves
    out = with_mnemonics(["Ab c", "Ba", "ab"])
    letters = [mnemonic(t) for t in out]
    assert None not in letters and len(set(letters)) == 3


def test_an_item_with_no_free_letter_stays_as_it_is():
    assert with_mnemonics(["&Ab", "&ba", "ab"]) == ["&Ab", "&ba", "ab"]
