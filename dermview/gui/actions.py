"""Every command of the main window in one declarative table, plus menus and the toolbar.

An :class:`ActionSpec` names an action (``id``), its text, shortcut(s), icon, tip, menu and
handler; :func:`build_actions` turns the table into ``dict[str, QAction]`` (the window's
``actions``), :func:`build_menus` and :func:`build_toolbar` lay them out. A handler is a
function of the window returning the slot, so the table is written before the window exists.
To add a command, add one row to :data:`ACTIONS` (see ``gui/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.docks import panel_action
from dermview.gui.icons import icon, names

K = QtGui.QKeySequence.StandardKey
Shortcut = str | QtGui.QKeySequence.StandardKey | list[str] | None


@dataclass(frozen=True)
class ActionSpec:
    """One command: ``handler(window)`` returns the slot called on ``triggered``."""

    id: str
    text: str
    handler: Callable[[Any], Callable[..., Any]]
    shortcut: Shortcut = None
    icon: str | None = None  # name for :func:`dermview.gui.icons.icon` or ``"std:<SP_...>"``
    tip: str = ""
    menu: str = ""  # "File", "Edit", ...; "" = window shortcut only
    checkable: bool = False


def _tool(name: str, text: str, key: str) -> ActionSpec:
    return ActionSpec(f"tool_{name}", text, lambda w: lambda _=False: w.set_tool(name), key,
                      name, text, "Edit", checkable=True)


def _import(fmt: str, text: str, what: str) -> ActionSpec:
    """File → Import labels from ``fmt``: ``what`` as labels of the worklist's images."""
    return ActionSpec(f"import_{fmt.split('-')[-1]}", text,
                      lambda w: lambda _=False: w.exchange.import_labels(fmt), None, None,
                      f"Import {what} as labels of the worklist's images, for review (as "
                      "dermview import)", "File")


def _op(name: str, text: str, key: str, tip: str) -> ActionSpec:
    return ActionSpec(f"op_{name}", text, lambda w: getattr(w.edit, name), key, name, tip,
                      "Edit")


