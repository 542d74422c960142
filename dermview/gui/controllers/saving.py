"""Saving labels, the labels folder, autosave and crash recovery of the open image.

Where a label goes is the core's policy (:func:`dermview.label_policy.labels_dir_for`); writing is
:meth:`Document.save` (atomic, with backups); the journal is :class:`dermview.recovery.
RecoveryStore`. Message boxes go through :mod:`dermview.gui.dialogs` (patched in tests).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from dermview import label_policy, labels, paths
from dermview.errors import DermviewError, WriteError
from dermview.gui import dialogs
from dermview.gui.document import Document
from dermview.gui.settings import Settings
from dermview.label_status import label_source
from dermview.preprocess.params import PreprocessParams
from dermview.recovery import RecoveryEntry, RecoveryStore

#: Delay (ms) between a finished edit and its journal entry (coalesces slider ticks).
JOURNAL_DELAY_MS = 150

Btn = QtWidgets.QMessageBox.StandardButton
CHOOSE_FOLDER = "Choose another folder…"


def unsaved_steps(stack: QtGui.QUndoStack) -> str:
    """The steps done since the last save, as the History panel names them, each once with
    its count ("Apply model prediction, Brush stroke ×3"); "" when there are none to name
    (steps undone past the save, or no save point left)."""
    clean, index = stack.cleanIndex(), stack.index()
    if clean < 0 or index <= clean:
        return ""
    # "Threshold 0.55", "Grow from seed (add, ...)": one kind of step
    names = Counter(re.sub(r" \(.*$| [\d.]+$", "", stack.text(i)) for i in range(clean, index))
    return ", ".join(f"{n} ×{k}" if k > 1 else n for n, k in names.items())


class SaveController(QtCore.QObject):
    """Saves the working mask, asks about unsaved edits, autosaves and offers recovery.

    Signals:
        saved(Path): the label of this image was written.
        labels_dir_changed(object): the chosen labels folder (None = beside each image).
        message(str, int): status-bar message and duration (ms).
        error(str, str): message box (title, text) to show.
        reload_requested(Path): open this image and its label again (the user dropped their
            edits for a label saved meanwhile).
    """

    saved = QtCore.Signal(object)
    reload_requested = QtCore.Signal(object)
    labels_dir_changed = QtCore.Signal(object)
    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)

    def __init__(self, doc: Document, settings: Settings, recovery: RecoveryStore,
                 params: Callable[[], PreprocessParams], parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.doc, self.settings, self.recovery, self.params = doc, settings, recovery, params
        self.window = parent
        self.labels_dir: Path | None = settings.get_path("labels_dir")
        self._journaled: set[Path] = set()  # images journaled by this session
        self._accepted: set[Path] = set()  # recovery accepted at start-up
        self._answered: set[Path] = set()  # recovery offered (and answered) in this session
        self._written: tuple = (None, -1, None)
        self._prob_written: np.ndarray | None = None
        self._closing = False
        # Journal each finished step (a stroke, an operation, a threshold gesture) at once.
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(JOURNAL_DELAY_MS)
        self.timer.timeout.connect(self.journal)
        doc.undo_stack.indexChanged.connect(self._schedule)
        doc.threshold_changed.connect(self._schedule)

    # -- labels folder --------------------------------------------------------------------------
    def labels_dir_for(self, image: Path) -> Path | None:
        """Labels folder for ``image`` (:func:`dermview.label_policy.labels_dir_for`)."""
        return label_policy.labels_dir_for(image, self.labels_dir, paths.resources_dir(),
                                     paths.user_data_dir() / "labels")

    def set_labels_dir(self, folder: Path | None) -> None:
        """Where labels are saved (None = ``labels/`` beside each image); applies to the open
        image at once: with unsaved changes they stay, to be saved there; without, the image
        is shown with that folder's label (or none), so its verdict is that folder's too (the
        Review panel kept the old folder's "accepted" beside the worklist's "new")."""
        self.labels_dir = Path(folder) if folder else None
        self.settings.set("labels_dir", str(self.labels_dir or ""))
        if self.doc.has_image:
            self.doc.set_labels_dir(self.labels_dir_for(self.doc.path))
        self.labels_dir_changed.emit(self.labels_dir)
        if self.doc.has_image and not self.doc.dirty:
            self.reload_requested.emit(self.doc.path)

    def choose_labels_dir(self, start: Path | None = None) -> bool:
        """Ask for a labels folder (the dialog opens in ``start``, else the current labels
        folder); Cancel changes nothing. True when one was chosen."""
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Labels folder",
            str(start or self.labels_dir or self._current_folder() or ""))
        if not folder:
            return False
        self.set_labels_dir(Path(folder))
        return True

    def _current_folder(self) -> Path | None:
        return self.doc.label_paths[0].parent if self.doc.has_image else None

    def labels_text(self) -> str:
        """Status-bar text naming the folder the open image's label goes to."""
        folder = self._current_folder()
        return f"Labels → {folder}" if folder is not None else ""

    # -- saving ---------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save the working mask and its sidecar. Returns False (after a message) on failure."""
        doc = self.doc
        if not doc.has_image:
            return False
        if not (doc.dirty or doc.label_loaded or doc.mask.any()):
            # Ctrl+S on an image nobody outlined wrote an empty label, listed as labelled
            self.message.emit(f"Nothing to save: {doc.path.name} has no mask yet. Segment "
                              "(Ctrl+R) or draw the lesion first; Reject (X) marks the image "
                              "to be redone", 8000)
            return False
        answer = self._ask_replace(doc.label_saved_meanwhile())
        if answer == Btn.Discard:  # theirs wins: drop the edits here and show their label
            self.recovery.discard(doc.path)
            self._journaled.discard(doc.path)
            doc.undo_stack.setClean()
            self.reload_requested.emit(doc.path)
            return False
        if answer == Btn.No:
            self.message.emit(f"Not saved: the label of {doc.path.name} that was saved meanwhile "
                              "is kept; your mask is still here (unsaved)", 10000)
            return False
        try:
            with dialogs.busy_cursor():
                png, _js = doc.save(self.params())
        except WriteError as exc:  # read-only or blocked folder: offer another one
            choice = dialogs.choose(self.window, "Label not saved", f"{exc}\n\nSave the "
                                    "labels in another folder?", [CHOOSE_FOLDER])
            # the dialog opened inside the folder just refused: start beside it instead
            refused = doc.label_paths[0].parent
            return choice == CHOOSE_FOLDER and self.choose_labels_dir(
                refused.parent if refused.parent != refused else None) and self.save()
        except DermviewError as exc:
            self.error.emit("Label not saved", str(exc))
            return False
        self.recovery.discard(doc.path)
        self._journaled.discard(doc.path)
        self.saved.emit(doc.path)
        if doc.path.is_file():
            self.message.emit(f"Saved {png}", 5000)
        else:  # renamed or deleted meanwhile: the label is kept under the name it was opened by
            self.message.emit(f"Saved {png}; note that {doc.path.name} is no longer in its "
                              "folder (moved, renamed or deleted)", 15000)
        return True

    def _ask_replace(self, other: dict | None) -> QtWidgets.QMessageBox.StandardButton:
        """Whether to write over a label someone else saved since this image was opened
        (``other``: its sidecar; None = nobody did: Yes without asking). Yes replaces it, No
        keeps both as they are (default), Discard drops the edits here for theirs."""
        if other is None:
            return Btn.Yes
        who = str(other.get("user") or "someone")
        when = str(other.get("modified") or "")[:16].replace("T", " ")
        at = f" at {when} UTC" if when else ""
        state = str(other.get("review_state") or "not reviewed")
        if label_source(other) == "imported":  # File → Import labels… here, or dermview import
            from dermview.exchange.labelset import imported_from_text

            # (it said "saved meanwhile in another window or by another program" of the
            # user's own import in this window)
            how = (f"was imported by {who}{at} {imported_from_text(other)} ({state} here) and "
                   "is not the one you opened (File → Import labels…, or dermview import)")
        else:
            how = (f"was saved by {who}{at} ({state}) and is not the one you opened: saved "
                   "meanwhile in another window or by another program, or found in a labels "
                   "folder chosen since")
        return dialogs.ask(
            self.window, "Label saved meanwhile",
            f"The label of {self.doc.path.name} in {self.doc.label_paths[0].parent} {how}."
            "\n\nYes: replace it with your mask "
            f"(theirs is kept in {labels.BACKUP_DIRNAME}/ beside the labels).\nNo: keep theirs "
            "on disk and your mask here, unsaved.\nDiscard: drop your changes and show theirs.",
            Btn.Yes | Btn.No | Btn.Discard, Btn.No)

    def maybe_save(self) -> bool:
        """Ask about unsaved edits. True when it is fine to continue (saved or discarded)."""
        doc = self.doc
        if not doc.dirty:
            return True
        steps = unsaved_steps(doc.undo_stack)
        answer = dialogs.ask(
            self.window, "Unsaved changes",
            f"{doc.path.name} has unsaved changes ("
            + (steps or "its mask, or the review: verdict and comment") + ").\n\nSave them?",
            Btn.Save | Btn.Discard | Btn.Cancel, Btn.Save)
        if answer == Btn.Save:
            return self.save()
        if answer == Btn.Discard:
            self.recovery.discard(doc.path)
            doc.undo_stack.setClean()
            return True
        return False

    # -- crash journal and recovery -------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._closing:
            self.timer.start()

    def journal(self, force: bool = False) -> bool:
        """Journal the working state (mask, hand-edited pixels, metadata, and the probability
        map when it changed) if the mask changed since the last time (``force``: whenever
        there are unsaved edits). A clean document's journal of this session is removed."""
        doc = self.doc
        if not doc.has_image:
            return False
        if not doc.dirty:
            if doc.path in self._journaled:
                self.recovery.discard(doc.path)
                self._journaled.discard(doc.path)
                self._written = (None, -1, None)
            return False
        state = (doc.path, doc.mask_version, doc.threshold)
        if not force and state == self._written:
            return False
        try:
            if self._prob_written is not doc.prob or doc.path not in self._journaled:
                self.recovery.save_prob(doc.path, doc.prob)
                self._prob_written = doc.prob
            self.recovery.save(doc.path, doc.mask, doc.journal_meta(), doc.hand_edited_map())
        except DermviewError as exc:
            self.message.emit(f"Autosave failed: {exc}", 5000)
            return False
        self._journaled.add(doc.path)
        self._written = state
        return True

    def offer_recovery(self, path: Path) -> None:
        """Offer back the journaled work of the image just opened (without asking again when
        it was accepted at start-up)."""
        entry = self.recovery.entry_for(path)
        if entry is None:
            return
        if entry.in_use:  # another dermview window is editing it: not a crash's leftovers
            self.message.emit(f"{path.name} has unsaved edits in another dermview window", 10000)
            return
        try:
            mask = self.recovery.load(entry)
            edited = self.recovery.load_edited(entry)
        except DermviewError:
            self.recovery.discard_crashed(path)
            return
        if mask.shape != self.doc.shape or self._already_saved(entry, mask):
            self.recovery.discard_crashed(path)
            return
        if path in self._accepted:
            answer = Btn.Yes
        else:
            answer = dialogs.ask(
                self.window, "Recover unsaved edits?",
                f"dermview found unsaved edits of {path.name} from "
                f"{entry.saved_at[:19].replace('T', ' ')} UTC "
                "(the app was stopped before they were saved)."
                + (f" They were made by {by}." if (by := self._author(entry)) else "")
                + "\n\nRestore them?",
                Btn.Yes | Btn.No, Btn.Yes)
        self._accepted.discard(path)
        self._answered.add(Path(path).resolve())
        if answer == Btn.Yes:
            self.doc.restore(mask, entry.meta, edited, self.recovery.load_prob(entry))
            self._journaled.add(path)
            self.recovery.adopt(entry)  # this window's journal from now on
            if self.journal(force=True):  # older ones of ended runs are superseded
                self.recovery.discard_crashed(path)
            self.message.emit("Unsaved edits restored", 5000)
        else:
            self.recovery.discard_crashed(path)

    def _author(self, entry: RecoveryEntry) -> str:
        """Who made the journaled edits when not the person who saves now, else ""."""
        by = entry.meta.get("worked_by")
        return by if isinstance(by, str) and by != self.doc.saver() else ""

    def recoverable(self, missing: bool = False) -> list[tuple[Path, str, str]]:
        """``(image, journal time, author)`` of every image with journaled work left by an
        earlier run (author: who made it, "" when it is who saves now), newest first (not the
        ones already offered back, or journaled, in this one, nor those of another dermview
        window still running). ``missing``: those whose image is no longer there instead
        (moved, renamed or deleted: kept until it is back)."""
        done = self._answered | {Path(p).resolve() for p in self._journaled}
        out: dict[Path, tuple[Path, str, str]] = {}  # newest first: one line per image
        for e in self.recovery.entries():
            if (e.image_path.is_file() != missing and e.image_path.resolve() not in done
                    and not e.in_use):
                if not missing and self._already_saved(e):
                    self.recovery.discard_crashed(e.image_path)  # nothing was lost
                    continue
                out.setdefault(e.image_path.resolve(),
                               (e.image_path, e.saved_at, self._author(e)))
        return list(out.values())

    def _already_saved(self, entry: RecoveryEntry, mask: np.ndarray | None = None) -> bool:
        """The journal holds what the image's label on disk already says (the app was
        stopped after writing the label, before deleting the journal): "unsaved edits" were
        offered back that had been saved."""
        meta = entry.meta
        folder = Path(meta["labels_dir"]) if meta.get("labels_dir") else \
            self.labels_dir_for(entry.image_path)
        try:
            mask = self.recovery.load(entry) if mask is None else mask
            saved = labels.load_label(entry.image_path, entry.shape, folder)
        except DermviewError:
            return False
        if saved is None or not np.array_equal(saved[0], mask):
            return False
        side, review = saved[1] or {}, meta.get("review")
        return not (isinstance(review, list) and len(review) == 2) or (
            review[0] in (None, side.get("review_state"))
            and str(review[1] or "") == str(side.get("review_comment") or ""))

    def accept_recovery(self, images: list[Path]) -> None:
        """Restore these images' journals without asking when they open."""
        self._accepted.update(images)

    def discard_recovery(self, images: list[Path]) -> None:
        for image in images:
            self.recovery.discard_crashed(image)

    def shutdown(self) -> None:
        self._closing = True
        self.timer.stop()
        if self.doc.path is not None and not self.doc.dirty:
            self.recovery.discard(self.doc.path)  # this window's only: not another's work
