"""The image area: one large view with a before/after toggle, or both views side by side.

Both panes always exist and stay linked (same zoom and pan); in single-view mode only one is
shown and :meth:`ViewArea.toggle` swaps the original and the preprocessed image in place.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from dermview.gui.image_view import ImagePane


class ViewArea(QtWidgets.QSplitter):
    """``before`` (original) and ``after`` (preprocessed) panes.

    Signals:
        mode_changed(bool): side by side (True) or single view (False).
    """

    mode_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(QtCore.Qt.Orientation.Horizontal, parent)
        self.before = ImagePane("Original")
        self.after = ImagePane("Preprocessed")
        self.addWidget(self.before)
        self.addWidget(self.after)
        self.setChildrenCollapsible(False)
        self.side_by_side = False
        self.showing = self.before
        self.set_side_by_side(True)

    @property
    def panes(self) -> tuple[ImagePane, ImagePane]:
        return self.before, self.after

    def shown(self) -> ImagePane:
        """The pane the user looks at (the left one when side by side)."""
        return self.before if self.side_by_side else self.showing

    def set_side_by_side(self, on: bool) -> None:
        """Both panes (True, linked zoom and pan) or one large pane with :meth:`toggle`."""
        self.side_by_side = bool(on)
        if self.side_by_side:
            self.after.link_to(self.before)
        else:  # a hidden linked pane would impose its own size on the shown one
            self.after.unlink()
        self.before.setVisible(on or self.showing is self.before)
        self.after.setVisible(on or self.showing is self.after)
        if self.side_by_side:  # equal halves: linked panes of one aspect fit both
            half = max(self.width() // 2, 1)
            self.setSizes([half, half])
        self._refit(self.shown())
        self.mode_changed.emit(self.side_by_side)

    def toggle(self) -> None:
        """Single view: show the other image (same place, same zoom)."""
        if self.side_by_side:
            return
        old = self.showing
        other = self.after if old is self.before else self.before
        rect, auto = old.vb.viewRect(), old.auto_fit
        old.hide()
        other.show()
        self.showing = other
        if auto:
            self._refit(other)
        else:
            other.show_rect(rect)
        other.setFocus()

    @staticmethod
    def _refit(pane: ImagePane) -> None:
        """Fit once the layout has given the pane its new size (if it follows the window)."""
        if pane.auto_fit:
            QtCore.QTimer.singleShot(0, pane.fit)


class GiveKeysBack(QtCore.QObject):
    """Event filter for value fields (spin boxes): Enter finishes the value and hands the
    keyboard back to the image view; a letter or bracket (a tool shortcut, which a number
    field cannot take) hands it back at once and lets the shortcut run."""

    def __init__(self, area: ViewArea, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.area = area
        self._text_fields: set[QtWidgets.QWidget] = set()

    def watch(self, widget: QtWidgets.QWidget) -> None:
        widget.installEventFilter(self)

    def watch_text(self, widget: QtWidgets.QWidget) -> None:
        """A text field (the reviewer's name, the comment) takes every letter, so only Esc
        (and Enter in a one-line field) hands the keyboard back: typed A / X / B went into
        the field (a reviewer "Ana Ruizk") and no key left it."""
        self._text_fields.add(widget)
        widget.installEventFilter(self)

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        if ev.type() == QtCore.QEvent.Type.ShortcutOverride and obj in self._text_fields:
            keys = [QtCore.Qt.Key.Key_Escape]
            if isinstance(obj, QtWidgets.QLineEdit):
                keys += [QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter]
            if ev.key() in keys and not ev.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier:
                ev.accept()  # Esc here ends the typing; it does not cancel a segmentation
                self.area.shown().setFocus()
                return True
            return False
        if ev.type() == QtCore.QEvent.Type.ShortcutOverride:
            if ev.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter):
                ev.accept()  # Enter is not "Close polygon" here: it ends the value (focus out)
                self.area.shown().setFocus()
                return True
            text = ev.text()
            if text and (text.isalpha() or text in "[]") and not ev.modifiers() & \
                    QtCore.Qt.KeyboardModifier.ControlModifier:
                self.area.shown().setFocus()
                return True  # not accepted: the window's shortcut runs
        return False