#: The window's commands, in menu order ("-" entries in :data:`MENUS` add separators).
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open image…", lambda w: w.session.open_dialog, K.Open, "std:SP_DialogOpenButton",
               "Open an image", "File"),
    ActionSpec("open_folder", "Open &folder…", lambda w: w.session.open_folder_dialog, "Ctrl+Shift+O",
               "std:SP_DirOpenIcon", "Open a folder as a worklist", "File"),
    ActionSpec("save", "&Save label", lambda w: w.saving.save, K.Save, "std:SP_DialogSaveButton",
               "Save the mask and its sidecar", "File"),
    ActionSpec("labels_dir", "Labels folder…", lambda w: w.saving.choose_labels_dir, None, None,
               "Choose the folder labels are saved to", "File"),
    ActionSpec("labels_beside", "Labels beside each image", lambda w: lambda: w.saving.
               set_labels_dir(None), None, None, "Save labels in labels/ beside each image",
               "File"),
    ActionSpec("ref_dir", "Reference masks folder…", lambda w: w.session.choose_reference_dir, None,
               "compare", "Compare with ground-truth masks from a folder", "File"),
    ActionSpec("export_seg", "&Export DICOM SEG…",
               lambda w: lambda _=False: w.exchange.export_dicom_seg(), None, None,
               "Write the mask as a DICOM SEG (<stem>_segmentation.dcm) for PACS and clinical "
               "viewers", "File"),
    ActionSpec("export_coco", "Export labels as &COCO…",
               lambda w: lambda _=False: w.exchange.export_labels("coco"), None, None,
               "Write the worklist's saved labels as one COCO JSON (RLE masks, review state in "
               "the attributes)", "File"),
    ActionSpec("export_labelme", "Export labels as &labelme…",
               lambda w: lambda _=False: w.exchange.export_labels("labelme"), None, None,
               "Write the worklist's saved labels as labelme JSON, one per image (exact "
               "masks: labelme 5.5 or later)", "File"),
    ActionSpec("export_labelme_poly", "Export labels as labelme pol&ygons…",
               lambda w: lambda _=False: w.exchange.export_labels("labelme", polygons=True),
               None, None, "Write the worklist's saved labels as labelme polygons, one JSON per "
               "image (any labelme version and tools that read polygons; holes are dropped)",
               "File"),
    ActionSpec("export_report", "Export repor&t…", lambda w: lambda: w.lesion.export_report(),
               "Ctrl+P", None, "Write a one-page PDF case report of this lesion", "File"),
    _import("coco", "&Import labels from COCO…", "another tool's COCO masks"),
    _import("labelme", "Import labels from la&belme…", "a folder of labelme JSON files"),
    _import("dicom-seg", "Import labels from DICOM SE&G…", "a folder of DICOM SEG files"),
    ActionSpec("prev", "&Previous image", lambda w: w.session.previous_image, ["PgUp"],
               "std:SP_ArrowBack", "Previous image", "File"),
    ActionSpec("next", "&Next image", lambda w: w.session.next_image, ["PgDown"], "std:SP_ArrowForward",
               "Next image", "File"),
    ActionSpec("next_new", "Next image to re&view", lambda w: w.session.next_to_review, "Ctrl+PgDown",
               None, "Open the next image with no label yet or an unreviewed model mask", "File"),
    ActionSpec("save_next", "Save &and next", lambda w: w.session.save_and_next, "Ctrl+Return", None,
               "Save the label and open the next image", "File"),
    ActionSpec("quit", "&Quit", lambda w: w.close, "Ctrl+Q", menu="File"),
    ActionSpec("undo", "&Undo", lambda w: w.undo, K.Undo, "undo", "Undo", "Edit"),
    ActionSpec("redo", "&Redo", lambda w: w.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo", "Redo",
               "Edit"),
    _tool("pan", "Pan / zoom", "H"),
    _tool("brush", "Brush (add lesion)", "B"),
    _tool("eraser", "Eraser", "E"),
    _tool("polygon_add", "Polygon add", "P"),
    _tool("polygon_subtract", "Polygon subtract", "Shift+P"),
    _tool("lasso_add", "Lasso add", "L"),
    _tool("lasso_subtract", "Lasso subtract", "Shift+L"),
    _tool("ruler", "Ruler (measure, calibrate)", "Shift+R"),
    _tool("refine", "Refine (click: lesion, Shift+click: not, drag: box)", "R"),
    _tool("grow_seed", "Grow from seed (drag: tolerance, Shift: cut)", "W"),
    ActionSpec("finish_poly", "Close polygon", lambda w: w.edit.finish_polygon,
               ["Return", "Enter"], menu="Edit"),
    ActionSpec("smaller", "Smaller brush", lambda w: lambda: w.edit.grow_radius(-1), "[",
               menu="Edit"),
    ActionSpec("bigger", "Bigger brush", lambda w: lambda: w.edit.grow_radius(1), "]",
               menu="Edit"),
    _op("fill_holes", "Fill holes", "F", "Fill holes"),
    _op("keep_largest", "Keep largest region", "K", "Keep only the largest region"),
    _op("grow", "Grow by 1 px", "G", "Grow the mask by one pixel"),
    _op("shrink", "Shrink by 1 px", "Shift+G", "Shrink the mask by one pixel"),
    _op("smooth", "Smooth boundary", "M", "Smooth the mask boundary"),
    _op("clear", "Clear mask", "Ctrl+Delete", "Clear the mask"),
    ActionSpec("accept", "&Accept mask and save", lambda w: w.review.accept, "A", None,
               "The mask is right as it is: save it as accepted", "Segmentation"),
    ActionSpec("accept_next", "Accept, save and &next to review",
               lambda w: lambda _=False: w.review.accept() and w.session.next_to_review(),
               "Shift+A", None, "The mask is right as it is: save it as accepted and open the "
               "next image still to review (A, then Ctrl+PgDown)", "Segmentation"),
    ActionSpec("reject", "&Reject mask and save", lambda w: w.review.reject, "X", None,
               "The mask is wrong and is not fixed now: save it as rejected (to be redone; "
               "never used for fine-tuning nor exported)", "Segmentation"),
    ActionSpec("threshold_down", "Lower the threshold (larger mask)",
               lambda w: lambda: w.seg_panel.step_threshold(-1), ",", None,
               "Threshold − 0.05: the mask takes in less certain pixels", "Segmentation"),
    ActionSpec("threshold_up", "Raise the threshold (smaller mask)",
               lambda w: lambda: w.seg_panel.step_threshold(1), ".", None,
               "Threshold + 0.05: the mask keeps only the more certain pixels", "Segmentation"),
    ActionSpec("segment", "&Segment", lambda w: w.segmenter.run, "Ctrl+R", "segment",
               "Segment the lesion with the model", "Segmentation"),
    ActionSpec("segment_all", "Segment all &unlabelled images…", lambda w: w.batch.start,
               "Ctrl+Shift+R", None, "Segment every worklist image without a label; the masks "
               "are saved as unreviewed model masks (labels that exist are never replaced)",
               "Segmentation"),
    ActionSpec("classify", "&Classify lesion (decision support)", lambda w: w.classify_lesion,
               "Ctrl+D", None, "Melanoma / seborrheic keratosis / naevus probabilities of the "
               "lesion in the mask (Diagnosis panel); research use, not a diagnosis",
               "Segmentation"),
    ActionSpec("cancel", "Cancel", lambda w: w.cancel_all, "Esc", None,
               "Cancel running work / tool", "Segmentation"),
    ActionSpec("before_after", "Original / preprocessed", lambda w: w.view.toggle, "T",
               "compare", "Single view: switch between the original and the preprocessed "
               "image", "View"),
    ActionSpec("side_by_side", "Side by side", lambda w: w.view.set_side_by_side, "Shift+T",
               None, "Show the original and the preprocessed image side by side", "View",
               checkable=True),
    ActionSpec("fit", "&Fit to window", lambda w: lambda: w.view.shown().fit(), ["Ctrl+0", "0"],
               "fit", "Fit the image to the window", "View"),
    ActionSpec("one", "1:1 (actual pixels)", lambda w: lambda: w.view.shown().one_to_one(),
               ["Ctrl+1", "1"], "one_to_one", "One image pixel per screen pixel", "View"),
    ActionSpec("zoom_in", "Zoom in", lambda w: lambda: w.view.shown().zoom(0.8), K.ZoomIn,
               menu="View"),
    ActionSpec("zoom_out", "Zoom out", lambda w: lambda: w.view.shown().zoom(1.25), K.ZoomOut,
               menu="View"),
    ActionSpec("mask", "Show mask", lambda w: w.seg_panel.mask_check.toggle, "V", None,
               "Show / hide the mask", "View"),
    ActionSpec("outline", "Outline / filled mask", lambda w: w.seg_panel.toggle_outline, "O",
               "outline", "Show the mask as outline or filled", "View"),
    # named for the model it shows: beside the Diagnosis panel's "Show heat map (Grad-CAM of
    # the top class)", "Probability heat map" (Ctrl+H) read as the classifier's
    ActionSpec("heat", "Segmentation probability heat map",
               lambda w: w.seg_panel.heat_check.toggle, "Ctrl+H", "heatmap",
               "Show the segmentation model's lesion probability as a heat map (the Diagnosis "
               "panel's Grad-CAM has its own check box)", "View"),
    ActionSpec("diff", "Differences from the reference", lambda w: w.seg_panel.diff_check.toggle,
               "D", "compare", "Colour where the mask and the reference mask disagree", "View"),
    ActionSpec("improve_model", "&Improve the model from my labels…", lambda w: w.models.improve,
               None, None, "Fine-tune the segmentation model on the labels saved for a folder",
               "Model"),
    ActionSpec("models", "&Models…", lambda w: w.models.show_models, None, None,
               "The models available and where each came from; switch or revert", "Model"),
    ActionSpec("uncertainty", "Uncertainty (where the model is unsure)",
               lambda w: w.refine.show_uncertainty, "U", None,
               "Colour pixels whose lesion probability is between 0.1 and 0.9", "View",
               checkable=True),
    ActionSpec("find_image", "Find image in the worklist…", lambda w: w.find_image, "Ctrl+F",
               None, "Type part of an image's name to show only the matching images", "View"),
    ActionSpec("sort_confidence", "Sort worklist: least confident first",
               lambda w: lambda _=False: w.worklist.sort_by_confidence(), None, None,
               "Order the worklist by each mask's confidence (estimated Jaccard), lowest first "
               "(kept for the folders opened next)", "View"),
    ActionSpec("sort_name", "Sort worklist: by name", lambda w: lambda _=False: w.worklist.
               sort_by_name(), None, None, "Order the worklist by file name, as the folder "
               "opened", "View"),
    ActionSpec("messages", "&Messages…", lambda w: lambda _=False: w.status.show_log(),
               "Ctrl+Shift+M", None, "The status bar's messages of this session, whole, with "
               "their time", "View"),
    ActionSpec("shortcuts", "&Keyboard shortcuts", lambda w: w.show_shortcuts, "F1", menu="Help"),
    ActionSpec("about", "&About dermview", lambda w: w.show_about, menu="Help"),
)

