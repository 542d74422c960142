"""Overlay layers of the image panes: a shared premultiplied ARGB buffer (:class:`OverlayBuffer`)
and the item that draws it at image scale (:class:`OverlayItem`), painting only the exposed
region, so updating a small rectangle (a brush dab) redraws only that rectangle even on a
4000×3000 image. A buffer may also carry outlines (:meth:`OverlayBuffer.set_outline`), drawn
as lines of a fixed screen width on a dark halo: an outline one image pixel wide vanished on
large images seen whole and was faint on light skin.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.render import Polyline

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

    def clear_region(self, top: int, left: int, bottom: int, right: int) -> None:
        """Make the rectangle ``[top:bottom, left:right]`` transparent."""
        self.data[top:bottom, left:right] = 0
        self.changed.emit(QtCore.QRectF(left, top, right - left, bottom - top))

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
