"""Worklist: the images of an opened folder (or several files) with their label status."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from dermview import labels

STATUS_TEXT = {"new": "new", "segmented": "segmented", "corrected": "corrected ✓"}
STATUS_COLOUR = {"new": QtGui.QColor(150, 150, 150), "segmented": QtGui.QColor(230, 180, 40),
                 "corrected": QtGui.QColor(70, 190, 90)}


class Worklist(QtWidgets.QWidget):
    """A list of images; activating one asks the window to open it.

    Signals:
        open_requested(Path): the user picked an image.
    """

    open_requested = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths: list[Path] = []
        #: ``image → labels folder`` function (None: ``labels/`` beside each image).
        self.resolver = None
        self.current = -1
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.summary = QtWidgets.QLabel("No folder open")
        layout.addWidget(self.summary)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Image", "Status", "Confidence"])
        self.table.horizontalHeader().setSectionResizeMode(
            0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):
            self.table.horizontalHeader().setSectionResizeMode(
                col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.cellActivated.connect(self._activated)
        self.table.cellClicked.connect(self._activated)
        layout.addWidget(self.table)

    def set_paths(self, paths: list[Path]) -> None:
        """Show ``paths`` (their status is read from their labels folder)."""
        self.paths = [Path(p) for p in paths]
        self.current = -1
        self.table.setRowCount(len(self.paths))
        for row, path in enumerate(self.paths):
            item = QtWidgets.QTableWidgetItem(path.name)
            item.setToolTip(str(path))
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem())
            self.table.setItem(row, 2, QtWidgets.QTableWidgetItem())
        self.refresh()

    def status(self, row: int) -> str:
        path = self.paths[row]
        folder = self.resolver(path) if self.resolver is not None else None
        return labels.label_status(path, folder)

    def refresh(self, path: Path | None = None) -> None:
        """Re-read the status of one image (or all)."""
        rows = range(len(self.paths)) if path is None else [
            i for i, p in enumerate(self.paths) if p == Path(path)]
        for row in rows:
            st = self.status(row)
            item = self.table.item(row, 1)
            item.setText(STATUS_TEXT.get(st, st))
            item.setForeground(STATUS_COLOUR.get(st, QtGui.QColor("white")))
            item.setData(QtCore.Qt.ItemDataRole.UserRole, st)
            conf = self.confidence(row)
            cell = self.table.item(row, 2)
            cell.setText("" if conf is None else f"{conf:.2f}")
            cell.setToolTip("estimated Jaccard of the model's mask with an expert's outline")
        done = sum(1 for r in range(len(self.paths))
                   if self.table.item(r, 1).data(QtCore.Qt.ItemDataRole.UserRole) != "new")
        self.summary.setText(f"{len(self.paths)} images · {done} labelled")

    def confidence(self, row: int) -> float | None:
        """The confidence recorded in the label's sidecar (``dermview segment --sidecar``)."""
        path = self.paths[row]
        folder = self.resolver(path) if self.resolver is not None else None
        meta = labels.read_label_meta(path, folder) or {}
        value = meta.get("confidence")
        return float(value) if isinstance(value, (int, float)) else None

    def sort_by_confidence(self) -> None:
        """Least confident first; images without a recorded confidence go last."""
        current = self.paths[self.current] if self.current >= 0 else None
        conf = {p: self.confidence(i) for i, p in enumerate(self.paths)}
        self.set_paths(sorted(self.paths, key=lambda p: (conf[p] is None, conf[p] or 0.0)))
        self.set_current(current)

    def set_current(self, path: Path | None) -> None:
        """Highlight ``path`` (no signal)."""
        self.current = -1
        if path is not None:
            for i, p in enumerate(self.paths):
                if p == Path(path):
                    self.current = i
        self.table.blockSignals(True)
        if self.current >= 0:
            self.table.selectRow(self.current)
            self.table.scrollToItem(self.table.item(self.current, 0))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)

    def neighbour(self, step: int) -> Path | None:
        """The image ``step`` places after the current one (None at either end)."""
        if not self.paths:
            return None
        i = self.current + step if self.current >= 0 else (0 if step > 0 else len(self.paths) - 1)
        return self.paths[i] if 0 <= i < len(self.paths) else None

    def _activated(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.paths) and row != self.current:
            self.open_requested.emit(self.paths[row])