#: Menu titles in order; the View menu also lists the docks.
MENUS = ("File", "Edit", "Segmentation", "View", "Model", "Help")
#: Separators go before these ids.
SEPARATE_BEFORE = frozenset({"save", "prev", "quit", "tool_pan", "op_fill_holes"})
#: Toolbar ids in order ("-" = separator; every ``tool_*`` action follows ``TOOLBAR_TOOLS``).
TOOLBAR = ("open", "open_folder", "save", "-", "prev", "next", "-", "undo", "redo", "-",
           "segment", "-", "TOOLS", "-", "before_after", "fit", "one", "outline", "heat")


def _icon(win: QtWidgets.QWidget, name: str) -> QtGui.QIcon:
    if name.startswith("std:"):
        return win.style().standardIcon(getattr(QtWidgets.QStyle.StandardPixmap, name[4:]))
    return icon(name) if name in names() else QtGui.QIcon()


def build_actions(win: QtWidgets.QMainWindow,
                  specs: tuple[ActionSpec, ...] = ACTIONS) -> dict[str, QtGui.QAction]:
    """Window-wide actions (their shortcuts work wherever the focus is in the window)."""
    out: dict[str, QtGui.QAction] = {}
    for spec in specs:
        a = QtGui.QAction(spec.text, win)
        a.setObjectName(f"action_{spec.id}")
        if spec.icon:
            a.setIcon(_icon(win, spec.icon))
        if spec.shortcut is not None:
            seqs = spec.shortcut if isinstance(spec.shortcut, list) else [spec.shortcut]
            a.setShortcuts([QtGui.QKeySequence(s) for s in seqs])
        if spec.tip:
            a.setStatusTip(spec.tip)
            a.setToolTip(f"{spec.tip} ({a.shortcut().toString()})" if a.shortcuts() else spec.tip)
        a.setCheckable(spec.checkable)
        a.setData(spec.menu)
        a.triggered.connect(spec.handler(win))
        win.addAction(a)
        out[spec.id] = a
    return out


