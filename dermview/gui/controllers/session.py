"""The review session: opening images and folders, moving through the worklist, recent files,
the last session and the reference-masks folder.

Opening asks about unsaved edits first (:class:`SaveController`), loads the image with its
saved label and reference mask into the :class:`Document` (whose signals update the views and
the other controllers), reports label problems and offers autosaved work back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from dermview import label_policy, label_watch, labels
from dermview.errors import DermviewError
from dermview.folder_sync import folder_change_text, synced_worklist
from dermview.gui import dialogs
from dermview.gui.controllers.saving import Btn, SaveController
from dermview.gui.controllers.segment import SegmentController
from dermview.gui.document import Document
from dermview.gui.settings import Settings
from dermview.gui.worklist import TO_REVIEW, Worklist, none_to_review_text
from dermview.image_prefetch import ImagePrefetch
from dermview.io import IMAGE_SUFFIXES, list_images
from dermview.label_status import label_mismatch, sidecar_problem
from dermview.wording import counted


class SessionController(QtCore.QObject):
    """Which image is open, and how the user moves between images.

    Signals:
        opening(str): an image starts loading (status text); ``opened(Path)``: it is open.
        show_worklist(): a folder or several files were opened.
        message(str, int): status-bar message; error(str, str): message box (title, text).
    """

    opening = QtCore.Signal(str)
    opened = QtCore.Signal(object)
    open_failed = QtCore.Signal()
    show_worklist = QtCore.Signal()
    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)

    def __init__(self, doc: Document, worklist: Worklist, settings: Settings,
                 saving: SaveController, segmenter: SegmentController,
                 auto_segment: Callable[[], bool], parent: QtWidgets.QWidget) -> None:
        """``auto_segment()``: whether to segment an unlabelled image as soon as it opens."""
        super().__init__(parent)
        self.doc, self.worklist, self.settings = doc, worklist, settings
        self.saving, self.segmenter = saving, segmenter
        self.window = parent
        self.auto_segment = auto_segment
        self._label_stat: tuple | None = None  # the label files as last looked at
        self._folder_stat: tuple | None = None  # (folder, mtime_ns) of the worklist's folder
        self.prefetch = ImagePrefetch()  # the next image, read ahead (controllers.read_ahead)
        worklist.open_requested.connect(self.open_image)
        # the order chosen (View → Sort worklist) is kept for the folders opened next
        worklist.sort_changed.connect(lambda order: settings.set("worklist_sort", order))

    def check_label_on_disk(self) -> None:
        """Look whether the open image's label was saved elsewhere since it was read (another
        window, a colleague, ``dermview segment``; called every few seconds): unedited here,
        it is shown at once; with edits here, say so once (saving will ask). Costs a stat of
        the label files until they change."""
        self.check_folder()
        doc = self.doc
        if not doc.has_image or doc.path is None:
            return
        stamp = self._label_stamp()
        if stamp == self._label_stat:
            return
        self._label_stat = stamp
        if doc.label_deleted_meanwhile():  # not reloaded: the mask here is the only copy
            self.worklist.refresh(doc.path)
            self.message.emit(f"The label of {doc.path.name} was deleted or moved by another "
                              f"program ({doc.label_paths[0].parent}); the mask shown is "
                              "still here: save (Ctrl+S) to write it again", 20000)
            return
        other = doc.label_saved_meanwhile()
        if other is None:
            return
        path = doc.path
        who = str(other.get("user") or "someone")
        self.worklist.refresh(path)
        if not doc.dirty:
            if self.open_image(path, quiet=True, again=True):
                self.message.emit(f"The label of {path.name} was saved by {who} elsewhere: "
                                  "shown now", 8000)
            return
        # once per change: the same files do not get past the stat test again
        self.message.emit(f"The label of {path.name} was saved by {who} elsewhere since you "
                          "opened it; saving will ask before replacing it", 15000)

    def _label_stamp(self) -> tuple:
        """The open image's label files as they are now, for :meth:`check_label_on_disk`."""
        doc = self.doc
        return doc.path, doc.labels_dir, label_watch.label_stat(doc.path, doc.labels_dir)

    def labels_written(self, summary: str) -> None:
        """Labels were written for images of the worklist (an import, ``summary`` in words):
        their rows read their state again, and the open image shows its new label when it was
        not edited here (else saving will ask before replacing it), said after ``summary``
        (the label watch said "saved by <user> elsewhere" of the user's own import)."""
        doc = self.doc
        self.worklist.forget_confidence(doc.path if doc.dirty else None)  # rows read again
        if doc.has_image and doc.path is not None and doc.label_saved_meanwhile() is not None:
            path = doc.path
            self._label_stat = self._label_stamp()  # the label watch has nothing more to say
            if doc.dirty:
                summary += (f"; the unsaved mask of {path.name} stays on screen (saving asks "
                            "before replacing it)")
            elif self.open_image(path, quiet=True, again=True):
                summary += f"; {path.name} shows its imported mask"
        self.message.emit(summary, 15000)

    def _watch_folder(self, folder: Path | None) -> None:
        """Watch ``folder`` for images added or removed (:meth:`check_folder`; None: none)."""
        try:
            self._folder_stat = None if folder is None else (folder, folder.stat().st_mtime_ns)
        except OSError:
            self._folder_stat = None

    def check_folder(self) -> None:
        """Images added to the worklist's folder since it was read join the worklist, and
        those deleted, renamed or moved leave it (the open one stays), with a status-bar line
        (a new image never showed, a deleted one opened as "unreadable"). Costs a stat of the
        folder until it changes."""
        if self._folder_stat is None:
            return
        folder, seen = self._folder_stat
        try:
            now = folder.stat().st_mtime_ns
            if now == seen:
                return
            images = list_images(folder)
        except OSError:
            return
        self._folder_stat = (folder, now)
        paths, added, gone = synced_worklist(self.worklist.paths, images, folder, self.doc.path)
        if not added and not gone:
            return
        self.worklist.set_paths(paths)
        self.worklist.set_current(self.doc.path)
        self.message.emit(folder_change_text(folder, added, gone), 15000)

    # -- dialogs --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = self.settings.get_list("recent_folders")
        filt = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self.window, "Open images", start[0] if start else "", filt)
        if files:
            self.open_paths([Path(f) for f in files])

    def open_folder_dialog(self) -> None:
        start = self.settings.get_list("recent_folders")
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Open a folder of images", start[0] if start else "")
        if folder:
            self.open_folder(Path(folder))

    def fill_recent(self, menu: QtWidgets.QMenu) -> None:
        """Fill the File → Open recent menu."""
        menu.clear()
        for key, label in (("recent_files", "Files"), ("recent_folders", "Folders")):
            items = self.settings.get_list(key)
            if items:
                menu.addSection(label)
            for p in items:
                act = menu.addAction(p)
                act.triggered.connect(lambda _=False, q=p: self.open_paths([Path(q)]))
        if menu.isEmpty():
            menu.addAction("(none)").setEnabled(False)

    # -- opening --------------------------------------------------------------------------------
    def open_paths(self, items: list[str | Path]) -> bool:
        """Open files and/or folders (one folder: its worklist; files: a worklist of them);
        whether an image is open afterwards."""
        items = [Path(p) for p in items]
        if len(items) == 1 and items[0].is_dir():
            return self.open_folder(items[0])
        files: list[Path] = []
        for p in items:
            files.extend(list_images(p) if p.is_dir() else [p])
        if len(files) > 1:
            self.worklist.set_paths(files)
            self._watch_folder(None)
            self.show_worklist.emit()
        return self.open_image(files[0]) if files else False

    def open_folder(self, folder: Path) -> bool:
        """Show the folder's images as a worklist and open the first one not yet labelled,
        else the first model mask nobody reviewed (e.g. after ``dermview segment --sidecar``),
        else the first image."""
        folder = Path(folder)
        try:
            images = list_images(folder)
        except OSError as exc:
            self.error.emit("Cannot open folder", f"Cannot read {folder}: {exc.strerror or exc}")
            return False
        if not images:
            self.error.emit("No images", f"{folder} contains no images "
                            f"({', '.join(IMAGE_SUFFIXES)}).")
            return False
        self.settings.push_recent("recent_folders", folder)
        self.settings.set("last_folder", str(folder))
        self._check_labels_folder(folder, images)
        self.worklist.set_paths(images)
        if self.settings.get("worklist_sort") == "confidence":  # it reopened by name
            self.worklist.sort_by_confidence()
        self._watch_folder(folder)
        self.show_worklist.emit()
        status = self.worklist.shown_statuses()  # just read: once is enough
        first = next((i for want in ("new", "segmented", "imported") for i, st in enumerate(status)
                      if st == want), 0)
        return self.open_image(self.worklist.paths[first])

    def _check_labels_folder(self, folder: Path, images: list[Path]) -> None:
        """A labels folder chosen earlier (File → Labels folder…, or "Choose another folder…"
        when one was read-only) applies to every folder opened since: when it holds no label of
        these images and their own ``labels/`` does, offer to go back to that one. (A day's
        40 labels showed as "new", the Segment panel "No segmentation yet".)"""
        chosen = self.saving.labels_dir
        if chosen is None or self.doc.dirty:
            return
        beside = sum(labels.label_paths(p)[0].is_file() for p in images)
        if not beside or any(labels.label_paths(p, chosen)[0].is_file() for p in images):
            return
        if dialogs.ask(
                self.window, "Labels folder",
                f"Labels are saved in {chosen} (chosen earlier), which holds no label of "
                f"these images, while {counted(beside, 'image')} of {folder.name} "
                f"{'has a label' if beside == 1 else 'have labels'} in labels/ beside them."
                "\n\nUse the labels beside the images (File → Labels beside each image)?",
                Btn.Yes | Btn.No, Btn.Yes) == Btn.Yes:
            self.saving.set_labels_dir(None)

    def open_image(self, path: str | Path, quiet: bool = False, again: bool = False) -> bool:
        """Open one image (asks about unsaved edits first). False when it was not opened; an
        unreadable image is marked so in the worklist (``quiet``: status-bar message only);
        ``again``: read the open image and its label again (a label written meanwhile)."""
        path = Path(path).absolute()
        doc = self.doc
        if doc.has_image and doc.path == path and not again:
            return True
        if not self.saving.maybe_save():
            self.worklist.set_current(doc.path)
            return False
        self.opening.emit("Opening " + path.name)
        old = doc.path
        labels_dir = self.saving.labels_dir_for(path)
        try:
            with dialogs.busy_cursor():  # a 24-MP image not read ahead: about half a second
                doc.open(path, labels_dir, label_policy.reference_folder(
                    path, self.settings.get_path("reference_dir"), labels_dir),
                    self.prefetch.take(path))
        except (DermviewError, MemoryError) as exc:
            self.open_failed.emit()
            text = str(exc) if isinstance(exc, DermviewError) else \
                f"{path.name} is too large for the available memory."
            if path in self.worklist.paths:
                self.worklist.mark(path, "unreadable")
            self.worklist.set_current(doc.path)
            if quiet:
                self.message.emit(f"Skipped {path.name}: {text}", 8000)
            else:
                self.error.emit("Cannot open image", text)
            return False
        if old is not None and old != path:
            self.saving.recovery.discard(old)
        self.settings.push_recent("recent_files", path)
        self.settings.set("last_image", str(path))
        if path not in self.worklist.paths:
            self.settings.set("last_folder", "")
            self.worklist.set_paths([path])
            self._watch_folder(None)
        if self.worklist.marks.get(path) in ("unreadable", "refused"):
            # readable now (copied again, a copy finished): not passed over any more
            self.worklist.mark(path, None)
        self.worklist.set_current(path)
        self.opened.emit(path)
        self._report_label(path)
        self.saving.offer_recovery(path)
        if self.auto_segment() and not doc.label_loaded and not doc.dirty:
            self.segmenter.run(automatic=True)
        return True

    def _report_label(self, path: Path) -> None:
        doc = self.doc
        if doc.label_loaded:
            self.message.emit(f"Loaded saved label {doc.label_paths[0]}", 5000)
            warning = label_mismatch(path, doc.label_meta, doc.image_sha256())
            if warning:
                self.error.emit("Label may belong to another image", warning)
            problem = sidecar_problem(path, doc.labels_dir)
            if problem:
                self.message.emit(problem, 15000)
        if doc.label_error:
            self.worklist.mark(path, "refused")
            self.error.emit("Saved label not loaded",
                            f"{doc.label_error}\n\nThe image opened with an empty mask; "
                            "the label file was left unchanged (saving will back it up).")

    def offer_recovery_at_start(self) -> None:
        """After a crash: list every image with unsaved work in one question; Yes marks them
        in the worklist, restores the open one (or opens the newest) and restores the others
        as they open; No discards them all."""
        found = self.saving.recoverable()
        lost = self.saving.recoverable(missing=True)
        # edits of images moved, renamed or deleted since were never mentioned, kept unseen
        away = (f"Unsaved edits of {counted(len(lost), 'image')} no longer where "
                f"{'it was' if len(lost) == 1 else 'they were'} (moved, renamed or deleted) "
                f"are kept until {'it is' if len(lost) == 1 else 'they are'} back there: "
                + ", ".join(str(p) for p, *_ in lost[:3]) + (", …" if len(lost) > 3 else "")
                ) if lost else ""
        if not found:
            if away and dialogs.ask(
                    self.window, "Unsaved edits kept", f"{away}.\n\nKeep them until then? (No "
                    "discards them.)", Btn.Yes | Btn.No, Btn.Yes) == Btn.No:
                self.saving.discard_recovery([p for p, *_ in lost])
            return
        listing = "\n".join(f"  • {p.name}  ({p.parent}, {t[:19].replace('T', ' ')} UTC"
                            f"{f', edits by {by}' if by else ''})" for p, t, by in found[:12])
        more = f"\n  … and {len(found) - 12} more" if len(found) > 12 else ""
        answer = dialogs.ask(
            self.window, "Recover unsaved edits?",
            "dermview was stopped before these edits were saved (it crashed, or the system or "
            f"another program ended it). Unsaved edits of {counted(len(found), 'image')} were "
            f"kept:\n\n{listing}{more}\n\nRestore them? (They are marked in the worklist; "
            "No discards them.)" + (f"\n\n{away} (whatever the answer)." if away else ""),
            Btn.Yes | Btn.No, Btn.Yes)
        images = [p for p, *_ in found]
        if answer != Btn.Yes:
            self.saving.discard_recovery(images)
            return
        self.saving.accept_recovery(images)
        if not self.doc.has_image and not self.worklist.paths:
            # started without a folder or image: the last session's worklist comes back
            # first (it was cut to the recovered images: "1 image", and Next image to review
            # said none was waiting though 16 were)
            self._restore_worklist()
        if self.doc.path in images:
            self.saving.offer_recovery(self.doc.path)
        missing = [p for p in images if p not in self.worklist.paths]
        if missing:
            self.worklist.set_paths(self.worklist.paths + missing)
            self.show_worklist.emit()
        self.worklist.mark(images, "recoverable")
        self.worklist.set_current(self.doc.path)
        if not self.doc.has_image:
            self.open_image(images[0])

    def restore_session(self) -> bool:
        """Reopen the last session's folder (as a worklist) and image, if they still exist."""
        image = self.settings.get_path("last_image")
        if image is None or not image.is_file():
            return False
        self._restore_worklist(image)
        return self.open_image(image)

    def _restore_worklist(self, image: Path | None = None) -> None:
        """Show the last session's folder as the worklist (if it is there and has ``image``)."""
        folder = self.settings.get_path("last_folder")
        if folder is not None and folder.is_dir() and (image is None or image.parent == folder):
            with contextlib.suppress(OSError):
                self.worklist.set_paths(list_images(folder))
                self._watch_folder(folder)
                self.show_worklist.emit()

    # -- moving through the worklist ------------------------------------------------------------
    def save_and_next(self) -> bool:
        """Save the label, then open the next image of the worklist. An image nobody has
        segmented nor drawn on (no label, no edit, an empty mask) is passed without a save:
        an empty label written for it would read as a model mask to review and keep
        *Segment all unlabelled images* from segmenting it."""
        doc = self.doc
        if (doc.has_image and not doc.label_loaded and doc.undo_stack.count() == 0
                and not doc.mask.any()):
            name = doc.path.name
            moved = self.next_image()
            if moved:
                self.message.emit(f"{name}: nothing to save yet (no mask); not saved", 5000)
            return moved
        if not self.saving.save():
            return False
        if self.worklist.paths and not self.worklist.following(1):  # it said only "Saved …"
            self.message.emit(f"Saved {doc.path.name}; it is the last image of the worklist "
                              "shown (no next image)", 8000)
            return False
        return self.next_image()

    def next_to_review(self) -> bool:
        """Open the next worklist image still to review (wrapping around): no label yet, a
        model mask nobody reviewed (batch results) or recovered edits."""
        wl, rejected = self.worklist, 0
        n, start = len(wl.paths), max(wl.current, 0)
        for k in range(1, n + 1):
            i = (start + k) % n
            status = wl.status(i) if i != wl.current else ""
            if status in TO_REVIEW:
                return self.open_image(wl.paths[i])
            rejected += status == "rejected"  # counted on the way: no second read of the labels
        self.message.emit(none_to_review_text(rejected), 8000)
        return False

    def next_image(self) -> bool:
        return self._move(1)

    def previous_image(self) -> bool:
        return self._move(-1)

    def _move(self, step: int) -> bool:
        """Open the next readable image in direction ``step``; unreadable ones are marked and
        passed (each is reported in the status bar)."""
        for path in self.worklist.following(step):
            if self.worklist.marks.get(path) == "unreadable":
                continue
            if self.open_image(path, quiet=True):
                return True
            if self.worklist.marks.get(path) != "unreadable":
                return False  # the user kept the current image (unsaved changes)
        if self.worklist.paths and not self.worklist.following(step):  # PgDown at the end
            self.message.emit(f"No {'next' if step > 0 else 'previous'} image: this is the "
                              f"{'last' if step > 0 else 'first'} of the worklist shown", 5000)
        return False

    def step(self, step: int) -> None:
        """Arrow keys in a view: ±1 image."""
        (self.next_image if step > 0 else self.previous_image)()

    # -- reference masks ------------------------------------------------------------------------
    def set_reference_dir(self, folder: Path | None) -> None:
        """Folder of reference (ground-truth) masks, same naming as labels."""
        folder = Path(folder) if folder else None
        self.settings.set("reference_dir", str(folder or ""))
        if self.doc.has_image:
            self.doc.set_reference_dir(folder or self.doc.path.parent)

    def choose_reference_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Folder of reference masks",
            # not the program's folder (the working directory): the images' folder
            str(self.settings.get_path("reference_dir") or
                (self.doc.path.parent if self.doc.path is not None else "")))
        if folder:
            self.set_reference_dir(Path(folder))
