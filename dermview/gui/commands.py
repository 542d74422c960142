"""Typed undo commands: every change of the working mask is one command on the document's
``QUndoStack`` (one brush stroke, one polygon, one operation, one applied prediction, one
threshold gesture).

A command holds a :class:`dermview.editing.MaskPatch` (the changed rectangle before and after)
and an :class:`EditKind` that says what made the change; the sidecar's provenance (hand edits,
model mask) is read from these kinds (:meth:`Document.hand_edits`). Consecutive threshold
changes merge into one step through ``QUndoCommand.id()`` / ``mergeWith()``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import numpy as np
from PySide6 import QtGui

from dermview import editing
from dermview.masks import Rect

if TYPE_CHECKING:  # the document imports this module, not the other way round
    from dermview.gui.document import Document


class EditKind(enum.Enum):
    """What made a change of the working mask."""

    HAND = "hand"  #: a person's correction (brush, polygon, operation, clear, grow)
    PROMPT = "prompt"  #: a Refine prompt's result (a hand edit, but its pixels the model's)
    PREDICTION = "prediction"  #: a model result replaced the mask
    THRESHOLD = "threshold"  #: the probability threshold changed (hand edits are kept)
    RECOVERED = "recovered"  #: work restored from the crash journal


#: The kinds that count as a person's correction (provenance, review state).
HAND_KINDS = (EditKind.HAND, EditKind.PROMPT)


class MaskCommand(QtGui.QUndoCommand):
    """Undo step of one :class:`~dermview.editing.MaskPatch` (``None``: no pixel changed).

    ``applied=True``: the change is already in the mask (a stroke painted live), so the first
    ``redo`` (called by ``QUndoStack.push``) does nothing.
    """

    def __init__(self, doc: Document, patch: editing.MaskPatch | None, text: str,
                 kind: EditKind, applied: bool = False) -> None:
        super().__init__(text)
        self.doc = doc
        self.kind = kind
        # Bit-packed: a full-image step costs kilobytes, not megabytes.
        self.patch = patch.compact() if patch is not None else None
        self._skip = applied

    @property
    def changed_pixels(self) -> int:
        return self.patch.changed_pixels if self.patch is not None else 0

    def redo(self) -> None:
        if self._skip:
            self._skip = False
        elif self.patch is not None:
            self.patch.apply(self.doc.mask)
        self._notify()

    def undo(self) -> None:
        if self.patch is not None:
            self.patch.revert(self.doc.mask)
        self._notify()

    def _notify(self) -> None:
        self.doc.notify_mask(self.patch.rect if self.patch is not None else Rect(0, 0, 0, 0))


class RecoveredCommand(MaskCommand):
    """Work restored from the crash journal, with the provenance it had when journaled:
    ``hand_edits`` = ``(operations, pixels, reset)`` (see :meth:`Document.hand_edits`) and
    ``edited`` = the hand-edited pixels ``bool (H, W)``."""

    def __init__(self, doc: Document, patch: editing.MaskPatch | None,
                 hand_edits: tuple[int, int, bool], edited: np.ndarray) -> None:
        super().__init__(doc, patch, "Recovered autosave", EditKind.RECOVERED)
        self.hand_edits = hand_edits
        self.edited = edited


class ThresholdCommand(MaskCommand):
    """A threshold change: restores the document's threshold on undo/redo; consecutive
    threshold changes merge into one undo step (one slider gesture)."""

    ID = 1001

    def __init__(self, doc: Document, patch: editing.MaskPatch | None, before: float,
                 after: float) -> None:
        super().__init__(doc, patch, f"Threshold {after:.2f}", EditKind.THRESHOLD)
        self.thresholds = (float(before), float(after))

    def id(self) -> int:  # noqa: A003 (Qt API)
        return self.ID

    def mergeWith(self, other: QtGui.QUndoCommand) -> bool:  # noqa: N802 (Qt API)
        """Absorb the next threshold step (already applied by ``push``)."""
        if not isinstance(other, ThresholdCommand):
            return False
        self.patch = _chain(self.doc.mask, self.patch, other.patch)
        self.thresholds = (self.thresholds[0], other.thresholds[1])
        self.setText(f"Threshold {self.thresholds[1]:.2f}")
        return True

    def redo(self) -> None:
        super().redo()
        self.doc.set_threshold_value(self.thresholds[1])

    def undo(self) -> None:
        super().undo()
        self.doc.set_threshold_value(self.thresholds[0])


class ReviewCommand(QtGui.QUndoCommand):
    """A change of the review state and/or comment ``(state, comment)``; consecutive comment
    edits merge into one step."""

    ID = 1002

    def __init__(self, doc: Document, before: tuple[str | None, str],
                 after: tuple[str | None, str]) -> None:
        super().__init__("Review comment" if before[0] == after[0] else
                         f"Review: {after[0] or 'not reviewed'}")
        self.doc, self.before, self.after = doc, before, after

    def id(self) -> int:  # noqa: A003 (Qt API)
        return self.ID if self.before[0] == self.after[0] else -1

    def mergeWith(self, other: QtGui.QUndoCommand) -> bool:  # noqa: N802 (Qt API)
        if not isinstance(other, ReviewCommand) or other.id() != self.ID:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.doc.set_review(*self.after)

    def undo(self) -> None:
        self.doc.set_review(*self.before)


def _chain(mask: np.ndarray, first: editing.MaskPatch | None,
           second: editing.MaskPatch | None) -> editing.MaskPatch | None:
    """One patch for ``first`` then ``second``; ``mask`` is the state after both."""
    if first is None or second is None:
        return first if second is None else second
    rect = first.rect.union(second.rect)
    after = mask[rect.slices].copy()
    before = after.copy()
    for p in (second, first):  # undo in reverse order, inside the union
        before[p.rect.r0 - rect.r0:p.rect.r1 - rect.r0,
               p.rect.c0 - rect.c0:p.rect.c1 - rect.c0] = p.before
    return editing.MaskPatch(rect, before, after).compact()


def push_mask(doc: Document, new: np.ndarray, text: str,
              kind: EditKind = EditKind.HAND) -> bool:
    """Push an undoable change that turns the working mask into ``new``; False if unchanged."""
    patch = editing.diff_patch(doc.mask, np.asarray(new, dtype=bool))
    if patch is None:
        return False
    doc.undo_stack.push(MaskCommand(doc, patch, text, kind))
    return True


def push_threshold(doc: Document, new: np.ndarray, before: float, after: float) -> None:
    """Push a threshold step turning the mask into ``new`` (merges with a previous one)."""
    patch = editing.diff_patch(doc.mask, np.asarray(new, dtype=bool))
    doc.undo_stack.push(ThresholdCommand(doc, patch, before, after))
