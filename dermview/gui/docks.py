"""Side-panel docks of the main window: creation, the tabbed arrangement, saved geometry."""

from __future__ import annotations

from itertools import pairwise

from PySide6 import QtCore, QtGui, QtWidgets

Area = QtCore.Qt.DockWidgetArea

#: Minimum width of a scrollable side panel, in device-independent pixels.
PANEL_MIN_WIDTH = 300


def make_dock(window: QtWidgets.QMainWindow, key: str, title: str, widget: QtWidgets.QWidget,
              area: Area, scroll: bool = False) -> QtWidgets.QDockWidget:
    """Wrap ``widget`` in a dock named ``dock_<key>`` (scrollable when ``scroll``) and add it
    to ``window`` in ``area``."""
    dock = QtWidgets.QDockWidget(title, window)
    dock.setObjectName(f"dock_{key}")
    if scroll:
        view = QtWidgets.QScrollArea()
        view.setWidgetResizable(True)
        view.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        view.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        view.setWidget(widget)
        widget.setMinimumWidth(PANEL_MIN_WIDTH)
        view.setMinimumWidth(max(widget.minimumSizeHint().width(), PANEL_MIN_WIDTH)
                             + view.verticalScrollBar().sizeHint().width() + 4)
        dock.setWidget(view)
    else:
        dock.setWidget(widget)
    window.addDockWidget(area, dock)
    # the tab bars of tabbed panels are made and remade by the window's layout
    dock.dockLocationChanged.connect(lambda _a: QtCore.QTimer.singleShot(
        0, window, lambda: name_tabs(window)))
    return dock


def name_tabs(window: QtWidgets.QMainWindow) -> None:
    """Give each panel tab of ``window`` its full title and shortcut as tooltip: on a small
    screen at 150 % the six titles along the right edge are elided to "Re…", "T…", "Le…"."""
    by_title = {d.windowTitle(): d for d in window.findChildren(QtWidgets.QDockWidget)}
    for bar in window.findChildren(QtWidgets.QTabBar,
                                   options=QtCore.Qt.FindChildOption.FindDirectChildrenOnly):
        for i in range(bar.count()):
            dock = by_title.get(bar.tabText(i))
            if dock is None:
                continue
            act = window.findChild(QtGui.QAction,
                                   f"action_panel_{dock.objectName().removeprefix('dock_')}")
            key = act.shortcut().toString() if act is not None else ""
            bar.setTabToolTip(i, f"{dock.windowTitle()} panel" + (f" ({key})" if key else ""))


def on_top(dock: QtWidgets.QDockWidget) -> bool:
    """Whether ``dock`` is shown and not behind another panel's tab."""
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def _takes_text(widget: QtWidgets.QWidget) -> bool:
    """A control the letter keys type into (a line edit, an editable combo box, a text box)."""
    if isinstance(widget, QtWidgets.QComboBox):
        return widget.isEditable()
    return isinstance(widget, (QtWidgets.QLineEdit, QtWidgets.QTextEdit,
                               QtWidgets.QPlainTextEdit))


def show_panel(dock: QtWidgets.QDockWidget) -> None:
    """Bring ``dock`` to the front (shown, its tab raised) and put the keyboard in its first
    control that takes the focus, one the letter keys do not type into when there is one
    (Alt+7 put it in the Lesion panel's Device box, selected: A, to accept the mask, then
    renamed the dermatoscope "a")."""
    dock.show()
    dock.raise_()
    inside = dock.widget()
    controls = [child for child in [inside, *inside.findChildren(QtWidgets.QWidget)]
                if child.focusPolicy() & QtCore.Qt.FocusPolicy.TabFocus and child.isEnabled()
                and child.isVisibleTo(dock) and not isinstance(child, QtWidgets.QScrollArea)
                and not isinstance(child.parent(), QtWidgets.QComboBox)]
    for child in [c for c in controls if not _takes_text(c)] + controls:
        child.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)
        return
    dock.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)


