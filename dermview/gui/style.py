"""Keyboard focus one can see and follow: the application style (Fusion with a focus ring one
can see on the dark palette) and radio-button groups Tab enters at the checked button.

Fusion marks keyboard focus with a one-pixel frame in a shade of the highlight colour, which on
the dark palette of :func:`dermview.gui.app.ensure_app` was hard to find (trial finding: a
keyboard user tabbing through the Segment panel could not tell where focus was, on a slider or
a combo box not at all). :class:`FocusRingStyle` draws a 2-px ring of :data:`FOCUS_RING` around
the widget that has keyboard focus: around a push button, combo box, spin box or slider only
when focus came from the keyboard (as Fusion does), around a check box's, radio button's or
tab's label whenever it has focus (where Fusion draws its focus frame).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

#: Colour of the keyboard-focus ring: light blue, 7:1 contrast on the dark window colour.
FOCUS_RING = QtGui.QColor(130, 185, 255)
RING_WIDTH = 2.0

_S = QtWidgets.QStyle
#: Controls drawn whole by one call, ringed when they have keyboard focus (check boxes, radio
#: buttons and tabs ask for a focus frame themselves: PE_FrameFocusRect).
_RINGED_CONTROLS = (_S.ControlElement.CE_PushButton,)
_RINGED_COMPLEX = (_S.ComplexControl.CC_ComboBox, _S.ComplexControl.CC_SpinBox,
                   _S.ComplexControl.CC_Slider)


def _keyboard_focus(option: QtWidgets.QStyleOption) -> bool:
    state = option.state
    return bool(state & _S.StateFlag.State_HasFocus) and bool(state & _S.StateFlag.State_KeyboardFocusChange)


def _ring(painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
    painter.save()
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
    pen = QtGui.QPen(FOCUS_RING, RING_WIDTH)
    painter.setPen(pen)
    painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    half = RING_WIDTH / 2
    painter.drawRoundedRect(QtCore.QRectF(rect).adjusted(half, half, -half, -half), 3, 3)
    painter.restore()


class FocusRingStyle(QtWidgets.QProxyStyle):
    """Fusion, with :data:`FOCUS_RING` around the widget that has keyboard focus."""

    def __init__(self) -> None:
        super().__init__("Fusion")

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 (Qt API)
        if element == _S.PrimitiveElement.PE_FrameFocusRect:  # asked for only with focus
            if option.state & _S.StateFlag.State_HasFocus:
                _ring(painter, option.rect)
            return
        super().drawPrimitive(element, option, painter, widget)

    def drawControl(self, element, option, painter, widget=None) -> None:  # noqa: N802 (Qt API)
        super().drawControl(element, option, painter, widget)
        if element in _RINGED_CONTROLS and _keyboard_focus(option):
            _ring(painter, option.rect)

    def drawComplexControl(self, control, option, painter, widget=None) -> None:  # noqa: N802 (Qt API)
        super().drawComplexControl(control, option, painter, widget)
        if control in _RINGED_COMPLEX and _keyboard_focus(option):
            _ring(painter, option.rect)


def tab_enters_at_checked(buttons: list[QtWidgets.QAbstractButton]) -> None:
    """Make Tab land on the checked button of a group of exclusive ``buttons`` (Qt lands on the
    first one: with "Outline" chosen, Tab went to "Filled"); arrow keys still move within the
    group. Only the checked button (the first while none is) takes Tab focus; the others take
    focus on a click."""

    def sync(_checked: bool = False) -> None:
        stop = next((b for b in buttons if b.isChecked()), buttons[0])
        for b in buttons:
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus if b is stop
                             else QtCore.Qt.FocusPolicy.ClickFocus)

    for b in buttons:
        b.toggled.connect(sync)
    sync()


class FocusParking:
    """Disable and enable ``widget`` without handing its keyboard focus on.

    Qt gives the focus of a widget being disabled to the next one in the Tab chain: after a
    click on "Classify lesion" (off while it runs) the focus sat on "Classify automatically",
    and Space toggled it; after "Start" in the Improve dialog, on "Close". Here the
    focus goes to the widget's parent (which takes no keys) while it is off, and comes back
    when it is enabled again, unless the user has put the focus elsewhere meanwhile.
    """

    def __init__(self, widget: QtWidgets.QWidget) -> None:
        self.widget = widget
        self._parked = False

    def set_enabled(self, enabled: bool) -> None:
        w = self.widget
        parent = w.parentWidget()
        if not enabled and w.hasFocus() and parent is not None:
            parent.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)
            self._parked = True
        w.setEnabled(enabled)
        if enabled and self._parked:
            self._parked = False
            if parent is not None and parent.hasFocus():
                w.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)
