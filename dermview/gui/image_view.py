"""Image panes: a pyqtgraph view of an RGB image with RGBA overlay layers and tool input.

Two panes (original and preprocessed) are linked (same zoom and pan). Mouse wheel zooms at the
cursor, dragging pans (middle button always; left button when no editing tool is active),
``fit`` and ``one_to_one`` reset the view. Overlay layers are the items of
:mod:`dermview.gui.overlay_buffer`.

Coordinates: view/scene (x, y) = (col, row) of the image, pixel centres at +0.5. Conversion to
numpy (row, col) happens here (:func:`to_rc`) and nowhere else in the GUI.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.overlay_buffer import OverlayBuffer, OverlayItem

pg.setConfigOptions(imageAxisOrder="row-major", mouseRateLimit=0, antialias=False)


def to_rc(point: QtCore.QPointF) -> tuple[float, float]:
    """View (x, y) → image (row, col) as floats (pixel centres at integer + 0.5 in x, y)."""
    return point.y() - 0.5, point.x() - 0.5


def on_image(pos: QtCore.QPointF, shape: tuple[int, int]) -> bool:
    """Whether the view position ``pos`` lies on a pixel of an image of ``shape`` (rows, cols)."""
    r, c = to_rc(pos)
    return 0 <= r < shape[0] and 0 <= c < shape[1]


def pixel_rc(pos: QtCore.QPointF, shape: tuple[int, int]) -> tuple[int, int]:
    """The (row, col) of the pixel of an image of ``shape`` nearest the view position ``pos``."""
    r, c = to_rc(pos)
    return (int(min(max(round(r), 0), shape[0] - 1)), int(min(max(round(c), 0), shape[1] - 1)))


class ToolViewBox(pg.ViewBox):
    """A ViewBox that hands left-button clicks and drags to the active editing tool."""

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.tool: object | None = None  # an edit_tools.Tool, or None to pan with the left button
        self.space_pan = False  # Space held: the left button pans even with a tool active

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph API)
        tool = None if self.space_pan else self.tool
        if tool is not None and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            pos = self.mapSceneToView(ev.scenePos())
            if ev.isStart():
                tool.press(self.mapSceneToView(ev.buttonDownScenePos()), ev.modifiers())
                tool.move(pos)
            elif ev.isFinish():
                tool.move(pos)
                tool.release(pos)
            else:
                tool.move(pos)
            return
        if ev.button() == QtCore.Qt.MouseButton.RightButton:
            ev.ignore()
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph API)
        tool = self.tool
        if tool is not None and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            tool.click(self.mapSceneToView(ev.scenePos()), ev.double(), ev.modifiers())
            return
        if ev.button() == QtCore.Qt.MouseButton.RightButton and tool is not None:
            ev.accept()
            tool.cancel()
            return
        super().mouseClickEvent(ev)


class ImagePane(pg.GraphicsView):
    """One image with overlays, a brush cursor and a title.

    Signals:
        hovered(row, col): the pixel under the mouse (-1, -1 when outside the image).
        navigate(step): arrow keys pressed while the view has focus (±1).
    """

    hovered = QtCore.Signal(int, int)
    navigate = QtCore.Signal(int)
    cursor_moved = QtCore.Signal(object)  # view QPointF, or None when the mouse left

    def __init__(self, title: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background=pg.mkColor(32, 32, 36))
        self.vb = ToolViewBox()
        self.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(autoDownsample=False)
        self.image_item.setZValue(0)
        self.vb.addItem(self.image_item)
        self.title = title
        self._label = pg.TextItem(title, color=(230, 230, 230), anchor=(0, 0),
                                  fill=pg.mkBrush(0, 0, 0, 140))
        self._label.setParentItem(self.vb)
        self._label.setPos(4, 4)
        self._label.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.overlays: dict[str, OverlayItem] = {}
        self.cursor_item = QtWidgets.QGraphicsEllipseItem()
        pen = QtGui.QPen(QtGui.QColor(255, 255, 255), 1.5)
        pen.setCosmetic(True)
        self.cursor_item.setPen(pen)
        self.cursor_item.setZValue(100)
        self.cursor_item.setVisible(False)
        self.vb.addItem(self.cursor_item, ignoreBounds=True)
        self.path_item = QtWidgets.QGraphicsPathItem()
        ppen = QtGui.QPen(QtGui.QColor(255, 255, 255), 1.5, QtCore.Qt.PenStyle.DashLine)
        ppen.setCosmetic(True)
        self.path_item.setPen(ppen)
        self.path_item.setZValue(99)
        self.vb.addItem(self.path_item, ignoreBounds=True)
        self._shape: tuple[int, int] | None = None
        self._auto_fit = True  # keep the image fitted on resize until the user zooms or pans
        self.vb.sigRangeChangedManually.connect(self._on_manual_range)
        self.cursor_radius = 0.0
        self.tool_cursor = QtCore.Qt.CursorShape.OpenHandCursor  # see set_tool_cursor
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        # Dropped files go to the main window (it opens them).
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setMinimumSize(200, 200)

    # -- content -----------------------------------------------------------------------------
    def set_title(self, text: str) -> None:
        """The caption at the pane's top left (kept in :attr:`title`)."""
        self.title = text
        self._show_title()

    def _show_title(self) -> None:
        """The caption, cut at its end to the pane's width (side by side at 150 %,
        "Preprocessed · ISIC_0000096.jpg (0.5×)" ran past the pane's edge)."""
        label = getattr(self, "_label", None)
        if label is None:
            return
        metrics = QtGui.QFontMetrics(label.textItem.font())
        room = max(60, self.width() - 24)
        label.setText(metrics.elidedText(self.title, QtCore.Qt.TextElideMode.ElideRight, room))

    def set_image(self, rgb: np.ndarray | None, shape: tuple[int, int] | None = None) -> None:
        """Show ``rgb`` (``uint8 (h, w, 3)``); stretched to ``shape`` ``(H, W)`` if given (for a
        downscaled preview of a larger image). ``None`` clears the pane."""
        if rgb is None:
            self.image_item.clear()
            self._shape = None
            return
        # no levels: pyqtgraph passes uint8 RGB through as it is; levels (0, 255), the same
        # picture, made it rescale every pixel at each render (0.5 s of the GUI thread for a
        # 24-MP image, about twice the render without)
        self.image_item.setImage(rgb, autoLevels=False)
        full = shape or rgb.shape[:2]
        self.image_item.setRect(QtCore.QRectF(0, 0, full[1], full[0]))
        first = self._shape != tuple(full)
        self._shape = (int(full[0]), int(full[1]))
        if first:
            self.fit()

    def add_overlay(self, name: str, buffer: OverlayBuffer, z: float) -> OverlayItem:
        item = OverlayItem(buffer, z)
        self.vb.addItem(item, ignoreBounds=True)
        self.overlays[name] = item
        return item

    def set_overlay_visible(self, name: str, visible: bool) -> None:
        if name in self.overlays:
            self.overlays[name].setVisible(visible)

    def set_overlay_opacity(self, name: str, opacity: float) -> None:
        if name in self.overlays:
            self.overlays[name].setOpacity(opacity)

    # -- view --------------------------------------------------------------------------------
    @property
    def auto_fit(self) -> bool:
        """True while the image is kept fitted to the pane (until the user zooms or pans)."""
        return self._auto_fit

    def _on_manual_range(self, *_args) -> None:
        self._auto_fit = False

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(ev)
        self._show_title()
        # pyqtgraph calls this from its constructor, before our attributes exist.
        if getattr(self, "_auto_fit", False) and getattr(self, "_shape", None) is not None:
            self.fit()

    def fit(self) -> None:
        """Fit the whole image in the pane (and keep it fitted when the pane is resized)."""
        self._auto_fit = True
        if self._shape is None:
            return
        h, w = self._shape
        self.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def show_rect(self, rect: QtCore.QRectF) -> None:
        """Show ``rect`` (view coordinates: another pane's place and zoom) and keep it when
        the pane is resized (T in single view showed the other image fitted: the pane, shown
        after the range was set, refitted itself on its first resize)."""
        self._auto_fit = False
        self.vb.setRange(rect, padding=0)

    def one_to_one(self) -> None:
        """Zoom so one image pixel is one screen pixel, keeping the current centre."""
        if self._shape is None:
            return
        self._auto_fit = False
        rect = self.vb.viewRect()
        c = rect.center()
        px = self.vb.size()
        ratio = self.devicePixelRatioF() or 1.0
        w, h = px.width() / ratio, px.height() / ratio
        self.vb.setRange(xRange=(c.x() - w / 2, c.x() + w / 2),
                         yRange=(c.y() - h / 2, c.y() + h / 2), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom in (``factor`` < 1) or out (> 1) about the centre."""
        self._auto_fit = False
        self.vb.scaleBy((factor, factor))

    def link_to(self, other: ImagePane) -> None:
        """Share zoom and pan with ``other``."""
        self.vb.setXLink(other.vb)
        self.vb.setYLink(other.vb)

    def unlink(self) -> None:
        self.vb.setXLink(None)
        self.vb.setYLink(None)

    # -- tool feedback ------------------------------------------------------------------------
    def set_tool_cursor(self, shape: QtCore.Qt.CursorShape) -> None:
        """The mouse pointer over the image while the current tool is active (back after a
        Space-held pan, which shows the open hand: it was left as the plain arrow, and a
        drawing tool had no crosshair to aim with)."""
        self.tool_cursor = shape
        if not self.vb.space_pan:
            self.viewport().setCursor(shape)

    def set_cursor_radius(self, radius: float) -> None:
        """Show a circle of ``radius`` image pixels at the mouse (0 hides it)."""
        self.cursor_radius = radius
        if radius <= 0:
            self.cursor_item.setVisible(False)

    def set_path(self, points: list[QtCore.QPointF], closed: bool = False) -> None:
        """Draw the outline of a polygon/lasso in progress (empty list clears it)."""
        path = QtGui.QPainterPath()
        if points:
            path.moveTo(points[0])
            for p in points[1:]:
                path.lineTo(p)
            if closed:
                path.closeSubpath()
        self.path_item.setPath(path)

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self._shape is None:
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.show_cursor_at(p)
        self.cursor_moved.emit(p)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = self._shape
        if 0 <= row < h and 0 <= col < w:
            self.hovered.emit(row, col)
        else:
            self.hovered.emit(-1, -1)

    def show_cursor_at(self, p: QtCore.QPointF | None) -> None:
        """Draw the brush circle at view point ``p`` (None or radius 0 hides it); the other
        pane mirrors the cursor of the pane under the mouse."""
        r = self.cursor_radius
        if p is None or r <= 0:
            self.cursor_item.setVisible(False)
            return
        self.cursor_item.setRect(QtCore.QRectF(p.x() - r, p.y() - r, 2 * r, 2 * r))
        self.cursor_item.setVisible(True)

    def leaveEvent(self, ev: QtCore.QEvent) -> None:  # noqa: N802 (Qt API)
        self.cursor_item.setVisible(False)
        self.cursor_moved.emit(None)
        if self.vb.space_pan:
            self.vb.space_pan = False
            self.viewport().setCursor(self.tool_cursor)
        super().leaveEvent(ev)

    def keyReleaseEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if ev.key() == QtCore.Qt.Key.Key_Space and not ev.isAutoRepeat():
            self.vb.space_pan = False
            self.viewport().setCursor(self.tool_cursor)
        super().keyReleaseEvent(ev)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key = ev.key()
        if key == QtCore.Qt.Key.Key_Space:
            if not ev.isAutoRepeat():
                self.vb.space_pan = True
                self.viewport().setCursor(QtCore.Qt.CursorShape.OpenHandCursor)
            return
        if key in (QtCore.Qt.Key.Key_Right, QtCore.Qt.Key.Key_Down):
            self.navigate.emit(1)
        elif key in (QtCore.Qt.Key.Key_Left, QtCore.Qt.Key.Key_Up):
            self.navigate.emit(-1)
        else:
            super().keyPressEvent(ev)

    # -- helpers for tests and scripts --------------------------------------------------------
    def view_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Widget (viewport) pixel of the view point ``(x, y)``."""
        scene = self.vb.mapViewToScene(QtCore.QPointF(x, y))
        return self.mapFromScene(scene)

    def widget_to_view(self, point: QtCore.QPoint) -> QtCore.QPointF:
        return self.vb.mapSceneToView(self.mapToScene(point))

