"""File → Export DICOM SEG…: the working mask of the open image as a DICOM SEG; File →
Export labels as COCO… / labelme…: the saved labels of the worklist, as ``dermview export``;
File → Import labels from COCO… / labelme… / DICOM SEG…: another tool's masks as labels of the
worklist's images, for review, as ``dermview import``.

Writing is the core's (:func:`dermview.exchange.dicom_seg.write_dicom_seg`: a SEG that
references the open DICOM image, or a new study with a Secondary Capture of any other image;
:func:`~dermview.exchange.coco.coco_document`, :func:`~dermview.exchange.labelme.write_labelme`).
The provenance (model, hand edits) is the document's, as for saving a label.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from dermview.errors import DermviewError
from dermview.gui import dialogs
from dermview.gui.document import Document
from dermview.preprocess.params import PreprocessParams
from dermview.wording import counted, exist, short_path

Btn = QtWidgets.QMessageBox.StandardButton
FORMAT_NAMES = {"coco": "COCO", "labelme": "labelme"}  # export_labels' formats, as shown
IMPORT_NAMES = {"coco": "COCO", "labelme": "labelme", "dicom-seg": "DICOM SEG"}  # import_labels'
#: Skipped labels listed by name in the import's warning (the rest counted).
LISTED = 8
NO_SAVED_LABEL = ("No image of the worklist has a saved label yet: the export holds saved "
                  "labels only. Save one first (File → Save label, Ctrl+S, or Accept, A).")


class ExchangeController(QtCore.QObject):
    """Exports the open image's mask and the worklist's labels; imports other tools' masks.

    Signals:
        message(str, int): status-bar message and duration (ms).
        error(str, str): message box (title, text) to show.
        labels_imported(str): labels were written by an import, said in words (the
            worklist's states and the open image's label are to be read again).
    """

    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)
    labels_imported = QtCore.Signal(str)

    def __init__(self, doc: Document, labels_dir_for: Callable[[Path], Path | None],
                 params: Callable[[], PreprocessParams], parent: QtWidgets.QWidget,
                 worklist: Callable[[], list[Path]] = list, settings: Any = None) -> None:
        super().__init__(parent)
        self.doc, self.labels_dir_for, self.params = doc, labels_dir_for, params
        self.worklist = worklist
        self.window = parent
        self.settings = settings  # remembers each format's last export folder

    def _last_export_dir(self, fmt: str) -> Path | None:
        """The folder the last ``fmt`` export went to, when it still exists."""
        folder = self.settings.get_path(f"export_dir/{fmt}") if self.settings else None
        return folder if folder is not None and folder.is_dir() else None

    def _remember_export_dir(self, fmt: str, folder: Path) -> None:
        if self.settings is not None:
            self.settings.set(f"export_dir/{fmt}", str(folder))

    def _choose_folder(self) -> Path | None:
        start = self.labels_dir_for(self.doc.path) or self.doc.path.parent / "labels"
        # the dialog cannot choose a folder that is not there yet (its Choose button stayed
        # greyed out on "labels" before any label was saved): the nearest existing one
        while not start.is_dir() and start.parent != start:
            start = start.parent
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Export DICOM SEG to folder", str(self._last_export_dir("seg") or start))
        if folder:
            self._remember_export_dir("seg", Path(folder))
        return Path(folder) if folder else None

    def export_dicom_seg(self, folder: Path | None = None) -> list[Path]:
        """Write ``<stem>_segmentation.dcm`` (+ ``<stem>_image.dcm`` for a non-DICOM image)
        into ``folder`` (asked when None); an existing file is replaced only after asking.
        Returns the files written ([] when cancelled or refused, after a message)."""
        from dermview.exchange.dicom_seg import dicom_seg_targets, write_dicom_seg

        doc = self.doc
        if not doc.has_image:
            return []
        folder = folder or self._choose_folder()
        if folder is None:
            return []
        existing = [p.name for p in dicom_seg_targets(doc.path, folder) if p.exists()]
        if existing and dialogs.ask(
                self.window, "Replace DICOM SEG?",
                f"{exist(existing, folder)}.\n\nReplace {'it' if len(existing) == 1 else 'them'}?",
                Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
            return []
        meta = doc.label_meta_for_save(self.params())
        # the label exports leave a rejected mask out; one exported on purpose is asked about
        if meta.review_state == "rejected" and dialogs.ask(
                self.window, "Export a rejected mask?",
                f"The mask of {doc.path.name} was rejected in the Review panel (wrong, to be "
                "redone).\n\nExport it as a DICOM SEG anyway?",
                Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
            return []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with dialogs.busy_cursor():  # about a second for a 24-MP image, on this thread
                written = write_dicom_seg(
                    doc.path, doc.mask, folder, rgb=doc.image,
                    model_name=meta.model_name if meta.source == "model" else "",
                    model_sha256=meta.model_sha256, edited=meta.edited,
                    reviewer=str(meta.extras.get("reviewed_by") or "")
                    if meta.review_state in ("accepted", "corrected") else "",
                    comment=meta.review_comment,
                    comment_by=str(meta.extras.get("comment_by") or ""))
        except OSError as exc:
            self.error.emit("DICOM SEG not written",
                            f"Cannot create the folder {folder}: {exc.strerror or exc}")
            return []
        except DermviewError as exc:
            self.error.emit("DICOM SEG not written", str(exc))
            return []
        # as for the label exports: a model mask nobody checked is not taken for ground truth
        # (the file's name only then: the folder just chosen, in full, pushed the advice past
        # the window's edge at 150 %)
        if meta.source == "model" and meta.review_state is None:
            self.message.emit(f"Exported {written[0].name}, an unreviewed model mask (AUTOMATIC):"
                              " accept or correct it first if it is to be ground truth", 10000)
        else:
            self.message.emit(f"Exported {written[0]}", 5000)
        return written

    # -- the worklist's saved labels as COCO / labelme ---------------------------------------
    def export_labels(self, fmt: str, target: Path | None = None, polygons: bool = False) -> int:
        """Export the saved labels of the worklist's images: ``fmt`` ``"coco"`` (one JSON
        file ``target``) or ``"labelme"`` (``<stem>.json`` per image in the folder
        ``target``); asked for when None. ``polygons``: outlines instead of exact masks (as
        ``dermview export --polygons``; labelme before 5.5 reads no mask shape). Unsaved changes of the open image are not labels
        yet: the user is told before anything is written. Progress is shown and can be
        cancelled (COCO then writes nothing). Returns the number of labels exported."""
        from dermview.exchange.labelme import labelme_target
        from dermview.exchange.labelset import distinct_targets
        from dermview.label_status import saved_label_status
        from dermview.labels import label_paths

        paths = list(self.worklist())
        if not paths:
            self.error.emit("Nothing to export", "Open an image folder first.")
            return 0
        if not any(label_paths(p, self.labels_dir_for(p))[0].is_file() for p in paths):
            # said before the unsaved-changes question and the file dialog, not after them
            self.error.emit("Nothing to export", NO_SAVED_LABEL)
            return 0
        if self.doc.dirty and dialogs.ask(
                self.window, "Unsaved changes",
                f"The changes to {self.doc.path.name} are not saved: the export holds the "
                "saved labels only.\n\nExport the saved labels anyway?",
                Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
            return 0
        root = Path(os.path.commonpath([str(p.parent) for p in paths]))
        target = target or self._choose_export_target(fmt, root)
        if target is None:
            return 0
        if fmt == "labelme":
            existing = [t for t in (labelme_target(p, target) for p in paths) if t.exists()]
            if existing and dialogs.ask(
                    self.window, "Replace labelme files?",
                    f"{counted(len(existing), 'labelme file')} already "
                    f"exist{'s' if len(existing) == 1 else ''} in {target} "
                    f"({existing[0].name}…).\n\nReplace them?",
                    Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
                return 0
        problems: list[str] = []
        rejected: list[str] = []  # left out on purpose: said in the summary, not in a box
        progress = QtWidgets.QProgressDialog(f"Exporting labels as {FORMAT_NAMES[fmt]}…", "Cancel", 0,
                                             len(paths), self.window)
        progress.setWindowTitle("Export labels")
        progress.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(400)
        unreviewed: list[Path] = []

        def noting_unreviewed(items: Iterator) -> Iterator:
            for item in items:
                if saved_label_status(item.meta) == "segmented":  # the sidecar already read
                    unreviewed.append(item.image)
                yield item

        try:
            # the progress shows after 400 ms; a 24-MP label takes about half a second
            with dialogs.busy_cursor():
                items = self._labelled(paths, progress, problems, rejected)
                if fmt == "labelme":  # a.jpg and a.png: one a.json (the second replaced the first)
                    items = distinct_targets(items, lambda image: [labelme_target(image, target)],
                                             lambda name, why: problems.append(f"{Path(name).name}: {why}"))
                done = self._write_labels(fmt, target, root, noting_unreviewed(items), polygons)
        except _Cancelled:
            self.message.emit("Export cancelled" + ("" if fmt == "coco" else
                                                   f"; the files written stay in {target}"), 5000)
            return 0
        except (OSError, DermviewError) as exc:
            text = f"{exc.strerror or exc}: {exc.filename}" if isinstance(exc, OSError) else exc
            self.error.emit("Labels not exported", str(text))
            return 0
        finally:
            progress.reset()
        if not done:
            self.error.emit("Nothing to export", NO_SAVED_LABEL
                            + (f"\n\n{(problems or rejected)[0]}" if problems or rejected
                               else ""))
            return 0
        if problems:
            self.error.emit("Some labels not exported", "\n".join(problems[:5])
                            + ("\n…" if len(problems) > 5 else ""))
        # A model mask nobody reviewed is exported too (its review_state says "unreviewed"):
        # the user is told, so an unchecked mask is not taken for ground truth by mistake.
        n_un = len(unreviewed)
        self.message.emit(f"Exported {counted(done, 'label')} as {FORMAT_NAMES[fmt]} to {target}"
                          + (f"; {n_un} of them {'is an' if n_un == 1 else 'are'} unreviewed "
                             f"model mask{'' if n_un == 1 else 's'}" if unreviewed else "")
                          + (f"; {len(problems)} skipped" if problems else "")
                          + (f"; {len(rejected)} rejected left out" if rejected else ""), 8000)
        return done

    def _choose_export_target(self, fmt: str, root: Path) -> Path | None:
        start = self._last_export_dir(fmt) or root  # each export of a day goes to one place
        if fmt == "coco":
            name, _ = QtWidgets.QFileDialog.getSaveFileName(
                self.window, "Export labels as COCO", str(start / "labels_coco.json"),
                "COCO JSON (*.json)")
            target = Path(name) if name else None
        else:
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self.window, "Export labels as labelme (one JSON per image) to folder",
                str(start))
            target = Path(folder) if folder else None
        if target is not None:
            self._remember_export_dir(fmt, target.parent if fmt == "coco" else target)
        return target

    def _labelled(self, paths: list[Path], progress: QtWidgets.QProgressDialog,
                  problems: list[str], rejected: list[str]) -> Iterator:
        """The saved labels of ``paths``, one at a time, advancing ``progress``; unusable
        labels go to ``problems``, masks a reviewer rejected to ``rejected``."""
        from dermview.exchange.labelset import REJECTED_LEFT_OUT, labelled_images

        def report(name: str, problem: str) -> None:
            (rejected if problem == REJECTED_LEFT_OUT else problems).append(
                f"{Path(name).name}: {problem}")

        for i, path in enumerate(paths):
            progress.setValue(i)
            if progress.wasCanceled():
                raise _Cancelled
            yield from labelled_images([path], self.labels_dir_for(path), report)
        progress.setValue(len(paths))

    def import_labels(self, fmt: str, source: Path | None = None) -> int:
        """Import the masks of another tool's ``fmt`` file (``coco``: one JSON file;
        ``labelme`` / ``dicom-seg``: a folder; asked for when ``source`` is None) as labels of
        the worklist's images in the open image's folder (as ``dermview import``: sidecar
        ``source: "imported"``, shown as *imported* in the worklist for review). An image that
        has a label already keeps it unless the user says to replace it (the old one is backed
        up). Returns the number of labels imported."""
        from dermview.commands.import_ import import_labels

        paths = list(self.worklist())
        if not paths:
            self.error.emit("Nothing to import into", "Open the folder of the images the "
                            "labels belong to first (File → Open folder…).")
            return 0
        folder = (self.doc.path or paths[0]).parent
        only = {p for p in paths if p.parent == folder}
        source = source or self._choose_import_source(fmt, folder)
        if source is None:
            return 0
        labels_dir = self.labels_dir_for(next(iter(only)))
        skipped: list[tuple[str, str]] = []

        def run(overwrite: bool, images: set[Path]) -> tuple[int, int, list[Path]]:
            with dialogs.busy_cursor():
                return import_labels(folder, fmt, source, labels_dir, overwrite,
                                     lambda name, why: skipped.append((name, why)), images)

        try:
            done, _, existing = run(False, only)
            # kept at the user's word, or replaced: not listed as problems either way
            skipped = [(n, why) for n, why in skipped if Path(n) not in existing]
            one = len(existing) == 1
            if existing and dialogs.ask(
                    self.window, "Replace labels?",
                    f"{counted(len(existing), 'image')} of the import already "
                    f"{'has' if one else 'have'} a label ("
                    f"{', '.join(p.name for p in existing[:3])}{', …' if len(existing) > 3 else ''})."
                    f"\n\nReplace {'it' if one else 'them'} with the imported "
                    f"mask{'' if one else 's'}? (The old label{'' if one else 's'} "
                    f"{'is' if one else 'are'} kept in labels/.backup.)",
                    Btn.Yes | Btn.No, Btn.No) == Btn.Yes:
                done += run(True, set(existing))[0]
                existing = []
        except DermviewError as exc:
            self.error.emit("Cannot import labels", str(exc))
            return 0
        kept = (f"; {counted(len(existing), 'image')} kept {'its label' if len(existing) == 1 else 'their labels'}"
                " (not replaced)") if existing else ""
        if done:
            self.labels_imported.emit(
                f"Imported {counted(done, 'label')} from {source.name} into "
                f"{short_path(labels_dir or folder / 'labels')}, for review" + kept)
        elif existing and not skipped:  # the user's choice: nothing to warn about
            self.message.emit(f"No label imported from {source.name}{kept}", 10000)
        if skipped or not (done or existing):
            lines = [f"  • {Path(n).name}: {why}" for n, why in skipped[:LISTED]]
            more = [f"  … and {len(skipped) - LISTED} more"] if len(skipped) > LISTED else []
            self.error.emit("Some labels not imported" if done or existing else "No label imported",
                            f"Imported {counted(done, 'label')} from {source.name}{kept}"
                            + (f"; {counted(len(skipped), 'label')} skipped:\n\n" if skipped else
                               f": none of its masks is of an image of the worklist in {folder}.")
                            + "\n".join(lines + more))
        return done

    def _choose_import_source(self, fmt: str, folder: Path) -> Path | None:
        name = IMPORT_NAMES[fmt]
        start = str(self._last_export_dir(fmt) or folder)
        if fmt == "coco":
            chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
                self.window, "Import labels from a COCO file", start, "COCO JSON (*.json)")
        else:
            chosen = QtWidgets.QFileDialog.getExistingDirectory(
                self.window, f"Import labels from a folder of {name} files", start)
        return Path(chosen) if chosen else None

    @staticmethod
    def _write_labels(fmt: str, target: Path, root: Path, items: Iterator,
                      polygons: bool = False) -> int:
        from dermview.exchange.coco import write_coco
        from dermview.exchange.labelme import write_labelme

        if fmt == "coco":
            return write_coco(items, root, target, polygons=polygons)
        target.mkdir(parents=True, exist_ok=True)
        done = 0
        for item in items:
            write_labelme(item, target, polygons=polygons)
            done += 1
        return done


class _Cancelled(Exception):
    """The user cancelled the export's progress dialog."""

