"""Worklist: the images of an opened folder (or several files) with their review status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from dermview.label_status import label_status_meta
from dermview.label_watch import label_stat
from dermview.wording import counted

#: Statuses a reviewer has given (the summary's "reviewed").
REVIEWED = frozenset({"accepted", "corrected", "rejected"})
#: Statuses still waiting for a reviewer: no label, an unreviewed model mask, recovered edits.
TO_REVIEW = frozenset({"new", "segmented", "imported", "recoverable"})

STATUS_TEXT = {"new": "new", "segmented": "unreviewed", "accepted": "accepted ✓",
               "corrected": "corrected ✓", "rejected": "rejected ↺", "unreadable": "unreadable ✗",
               "refused": "label refused ⚠", "recoverable": "unsaved edits ⟲",
               "imported": "imported"}
STATUS_COLOUR = {"new": (150, 150, 150), "segmented": (230, 180, 40), "accepted": (90, 170, 255),
                 "corrected": (70, 190, 90), "rejected": (225, 110, 190),
                 "unreadable": (235, 80, 70),
                 "refused": (235, 80, 70), "recoverable": (255, 140, 0),
                 "imported": (80, 200, 200)}
#: Tooltips of the statuses that need one.
STATUS_TIP = {"imported": "A mask brought from another tool (no dermview review yet): review it "
                          "here; Improve the model uses it as a corrected label",
              "segmented": "A model mask nobody has reviewed yet"}
#: Worklist filters: (text, statuses shown; None = all).
FILTERS: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("All images", None),
    ("To review", TO_REVIEW),
    ("New", frozenset({"new"})),
    ("Unreviewed model masks", frozenset({"segmented"})),
    ("Imported (other tools)", frozenset({"imported"})),
    ("Accepted", frozenset({"accepted"})),
    ("Corrected", frozenset({"corrected"})),
    ("Rejected (to redo)", frozenset({"rejected"})),
    ("Problems", frozenset({"unreadable", "refused", "recoverable"})),
)
#: Marks (set by the app) that override the status read from the labels folder.
MARKS = ("unreadable", "refused", "recoverable")
#: Status text and colour of the open image while it has unsaved edits (its status, for the
#: filters and the summary, stays the one its labels folder gives).
UNSAVED_TEXT = "unsaved ✎"
UNSAVED_COLOUR = (255, 140, 0)
UNSAVED_TIP = "This image's mask has changes not saved yet (Ctrl+S saves them; Ctrl+Z undoes)"


def none_to_review_text(rejected: int) -> str:
    """What "next image to review" says when no other image waits for a review, with the
    ``rejected`` masks still to be redone (it said only that nothing waited)."""
    return "No other image in the worklist is waiting for review" + (
        f"; {counted(rejected, 'rejected mask')} still to redo (filter: Rejected (to redo))"
        if rejected else "")


class Worklist(QtWidgets.QWidget):
    """A list of images; activating one asks the window to open it.

    Signals:
        open_requested(Path): the user picked an image.
        sort_changed(str): the user sorted it ("confidence" / "name").
    """

    open_requested = QtCore.Signal(object)
    sort_changed = QtCore.Signal(str)  # "confidence" / "name": the order the user chose

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths: list[Path] = []
        #: ``image → labels folder`` function (None: ``labels/`` beside each image).
        self.resolver: Callable[[Path], Path | None] | None = None
        self.current = -1
        self.marks: dict[Path, str] = {}
        self.unsaved: Path | None = None
        self.live_confidence: dict[Path, float] = {}
        self._live_stamp: dict[Path, tuple] = {}  # its label files when each was set
        self.order = "name"  # the order last chosen: "name" / "confidence" (see resort)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.summary = QtWidgets.QLabel("No folder open")
        self.summary.setWordWrap(True)  # a long count wraps instead of widening the dock
        self.filter_combo = QtWidgets.QComboBox()
        for text, _states in FILTERS:
            self.filter_combo.addItem(text)
        self.filter_combo.setToolTip("Show only the images in this review state")
        self.filter_combo.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.find_edit = QtWidgets.QLineEdit()
        self.find_edit.setPlaceholderText("Find by name (Ctrl+F)")
        self.find_edit.setClearButtonEnabled(True)
        self.find_edit.setToolTip("Show only the images whose name contains this text")
        self.find_edit.textChanged.connect(lambda _t: self._apply_filter())
        self.find_edit.returnPressed.connect(self._open_first_match)
        self.find_edit.installEventFilter(self)  # Enter / Esc are the field's, not the window's
        # how many rows a filter or search leaves (hidden without one): "New" with no new
        # image showed only the open image, which looked like the one new image
        self.shown_label = QtWidgets.QLabel("")
        self.shown_label.setWordWrap(True)
        self.shown_label.setObjectName("worklistShown")
        self.shown_label.hide()
        layout.addWidget(self.summary)
        layout.addWidget(self.filter_combo)
        layout.addWidget(self.find_edit)
        layout.addWidget(self.shown_label)
        self.table = QtWidgets.QTableWidget(0, 3)
        self._longest_name: tuple[tuple, int] = ((), 0)  # (font and rows, px) of _fit_columns
        self.table.setHorizontalHeaderLabels(["Image", "Status", "Conf."])
        self.table.horizontalHeaderItem(2).setToolTip(
            "Confidence: estimated Jaccard of the model's mask with an expert's outline "
            "(click to sort: least confident first, as View → Sort worklist does)")
        header = self.table.horizontalHeader()
        # A click on "Conf." sorts as View → Sort worklist does (the other headers keep the
        # folder's order, which PgDown follows).
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._header_clicked)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        # Tab leaves the list for the next control (arrow keys / PgDown move through it):
        # with Qt's default, Tab walked the cells and a keyboard user never got out
        self.table.setTabKeyNavigation(False)
        # A narrow dock keeps both ends of a file name (their distinct part): "ISIC_…095.jpg".
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        # A status cut short is elided ("acc…d ✓"), never wrapped onto a second line that the
        # row's height cuts off (side by side at 150 %, "accepted ✓" wrapped).
        self.table.setWordWrap(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.cellActivated.connect(self._activated)
        self.table.cellClicked.connect(self._activated)
        # its width decides which column gives way (_fit_columns)
        self.table.viewport().installEventFilter(self)
        layout.addWidget(self.table)


    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt API)
        """Preferred width: a typical image name (a stem) beside its status and confidence
        (the dock may still be narrowed on small screens)."""
        hint = super().sizeHint()
        wide = self.fontMetrics().horizontalAdvance("ISIC_0000000    corrected ✓  Conf.")
        return QtCore.QSize(max(hint.width(), wide + 32), hint.height())

    def set_paths(self, paths: list[Path]) -> None:
        """Show ``paths`` (their status is read from their labels folder)."""
        self.paths = [Path(p) for p in paths]
        self.marks = {p: m for p, m in self.marks.items() if p in self.paths}
        self.current = -1
        self.table.setRowCount(len(self.paths))
        self._longest_name = ((), 0)  # new names: measured again
        stems = Counter(p.stem for p in self.paths)
        for row, path in enumerate(self.paths):
            # The stem is the image's name (the extension, when no other file shares the stem,
            # only costs a narrow dock its distinct characters); the tooltip has the path.
            item = QtWidgets.QTableWidgetItem(path.stem if stems[path.stem] == 1 else path.name)
            item.setToolTip(str(path))
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem())
            self.table.setItem(row, 2, QtWidgets.QTableWidgetItem())
        self.refresh()

    def status(self, row: int) -> str:
        """``new``, ``segmented``, ``accepted``, ``corrected``, ``rejected`` or a mark (see
        :data:`MARKS`)."""
        return self._read(row)[0]

    def _read(self, row: int) -> tuple[str, float | None]:
        """(:meth:`status`, :meth:`confidence`) of a row, from one read of its label."""
        path = self.paths[row]
        mark, live = self.marks.get(path), self.live_confidence.get(path)
        if live is not None and self._live_stamp.get(path) != self._label_stamp(path):
            live = None  # a label written since (a colleague, a script): its sidecar says
        if mark is not None and (live is not None or mark in ("refused", "unreadable")):
            return mark, live
        folder = self.resolver(path) if self.resolver is not None else None
        status, meta = label_status_meta(path, folder)
        meta = meta or {}
        # the model's estimate for its own mask, not for one corrected by hand (trial S17A)
        value = (None if meta.get("edited") is True else meta.get("confidence")) \
            if live is None else live
        return mark or status, float(value) if isinstance(value, (int, float)) else None

    def shown_statuses(self) -> list[str]:
        """Every row's :meth:`status` as last read (by :meth:`refresh`), without reading the
        labels again."""
        return [self.table.item(r, 1).data(QtCore.Qt.ItemDataRole.UserRole)
                for r in range(len(self.paths))]

    def mark(self, paths: list[Path] | Path, mark: str | None) -> None:
        """Mark images ``unreadable``, ``refused`` or ``recoverable`` (None: clear the mark)."""
        for p in [paths] if isinstance(paths, Path) else paths:
            p = Path(p)
            if mark is None:
                self.marks.pop(p, None)
            else:
                self.marks[p] = mark
            self.refresh(p)

    def set_unsaved(self, path: Path | None) -> None:
        """Show that ``path`` (the open image) has unsaved edits; None: no image has."""
        old, self.unsaved = self.unsaved, Path(path) if path is not None else None
        for p in {old, self.unsaved} - {None}:
            self.refresh(p)

    def refresh(self, path: Path | None = None) -> None:
        """Re-read the status of one image (or all)."""
        target = None if path is None else Path(path)  # once: a Path per row cost 36 ms at 2,000
        rows = range(len(self.paths)) if target is None else [
            i for i, p in enumerate(self.paths) if p == target]
        for row in rows:
            st, conf = self._read(row)
            item = self.table.item(row, 1)
            unsaved = self.paths[row] == self.unsaved
            item.setText(UNSAVED_TEXT if unsaved else STATUS_TEXT.get(st, st))
            item.setForeground(QtGui.QColor(*(UNSAVED_COLOUR if unsaved else
                                              STATUS_COLOUR.get(st, (255, 255, 255)))))
            item.setToolTip(UNSAVED_TIP if unsaved else STATUS_TIP.get(st, ""))
            item.setData(QtCore.Qt.ItemDataRole.UserRole, st)
            cell = self.table.item(row, 2)
            cell.setText("" if conf is None else f"{conf:.2f}")
            cell.setToolTip("estimated Jaccard of the model's mask with an expert's outline")
        self._fit_columns()  # the statuses' widths changed
        states = self.shown_statuses()
        done = sum(1 for s in states if s in REVIEWED)
        rejected = states.count("rejected")
        # the unreviewed model masks are counted too: "8 images · 2 reviewed · 0 new" left
        # the six masks Segment all had written unaccounted for
        unreviewed = states.count("segmented")
        imported = states.count("imported")
        parts = [counted(len(self.paths), "image"),
                 f"{done} reviewed" + (f" ({rejected} rejected)" if rejected else ""),
                 *([f"{unreviewed} unreviewed"] if unreviewed else []),
                 *([f"{imported} imported"] if imported else []),
                 f"{states.count('new')} new"]
        # a count keeps its noun on its line when the summary wraps (no break space): at
        # 150 % it read "… · 16" and "new" on the next line, "(1" and "rejected)"
        self.summary.setText(" · ".join(p.replace(" ", "\u00a0") for p in parts))
        self._apply_filter()

    def _apply_filter(self) -> None:
        """Hide the rows the state filter and the name search leave out (never the open
        image's)."""
        shown = FILTERS[max(self.filter_combo.currentIndex(), 0)][1]
        needle = self.find_edit.text().strip().casefold()
        matched, kept_open = 0, False
        for row in range(len(self.paths)):
            st = self.table.item(row, 1).data(QtCore.Qt.ItemDataRole.UserRole)
            out = (shown is not None and st not in shown) or (
                needle != "" and needle not in self.paths[row].name.casefold())
            self.table.setRowHidden(row, out and row != self.current)
            if out and row == self.current:
                kept_open = True
            elif not out:
                matched += 1
        filtered = shown is not None or needle != ""
        self.shown_label.setVisible(filtered and bool(self.paths))
        if filtered and self.paths:
            self.shown_label.setText(
                f"{matched} of {counted(len(self.paths), 'image')} match"
                + ("; the open image stays listed" if kept_open else ""))

    def _fit_columns(self) -> None:
        """Room for the names first: when the list is too narrow for the names, the statuses
        and the confidences side by side, the status column gives way (its text cut in the
        middle, whole in its tooltip and colour), then the confidence column is hidden. The
        names keep the room of the longest one
        up to an ISIC name ("ISIC_0000000"; longer ones are cut in the middle). A dock
        squeezed to its minimum (a window fitted to a 1280×800 screen at 150 %) left the name
        column 25 px wide, every row "…" beside "unreviewed" in full; side by side at 150 %,
        ISIC names read "ISI…051"."""
        t, header = self.table, self.table.horizontalHeader()
        fm = t.fontMetrics()
        key = (t.font().key(), t.rowCount())
        if self._longest_name[0] != key:  # measured once per list and font, not per resize
            self._longest_name = (key, max((fm.horizontalAdvance(t.item(r, 0).text())
                                            for r in range(t.rowCount()) if t.item(r, 0)),
                                           default=0))
        longest = self._longest_name[1]
        name = min(max(longest, fm.horizontalAdvance("IMD000")),
                   fm.horizontalAdvance("ISIC_0000000")) + 14  # with the cell's margins
        status = max(t.sizeHintForColumn(1), header.sectionSizeHint(1))
        least = fm.horizontalAdvance("new") + 14  # the narrowest status column
        conf = max(t.sizeHintForColumn(2), header.sectionSizeHint(2))
        width = t.viewport().width()
        # Narrower still, the confidence column goes before the names are cut (View → Sort
        # worklist still orders by it).
        t.setColumnHidden(2, width - conf < name + least)
        room = width - (0 if t.isColumnHidden(2) else conf)
        mode = QtWidgets.QHeaderView.ResizeMode
        if room >= name + status:
            if header.sectionResizeMode(1) != mode.ResizeToContents:
                header.setSectionResizeMode(1, mode.ResizeToContents)
            return
        if header.sectionResizeMode(1) != mode.Interactive:
            header.setSectionResizeMode(1, mode.Interactive)
        header.resizeSection(1, max(least, room - name))

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        """In the name search, Enter (the window's "Close polygon") and Esc ("Cancel") go to
        the field: Enter opens the first match, Esc clears the search. The table's
        list's resizes fit its columns (:meth:`_fit_columns`)."""
        table = getattr(self, "table", None)
        if table is not None and obj is table.viewport() and \
                ev.type() == QtCore.QEvent.Type.Resize:
            self._fit_columns()
            return False
        if obj is self.find_edit and ev.type() == QtCore.QEvent.Type.ShortcutOverride and \
                ev.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter,
                             QtCore.Qt.Key.Key_Escape):
            ev.accept()
            return False
        if obj is self.find_edit and ev.type() == QtCore.QEvent.Type.KeyPress and \
                ev.key() == QtCore.Qt.Key.Key_Escape:
            self.find_edit.clear()
            return True
        return super().eventFilter(obj, ev)

    def _open_first_match(self) -> None:
        """Enter in the name search: open the first image it shows."""
        needle = self.find_edit.text().strip().casefold()
        for row, path in enumerate(self.paths):
            if not self.table.isRowHidden(row) and needle in path.name.casefold():
                if row != self.current:
                    self.open_requested.emit(path)
                return

    def set_filter(self, text: str) -> None:
        """Select the filter named ``text`` (see :data:`FILTERS`)."""
        self.filter_combo.setCurrentIndex(max(self.filter_combo.findText(text), 0))

    def visible_paths(self) -> list[Path]:
        return [p for r, p in enumerate(self.paths) if not self.table.isRowHidden(r)]

    def confidence(self, row: int) -> float | None:
        """The confidence of the model's mask: from this session's segmentation of the image
        (:meth:`set_confidence`), else as recorded in the label's sidecar (the app's or
        ``dermview segment --sidecar``'s) unless that label was refused or is unreadable."""
        return self._read(row)[1]

    def set_confidence(self, path: Path, value: float) -> None:
        """Show the confidence of a mask the model just made for ``path``."""
        self.live_confidence[Path(path)] = float(value)
        self._live_stamp[Path(path)] = self._label_stamp(Path(path))
        self.refresh(Path(path))

    def _label_stamp(self, path: Path) -> tuple:
        """The label files of ``path`` as they are now (:func:`label_watch.label_stat`)."""
        return label_stat(path, self.resolver(path) if self.resolver is not None else None)

    def forget_confidence(self, keep: Path | None = None) -> None:
        """Labels were replaced (an import): this session's confidences are no longer theirs
        (an imported mask showed its batch mask's); the sidecars say what each label has.
        ``keep``: the open image's unsaved mask, still the one segmented. Rows read again."""
        self.live_confidence = {p: v for p, v in self.live_confidence.items() if p == keep}
        self.refresh()

    def _header_clicked(self, column: int) -> None:
        if column == 2:
            self.sort_by_confidence()

    def sort_by_confidence(self) -> None:
        """Least confident first among the images still to review, then the reviewed ones
        (a mask corrected by hand came first by the model's low estimate for the mask it
        replaced, now not counted); images without a confidence go last in each group."""
        current = self.paths[self.current] if self.current >= 0 else None
        read = {p: self._read(i) for i, p in enumerate(self.paths)}
        self.set_paths(sorted(self.paths, key=lambda p: (
            read[p][0] not in TO_REVIEW, read[p][1] is None, read[p][1] or 0.0)))
        self.set_current(current)
        self.order = "confidence"
        self.sort_changed.emit("confidence")

    def resort(self) -> None:
        """Sort again by confidence when that is the order chosen: confidences came in (after
        Segment all, the worklist sorted before any mask existed stayed in name order)."""
        if self.order == "confidence" and self.paths:
            self.sort_by_confidence()

    def sort_by_name(self) -> None:
        """The folder's order (by path, as it opened)."""
        current = self.paths[self.current] if self.current >= 0 else None
        self.set_paths(sorted(self.paths))
        self.set_current(current)
        self.order = "name"
        self.sort_changed.emit("name")

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
        self._apply_filter()

    def following(self, step: int) -> list[Path]:
        """The shown images after (``step`` > 0) or before the current one, nearest first."""
        if not self.paths:
            return []
        n = len(self.paths)
        start = self.current if self.current >= 0 else (-1 if step > 0 else n)
        rows = range(start + 1, n) if step > 0 else range(start - 1, -1, -1)
        return [self.paths[r] for r in rows if not self.table.isRowHidden(r)]

    def neighbour(self, step: int) -> Path | None:
        """The shown image ``step`` (±1) places from the current one (None at either end)."""
        after = self.following(step)
        return after[0] if after else None

    def _activated(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.paths) and row != self.current:
            self.open_requested.emit(self.paths[row])
