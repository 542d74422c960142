"""Counts in words for messages: ``counted(1, "label")`` → ``"1 label"``."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural (an ``s``) unless ``n`` is 1: ``"1 image"``, ``"8 labels"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
