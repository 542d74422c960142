"""Saving labels, the labels folder, autosave and crash recovery of the open image.

Where a label goes is the core's policy (:func:`dermview.labels.labels_dir_for`); writing is
:meth:`Document.save` (atomic, with backups); the journal is :class:`dermview.recovery.
RecoveryStore`. Message boxes go through :mod:`dermview.gui.dialogs` (patched in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from dermview import labels, paths
from dermview.errors import DermviewError
from dermview.gui import dialogs
from dermview.gui.commands import EditKind, push_mask
from dermview.gui.document import Document
from dermview.gui.settings import Settings
from dermview.preprocess.params import PreprocessParams
from dermview.recovery import RecoveryStore

#: Autosave period of unsaved edits (ms).
AUTOSAVE_MS = 5000

Btn = QtWidgets.QMessageBox.StandardButton


class SaveController(QtCore.QObject):
    """Saves the working mask, asks about unsaved edits, autosaves and offers recovery.

    Signals:
        saved(Path): the label of this image was written.
        labels_dir_changed(object): the chosen labels folder (None = beside each image).
        message(str, int): status-bar message and duration (ms).
        error(str, str): message box (title, text) to show.
    """

    saved = QtCore.Signal(object)
    labels_dir_changed = QtCore.Signal(object)
    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)

    def __init__(self, doc: Document, settings: Settings, recovery: RecoveryStore,
                 params: Callable[[], PreprocessParams], parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.doc, self.settings, self.recovery, self.params = doc, settings, recovery, params
        self.window = parent
        self.labels_dir: Path | None = settings.get_path("labels_dir")
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()

    # -- labels folder --------------------------------------------------------------------------
    def labels_dir_for(self, image: Path) -> Path | None:
        """Labels folder for ``image`` (:func:`dermview.labels.labels_dir_for`)."""
        return labels.labels_dir_for(image, self.labels_dir, paths.resources_dir(),
                                     paths.user_data_dir() / "labels")

    def set_labels_dir(self, folder: Path | None) -> None:
        """Where labels are saved (None = ``labels/`` beside each image)."""
        self.labels_dir = Path(folder) if folder else None
        self.settings.set("labels_dir", str(self.labels_dir or ""))
        self.labels_dir_changed.emit(self.labels_dir)

    def choose_labels_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Labels folder (Cancel = labels/ beside each image)",
            str(self.labels_dir or ""))
        self.set_labels_dir(Path(folder) if folder else None)

    # -- saving ---------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save the working mask and its sidecar. Returns False (after a message) on failure."""
        doc = self.doc
        if not doc.has_image:
            return False
        try:
            png, _js = doc.save(self.params())
        except DermviewError as exc:
            self.error.emit("Label not saved", str(exc))
            return False
        self.recovery.discard(doc.path)
        self.saved.emit(doc.path)
        self.message.emit(f"Saved {png}", 5000)
        return True

    def maybe_save(self) -> bool:
        """Ask about unsaved edits. True when it is fine to continue (saved or discarded)."""
        doc = self.doc
        if not doc.dirty:
            return True
        answer = dialogs.ask(
            self.window, "Unsaved changes",
            f"The mask of {doc.path.name} has unsaved changes.\n\nSave them?",
            Btn.Save | Btn.Discard | Btn.Cancel, Btn.Save)
        if answer == Btn.Save:
            return self.save()
        if answer == Btn.Discard:
            self.recovery.discard(doc.path)
            doc.undo_stack.setClean()
            return True
        return False

    # -- autosave and recovery ------------------------------------------------------------------
    def autosave(self, force: bool = False) -> bool:
        """Write the working mask to the recovery folder if it changed since the last time
        (``force``: whenever there are unsaved edits)."""
        doc = self.doc
        if not doc.has_image or not doc.dirty:
            return False
        if not force and not doc.needs_autosave():
            return False
        try:
            self.recovery.save(doc.path, doc.mask, {"labels_dir": str(self.labels_dir or "")})
        except DermviewError as exc:
            self.message.emit(f"Autosave failed: {exc}", 5000)
            return False
        doc.mark_autosaved()
        return True

    def offer_recovery(self, path: Path) -> None:
        """Offer back the autosaved edits of the image just opened, if any."""
        entry = self.recovery.entry_for(path)
        if entry is None:
            return
        try:
            mask = self.recovery.load(entry)
        except DermviewError:
            self.recovery.discard(path)
            return
        if mask.shape != self.doc.shape or np.array_equal(mask, self.doc.mask):
            self.recovery.discard(path)
            return
        answer = dialogs.ask(
            self.window, "Recover unsaved edits?",
            f"dermview found unsaved edits of {path.name} from {entry.saved_at} "
            "(the app did not close normally).\n\nRestore them?",
            Btn.Yes | Btn.No, Btn.Yes)
        if answer == Btn.Yes:
            push_mask(self.doc, mask, "Recovered autosave", EditKind.HAND)
            self.message.emit("Unsaved edits restored", 5000)
        else:
            self.recovery.discard(path)

    def recoverable(self) -> list[Path]:
        """Images with autosaved edits (newest first) that still exist."""
        return [e.image_path for e in self.recovery.entries() if e.image_path.is_file()]

    def shutdown(self) -> None:
        self.timer.stop()
        if self.doc.path is not None and not self.doc.dirty:
            self.recovery.discard(self.doc.path)