def panel_action(window: QtWidgets.QMainWindow, dock: QtWidgets.QDockWidget,
                 shortcut: str | None = None) -> QtGui.QAction:
    """The View menu's entry for ``dock`` (ticked while it is open): the panel is brought to
    the front with the keyboard in it; only when it is in front with the keyboard in it
    already is it closed (the keyboard then goes to the image). (Qt's own toggle closed a
    panel behind a tab: for a keyboard user, View → Lesion hid the Lesion panel, and
    nothing brought it to the front; closing a panel in front left the keyboard in its
    hidden controls, where Space pressed an unseen button.)"""
    act = QtGui.QAction(dock.windowTitle(), window)
    act.setObjectName(f"action_panel_{dock.objectName().removeprefix('dock_')}")
    act.setCheckable(True)
    act.setChecked(not dock.isHidden())
    if shortcut:
        act.setShortcut(QtGui.QKeySequence(shortcut))
    tip = f"Show the {dock.windowTitle()} panel (again: close it)"
    act.setStatusTip(tip)
    act.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)

    def triggered(_checked: bool = False) -> None:
        if on_top(dock) and dock.isAncestorOf(QtWidgets.QApplication.focusWidget()):
            dock.hide()
            central = window.centralWidget()
            if central is not None:
                central.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)
        else:
            show_panel(dock)
        act.setChecked(not dock.isHidden())

    act.triggered.connect(triggered)
    dock.visibilityChanged.connect(lambda _v: act.setChecked(not dock.isHidden()))
    window.addAction(act)  # its shortcut works wherever the focus is
    return act


def tabify(window: QtWidgets.QMainWindow, docks: list[QtWidgets.QDockWidget],
           shown: QtWidgets.QDockWidget) -> None:
    """Stack ``docks`` as tabs, in this order; ``shown`` is the raised one.

    Tabs sit on top in the left area (two short titles) and along the window's right edge in
    the right area, where six panel titles side by side would be elided to "R…", "T…"."""
    for left, right in pairwise(docks):
        window.tabifyDockWidget(left, right)
    window.setTabPosition(Area.AllDockWidgetAreas, QtWidgets.QTabWidget.TabPosition.North)
    window.setTabPosition(Area.RightDockWidgetArea, QtWidgets.QTabWidget.TabPosition.East)
    shown.raise_()
    QtCore.QTimer.singleShot(0, window, lambda: name_tabs(window))


def restore_geometry(window: QtWidgets.QMainWindow, geometry: QtCore.QByteArray | None,
                     state: QtCore.QByteArray | None, left: QtWidgets.QDockWidget,
                     right: QtWidgets.QDockWidget, dock_sizes: bool = True) -> None:
    """Restore a saved window geometry and dock state; on the first start, narrow side
    panels (the left one as wide as its panel asks, e.g. the worklist for an ISIC file name
    beside its status, up to a quarter of the window) and 90 % of the screen. Never larger
    than the screen (the status bar stays visible). ``dock_sizes=False`` (a state saved at
    another display scale): the docks' places are restored, their widths are the first
    start's (a worklist 186 px wide at 150 % cut every name to "ISI…051" at 100 %)."""
    if state is not None:
        window.restoreState(state)
        if dock_sizes:
            # again once the window is laid out at its size: restored before, the docks were
            # squeezed to fit the window's default size (a worklist 238 px wide came back
            # 188 px wide at every start, ISIC names cut to "ISI…127" at 150 %)
            QtCore.QTimer.singleShot(0, window, lambda: window.restoreState(state))
    if state is None or not dock_sizes:  # once laid out (Qt ignores sizes asked for before)
        QtCore.QTimer.singleShot(0, window, lambda: window.resizeDocks(
            [left, right], [min(left.sizeHint().width(), window.width() // 4), 330],
            QtCore.Qt.Orientation.Horizontal))
    if geometry is None or not window.restoreGeometry(geometry):
        window.resize(1400, 860)
    screen = window.screen() or QtGui.QGuiApplication.primaryScreen()
    if screen is not None:
        area = screen.availableGeometry()
        w = window.width() if geometry is not None else int(area.width() * 0.9)
        h = window.height() if geometry is not None else int(area.height() * 0.9)
        window.resize(min(w, area.width()), min(h, area.height() - 30))
    # Before the window is shown its docks are not tabified yet, and their minimum widths
    # add up: at 150 % on a 1280×800 screen (853 px) it stayed 954 px wide, the panels' tabs
    # (Review … Diagnosis) and the right half of each panel off the screen. Once shown, the
    # minimum is the tabbed one: fit again (unless the window was given a size since).
    asked = window.size()
    QtCore.QTimer.singleShot(0, window, lambda: window.size() == asked and fit_to_screen(window))


def fit_to_screen(window: QtWidgets.QWidget) -> None:
    """Shrink (and move) ``window`` so it lies on its screen's available area, as far as its
    minimum size allows."""
    screen = window.screen() or QtGui.QGuiApplication.primaryScreen()
    if screen is None:
        return
    area = screen.availableGeometry()
    w, h = min(window.width(), area.width()), min(window.height(), area.height() - 30)
    if (w, h) != (window.width(), window.height()):
        window.resize(w, h)
    x = min(max(window.x(), area.left()), max(area.left(), area.right() + 1 - window.width()))
    y = min(max(window.y(), area.top()), max(area.top(), area.bottom() + 1 - window.height()))
    if (x, y) != (window.x(), window.y()):
        window.move(x, y)
