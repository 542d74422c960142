"""The status bar: the pixel under the mouse, reference metrics, the labels folder, progress.

Permanent widgets stay visible while temporary messages show on the left.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.document import Document
from dermview.gui.message_log import MessageLog, show_log


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that may get less room than its text: the text is then cut with "…"
    in the middle (a path keeps its start and its last folder; ``text()`` stays whole). Its
    minimum is a few characters, so a long text (the Dice against a reference with its file
    name) never makes the window wider: at 150 % the status bar's fields pushed the window
    past the screen's right edge."""

    MIN_CHARS = 8

    def minimumSizeHint(self) -> QtCore.QSize:
        hint = super().minimumSizeHint()
        least = self.fontMetrics().averageCharWidth() * self.MIN_CHARS
        return QtCore.QSize(min(hint.width(), least), hint.height())

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideMiddle,
                                             rect.width())
        painter = QtGui.QPainter(self)
        self.style().drawItemText(painter, rect, int(self.alignment()), self.palette(),
                                  self.isEnabled(), text, self.foregroundRole())


class StatusBar(QtWidgets.QStatusBar):
    """Status bar with permanent fields.

    Signals:
        cancel_clicked(): the Cancel button (shown while a segmentation runs) was pressed.
    """

    cancel_clicked = QtCore.Signal()

    #: Width (px, logical) of the progress bar: at least the first, grown to its text up to
    #: the second (a longer text is elided in the middle). At a fixed 220 px "Segmenting
    #: ISIC_0000087.jpg (68 of 600, about 1 min left)" was cut to two clipped lines.
    PROGRESS_MIN_WIDTH = 220
    PROGRESS_MAX_WIDTH = 520

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.pos_label = ElidedLabel("")
        self.pos_label.setMinimumWidth(250)
        self._pixel = (-1, -1)  # the pixel shown (row, col); -1: none
        self.metric_label = ElidedLabel("")
        self.labels_label = ElidedLabel("")
        self.labels_label.setObjectName("labelsFolder")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFixedWidth(self.PROGRESS_MIN_WIDTH)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self._permanent = (self.pos_label, self.metric_label, self.labels_label, self.progress,
                           self.cancel_button)
        for w in self._permanent:
            self.addPermanentWidget(w)
        # A message (a tool's instructions) gets the room it needs: the fields on the right
        # step aside while it shows (labels folder first, the pixel readout last); at 150 %
        # the calibration instructions were cut to "Calibrate: drag a".
        self.messageChanged.connect(self._make_room)
        self.log = MessageLog()  # every message shown, whole (View → Messages…)
        self.messageChanged.connect(self._tip)

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 (Qt API)
        """Show ``text`` (for ``timeout`` ms; 0: until the next), recorded in :attr:`log`; the
        whole of it is also the tooltip (a long one is cut at the window's edge). A menu
        item's status tip goes past this (Qt shows it itself), so the log holds none."""
        self.log.add(text)
        super().showMessage(text, timeout)

    def _tip(self, text: str) -> None:
        self.setToolTip(f"{text}\n(View → Messages… lists this session's messages)" if text
                        else "")

    def show_log(self) -> QtWidgets.QDialog:
        """View → Messages…: the session's messages in a window."""
        self.log_dialog = show_log(self.log, self.window())
        return self.log_dialog

    def _make_room(self, text: str) -> None:
        fields = (self.labels_label, self.metric_label, self.pos_label)
        for w in fields:
            w.setVisible(True)
        if not text:
            return
        need = self.fontMetrics().horizontalAdvance(text) + 24
        for w in fields:
            used = sum(max(x.sizeHint().width(), x.minimumWidth()) + 8
                       for x in self._permanent if not x.isHidden())
            if need + used <= self.width():
                break
            w.setVisible(False)

    def set_labels_folder(self, text: str) -> None:
        """Show where labels go (long paths elided in the middle; the full one as tooltip)."""
        metrics = self.labels_label.fontMetrics()
        self.labels_label.setText(metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideMiddle,
                                                     320))
        self.labels_label.setToolTip(text)

    def show_pixel(self, doc: Document, row: int, col: int) -> None:
        """Position, RGB, probability and lesion flag of pixel ``(row, col)`` (-1: none)."""
        self._pixel = (row, col)
        if row < 0 or not doc.has_image or row >= doc.shape[0] or col >= doc.shape[1]:
            self.pos_label.setText("")
            return
        r, g, b = (int(v) for v in doc.image[row, col])
        prob = f"   p {doc.prob[row, col]:.2f}" if doc.prob is not None else ""
        lesion = "   lesion" if doc.mask[row, col] else ""
        self.pos_label.setText(f"x {col}  y {row}   RGB ({r}, {g}, {b}){prob}{lesion}")

    def refresh_pixel(self, doc: Document) -> None:
        """Show the pixel under the still mouse again: the mask (or the probability map) was
        changed under it (a refine click said "lesion" of a pixel no longer lesion)."""
        row, col = self._pixel
        if row >= 0:
            self.show_pixel(doc, row, col)

    def busy(self, text: str, paint: bool = True) -> None:
        """An indefinite progress bar with ``text`` (``paint``: painted at once)."""
        self.progress.setRange(0, 0)
        self._progress_text(text)
        self.progress.show()
        if paint:
            QtWidgets.QApplication.processEvents(
                QtCore.QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    def set_progress(self, percent: int, text: str) -> None:
        self.progress.setValue(max(percent, 0))
        self._progress_text(text)

    def _progress_text(self, text: str) -> None:
        """``text`` on the progress bar, the bar as wide as it needs (within its limits)."""
        full = text
        metrics = self.progress.fontMetrics()
        pad = 2 * metrics.averageCharWidth() + 16  # the style's frame and margins
        need = metrics.horizontalAdvance(text) + pad
        # never wider than the room the other fields leave at their least (a wider bar
        # made the window grow past the screen at 150 %)
        others = sum(w.minimumSizeHint().width() if w.minimumWidth() == 0 else w.minimumWidth()
                     for w in self._permanent if w is not self.progress and not w.isHidden())
        room = self.width() - others - 16 * len(self._permanent) - 24
        width = min(max(need, self.PROGRESS_MIN_WIDTH), self.PROGRESS_MAX_WIDTH,
                    max(room, self.PROGRESS_MIN_WIDTH))
        if width != self.progress.maximumWidth():
            self.progress.setFixedWidth(width)
        if need > width:
            text = metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideMiddle, width - pad)
        self.progress.setFormat(text)
        self.progress.setToolTip(full)

    def set_metrics(self, text: str) -> None:
        """The mask against the reference (its whole text also in the tooltip: it may be
        cut)."""
        self.metric_label.setText(text)
        self.metric_label.setToolTip(text)

    def set_state(self, segmenting: bool, previewing: bool) -> None:
        """Show segmentation progress (with Cancel), the preview's busy bar, or nothing."""
        self.cancel_button.setVisible(segmenting)
        if segmenting:
            self.progress.setRange(0, 100)
            self.progress.show()
        elif previewing:
            self.busy("Preview…", paint=False)
        else:
            self.progress.hide()
