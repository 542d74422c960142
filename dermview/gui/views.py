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
        self.after.link_to(self.before)
        self.addWidget(self.before)
        self.addWidget(self.after)
        self.setChildrenCollapsible(False)
        self.side_by_side = True
        self.showing = self.before

    @property
    def panes(self) -> tuple[ImagePane, ImagePane]:
        return self.before, self.after

    def shown(self) -> ImagePane:
        """The pane the user looks at (the left one when side by side)."""
        return self.before if self.side_by_side else self.showing

    def set_side_by_side(self, on: bool) -> None:
        """Both panes (True) or one large pane with :meth:`toggle` (False)."""
        self.side_by_side = bool(on)
        self.before.setVisible(on or self.showing is self.before)
        self.after.setVisible(on or self.showing is self.after)
        self.mode_changed.emit(self.side_by_side)

    def toggle(self) -> None:
        """Single view: show the other image (same place, same zoom)."""
        if self.side_by_side:
            return
        other = self.after if self.showing is self.before else self.before
        rect = self.showing.vb.viewRect()
        auto = self.showing.auto_fit
        self.showing.hide()
        other.show()
        self.showing = other
        if auto:
            other.fit()
        else:
            other.vb.setRange(rect, padding=0)
        other.setFocus()
