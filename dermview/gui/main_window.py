"""The main window: layout, docks, status bar, busy state and shutdown.

The work is done by the controllers in :mod:`dermview.gui.controllers`, which listen to the
:class:`Document`'s signals: ``session`` (opening, the worklist), ``segmenter`` (model jobs,
threshold), ``preview`` (preprocessing preview), ``overlays`` (layers, reference metrics),
``saving`` (labels, autosave, recovery). ``actions`` holds every ``QAction`` (built from the
table in :mod:`dermview.gui.actions`). Tests and scripts call the controllers, plus
:meth:`MainWindow.set_tool`, :meth:`undo`, :meth:`redo` and :meth:`wait_idle`.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from dermview import __version__, labels, paths
from dermview.gui import dialogs, docks
from dermview.gui.actions import build_actions, build_menus, build_toolbar
from dermview.gui.classifier_panel import ClassifierPanel
from dermview.gui.controllers.batch import BatchController
from dermview.gui.controllers.classifier import ClassifierController
from dermview.gui.controllers.exchange import ExchangeController
from dermview.gui.controllers.finetune import ModelController
from dermview.gui.controllers.lesion import LesionController
from dermview.gui.controllers.overlays import OverlayController
from dermview.gui.controllers.preview import PreviewController
from dermview.gui.controllers.read_ahead import ReadAheadController
from dermview.gui.controllers.review import ReviewController
from dermview.gui.controllers.saving import SaveController
from dermview.gui.controllers.segment import SegmentController
from dermview.gui.controllers.session import SessionController
from dermview.gui.document import Document
from dermview.gui.edit_tools import EditController
from dermview.gui.icons import icon
from dermview.gui.lesion_panel import LesionPanel
from dermview.gui.mnemonics import add_mnemonics
from dermview.gui.panels import SegmentPanel, ToolsPanel
from dermview.gui.preprocess_panel import PreprocessPanel
from dermview.gui.preprocess_settings import keep_preprocess_settings
from dermview.gui.refine import RefineController
from dermview.gui.review_panel import ReviewPanel
from dermview.gui.ruler import RulerTool
from dermview.gui.settings import Settings, recovery_dir
from dermview.gui.status import StatusBar
from dermview.gui.tooltips import wrap_tooltips
from dermview.gui.views import GiveKeysBack, ViewArea
from dermview.gui.worklist import Worklist
from dermview.recovery import RecoveryStore

Area = QtCore.Qt.DockWidgetArea
#: How often (ms) the open image's label file is looked at for a save made elsewhere (a stat
#: of two files; read only when they changed).
LABEL_POLL_MS = 2000


class MainWindow(QtWidgets.QMainWindow):
    """dermview's main window. See the module docstring for the public methods."""

    def __init__(self, settings: QtCore.QSettings, device: str | None = None,
                 weights: str | None = None, recovery_folder: Path | None = None) -> None:
        super().__init__()
        self.settings = Settings(settings)
        self.weights, start_note = self._start_weights(weights)
        weights = self.weights
        self.doc = Document(self)
        self.last_error = ""
        self._closing = False
        app_icon = paths.icons_dir() / "dermview.png"
        self.setWindowIcon(QtGui.QIcon(str(app_icon)) if app_icon.is_file() else icon("app"))
        self.setAcceptDrops(True)

        self.view = ViewArea()
        self.before, self.after = self.view.panes
        self.setCentralWidget(self.view)

        s = self.settings
        self.panel = PreprocessPanel()
        self.seg_panel = SegmentPanel(s.get_int("overlay_opacity", 80),
                                      s.get_bool("outline", False), s.get_bool("auto_segment", False))
        self.seg_panel.set_device(device or str(s.get("device", "auto") or "auto"))
        self.seg_panel.set_engine(str(s.get("engine", "auto") or "auto"))
        self.edit = EditController(self.doc, [self.before, self.after], self, settings=s)
        self.tools_panel = ToolsPanel(self.edit.radius)
        self.worklist = Worklist()
        self.history = QtWidgets.QUndoView(self.doc.undo_stack)
        self.history.setEmptyLabel("Opened image")

        self.overlays = OverlayController(self.doc, self.before, self.after, self)
        self.preview = PreviewController(self.doc, self.panel, self.before, self.after,
                                         self.overlays, self)
        self.segmenter = SegmentController(self.doc, self.seg_panel, self.preview, self.overlays,
                                           weights, self.panel.for_model, self)
        self.refine = RefineController(self.doc, self.edit, self.overlays,
                                       self._segmenter_in_use, self.segmenter, self)
        self.panel.set_model_params(self.segmenter.model_params)
        keep_preprocess_settings(self.panel, s)
        self.models = ModelController(self.doc, self.segmenter, s, self)
        self.saving = SaveController(self.doc, s, RecoveryStore(recovery_folder or recovery_dir()),
                                     self.panel.params, self)
        self.worklist.resolver = self.saving.labels_dir_for
        self.exchange = ExchangeController(self.doc, self.saving.labels_dir_for,
                                           self.panel.params, self,
                                           lambda: list(self.worklist.paths), s)
        self.session = SessionController(self.doc, self.worklist, s, self.saving,
                                         self.segmenter, self.seg_panel.auto_check.isChecked,
                                         self)
        self.read_ahead = ReadAheadController(self.session, self.worklist, self.is_busy, self)
        # A label saved elsewhere (another window, a colleague on a shared folder) shows up.
        self._disk_check = QtCore.QTimer(self)
        self._disk_check.setInterval(LABEL_POLL_MS)
        self._disk_check.timeout.connect(self.session.check_label_on_disk)
        self._disk_check.start()
        self.batch = BatchController(self.doc, self.worklist, self.saving.labels_dir_for,
                                     self.segmenter.batch_settings, self)
        self.lesion_panel = LesionPanel()
        self.lesion = LesionController(self.doc, self.lesion_panel, self.overlays, s,
                                       (self.before, self.after), self)
        self.edit.add_tool(RulerTool(self.edit, self.lesion.on_ruler))
        self.lesion.ruler_wanted.connect(lambda: self.set_tool("ruler"))
        self.review_panel = ReviewPanel(reviewer=s.get("reviewer_name", "") or "",
                                        login=labels.login_name())
        self.review = ReviewController(self.doc, self.review_panel, self.saving, self)

        self.classifier_panel = ClassifierPanel(auto=s.get_bool("auto_classify", False))
        self.classifier = ClassifierController(self.doc, self.classifier_panel, self.overlays,
                                               self.before, self)

        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        self._dock("worklist", "Worklist", self.worklist, Area.LeftDockWidgetArea)
        self._dock("history", "History", self.history, Area.LeftDockWidgetArea)
        for key, title, widget in (("review", "Review", self.review_panel),
                                   ("tools", "Tools", self.tools_panel),
                                   ("segment", "Segment", self.seg_panel),
                                   ("preprocess", "Preprocess", self.panel),
                                   ("lesion", "Lesion", self.lesion_panel),
                                   ("classifier", "Diagnosis", self.classifier_panel)):
            self._dock(key, title, widget, Area.RightDockWidgetArea, scroll=True)
        # Compact: the side panels are tabs (collapsible from View), the image gets the room.
        d = self.docks
        docks.tabify(self, [d[k] for k in ("review", "tools", "segment", "preprocess", "lesion",
                                           "classifier")], shown=d["segment"])
        docks.tabify(self, [d["worklist"], d["history"]], shown=d["worklist"])
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.actions = build_actions(self)
        self.menus = build_menus(self, self.actions, list(self.docks.values()))
        self.recent_menu = QtWidgets.QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(lambda: self.session.fill_recent(self.recent_menu))
        self.menus[0][1].insertMenu(self.actions["save"], self.recent_menu)
        add_mnemonics(self.menuBar())  # an Alt letter for every item the table names none
        self.toolbar = build_toolbar(self, self.actions)
        self._connect()
        self.set_tool("pan")
        self._update_title()
        self._update_actions()
        self._update_reference()
        self.view.set_side_by_side(s.get_bool("side_by_side", False))
        wrap_tooltips(self)
        self._restore_geometry()
        if start_note:
            QtCore.QTimer.singleShot(0, self, lambda: self.show_error("Model not used", start_note))
        # Import torch and look for CUDA in the background, a moment after the first preview.
        QtCore.QTimer.singleShot(1500, lambda: None if self._closing else self.segmenter.probe())

    # ========================================================================== construction
    def _start_weights(self, given: str | None) -> tuple[str | None, str]:
        """``(weights, note)``: ``given`` (command line), else the model chosen in Model →
        Models last time when it can still segment; else the bundled default (None), the
        remembered choice forgotten and the note saying why (shown in a message box)."""
        saved = str(self.settings.get("weights", "") or "")
        if given or not saved:
            return given, ""
        from dermview.model.weights import segmentation_weights_problem

        problem = segmentation_weights_problem(saved)
        if problem is None:
            return saved, ""
        self.settings.set("weights", "")
        return None, (f"The model chosen last time is not used ({problem.split('. ')[0].rstrip('.')}): "
                      "segmenting with the bundled default; Model → Models… lists the others")

    def _segmenter_in_use(self):
        """The segmenter Segment uses now (for Refine on a saved label; any thread)."""
        from dermview.model.inference import Segmenter

        return Segmenter.load(self.segmenter.weights, device=self.segmenter.device)

    def add_panel(self, key: str, title: str, widget: QtWidgets.QWidget,
                  area: Area = Area.RightDockWidgetArea) -> QtWidgets.QDockWidget:
        """Add a side panel (dock, scrollable, listed in the View menu) after start-up."""
        dock = self._dock(key, title, widget, area, scroll=True)
        wrap_tooltips(widget)
        self.menus[3][1].addAction(docks.panel_action(self, dock))
        return dock

    def _dock(self, key: str, title: str, widget: QtWidgets.QWidget, area: Area,
              scroll: bool = False) -> QtWidgets.QDockWidget:
        self.docks[key] = docks.make_dock(self, key, title, widget, area, scroll)
        return self.docks[key]

    def _connect(self) -> None:
        d, s, sp, tp = self.doc, self.settings, self.seg_panel, self.tools_panel
        d.dirty_changed.connect(self._update_title)
        d.undo_stack.indexChanged.connect(self._update_actions)
        sp.opacity_changed.connect(self.overlays.set_opacity)
        sp.opacity_changed.connect(lambda v: s.set("overlay_opacity", round(v * 100)))
        sp.outline_changed.connect(self.overlays.set_outline)
        sp.outline_changed.connect(lambda v: s.set("outline", v))
        sp.layers_changed.connect(self.overlays.set_layers)
        # without a probability map these layers are empty: say why (a saved label's heat
        # map was ticked and nothing showed)
        sp.heat_check.toggled.connect(lambda on: self.segmenter.explain_no_prob(on, "Heat map"))
        self.actions["uncertainty"].toggled.connect(
            lambda on: self.segmenter.explain_no_prob(on, "Uncertainty"))
        d.reference_changed.connect(self._update_reference)
        sp.layers_changed.connect(lambda v: self.actions["heat"].setChecked(v["heat"]))
        sp.auto_changed.connect(lambda v: s.set("auto_segment", v))
        self.classifier_panel.auto_changed.connect(lambda v: s.set("auto_classify", v))
        self.review_panel.reviewer_changed.connect(lambda v: s.set("reviewer_name", v))
        sp.device_changed.connect(lambda v: s.set("device", v))
        sp.engine_changed.connect(lambda v: s.set("engine", v))
        self.overlays.metrics_changed.connect(self.status.set_metrics)
        self.refine.message.connect(lambda text: self.status.showMessage(text, 5000))
        self.edit.message.connect(lambda text: self.status.showMessage(text, 5000))
        self.status.cancel_clicked.connect(self.segmenter.cancel)
        for ctl in (self.segmenter, self.saving, self.session, self.exchange,
                    self.lesion, self.batch):
            ctl.message.connect(self.statusBar().showMessage)
            ctl.error.connect(self.show_error)
        self.exchange.labels_imported.connect(self.session.labels_written)
        self.models.message.connect(self.statusBar().showMessage)
        self.review.message.connect(self.statusBar().showMessage)
        self.segmenter.progress.connect(self.status.set_progress)
        self.batch.progress.connect(self.status.set_progress)
        self.seg_panel.segment_all_clicked.connect(self.batch.start_or_stop)
        self.batch.busy_changed.connect(self.seg_panel.set_batch_busy)
        self.status.cancel_clicked.connect(self.batch.cancel)
        self.batch.reopen_requested.connect(lambda p: self.session.open_image(p, again=True))
        for sig in (self.segmenter.busy_changed, self.preview.busy_changed,
                    self.batch.busy_changed):
            sig.connect(lambda _b: self._update_busy())
        self.segmenter.confidence_changed.connect(self.worklist.set_confidence)
        self.saving.saved.connect(lambda p: self.worklist.mark(p, None))
        self.saving.reload_requested.connect(lambda p: self.session.open_image(p, again=True))
        self.doc.dirty_changed.connect(
            lambda dirty: self.worklist.set_unsaved(self.doc.path if dirty else None))
        self.saving.saved.connect(self._update_title)
        self.saving.labels_dir_changed.connect(lambda _d: self._on_labels_dir())
        tp.tool_clicked.connect(self.set_tool)
        tp.op_clicked.connect(lambda k: self.actions[f"op_{k}"].trigger())
        tp.radius_changed.connect(self.edit.set_radius)
        for key, b in tp.op_buttons.items():
            b.setToolTip(self.actions[f"op_{key}"].toolTip())
        self.edit.radius_changed.connect(tp.set_radius)
        self.edit.tool_changed.connect(self._on_tool_changed)
        for pane in (self.before, self.after):
            pane.hovered.connect(lambda r, c: self.status.show_pixel(self.doc, r, c))
            pane.navigate.connect(self.session.step)
        self.doc.mask_changed.connect(lambda *_: self.status.refresh_pixel(self.doc))
        self.doc.prob_changed.connect(lambda: self.status.refresh_pixel(self.doc))
        self.before.cursor_moved.connect(self.after.show_cursor_at)
        self.after.cursor_moved.connect(self.before.show_cursor_at)
        self.session.opening.connect(self.status.busy)
        self.session.open_failed.connect(self._update_busy)
        self.session.opened.connect(self._on_opened)
        self.session.show_worklist.connect(self.docks["worklist"].show)
        self.docks["lesion"].visibilityChanged.connect(self.lesion.set_panel_shown)
        self.lesion.add_report_lines(self.classifier.report_lines)
        self.saving.saved.connect(self.classifier.refresh_note)
        self._keys_back = GiveKeysBack(self.view, self)
        for box in self.findChildren(QtWidgets.QAbstractSpinBox):
            self._keys_back.watch(box)
        for field in (self.review_panel.reviewer_edit, self.review_panel.comment):
            self._keys_back.watch_text(field)
        self.view.mode_changed.connect(lambda on: s.set("side_by_side", on))
        self.view.mode_changed.connect(self.actions["side_by_side"].setChecked)
        self.overlays.set_opacity(sp.opacity)
        self.overlays.set_outline(sp.outline)
        self.overlays.set_layers(sp.layers())

    def _restore_geometry(self) -> None:
        # A window size saved at another display scale (150 % then 100 %) is not reused: its
        # logical size was a part of the screen that is now much smaller or larger.
        scale = self.settings.get_float("geometry_scale", 1.0)
        same_scale = abs(scale - self.devicePixelRatioF()) < 0.01
        docks.restore_geometry(self, self.settings.get("geometry") if same_scale else None,
                               self.settings.get("window_state"), self.docks["worklist"],
                               self.docks["segment"], dock_sizes=same_scale)

    def _on_labels_dir(self) -> None:
        self.worklist.refresh()
        self.status.set_labels_folder(self.saving.labels_text())

    def _on_opened(self, _path: Path) -> None:
        self.view.shown().setFocus()  # single-key shortcuts work at once
        self.status.set_labels_folder(self.saving.labels_text())
        self._update_busy()
        self.status.pos_label.setText("")
        self._update_title()
        self._update_actions()

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802 (Qt API)
        dropped = [Path(u.toLocalFile()) for u in ev.mimeData().urls() if u.isLocalFile()]
        if dropped:
            ev.acceptProposedAction()
            self.session.open_paths(dropped)

    # ============================================================================ editing
    def set_tool(self, name: str) -> None:
        """Activate a tool: pan, brush, eraser, polygon_add/subtract, lasso_add/subtract."""
        self.edit.set_tool(name)

    def _on_tool_changed(self, name: str) -> None:
        for key, act in self.actions.items():
            if key.startswith("tool_"):
                act.setChecked(key == f"tool_{name}")
        self.tools_panel.set_tool(name)
        cursor = QtCore.Qt.CursorShape.OpenHandCursor if name == "pan" else \
            QtCore.Qt.CursorShape.CrossCursor
        for pane in (self.before, self.after):
            pane.set_tool_cursor(cursor)

    def undo(self) -> None:
        self.edit.cancel()
        self.doc.undo_stack.undo()

    def redo(self) -> None:
        self.doc.undo_stack.redo()

    def find_image(self) -> None:
        """Show the worklist and put the keyboard in its name search."""
        self.docks["worklist"].show()
        self.docks["worklist"].raise_()
        self.worklist.find_edit.setFocus()
        self.worklist.find_edit.selectAll()

    def classify_lesion(self, _checked: bool = False) -> None:
        """Segmentation → Classify lesion (Ctrl+D): show the Diagnosis panel and classify."""
        self.docks["classifier"].show()
        self.docks["classifier"].raise_()
        self.classifier.classify()

    def cancel_all(self) -> None:
        self.edit.cancel()
        self.segmenter.cancel()
        self.batch.cancel()

    def _update_reference(self) -> None:
        has = self.doc.reference is not None
        self.seg_panel.set_reference_available(has)
        self.actions["diff"].setEnabled(has)

    def _update_actions(self, *_args) -> None:
        has, st, a = self.doc.has_image, self.doc.undo_stack, self.actions
        a["undo"].setEnabled(st.canUndo())
        a["redo"].setEnabled(st.canRedo())
        a["undo"].setToolTip(f"Undo {st.undoText()} (Ctrl+Z)".replace("  ", " "))
        a["redo"].setToolTip(f"Redo {st.redoText()} (Ctrl+Shift+Z)".replace("  ", " "))
        for key, act in a.items():
            if key in ("save", "segment", "accept", "accept_next", "reject", "export_seg",
                       "export_coco", "export_labelme", "export_labelme_poly") \
                    or key.startswith(("op_", "import_")):
                act.setEnabled(has)
        self.seg_panel.segment_button.setEnabled(has)
        self.tools_panel.set_ops_enabled(has)

    # ============================================================================ busy state
    def _update_busy(self) -> None:
        self.status.set_state(self.segmenter.busy or self.batch.busy, self.preview.host.busy)

    def is_busy(self) -> bool:
        return self.segmenter.busy or self.preview.busy or self.batch.busy

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until no work is pending (tests and scripts)."""
        deadline = time.monotonic() + timeout_s
        app = QtWidgets.QApplication.instance()
        while self.is_busy() and time.monotonic() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)
        app.processEvents()
        return not self.is_busy()

    def _update_title(self, *_args) -> None:
        name = self.doc.path.name if self.doc.path else "no image"
        star = "*" if self.doc.dirty else ""
        self.setWindowTitle(f"{name}{star} — dermview {__version__}")

    # ============================================================================ dialogs
    def show_error(self, title: str, text: str) -> None:
        """Show an error message box; the app keeps running."""
        self.last_error = text
        self.statusBar().showMessage(text.splitlines()[0] if text else title, 8000)
        dialogs.error(self, title, text)

    def show_shortcuts(self) -> QtWidgets.QDialog:
        groups = [(title, [a for a in menu.actions() if not a.isSeparator()])
                  for title, menu in self.menus]
        self.shortcuts_dialog = dialogs.show_in_front(dialogs.ShortcutsDialog(groups, self))
        return self.shortcuts_dialog

    def show_about(self) -> QtWidgets.QDialog:
        self.about_dialog = dialogs.show_in_front(
            dialogs.AboutDialog(dialogs.model_line(self.weights), self))
        return self.about_dialog

    # ============================================================================ closing
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self._closing:  # shut down already (SIGTERM: the edits are in the journal)
            ev.accept()
            return
        if not self.saving.maybe_save() or not self.models.may_quit():
            ev.ignore()
            return
        self.shutdown()
        ev.accept()

    def shutdown(self) -> None:
        """Stop timers and workers (waits for a running step), remember the session."""
        if self._closing:
            return
        self._closing = True
        s = self.settings
        s.set("geometry", self.saveGeometry())
        s.set("geometry_scale", self.devicePixelRatioF())
        s.set("window_state", self.saveState())
        s.set("device", self.segmenter.device)
        self.saving.shutdown()
        self.models.shutdown()
        self.segmenter.shutdown()
        self.batch.shutdown()
        self.preview.shutdown()
        self.lesion.shutdown()
        self.classifier.shutdown()
        s.store.sync()

    def worker_hosts(self) -> tuple:
        """The :class:`~dermview.gui.workers.WorkerHost` of every controller's worker thread."""
        return (self.segmenter.host, self.preview.host, self.lesion.host, self.classifier.host,
                self.batch.host)

    def threads_running(self) -> list[str]:
        """Names of worker threads still running (empty after :meth:`shutdown`)."""
        return [h.thread.objectName() for h in self.worker_hosts() if h.thread.isRunning()]