def build_menus(win: QtWidgets.QMainWindow, actions: dict[str, QtGui.QAction],
                docks: list[QtWidgets.QDockWidget]) -> list[tuple[str, QtWidgets.QMenu]]:
    """The menu bar from the actions' ``menu`` (kept in ``QAction.data()``)."""
    menus = []
    for title in MENUS:
        menu = win.menuBar().addMenu(f"&{title}")
        for key, act in actions.items():
            if act.data() == title:
                if key in SEPARATE_BEFORE:
                    menu.addSeparator()
                menu.addAction(act)
        if title == "View":
            menu.addSeparator()
            for i, dock in enumerate(docks):
                # Alt+1 … Alt+8: the panels in the order of the menu
                menu.addAction(panel_action(win, dock, f"Alt+{i + 1}" if i < 9 else None))
        menus.append((title, menu))
    return menus


def build_toolbar(win: QtWidgets.QMainWindow,
                  actions: dict[str, QtGui.QAction]) -> QtWidgets.QToolBar:
    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    tb.setIconSize(QtCore.QSize(24, 24))
    for key in TOOLBAR:
        if key == "-":
            tb.addSeparator()
        elif key == "TOOLS":
            for k, act in actions.items():
                if k.startswith("tool_"):
                    tb.addAction(act)
        else:
            tb.addAction(actions[key])
    return tb
