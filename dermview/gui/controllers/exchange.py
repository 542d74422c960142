"""File → Export DICOM SEG…: the working mask of the open image as a DICOM SEG.

Writing is the core's (:func:`dermview.exchange.dicom_seg.write_dicom_seg`): a SEG that
references the open DICOM image, or a new study with a Secondary Capture of any other image.
The provenance (model, hand edits) is the document's, as for saving a label.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from dermview.errors import DermviewError
from dermview.gui import dialogs
from dermview.gui.document import Document
from dermview.preprocess.params import PreprocessParams

Btn = QtWidgets.QMessageBox.StandardButton


class ExchangeController(QtCore.QObject):
    """Exports the open image's mask.

    Signals:
        message(str, int): status-bar message and duration (ms).
        error(str, str): message box (title, text) to show.
    """

    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)

    def __init__(self, doc: Document, labels_dir_for: Callable[[Path], Path | None],
                 params: Callable[[], PreprocessParams], parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.doc, self.labels_dir_for, self.params = doc, labels_dir_for, params
        self.window = parent

    def _choose_folder(self) -> Path | None:
        start = self.labels_dir_for(self.doc.path) or self.doc.path.parent / "labels"
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Export DICOM SEG to folder", str(start))
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
                f"{', '.join(existing)} already exists in {folder}.\n\nReplace it?",
                Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
            return []
        meta = doc.label_meta_for_save(self.params())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written = write_dicom_seg(
                doc.path, doc.mask, folder, rgb=doc.image,
                model_name=meta.model_name if meta.source == "model" else "",
                model_sha256=meta.model_sha256, edited=meta.edited)
        except OSError as exc:
            self.error.emit("DICOM SEG not written",
                            f"Cannot create the folder {folder}: {exc.strerror or exc}")
            return []
        except DermviewError as exc:
            self.error.emit("DICOM SEG not written", str(exc))
            return []
        self.message.emit(f"Exported {written[0]}", 5000)
        return written
