"""Counts in words for messages: ``counted(1, "label")`` → ``"1 label"``; ``exist(names, folder)``;
``short_path(path)``."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural (an ``s``) unless ``n`` is 1: ``"1 image"``, ``"8 labels"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def exist(names: list[str], folder: object) -> str:
    """``"A already exists in F"`` for one name, ``"A, B already exist in F"`` for several."""
    return f"{', '.join(names)} already {'exists' if len(names) == 1 else 'exist'} in {folder}"


def short_path(path: object) -> str:
    """A path by its last two parts, ``"…/study/labels"`` (whole when it has no more): for a
    status-bar line, which a full path pushed past the window's edge at 150 %."""
    text = str(path)
    parts = text.replace("\\", "/").rstrip("/").split("/")
    return text if len(parts) <= 3 else "…/" + "/".join(parts[-2:])
