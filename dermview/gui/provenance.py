"""Provenance of the working mask, read from its undo history (plain functions, no widgets).

Each function takes the mask commands applied so far, oldest first (undone ones excluded:
:meth:`~dermview.gui.document.Document.applied_commands`), and answers one question about the hand
edits since the last model prediction. No state of its own; the document calls them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from dermview.editing import MaskPatch
from dermview.gui.commands import HAND_KINDS, EditKind, MaskCommand, RecoveredCommand
from dermview.masks import Rect


def hand_edits(cmds: Sequence[MaskCommand]) -> tuple[int, int, bool]:
    """Hand edits since the last model prediction: ``(operations, pixels changed, reset)``.

    A prediction replaces the mask, so counting restarts after it and ``reset`` is True
    (edits of a previously saved label no longer apply). Threshold changes keep the hand
    edits (the threshold applies to the other pixels).
    """
    ops = pixels = 0
    reset = False
    for cmd in cmds:
        if cmd.kind in HAND_KINDS:
            ops += 1
            pixels += cmd.changed_pixels
        elif cmd.kind is EditKind.PREDICTION:
            ops = pixels = 0
            reset = True
        elif isinstance(cmd, RecoveredCommand):
            ops, pixels, reset = cmd.hand_edits
    return ops, pixels, reset


def hand_edited_map(cmds: Sequence[MaskCommand], shape: tuple[int, int],
                    kinds: tuple[EditKind, ...] = HAND_KINDS) -> np.ndarray:
    """``bool shape``: pixels a person changed since the last model prediction (by commands
    of ``kinds``; ``(EditKind.HAND,)`` = painted, not by Refine prompts)."""
    out = np.zeros(shape, bool)
    for cmd in cmds:
        if cmd.kind in kinds and cmd.patch is not None:
            out[cmd.patch.rect.slices] |= cmd.patch.before != cmd.patch.after
        elif cmd.kind is EditKind.PREDICTION:
            out[...] = False
        elif isinstance(cmd, RecoveredCommand) and cmd.edited.shape == out.shape:
            out = cmd.edited.copy()
    return out


def _within(inner: Rect, outer: Rect) -> tuple[slice, slice]:
    """Slices of ``inner`` in an array covering ``outer`` (``inner`` lies inside it)."""
    return (slice(inner.r0 - outer.r0, inner.r1 - outer.r0),
            slice(inner.c0 - outer.c0, inner.c1 - outer.c0))


def hand_changed(cmds: Sequence[MaskCommand], mask: np.ndarray) -> bool:
    """Whether the hand edits since the last model prediction changed ``mask`` (the working
    mask now) on balance: False when every pixel a person touched is back to its value before
    the first edit (a stroke erased again, a Refine prompt that took back a painted stroke).
    Visits each edit's rectangle once (and the overlaps of earlier ones), never the image."""
    edits: list[MaskPatch] = []
    journaled = False  # journaled edits: their pixels' earlier values are not known
    for cmd in cmds:
        if cmd.kind in HAND_KINDS and cmd.patch is not None:
            edits.append(cmd.patch)
        elif cmd.kind is EditKind.PREDICTION:
            edits, journaled = [], False
        elif isinstance(cmd, RecoveredCommand):
            journaled = cmd.hand_edits[0] > 0
    if journaled:
        return True
    earlier: list[tuple[Rect, np.ndarray]] = []  # (rectangle, pixels it changed)
    for patch in edits:
        rect, before = patch.rect, patch.before  # decompressed on each access when compacted
        changed = before != patch.after
        first = changed.copy()  # changed here for the first time
        for other, other_changed in earlier:
            both = rect.intersect(other)
            if not both.empty:
                first[_within(both, rect)] &= ~other_changed[_within(both, other)]
        if np.any(mask[rect.slices][first] != before[first]):
            return True
        earlier.append((rect, changed))
    return False


def mask_digest(mask: np.ndarray) -> bytes:
    """A short digest of a bool mask's pixels (to tell whether it changed since a save)."""
    return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()


def edit_tools(cmds: Sequence[MaskCommand]) -> tuple[dict[str, int], bool]:
    """Which tools made the hand edits since the last model prediction: ``({tool: steps},
    reset)``, a tool named by its undo text without its details ("Grow from seed (add, ΔE 9)"
    counts as "Grow from seed"); ``reset`` as in :func:`hand_edits`."""
    tools: dict[str, int] = {}
    reset = False
    for cmd in cmds:
        if cmd.kind in HAND_KINDS and cmd.changed_pixels:
            name = cmd.text().split(" (")[0]
            tools[name] = tools.get(name, 0) + 1
        elif cmd.kind is EditKind.PREDICTION:
            tools, reset = {}, True
    return tools, reset
