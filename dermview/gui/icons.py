"""Toolbar icons drawn with QPainter (no image files needed at run time).

``icon(name)`` returns a cached ``QIcon``; ``export_icons(folder)`` writes them as PNG files
(``resources/icons/``, used by the installer and the README).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui

SIZE = 64
_FG = QtGui.QColor(235, 235, 235)
_ACCENT = QtGui.QColor(255, 200, 0)
_RED = QtGui.QColor(235, 80, 70)
_BLUE = QtGui.QColor(70, 160, 255)
_GREEN = QtGui.QColor(80, 200, 110)

Painter = Callable[[QtGui.QPainter], None]
_DRAW: dict[str, Painter] = {}
_CACHE: dict[str, QtGui.QIcon] = {}


def _pen(colour: QtGui.QColor, width: float = 5.0) -> QtGui.QPen:
    pen = QtGui.QPen(colour, width)
    pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(QtCore.Qt.PenJoinStyle.RoundJoin)
    return pen


def _register(name: str) -> Callable[[Painter], Painter]:
    def deco(fn: Painter) -> Painter:
        _DRAW[name] = fn
        return fn
    return deco


def _pt(x: float, y: float) -> QtCore.QPointF:
    return QtCore.QPointF(x, y)


@_register("app")
def _app(p: QtGui.QPainter) -> None:
    p.setBrush(QtGui.QColor(40, 44, 52))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.drawRoundedRect(QtCore.QRectF(2, 2, 60, 60), 12, 12)
    p.setBrush(QtGui.QColor(150, 90, 60))
    p.drawEllipse(QtCore.QRectF(14, 16, 34, 30))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.setPen(_pen(_ACCENT, 4))
    p.drawEllipse(QtCore.QRectF(11, 13, 40, 36))


@_register("brush")
def _brush(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 6))
    p.drawLine(_pt(48, 10), _pt(28, 34))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(_ACCENT)
    p.drawEllipse(QtCore.QRectF(10, 32, 22, 22))


@_register("eraser")
def _eraser(p: QtGui.QPainter) -> None:
    p.save()
    p.translate(32, 32)
    p.rotate(-40)
    p.setPen(_pen(_FG, 3))
    p.setBrush(QtGui.QColor(240, 130, 150))
    p.drawRoundedRect(QtCore.QRectF(-22, -11, 30, 22), 4, 4)
    p.setBrush(QtGui.QColor(220, 220, 230))
    p.drawRoundedRect(QtCore.QRectF(8, -11, 14, 22), 4, 4)
    p.restore()
    p.setPen(_pen(_FG, 3))
    p.drawLine(_pt(8, 56), _pt(56, 56))


def _poly(p: QtGui.QPainter, sign: str, lasso: bool) -> None:
    p.setPen(_pen(_FG, 4))
    p.setBrush(QtGui.QColor(255, 200, 0, 90))
    if lasso:
        path = QtGui.QPainterPath(_pt(12, 30))
        path.cubicTo(_pt(8, 6), _pt(50, 4), _pt(50, 26))
        path.cubicTo(_pt(52, 44), _pt(20, 48), _pt(12, 30))
        p.drawPath(path)
    else:
        p.drawPolygon([_pt(10, 44), _pt(20, 10), _pt(50, 16), _pt(40, 40)])
    colour = _GREEN if sign == "+" else _RED
    p.setPen(_pen(colour, 6))
    p.drawLine(_pt(42, 52), _pt(58, 52))
    if sign == "+":
        p.drawLine(_pt(50, 44), _pt(50, 60))


_register("polygon_add")(lambda p: _poly(p, "+", False))
_register("polygon_subtract")(lambda p: _poly(p, "-", False))
_register("lasso_add")(lambda p: _poly(p, "+", True))
_register("lasso_subtract")(lambda p: _poly(p, "-", True))


@_register("pan")
def _pan(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 5))
    for a, b in (((32, 6), (32, 58)), ((6, 32), (58, 32))):
        p.drawLine(_pt(*a), _pt(*b))
    for tip, l1, l2 in (((32, 6), (24, 14), (40, 14)), ((32, 58), (24, 50), (40, 50)),
                        ((6, 32), (14, 24), (14, 40)), ((58, 32), (50, 24), (50, 40))):
        p.drawPolyline([_pt(*l1), _pt(*tip), _pt(*l2)])


def _blob(p: QtGui.QPainter, rect: QtCore.QRectF, colour: QtGui.QColor = _ACCENT) -> None:
    p.setPen(_pen(_FG, 3))
    p.setBrush(colour)
    p.drawEllipse(rect)


@_register("fill_holes")
def _fill(p: QtGui.QPainter) -> None:
    _blob(p, QtCore.QRectF(8, 10, 48, 44))
    p.setBrush(QtGui.QColor(255, 200, 0, 120))
    p.setPen(_pen(_FG, 2))
    p.drawEllipse(QtCore.QRectF(24, 24, 14, 14))


@_register("refine")
def _refine(p: QtGui.QPainter) -> None:
    _blob(p, QtCore.QRectF(6, 10, 40, 40))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(_GREEN)
    p.drawEllipse(QtCore.QRectF(38, 30, 16, 16))
    p.setPen(_pen(_FG, 2))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawRect(QtCore.QRectF(4, 6, 56, 52))


@_register("grow_seed")
def _grow_seed(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 5))
    p.drawLine(_pt(50, 54), _pt(28, 32))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(_ACCENT)
    for x, y in ((20, 8), (8, 20), (30, 14), (14, 30)):
        p.drawEllipse(QtCore.QRectF(x, y, 9, 9))


@_register("keep_largest")
def _largest(p: QtGui.QPainter) -> None:
    _blob(p, QtCore.QRectF(6, 8, 40, 40))
    p.setPen(_pen(_RED, 3))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawEllipse(QtCore.QRectF(44, 44, 14, 14))
    p.drawLine(_pt(44, 44), _pt(58, 58))


@_register("grow")
def _grow(p: QtGui.QPainter) -> None:
    _blob(p, QtCore.QRectF(16, 16, 32, 32))
    p.setPen(_pen(_GREEN, 3, ))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawEllipse(QtCore.QRectF(6, 6, 52, 52))


@_register("shrink")
def _shrink(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 3))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawEllipse(QtCore.QRectF(6, 6, 52, 52))
    _blob(p, QtCore.QRectF(18, 18, 28, 28))
    p.setPen(_pen(_RED, 3))
    p.drawEllipse(QtCore.QRectF(16, 16, 32, 32))


@_register("smooth")
def _smooth(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 3))
    p.setBrush(QtGui.QColor(255, 200, 0, 80))
    p.drawPolygon([_pt(10, 32), _pt(16, 14), _pt(26, 20), _pt(34, 8), _pt(44, 18),
                   _pt(54, 28), _pt(46, 46), _pt(30, 54), _pt(18, 46)])
    _blob(p, QtCore.QRectF(16, 16, 32, 32))


@_register("clear")
def _clear(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_RED, 6))
    p.drawLine(_pt(14, 14), _pt(50, 50))
    p.drawLine(_pt(50, 14), _pt(14, 50))


@_register("segment")
def _segment(p: QtGui.QPainter) -> None:
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(QtGui.QColor(150, 90, 60))
    p.drawEllipse(QtCore.QRectF(10, 12, 36, 32))
    p.setPen(_pen(_ACCENT, 4))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawEllipse(QtCore.QRectF(8, 10, 40, 36))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(_GREEN)
    p.drawPolygon([_pt(40, 36), _pt(60, 48), _pt(40, 60)])


@_register("heatmap")
def _heat(p: QtGui.QPainter) -> None:
    grad = QtGui.QRadialGradient(_pt(32, 32), 28)
    grad.setColorAt(0.0, QtGui.QColor(255, 40, 20))
    grad.setColorAt(0.5, QtGui.QColor(255, 230, 0))
    grad.setColorAt(1.0, QtGui.QColor(40, 80, 255, 120))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(grad)
    p.drawEllipse(QtCore.QRectF(4, 4, 56, 56))


@_register("outline")
def _outline(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_ACCENT, 5))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawEllipse(QtCore.QRectF(10, 12, 44, 40))


@_register("fit")
def _fit(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 4))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawRect(QtCore.QRectF(16, 18, 32, 28))
    for pts in (((6, 16), (6, 6), (16, 6)), ((48, 6), (58, 6), (58, 16)),
                ((6, 48), (6, 58), (16, 58)), ((48, 58), (58, 58), (58, 48))):
        p.drawPolyline([_pt(*q) for q in pts])


@_register("one_to_one")
def _one(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 2))
    font = p.font()
    font.setPixelSize(26)
    font.setBold(True)
    p.setFont(font)
    p.drawText(QtCore.QRectF(0, 0, 64, 64), QtCore.Qt.AlignmentFlag.AlignCenter, "1:1")


@_register("compare")
def _compare(p: QtGui.QPainter) -> None:
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.setPen(_pen(_ACCENT, 4))
    p.drawEllipse(QtCore.QRectF(8, 12, 34, 34))
    p.setPen(_pen(_BLUE, 4))
    p.drawEllipse(QtCore.QRectF(22, 18, 34, 34))


def _curved_arrow(p: QtGui.QPainter, mirror: bool) -> None:
    if mirror:
        p.translate(64, 0)
        p.scale(-1, 1)
    p.setPen(_pen(_FG, 6))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    path = QtGui.QPainterPath(_pt(18, 24))
    path.cubicTo(_pt(34, 10), _pt(58, 18), _pt(54, 38))
    path.cubicTo(_pt(52, 48), _pt(44, 54), _pt(34, 54))
    p.drawPath(path)
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(_FG)
    p.drawPolygon([_pt(6, 28), _pt(24, 10), _pt(28, 34)])


@_register("ruler")
def _ruler(p: QtGui.QPainter) -> None:
    p.setPen(_pen(_FG, 4))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.save()
    p.translate(32, 32)
    p.rotate(-35)
    p.drawRect(QtCore.QRectF(-26, -8, 52, 16))
    for i, x in enumerate(range(-20, 24, 8)):
        p.drawLine(_pt(x, -8), _pt(x, -1 if i % 2 else 2))
    p.restore()


_register("undo")(lambda p: _curved_arrow(p, False))
_register("redo")(lambda p: _curved_arrow(p, True))


def draw(name: str, size: int = SIZE) -> QtGui.QImage:
    """The icon ``name`` as an ARGB image of ``size``×``size`` pixels."""
    img = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(QtCore.Qt.GlobalColor.transparent)
    p = QtGui.QPainter(img)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.scale(size / SIZE, size / SIZE)
    _DRAW[name](p)
    p.end()
    return img


def names() -> list[str]:
    return sorted(_DRAW)


def icon(name: str) -> QtGui.QIcon:
    """Cached icon (drawn at 32 and 64 px)."""
    if name not in _CACHE:
        ic = QtGui.QIcon()
        for s in (32, 64):
            ic.addPixmap(QtGui.QPixmap.fromImage(draw(name, s)))
        _CACHE[name] = ic
    return _CACHE[name]


def export_icons(folder: str | Path, size: int = 64) -> list[Path]:
    """Write every icon as ``<folder>/<name>.png``; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names():
        path = folder / f"{name}.png"
        draw(name, size).save(str(path))
        out.append(path)
    return out
