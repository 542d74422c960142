"""Alt letters (mnemonics) for the items of a menu that have none (Qt-free but for
:func:`add_mnemonics`).

Many Edit, View and Segmentation items had no underlined letter: from the keyboard they were
reached only by their shortcuts or the arrow keys (trial S17A). Items that name their letter
(``&`` in the table of :mod:`dermview.gui.actions`) keep it; each other item gets the first
letter not taken yet, a word's first letter before any other, in menu order.
"""

from __future__ import annotations

from PySide6 import QtWidgets

__all__ = ["mnemonic", "with_mnemonics", "add_mnemonics"]


def mnemonic(text: str) -> str | None:
    """The letter after ``&`` in ``text``, lower case (``&&`` is a literal ampersand)."""
    plain = text.replace("&&", "")
    i = plain.find("&")
    return plain[i + 1].lower() if 0 <= i < len(plain) - 1 else None


def _candidates(text: str) -> list[int]:
    """Positions of the letters ``text`` could underline, a word's first letter first."""
    starts = [i for i, ch in enumerate(text)
              if ch.isalpha() and (i == 0 or not text[i - 1].isalnum())]
    return starts + [i for i, ch in enumerate(text) if ch.isalnum() and i not in starts]


def with_mnemonics(texts: list[str]) -> list[str]:
    """``texts`` (one menu's items, in order) with a mnemonic added where one is missing:
    each item takes its first free letter (:func:`_candidates`, in menu order), then an item
    left without one gets a letter by moving others to another of theirs (augmenting paths
    of a bipartite matching); an item no letter can be found for stays as it is."""
    used = {m for t in texts if (m := mnemonic(t))}
    todo = [k for k, t in enumerate(texts) if mnemonic(t) is None]
    owner: dict[str, int] = {}  # letter -> item
    pos: dict[int, int] = {}  # item -> position of its letter

    def place(k: int, seen: set[str]) -> bool:
        for i in _candidates(texts[k]):
            letter = texts[k][i].lower()
            if letter in used or letter in seen:
                continue
            seen.add(letter)
            if letter not in owner or place(owner[letter], seen):
                owner[letter], pos[k] = k, i
                return True
        return False

    for k in todo:  # first each item's own best free letter, in menu order
        i = next((i for i in _candidates(texts[k])
                  if texts[k][i].lower() not in used and texts[k][i].lower() not in owner), None)
        if i is not None:
            owner[texts[k][i].lower()], pos[k] = k, i
    for k in todo:  # then room for the others, moving as few items as it takes
        if k not in pos:
            place(k, set())
    return [f"{t[:pos[k]]}&{t[pos[k]:]}" if k in pos else t for k, t in enumerate(texts)]


def add_mnemonics(bar: QtWidgets.QMenuBar) -> None:
    """Give every item of the menus of ``bar`` (submenus included) a mnemonic where it lacks
    one and a letter is free (:func:`with_mnemonics`)."""
    menus = [a.menu() for a in bar.actions() if a.menu() is not None]
    while menus:
        menu = menus.pop()
        items = [a for a in menu.actions() if not a.isSeparator()]
        menus += [a.menu() for a in items if a.menu() is not None]
        for action, text in zip(items, with_mnemonics([a.text() for a in items]), strict=True):
            if text != action.text():
                action.setText(text)
