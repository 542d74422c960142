"""Image panes: a pyqtgraph view of an RGB image with RGBA overlay layers and tool input.

Two panes (original and preprocessed) are linked (same zoom and pan). Mouse wheel zooms at the
cursor, dragging pans (middle button always; left button when no editing tool is active),
``fit`` and ``one_to_one`` reset the view. Overlays are drawn by :class:`OverlayItem`, which
paints only the exposed region of a shared premultiplied ARGB buffer, so updating a small
rectangle (a brush dab) redraws only that rectangle even on a 4000×3000 image. A buffer may
also carry outlines (:meth:`OverlayBuffer.set_outline`), drawn as lines of a fixed screen width
on a dark halo: an outline one image pixel wide vanished on large images seen whole and was
faint on light skin.

Coordinates: view/scene (x, y) = (col, row) of the image, pixel centres at +0.5. Conversion to
numpy (row, col) happens here (:func:`to_rc`) and nowhere else in the GUI.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.render import Polyline

pg.setConfigOptions(imageAxisOrder="row-major", mouseRateLimit=0, antialias=False)


def to_rc(point: QtCore.QPointF) -> tuple[float, float]:
    """View (x, y) → image (row, col) as floats (pixel centres at integer + 0.5 in x, y)."""
    return point.y() - 0.5, point.x() - 0.5


#: Screen widths (device-independent px) of an outline's line and of the dark halo under it.
OUTLINE_WIDTH = 2.0
OUTLINE_HALO_WIDTH = 4.5
OUTLINE_HALO = QtGui.QColor(0, 0, 0, 150)
#: Screen px around an outline's points that its pens can paint (half the halo, and a margin).
OUTLINE_REACH = OUTLINE_HALO_WIDTH / 2 + 1.5


class OverlayBuffer(QtCore.QObject):
    """An ``(H, W)`` premultiplied ARGB32 pixel buffer shared by the items that show it, and
    optional outlines drawn over it.

    Fill it with :meth:`set_buffer` / :meth:`set_region` (buffers from :mod:`render`) and
    :meth:`set_outline`; items repaint only the rectangles reported by :attr:`changed`.
    """

    changed = QtCore.Signal(QtCore.QRectF)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.data = np.zeros((1, 1, 4), np.uint8)  # B, G, R, A (premultiplied), little-endian
        self.display_shape: tuple[int, int] = (1, 1)
        self.image = QtGui.QImage()
        # outline pieces (one per tile of render.outline_tiles): their bounds and paths, in
        # image-pixel (view) coordinates
        self.outline: dict[tuple[int, int], tuple[QtCore.QRectF, QtGui.QPainterPath]] = {}
        self.outline_pens: tuple[QtGui.QPen, ...] = ()
        self._wrap()

    def _wrap(self) -> None:
        h, w = self.data.shape[:2]
        self.image = QtGui.QImage(self.data.data, w, h, w * 4,
                                  QtGui.QImage.Format.Format_ARGB32_Premultiplied)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape[0], self.data.shape[1]

    def clear(self, shape: tuple[int, int]) -> None:
        """Reset to a transparent buffer of ``shape`` ``(H, W)``."""
        self.display_shape = tuple(shape)
        if self.data.shape[:2] != tuple(shape):
            self.data = np.zeros((*shape, 4), np.uint8)
            self._wrap()
        else:
            self.data[...] = 0
        self.changed.emit(QtCore.QRectF(0, 0, shape[1], shape[0]))

    def set_buffer(self, bgra: np.ndarray, display_shape: tuple[int, int] | None = None) -> None:
        """Take a premultiplied ARGB32 buffer ``uint8 (h, w, 4)`` (see :mod:`render`), shown
        stretched over ``display_shape`` ``(H, W)`` image pixels (default: its own size)."""
        self.display_shape = tuple(display_shape or bgra.shape[:2])
        self.data = np.ascontiguousarray(bgra, dtype=np.uint8)
        self._wrap()
        self.changed.emit(QtCore.QRectF(0, 0, bgra.shape[1], bgra.shape[0]))

    def set_region(self, top: int, left: int, bgra: np.ndarray) -> None:
        """Overwrite the rectangle at ``(top, left)`` with premultiplied pixels."""
        h, w = bgra.shape[:2]
        self.data[top:top + h, left:left + w] = bgra
        self.changed.emit(QtCore.QRectF(left, top, w, h))

    changed_outline = QtCore.Signal(QtCore.QRectF)

    def set_outline(self, pieces: dict[tuple[int, int], Polyline] | None,
                    colour: tuple[int, int, int] = (255, 255, 255)) -> None:
        """Draw the outline pieces of :func:`render.outline_tiles` (image-pixel view
        coordinates) over the buffer in ``colour``, :data:`OUTLINE_WIDTH` screen pixels wide on
        a dark halo at every zoom; ``None`` removes them."""
        self.outline = {}
        self.outline_pens = ()
        if pieces:
            halo = QtGui.QPen(OUTLINE_HALO, OUTLINE_HALO_WIDTH)
            line = QtGui.QPen(QtGui.QColor(*colour), OUTLINE_WIDTH)
            for pen in (halo, line):
                pen.setCosmetic(True)
                pen.setJoinStyle(QtCore.Qt.PenJoinStyle.RoundJoin)
                pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
            self.outline_pens = (halo, line)
            self._put_pieces(pieces)
        h, w = self.shape
        self.changed.emit(QtCore.QRectF(0, 0, w, h))

    def update_outline(self, pieces: dict[tuple[int, int], Polyline],
                       region: tuple[int, int, int, int]) -> None:
        """Replace the outline pieces ``pieces`` (same keys as :meth:`set_outline`'s; an empty
        polyline removes one), the outline having changed only inside ``region`` ``(top, left,
        bottom, right)`` image pixels: only that is repainted."""
        self._put_pieces(pieces)
        top, left, bottom, right = region
        self.changed_outline.emit(QtCore.QRectF(left, top, right - left, bottom - top))

    def _put_pieces(self, pieces: dict[tuple[int, int], Polyline]) -> None:
        for key, (x, y, connect) in pieces.items():
            if not len(x):
                self.outline.pop(key, None)
                continue
            path = pg.arrayToQPath(x, y, connect=connect.astype(np.int32), finiteCheck=False)
            # half a pixel around the points: a lone point (a one-pixel blob) has a box of no area
            box = QtCore.QRectF(float(x.min()) - 0.5, float(y.min()) - 0.5,
                                float(x.max() - x.min()) + 1.0, float(y.max() - y.min()) + 1.0)
            self.outline[key] = (box, path)

    def show_outline_only(self, shape: tuple[int, int], pieces: dict[tuple[int, int], Polyline],
                          colour: tuple[int, int, int]) -> None:
        """No pixels (a transparent buffer over ``shape`` ``(H, W)``), only the outline pieces
        of :meth:`set_outline`."""
        self.set_buffer(np.zeros((1, 1, 4), np.uint8), shape)
        self.set_outline(pieces, colour)


class OverlayItem(QtWidgets.QGraphicsObject):
    """Draws an :class:`OverlayBuffer` at image scale; repaints only what changed."""

    def __init__(self, buffer: OverlayBuffer, z: float) -> None:
        super().__init__()
        self.buffer = buffer
        self.setZValue(z)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.opacity_value = 1.0
        buffer.changed.connect(self._on_changed)
        buffer.changed_outline.connect(self._on_outline_changed)
        self._size = buffer.shape
        self._display = buffer.display_shape

    def _on_changed(self, rect: QtCore.QRectF) -> None:
        if self.buffer.shape != self._size or self.buffer.display_shape != self._display:
            self.prepareGeometryChange()
            self._size = self.buffer.shape
            self._display = self.buffer.display_shape
            h, w = self._size
            dh, dw = self._display
            self.setTransform(QtGui.QTransform.fromScale(dw / w, dh / h))
            self.update()
            return
        self.update(rect)

    def _on_outline_changed(self, rect: QtCore.QRectF) -> None:
        """Repaint ``rect`` (image pixels) and the reach of the outline's pens around it."""
        scene = self.scene()
        views = scene.views() if scene is not None else []
        if not views:
            self.update()
            return
        h, w = self._size
        dh, dw = self._display
        t = self.deviceTransform(views[0].viewportTransform())  # buffer pixels to the screen
        mx = OUTLINE_REACH / max(abs(t.m11()), 1e-9)
        my = OUTLINE_REACH / max(abs(t.m22()), 1e-9)
        sx, sy = w / dw, h / dh
        self.update(QtCore.QRectF(rect.x() * sx - mx, rect.y() * sy - my,
                                  rect.width() * sx + 2 * mx, rect.height() * sy + 2 * my))

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt API)
        h, w = self._size
        return QtCore.QRectF(0, 0, w, h)

    def paint(self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionGraphicsItem,
              widget: QtWidgets.QWidget | None = None) -> None:
        h, w = self._size
        r = option.exposedRect.intersected(QtCore.QRectF(0, 0, w, h))
        if r.isEmpty():
            return
        src = r.toAlignedRect().intersected(QtCore.QRect(0, 0, w, h))
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(QtCore.QRectF(src), self.buffer.image, QtCore.QRectF(src))
        if self.buffer.outline:
            dh, dw = self._display  # the outline is in image pixels, the item in buffer pixels
            sx, sy = w / dw, h / dh
            painter.save()
            painter.scale(sx, sy)
            t = painter.deviceTransform()
            mx = OUTLINE_REACH * 2 / max(abs(t.m11()), 1e-9)  # x 2: device pixels may be smaller
            my = OUTLINE_REACH * 2 / max(abs(t.m22()), 1e-9)
            seen = QtCore.QRectF(r.x() / sx - mx, r.y() / sy - my, r.width() / sx + 2 * mx,
                                 r.height() / sy + 2 * my)
            paths = [path for box, path in self.buffer.outline.values() if box.intersects(seen)]
            painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            for pen in self.buffer.outline_pens:
                for path in paths:
                    painter.strokePath(path, pen)
            painter.restore()


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
        self.image_item.setImage(rgb, levels=(0, 255), autoLevels=False)
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

