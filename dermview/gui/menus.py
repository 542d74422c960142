"""Actions, menus and the toolbar of the main window (every command with its shortcut)."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.icons import icon


def make_action(win: QtWidgets.QMainWindow, text: str, slot, shortcut: Any = None,
                icon_name: str | None = None, tip: str = "",
                checkable: bool = False) -> QtGui.QAction:
    """A window-wide action: its shortcut works wherever the focus is in the window."""
    a = QtGui.QAction(text, win)
    if icon_name:
        a.setIcon(icon(icon_name))
    if shortcut is not None:
        seqs = shortcut if isinstance(shortcut, list) else [shortcut]
        a.setShortcuts([QtGui.QKeySequence(s) for s in seqs])
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(f"{tip} ({a.shortcut().toString()})" if a.shortcuts() else tip)
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    win.addAction(a)
    return a


def build_actions(win) -> None:
    """Create the window's actions (``win.act_*``), menus (``win.menus``) and toolbar."""
    K = QtGui.QKeySequence.StandardKey  # noqa: N806
    st = win.style()
    SP = QtWidgets.QStyle.StandardPixmap  # noqa: N806

    def a(*args, **kwargs) -> QtGui.QAction:
        return make_action(win, *args, **kwargs)

    win.act_open = a("&Open image…", win.open_dialog, K.Open, tip="Open an image")
    win.act_open.setIcon(st.standardIcon(SP.SP_DialogOpenButton))
    win.act_open_folder = a("Open &folder…", win.open_folder_dialog, "Ctrl+Shift+O",
                             tip="Open a folder as a worklist")
    win.act_open_folder.setIcon(st.standardIcon(SP.SP_DirOpenIcon))
    win.act_save = a("&Save label", win.save, K.Save, tip="Save the mask and its sidecar")
    win.act_save.setIcon(st.standardIcon(SP.SP_DialogSaveButton))
    win.act_labels_dir = a("Labels folder…", win.choose_labels_dir, None,
                            tip="Where labels are saved (default: labels/ beside the image)")
    win.act_ref_dir = a("Reference masks folder…", win.choose_reference_dir, None,
                         "compare", tip="Compare with ground-truth masks from a folder")
    win.act_save_next = a("Save and &next", win.save_and_next, "Ctrl+Return",
                           tip="Save the label and open the next image")
    win.act_next_new = a("Next &unlabelled image", win.next_unlabelled, "Ctrl+PgDown",
                          tip="Open the next image that has no label yet")
    win.act_next = a("&Next image", win.next_image, ["PgDown"], tip="Next image")
    win.act_next.setIcon(st.standardIcon(SP.SP_ArrowForward))
    win.act_prev = a("&Previous image", win.previous_image, ["PgUp"], tip="Previous image")
    win.act_prev.setIcon(st.standardIcon(SP.SP_ArrowBack))
    win.act_quit = a("&Quit", win.close, "Ctrl+Q")

    win.act_undo = a("&Undo", win.undo, K.Undo, tip="Undo")
    win.act_undo.setIcon(icon("undo"))
    win.act_redo = a("&Redo", win.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], tip="Redo")
    win.act_redo.setIcon(icon("redo"))
    win.act_tools: dict[str, QtGui.QAction] = {}
    for key, text, sc in (("pan", "Pan / zoom", "H"), ("brush", "Brush (add lesion)", "B"),
                          ("eraser", "Eraser", "E"), ("polygon_add", "Polygon add", "P"),
                          ("polygon_subtract", "Polygon subtract", "Shift+P"),
                          ("lasso_add", "Lasso add", "L"),
                          ("lasso_subtract", "Lasso subtract", "Shift+L")):
        act = a(text, lambda _=False, k=key: win.set_tool(k), sc, key, tip=text,
                checkable=True)
        win.act_tools[key] = act
    win.act_finish_poly = a("Close polygon", win.edit.finish_polygon,
                             ["Return", "Enter"])
    win.act_smaller = a("Smaller brush", lambda: win.edit.grow_radius(-1), "[")
    win.act_bigger = a("Bigger brush", lambda: win.edit.grow_radius(1), "]")
    win.act_ops = {
        "fill_holes": a("Fill holes", win.edit.fill_holes, "F", "fill_holes", "Fill holes"),
        "keep_largest": a("Keep largest region", win.edit.keep_largest, "K", "keep_largest",
                          "Keep only the largest region"),
        "grow": a("Grow by 1 px", win.edit.grow, "G", "grow", "Grow the mask by one pixel"),
        "shrink": a("Shrink by 1 px", win.edit.shrink, "Shift+G", "shrink",
                    "Shrink the mask by one pixel"),
        "smooth": a("Smooth boundary", win.edit.smooth, "M", "smooth",
                    "Smooth the mask boundary"),
        "clear": a("Clear mask", win.edit.clear, "Ctrl+Delete", "clear", "Clear the mask"),
    }
    for key, b in win.op_buttons.items():
        b.clicked.connect(win.act_ops[key].trigger)
        b.setToolTip(win.act_ops[key].toolTip())

    win.act_segment = a("&Segment", win.segment, "Ctrl+R", "segment",
                         "Segment the lesion with the model")
    win.act_cancel = a("Cancel", win.cancel_all, "Esc", tip="Cancel running work / tool")
    win.act_fit = a("&Fit to window", win.before.fit, ["Ctrl+0", "0"], "fit",
                     "Fit the image to the window")
    win.act_one = a("1:1 (actual pixels)", win.before.one_to_one, ["Ctrl+1", "1"],
                     "one_to_one", "One image pixel per screen pixel")
    win.act_zoom_in = a("Zoom in", lambda: win.before.zoom(0.8), K.ZoomIn)
    win.act_zoom_out = a("Zoom out", lambda: win.before.zoom(1.25), K.ZoomOut)
    win.act_mask = a("Show mask", win.mask_check.toggle, "V", tip="Show / hide the mask")
    win.act_outline = a("Outline / filled mask", win._toggle_outline, "O", "outline",
                         "Show the mask as outline or filled")
    win.act_heat = a("Probability heat map", win.heat_check.toggle, "Ctrl+H", "heatmap",
                      "Show the model's probability heat map")
    win.act_diff = a("Differences from the reference", win.diff_check.toggle, "D", "compare",
                     "Colour where the mask and the reference mask disagree")
    win.act_shortcuts = a("&Keyboard shortcuts", win.show_shortcuts, "F1")
    win.act_about = a("&About dermview", win.show_about)

    mb = win.menuBar()
    m_file = mb.addMenu("&File")
    for act in (win.act_open, win.act_open_folder):
        m_file.addAction(act)
    win.recent_menu = m_file.addMenu("Open &recent")
    win.recent_menu.aboutToShow.connect(win._fill_recent)
    m_file.addSeparator()
    for act in (win.act_save, win.act_labels_dir, win.act_ref_dir):
        m_file.addAction(act)
    m_file.addSeparator()
    m_file.addAction(win.act_prev)
    m_file.addAction(win.act_next)
    m_file.addAction(win.act_next_new)
    m_file.addAction(win.act_save_next)
    m_file.addSeparator()
    m_file.addAction(win.act_quit)
    m_edit = mb.addMenu("&Edit")
    m_edit.addAction(win.act_undo)
    m_edit.addAction(win.act_redo)
    m_edit.addSeparator()
    for act in win.act_tools.values():
        m_edit.addAction(act)
    m_edit.addAction(win.act_finish_poly)
    m_edit.addAction(win.act_smaller)
    m_edit.addAction(win.act_bigger)
    m_edit.addSeparator()
    for act in win.act_ops.values():
        m_edit.addAction(act)
    m_seg = mb.addMenu("&Segmentation")
    m_seg.addAction(win.act_segment)
    m_seg.addAction(win.act_cancel)
    m_view = mb.addMenu("&View")
    for act in (win.act_fit, win.act_one, win.act_zoom_in, win.act_zoom_out,
                win.act_mask, win.act_outline, win.act_heat, win.act_diff):
        m_view.addAction(act)
    m_view.addSeparator()
    for dock in win._docks.values():
        m_view.addAction(dock.toggleViewAction())
    m_help = mb.addMenu("&Help")
    m_help.addAction(win.act_shortcuts)
    m_help.addAction(win.act_about)
    win.menus = [("File", m_file), ("Edit", m_edit), ("Segmentation", m_seg),
                  ("View", m_view), ("Help", m_help)]

    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    tb.setIconSize(QtCore.QSize(24, 24))
    for act in (win.act_open, win.act_open_folder, win.act_save, None, win.act_prev,
                win.act_next, None, win.act_undo, win.act_redo, None, win.act_segment,
                None):
        tb.addAction(act) if act is not None else tb.addSeparator()
    for act in win.act_tools.values():
        tb.addAction(act)
    tb.addSeparator()
    for act in (win.act_fit, win.act_one, win.act_outline, win.act_heat):
        tb.addAction(act)
    win.toolbar = tb
