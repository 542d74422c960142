"""The main window: wires the document, the views, the panels and the workers together.

Public methods (used by menus, tests and scripts): :meth:`MainWindow.open_paths`,
:meth:`open_image`, :meth:`open_folder`, :meth:`segment`, :meth:`cancel_segmentation`,
:meth:`save`, :meth:`set_threshold`, :meth:`set_device`, :meth:`next_image`,
:meth:`previous_image`, :meth:`set_labels_dir`, :meth:`set_reference_dir`, :meth:`undo`,
:meth:`redo`, :meth:`wait_idle` (tests).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from dermview import __version__, labels, paths
from dermview.errors import DermviewError
from dermview.gui import dialogs, render
from dermview.gui.document import Document, ModelInfo
from dermview.gui.edit_tools import EditController, replace_mask
from dermview.gui.icons import icon
from dermview.gui.image_view import ImagePane, OverlayBuffer
from dermview.gui.menus import build_actions
from dermview.gui.panels import SegmentPanel, ToolsPanel
from dermview.gui.preprocess_panel import PreprocessPanel
from dermview.gui.settings import Settings, recovery_dir
from dermview.gui.workers import PreviewWorker, SegmentWorker, WorkerHost
from dermview.gui.worklist import Worklist
from dermview.io import IMAGE_SUFFIXES, list_images
from dermview.preprocess.params import PreprocessParams

#: Long side (px) of the copy used for the live preprocessing preview.
PREVIEW_SIDE = 1024
#: Autosave period of unsaved edits (ms).
AUTOSAVE_MS = 5000
FILL_ALPHA = 110

Btn = QtWidgets.QMessageBox.StandardButton


class MainWindow(QtWidgets.QMainWindow):
    """dermview's main window. See the module docstring for the public methods."""

    def __init__(self, settings: QtCore.QSettings, device: str | None = None,
                 weights: str | None = None, recovery_folder: Path | None = None) -> None:
        super().__init__()
        self.settings = Settings(settings)
        self.weights = weights
        self.doc = Document(self)
        self.recovery = labels.RecoveryStore(recovery_folder or recovery_dir())
        self.labels_dir: Path | None = self.settings.get_path("labels_dir")
        self.reference_dir: Path | None = self.settings.get_path("reference_dir")
        self.cuda_ok: bool | None = None
        self._proxy: np.ndarray | None = None
        self._preview_started = 0.0
        self.last_preview_ms = 0.0
        self.last_error = ""
        self._closing = False
        self._pending_heat: np.ndarray | None = None
        self._prerendered_alpha: np.ndarray | None = None
        self._seg_base: tuple[int, bool] = (-1, False)

        app_icon = paths.icons_dir() / "dermview.png"
        self.setWindowIcon(QtGui.QIcon(str(app_icon)) if app_icon.is_file() else icon("app"))
        self.setAcceptDrops(True)
        self.resize(1400, 860)

        # -- views ------------------------------------------------------------------------------
        self.before = ImagePane("Original")
        self.after = ImagePane("Preprocessed")
        self.after.link_to(self.before)
        self.buffers = {name: OverlayBuffer(self) for name in
                        ("mask", "heat", "frame", "hair", "reference", "diff")}
        z = {"heat": 1, "frame": 2, "hair": 3, "mask": 4, "diff": 5, "reference": 6}
        for name in ("frame", "hair", "mask", "diff", "reference"):
            self.before.add_overlay(name, self.buffers[name], z[name])
        for name in ("heat", "mask", "diff", "reference"):
            self.after.add_overlay(name, self.buffers[name], z[name])
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        splitter.addWidget(self.before)
        splitter.addWidget(self.after)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.splitter = splitter

        self.edit = EditController(self.doc, [self.before, self.after], self)
        self.edit.set_radius(self.settings.get_int("brush_radius", 15))

        # -- workers ----------------------------------------------------------------------------
        self.preview_host = WorkerHost(PreviewWorker(), "dermview-preview", self)
        self.seg_host = WorkerHost(SegmentWorker(), "dermview-segment", self)
        self.seg_host.worker.cuda_checked.connect(self._on_cuda_checked,
                                                  QtCore.Qt.ConnectionType.QueuedConnection)

        # -- panels -----------------------------------------------------------------------------
        self.panel = PreprocessPanel()
        self.panel.set_params(self.settings.params())
        self.worklist = Worklist()
        self.worklist.resolver = self.labels_dir_for
        self._build_segment_panel(device)
        self._build_tools_panel()
        self.history = QtWidgets.QUndoView(self.doc.undo_stack)
        self.history.setEmptyLabel("Opened image")
        self._docks: dict[str, QtWidgets.QDockWidget] = {}
        self._dock("worklist", "Worklist", self.worklist, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("history", "History", self.history, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("preprocess", "Preprocessing", self.panel,
                   QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("segment", "Segmentation", self.seg_panel,
                   QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("tools", "Correction tools", self.tools_panel,
                   QtCore.Qt.DockWidgetArea.RightDockWidgetArea)

        # -- status bar -------------------------------------------------------------------------
        self.pos_label = QtWidgets.QLabel("")
        self.pos_label.setMinimumWidth(330)
        self.metric_label = QtWidgets.QLabel("")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_cancel = QtWidgets.QPushButton("Cancel")
        self.status_cancel.hide()
        self.status_cancel.clicked.connect(self.cancel_segmentation)
        sb = self.statusBar()
        # Permanent widgets stay visible while temporary messages show on the left.
        sb.addPermanentWidget(self.pos_label)
        sb.addPermanentWidget(self.metric_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.status_cancel)

        self._build_actions()
        self._connect()
        self._set_tool_ui("pan")
        self._update_title()
        self._update_actions()

        self.autosave_timer = QtCore.QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self.metric_timer = QtCore.QTimer(self)
        self.metric_timer.setSingleShot(True)
        self.metric_timer.setInterval(150)
        self.metric_timer.timeout.connect(self._update_metrics)
        self.full_preview_timer = QtCore.QTimer(self)
        self.full_preview_timer.setSingleShot(True)
        self.full_preview_timer.setInterval(400)
        self.full_preview_timer.timeout.connect(self._full_preview)
        self.threshold_timer = QtCore.QTimer(self)
        self.threshold_timer.setSingleShot(True)
        self.threshold_timer.setInterval(120)
        self.threshold_timer.timeout.connect(self._apply_threshold)

        geom = self.settings.get("geometry")
        if geom is not None:
            self.restoreGeometry(geom)
        else:  # first start: most of the screen
            screen = QtGui.QGuiApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                self.resize(max(1000, int(area.width() * 0.9)),
                            max(700, int(area.height() * 0.9)))
        state = self.settings.get("window_state")
        if state is not None:
            self.restoreState(state)
        # Import torch and look for CUDA in the background (the window does not wait); a
        # moment later, so the first preview does not compete with the import.
        QtCore.QTimer.singleShot(1500, self._probe)

    def _probe(self) -> None:
        if not self._closing:
            self.seg_host.invoke("probe")

    # ========================================================================== construction
    def _dock(self, key: str, title: str, widget: QtWidgets.QWidget,
              area: QtCore.Qt.DockWidgetArea) -> None:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        if key in ("preprocess", "segment", "tools"):
            scroll = QtWidgets.QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(widget)
            widget.setMinimumWidth(300)
            scroll.setMinimumWidth(max(widget.minimumSizeHint().width(), 300)
                                   + scroll.verticalScrollBar().sizeHint().width() + 4)
            dock.setWidget(scroll)
        else:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self._docks[key] = dock

    def _build_segment_panel(self, device: str | None) -> None:
        self.seg_panel = SegmentPanel(self.settings)
        for name in ("device_combo", "engine_combo", "segment_button", "cancel_button", "seg_progress",
                     "threshold_slider", "threshold_label", "opacity_slider", "filled_radio",
                     "outline_radio", "mask_check", "heat_check", "ref_check", "diff_check",
                     "auto_check", "model_label"):
            setattr(self, name, getattr(self.seg_panel, name))
        self.set_device(device or str(self.settings.get("device", "auto") or "auto"))

    def _build_tools_panel(self) -> None:
        self.tools_panel = ToolsPanel(self.edit.radius)
        self.tool_buttons = self.tools_panel.tool_buttons
        self.op_buttons = self.tools_panel.op_buttons
        self.radius_spin = self.tools_panel.radius_spin
        self.tools_panel.tool_clicked.connect(self.set_tool)

    def _build_actions(self) -> None:
        build_actions(self)

    def _connect(self) -> None:
        d = self.doc
        d.mask_changed.connect(self._on_mask_changed)
        d.prob_changed.connect(self._on_prob_changed)
        d.threshold_changed.connect(self._on_doc_threshold)
        d.reference_changed.connect(self._on_reference_changed)
        d.dirty_changed.connect(self._update_title)
        d.undo_stack.indexChanged.connect(self._update_actions)
        self.panel.params_changed.connect(self._on_params_changed)
        self.panel.show_frame_changed.connect(
            lambda v: self.before.set_overlay_visible("frame", v))
        self.panel.show_hair_changed.connect(lambda v: self.before.set_overlay_visible("hair", v))
        self.before.set_overlay_visible("frame", False)
        self.before.set_overlay_visible("hair", False)
        self.after.set_overlay_visible("heat", False)
        self.preview_host.finished.connect(self._on_preview)
        self.preview_host.failed.connect(self._on_preview_failed)
        self.preview_host.busy_changed.connect(lambda _b: self._update_busy())
        self.seg_host.finished.connect(self._on_segmented)
        self.seg_host.failed.connect(self._on_segment_failed)
        self.seg_host.progress.connect(self._on_seg_progress)
        self.seg_host.busy_changed.connect(lambda _b: self._update_busy())
        self.segment_button.clicked.connect(self.segment)
        self.cancel_button.clicked.connect(self.cancel_segmentation)
        self.threshold_slider.valueChanged.connect(self._on_threshold_slider)
        self.opacity_slider.valueChanged.connect(self._apply_opacity)
        self.filled_radio.toggled.connect(lambda _v: self._rerender_mask())
        self.mask_check.toggled.connect(self._apply_visibility)
        self.heat_check.toggled.connect(self._apply_visibility)
        self.ref_check.toggled.connect(self._apply_visibility)
        self.diff_check.toggled.connect(self._apply_visibility)
        self.auto_check.toggled.connect(lambda v: self.settings.set("auto_segment", v))
        self.device_combo.currentIndexChanged.connect(
            lambda _i: self.settings.set("device", self.device))
        self.engine_combo.currentIndexChanged.connect(
            lambda _i: self.settings.set("engine", self.engine_combo.currentData()))
        self.radius_spin.valueChanged.connect(self.edit.set_radius)
        self.edit.radius_changed.connect(self._on_radius)
        self.edit.tool_changed.connect(self._set_tool_ui)
        for pane in (self.before, self.after):
            pane.hovered.connect(self._on_hover)
            pane.navigate.connect(self._navigate)
        self.before.cursor_moved.connect(self.after.show_cursor_at)
        self.after.cursor_moved.connect(self.before.show_cursor_at)
        self.worklist.open_requested.connect(self.open_image)
        self._apply_opacity()
        self._apply_visibility()

    # ============================================================================ opening
    def open_dialog(self) -> None:
        start = self.settings.get_list("recent_folders")
        filt = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open images", start[0] if start else "", filt)
        if files:
            self.open_paths([Path(f) for f in files])

    def open_folder_dialog(self) -> None:
        start = self.settings.get_list("recent_folders")
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Open a folder of images", start[0] if start else "")
        if folder:
            self.open_folder(Path(folder))

    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open files and/or folders: one folder → its worklist; files → a worklist of them.
        Returns True when an image is open afterwards."""
        items = [Path(p) for p in paths]
        if not items:
            return False
        if len(items) == 1 and items[0].is_dir():
            return self.open_folder(items[0])
        files: list[Path] = []
        for p in items:
            if p.is_dir():
                files.extend(list_images(p))
            else:
                files.append(p)
        if len(files) > 1:
            self.worklist.set_paths(files, self.labels_dir)
            self._docks["worklist"].show()
        return self.open_image(files[0]) if files else False

    def open_folder(self, folder: Path) -> bool:
        """Show the folder's images as a worklist and open the first one not yet labelled."""
        folder = Path(folder)
        try:
            images = list_images(folder)
        except OSError as exc:
            self.show_error("Cannot open folder", f"Cannot read {folder}: {exc.strerror or exc}")
            return False
        if not images:
            self.show_error("No images", f"{folder} contains no images "
                            f"({', '.join(IMAGE_SUFFIXES)}).")
            return False
        self.settings.push_recent("recent_folders", folder)
        self.settings.set("last_folder", str(folder))
        self.worklist.set_paths(images, self.labels_dir)
        self._docks["worklist"].show()
        first = next((i for i in range(len(images)) if self.worklist.status(i) == "new"), 0)
        return self.open_image(images[first])

    def open_image(self, path: str | Path) -> bool:
        """Open one image (asks about unsaved edits first). False when it was not opened."""
        path = Path(path).absolute()
        if self.doc.has_image and self.doc.path == path:
            return True
        if not self.maybe_save():
            self.worklist.set_current(self.doc.path)
            return False
        self.seg_host.cancel()
        self.preview_host.cancel()
        self.edit.cancel()
        self._progress_start("Opening " + path.name)
        QtWidgets.QApplication.processEvents(
            QtCore.QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        old = self.doc.path
        labels_dir = self.labels_dir_for(path)
        ref_dir = self.reference_dir
        if ref_dir is None and (labels_dir or path.parent / "labels") != path.parent:
            ref_dir = path.parent  # ISIC layout: <stem>_segmentation.png beside the image
        try:
            self.doc.open(path, labels_dir, ref_dir)
        except DermviewError as exc:
            self._progress_stop()
            self.worklist.set_current(self.doc.path)
            self.show_error("Cannot open image", str(exc))
            return False
        except MemoryError:
            self._progress_stop()
            self.show_error("Cannot open image", f"{path.name} is too large for the available "
                                                 "memory.")
            return False
        if old is not None and old != path:
            self.recovery.discard(old)
        self._progress_stop()
        image = self.doc.image
        self._proxy = render.downscale(image, PREVIEW_SIDE)
        self.before.set_image(image)
        self.after.set_image(image)
        self.before.set_title(f"Original · {path.name} · {image.shape[1]}×{image.shape[0]}")
        self.after.set_title("Preprocessed (computing…)")
        for name in ("frame", "hair", "heat"):
            self.buffers[name].clear((1, 1))
        self.settings.push_recent("recent_files", path)
        if path not in self.worklist.paths:
            self.settings.set("last_folder", "")
        self.settings.set("last_image", str(path))
        self.seg_progress.setValue(0)
        self.seg_progress.setFormat("Idle")
        self.pos_label.setText("")
        if path not in self.worklist.paths:
            self.worklist.set_paths([path], self.labels_dir)
        self.worklist.set_current(path)
        if self.doc.label_loaded:
            self.statusBar().showMessage(f"Loaded saved label {self.doc.label_paths[0]}", 5000)
            warning = labels.label_mismatch(path, self.doc.label_meta)
            if warning:
                self.show_error("Label may belong to another image", warning)
            self.threshold_slider.blockSignals(True)
            self.threshold_slider.setValue(round(self.doc.threshold * 100))
            self.threshold_label.setText(f"{self.doc.threshold:.2f}")
            self.threshold_slider.blockSignals(False)
        self.model_label.setText(self._model_text())
        if self.doc.label_error:
            self.show_error("Saved label not loaded",
                            f"{self.doc.label_error}\n\nThe image opened with an empty mask; "
                            "the label file was left unchanged (saving will back it up).")
        self._offer_recovery(path)
        self.request_preview()
        if self.auto_check.isChecked() and not self.doc.label_loaded and not self.doc.dirty:
            self.segment()
        self._update_title()
        self._update_actions()
        return True

    def _offer_recovery(self, path: Path) -> None:
        entry = self.recovery.entry_for(path)
        if entry is None:
            return
        try:
            mask = self.recovery.load(entry)
        except DermviewError:
            self.recovery.discard(path)
            return
        if mask.shape != self.doc.shape or np.array_equal(mask, self.doc.mask):
            self.recovery.discard(path)
            return
        answer = dialogs.ask(
            self, "Recover unsaved edits?",
            f"dermview found unsaved edits of {path.name} from {entry.saved_at} "
            "(the app did not close normally).\n\nRestore them?",
            Btn.Yes | Btn.No, Btn.Yes)
        if answer == Btn.Yes:
            replace_mask(self.doc, mask, "Recovered autosave")
            self.statusBar().showMessage("Unsaved edits restored", 5000)
        else:
            self.recovery.discard(path)

    def offer_recovery_at_start(self) -> None:
        """After a crash: offer to reopen the most recent image with unsaved edits."""
        entries = [e for e in self.recovery.entries() if e.image_path.is_file()]
        if not entries or self.doc.has_image:
            return
        self.open_image(entries[0].image_path)

    def restore_session(self) -> bool:
        """Reopen the last session's folder (as a worklist) and image, if they still exist."""
        image = self.settings.get_path("last_image")
        folder = self.settings.get_path("last_folder")
        if image is None or not image.is_file():
            return False
        if folder is not None and folder.is_dir() and image.parent == folder:
            with contextlib.suppress(OSError):
                self.worklist.set_paths(list_images(folder), self.labels_dir)
        return self.open_image(image)

    def save_and_next(self) -> bool:
        """Save the label, then open the next image of the worklist."""
        return self.save() and self.next_image()

    def next_unlabelled(self) -> bool:
        """Open the next worklist image whose status is "new" (wrapping around)."""
        n = len(self.worklist.paths)
        start = max(self.worklist.current, 0)
        for k in range(1, n + 1):
            i = (start + k) % n
            if i != self.worklist.current and self.worklist.status(i) == "new":
                return self.open_image(self.worklist.paths[i])
        self.statusBar().showMessage("Every image in the worklist has a label", 5000)
        return False

    def next_image(self) -> bool:
        path = self.worklist.neighbour(1)
        return self.open_image(path) if path is not None else False

    def previous_image(self) -> bool:
        path = self.worklist.neighbour(-1)
        return self.open_image(path) if path is not None else False

    def _navigate(self, step: int) -> None:
        (self.next_image if step > 0 else self.previous_image)()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for key, label in (("recent_files", "Files"), ("recent_folders", "Folders")):
            items = self.settings.get_list(key)
            if not items:
                continue
            self.recent_menu.addSection(label)
            for p in items:
                act = self.recent_menu.addAction(p)
                act.triggered.connect(lambda _=False, q=p: self.open_paths([Path(q)]))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802 (Qt API)
        paths = [Path(u.toLocalFile()) for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_paths(paths)

    # ============================================================================ folders
    def set_labels_dir(self, folder: Path | None) -> None:
        """Where labels are saved (None = ``labels/`` beside each image)."""
        self.labels_dir = Path(folder) if folder else None
        self.settings.set("labels_dir", str(self.labels_dir or ""))
        self.worklist.labels_dir = self.labels_dir
        self.worklist.refresh()

    def labels_dir_for(self, image: Path) -> Path | None:
        """Labels folder for ``image``: the chosen one, else ``labels/`` beside the image, except
        for images inside the program's own resources (never written): a per-user folder."""
        if self.labels_dir is not None:
            return self.labels_dir
        try:
            Path(image).resolve().relative_to(paths.resources_dir())
        except ValueError:
            return None
        return paths.user_data_dir() / "labels"

    def choose_labels_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Labels folder (Cancel = labels/ beside each image)",
            str(self.labels_dir or ""))
        self.set_labels_dir(Path(folder) if folder else None)

    def set_reference_dir(self, folder: Path | None) -> None:
        """Folder of reference (ground-truth) masks, same naming as labels."""
        self.reference_dir = Path(folder) if folder else None
        self.settings.set("reference_dir", str(self.reference_dir or ""))
        if self.doc.has_image:
            self.doc.set_reference_dir(self.reference_dir or self.doc.path.parent)

    def choose_reference_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Folder of reference masks", str(self.reference_dir or ""))
        if folder:
            self.set_reference_dir(Path(folder))

    # ============================================================================ preview
    def params(self) -> PreprocessParams:
        return self.panel.params()

    def _on_params_changed(self, params: PreprocessParams) -> None:
        self.settings.set_params(params)
        self.request_preview()

    def request_preview(self) -> None:
        """Preprocess the preview copy with the current parameters (in the preview worker)."""
        self.full_preview_timer.stop()
        if self._proxy is None or not self.doc.has_image:
            return
        self._preview_started = time.perf_counter()
        self.preview_host.submit((self._proxy, self.params()))

    def _on_preview(self, payload: Any) -> None:
        result, params, seconds, display = payload
        if not self.doc.has_image or self._proxy is None:
            return
        full = result.image.shape == self.doc.image.shape
        if result.image.shape != self._proxy.shape and not full:
            return  # a late result for another image
        if full and params != self.params():
            return
        self._show_preprocessed(result, params, seconds, display)
        if not full:
            self.last_preview_ms = (time.perf_counter() - self._preview_started) * 1000
            # Second stage: the same settings at full resolution, so zooming in shows the
            # real result; started once the settings rest, so it never delays the next
            # quick preview while a slider moves.
            self.full_preview_timer.start()

    def _full_preview(self) -> None:
        if self.doc.has_image and self.doc.preview is not None and \
                self.doc.preview_params == self.params() and not self.preview_host.busy:
            self.preview_host.submit((self.doc.image, self.params()))

    def _show_preprocessed(self, result: Any, params: PreprocessParams, seconds: float,
                           display: dict[str, Any]) -> None:
        self.doc.set_preview(result, params)
        full = self.doc.shape
        self.after.set_image(display["image"], shape=full)
        h, w = result.image.shape[:2]
        scale = "" if (h, w) == full else f" (preview at {w}×{h}; full size follows)"
        self.after.set_title("Preprocessed" + scale)
        self.buffers["frame"].set_buffer(display["frame"], full)
        self.buffers["hair"].set_buffer(display["hair"], full)
        self.panel.show_result(result.hair_count, result.repair_mode, seconds, scale)

    def _on_preview_failed(self, message: str) -> None:
        self.panel.show_message(f"Preview failed: {message}")

    # ============================================================================ segmentation
    @property
    def device(self) -> str:
        return str(self.device_combo.currentData())

    def set_device(self, name: str) -> None:
        """Select ``auto``, ``cpu`` or ``cuda``."""
        i = self.device_combo.findData((name or "auto").lower())
        self.device_combo.setCurrentIndex(max(i, 0))

    def _on_cuda_checked(self, ok: bool, reason: str) -> None:
        self.cuda_ok = ok
        model = self.device_combo.model()
        item = model.item(self.device_combo.findData("cuda"))
        item.setEnabled(ok)
        item.setToolTip("" if ok else reason)
        self.device_combo.setToolTip("Compute device for the model" +
                                     ("" if ok else f"\nCUDA unavailable: {reason}"))
        if not ok and self.device == "cuda":
            self.statusBar().showMessage(
                "CUDA was selected but is not available here: choose CPU or Auto "
                "(Segmentation panel).", 15000)

    def segment(self) -> bool:
        """Run the model on the open image (in the segmentation worker; a running job is
        superseded). Returns False when no image is open."""
        if not self.doc.has_image:
            return False
        if self.device == "cuda" and self.cuda_ok is False:
            self.show_error("CUDA not available",
                            "The GPU (CUDA) was selected but no CUDA device is available on "
                            "this computer. Choose CPU or Auto in the Segmentation panel.")
            return False
        params = self.params()
        # The full-size preview already holds this image preprocessed with these settings.
        done = self.doc.preview if self.doc.preview_params == params else None
        payload = {"rgb": self.doc.image, "params": params, "preprocessed": done,
                   "device": self.device, "engine": self.engine_combo.currentData(),
                   "weights": self.weights, "threshold": self.threshold_slider.value() / 100,
                   "base_mask": self.doc.mask.copy(), "fill": FILL_ALPHA,
                   "outline": self.outline_radio.isChecked()}
        self._seg_path = self.doc.path
        self._seg_base = (self.doc.mask_version, self.outline_radio.isChecked())
        self.seg_host.submit(payload)
        self.seg_progress.setValue(0)
        self.seg_progress.setFormat("Starting…")
        return True

    def cancel_segmentation(self) -> None:
        if self.seg_host.busy:
            self.seg_host.cancel()
            self.seg_progress.setValue(0)
            self.seg_progress.setFormat("Cancelled")
            self.statusBar().showMessage("Segmentation cancelled", 3000)

    def cancel_all(self) -> None:
        self.edit.cancel()
        self.cancel_segmentation()

    def _on_seg_progress(self, percent: int, text: str) -> None:
        self.seg_progress.setValue(max(percent, 0))
        self.seg_progress.setFormat(text)
        self.progress.setValue(max(percent, 0))
        self.progress.setFormat(text)

    def _on_segmented(self, out: dict[str, Any]) -> None:
        if not self.doc.has_image or self.doc.path != getattr(self, "_seg_path", None):
            return
        res = out["result"]
        if res.prob.shape != self.doc.shape:
            return
        if out["display"] is not None:
            # Its own time: segmentation may have reused the preview's result (0 s here).
            self._show_preprocessed(res.preprocessed, res.params,
                                    res.preprocessed.timings.get("total", 0.0), out["display"])
        info = ModelInfo(name=out["name"], sha256=out["sha256"], device=out["device"],
                         engine=out["engine"],
                         params=res.params.to_dict() if res.params is not None else None,
                         timings=dict(res.timings))
        base_version, outline = self._seg_base
        self._pending_heat = out["heat"]
        if outline == self.outline_radio.isChecked():
            self._prerendered_alpha = out["mask_alpha"]
        try:
            self.doc.set_prediction(res.prob, res.mask, res.threshold, info,
                                    patch=out["patch"], base_version=base_version)
        finally:
            self._pending_heat = None
            self._prerendered_alpha = None
        self.seg_progress.setValue(100)
        self.seg_progress.setFormat(f"Done in {out['seconds']:.2f} s")
        self.model_label.setText(self._model_text())
        self.statusBar().showMessage(
            f"Segmented with {out['name']} on {out['device']} in {out['seconds']:.2f} s", 5000)

    def _on_segment_failed(self, message: str) -> None:
        self.seg_progress.setValue(0)
        self.seg_progress.setFormat("Failed")
        self.show_error("Segmentation failed", message)

    def _model_text(self) -> str:
        m = self.doc.model
        if not m.name:
            return "No segmentation yet"
        where = f" on {m.device}" + (f" ({m.engine})" if m.engine else "") if m.device else ""
        took = f" · {m.timings.get('total', 0):.2f} s" if m.timings else ""
        return f"Model <b>{m.name}</b>{where}{took}<br>weights {m.sha256[:12]}…"

    # -- threshold ------------------------------------------------------------------------------
    def _on_threshold_slider(self, value: int) -> None:
        self.threshold_label.setText(f"{value / 100:.2f}")
        if self.doc.prob is not None:
            self.threshold_timer.start()

    def set_threshold(self, threshold: float) -> None:
        """Set the probability threshold and, if there is a prediction, re-threshold now."""
        self.threshold_slider.setValue(round(threshold * 100))
        self.threshold_timer.stop()
        self._apply_threshold()

    def _apply_threshold(self) -> None:
        if self.doc.prob is None:
            return
        from dermview.postprocess import mask_from_prob

        t = self.threshold_slider.value() / 100
        if abs(t - self.doc.threshold) < 1e-9:
            return
        st = self.doc.undo_stack
        top = st.command(st.index() - 1) if st.index() > 0 else None
        if top is not None and st.index() == st.count() and getattr(top, "kind", "") == "threshold":
            st.undo()  # one undo step per slider gesture, not per tick
        before = self.doc.threshold
        self.doc.threshold = t
        replace_mask(self.doc, mask_from_prob(self.doc.prob, t), f"Threshold {t:.2f}",
                     hand=False, kind="threshold", thresholds=(before, t))

    def _on_doc_threshold(self, t: float) -> None:
        """Undo/redo of a threshold step: show the threshold the mask now corresponds to."""
        self.threshold_timer.stop()
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(t * 100))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{t:.2f}")

    # ============================================================================ display
    def _on_mask_changed(self, r0: int, r1: int, c0: int, c1: int) -> None:
        buf = self.buffers["mask"]
        mask = self.doc.mask
        pre = self._prerendered_alpha
        if buf.shape != mask.shape:
            alpha = pre if pre is not None else render.mask_alpha(
                mask, FILL_ALPHA, self.outline_radio.isChecked())
            buf.set_buffer(render.colourise(alpha, render.LESION))
        else:
            if pre is not None:
                alpha = np.ascontiguousarray(pre[r0:r1, c0:c1])
            else:
                alpha = render.mask_alpha_region(mask, r0, c0, r1, c1, FILL_ALPHA,
                                                 self.outline_radio.isChecked())
            buf.set_region(r0, c0, render.colourise(alpha, render.LESION))
        if self.doc.reference is not None:
            self.metric_timer.start()

    def _rerender_mask(self) -> None:
        self.settings.set("outline", self.outline_radio.isChecked())
        alpha = render.mask_alpha(self.doc.mask, FILL_ALPHA, self.outline_radio.isChecked())
        self.buffers["mask"].set_buffer(render.colourise(alpha, render.LESION))

    def _toggle_outline(self) -> None:
        (self.filled_radio if self.outline_radio.isChecked() else self.outline_radio).setChecked(
            True)

    def _on_prob_changed(self) -> None:
        prob = self.doc.prob
        if prob is None:
            self.buffers["heat"].clear((1, 1))
        else:
            heat = self._pending_heat if self._pending_heat is not None else render.heatmap(prob)
            self.buffers["heat"].set_buffer(heat, prob.shape)

    def _on_reference_changed(self) -> None:
        ref = self.doc.reference
        if ref is None:
            self.buffers["reference"].clear((1, 1))
            self.buffers["diff"].clear((1, 1))
            self.metric_label.setText(self.doc.reference_error and
                                      f"Reference ignored: {self.doc.reference_error}")
        else:
            self.buffers["reference"].set_buffer(
                render.colourise(render.mask_alpha(ref, 0, True), render.REFERENCE))
            self._update_metrics()

    def _update_metrics(self) -> None:
        ref = self.doc.reference
        if ref is None or not self.doc.has_image:
            return
        from dermview.metrics import dice, jaccard

        d, j = dice(self.doc.mask, ref), jaccard(self.doc.mask, ref)
        self.metrics = (d, j)
        if self.diff_check.isChecked():
            self.buffers["diff"].set_buffer(render.differences(self.doc.mask, ref), ref.shape)
        self.metric_label.setText(
            f"vs reference {self.doc.reference_path.name}: Dice {d:.3f} · Jaccard {j:.3f}")

    def _apply_opacity(self) -> None:
        v = self.opacity_slider.value() / 100
        self.settings.set("overlay_opacity", self.opacity_slider.value())
        for pane in (self.before, self.after):
            pane.set_overlay_opacity("mask", v)
            pane.set_overlay_opacity("heat", v)

    def _apply_visibility(self) -> None:
        for pane in (self.before, self.after):
            pane.set_overlay_visible("mask", self.mask_check.isChecked())
            pane.set_overlay_visible("reference", self.ref_check.isChecked())
            pane.set_overlay_visible("diff", self.diff_check.isChecked())
        if self.diff_check.isChecked():
            self._update_metrics()
        self.after.set_overlay_visible("heat", self.heat_check.isChecked())
        self.act_heat.setChecked(self.heat_check.isChecked())

    def _on_hover(self, row: int, col: int) -> None:
        if row < 0 or not self.doc.has_image:
            self.pos_label.setText("")
            return
        r, g, b = (int(v) for v in self.doc.image[row, col])
        text = f"x {col}  y {row}   RGB ({r}, {g}, {b})"
        if self.doc.prob is not None:
            text += f"   p {self.doc.prob[row, col]:.2f}"
        text += "   lesion" if self.doc.mask[row, col] else ""
        self.pos_label.setText(text)

    def _on_radius(self, radius: int) -> None:
        self.radius_spin.blockSignals(True)
        self.radius_spin.setValue(radius)
        self.radius_spin.blockSignals(False)
        self.settings.set("brush_radius", radius)

    def set_tool(self, name: str) -> None:
        """Activate a tool: pan, brush, eraser, polygon_add/subtract, lasso_add/subtract."""
        self.edit.set_tool(name)

    def _set_tool_ui(self, name: str) -> None:
        for key, act in self.act_tools.items():
            act.setChecked(key == name)
        if name in self.tool_buttons:
            self.tool_buttons[name].setChecked(True)
        cursor = (QtCore.Qt.CursorShape.OpenHandCursor if name == "pan"
                  else QtCore.Qt.CursorShape.CrossCursor)
        for pane in (self.before, self.after):
            pane.viewport().setCursor(cursor)

    # ============================================================================ busy state
    def _progress_start(self, text: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.progress.show()

    def _progress_stop(self) -> None:
        self._update_busy()

    def _update_busy(self) -> None:
        seg = self.seg_host.busy
        self.cancel_button.setEnabled(seg)
        self.status_cancel.setVisible(seg)
        if seg:
            self.progress.setRange(0, 100)
            self.progress.show()
        elif self.preview_host.busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("Preview…")
            self.progress.show()
        else:
            self.progress.hide()

    def is_busy(self) -> bool:
        return self.seg_host.busy or self.preview_host.busy or self.full_preview_timer.isActive()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until no work is pending (tests and scripts)."""
        deadline = time.monotonic() + timeout_s
        app = QtWidgets.QApplication.instance()
        while self.is_busy() and time.monotonic() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)
        app.processEvents()
        return not self.is_busy()

    # ============================================================================ editing
    def undo(self) -> None:
        self.edit.cancel()
        self.doc.undo_stack.undo()

    def redo(self) -> None:
        self.doc.undo_stack.redo()

    def _update_actions(self, *_args) -> None:
        has = self.doc.has_image
        st = self.doc.undo_stack
        self.act_undo.setEnabled(st.canUndo())
        self.act_redo.setEnabled(st.canRedo())
        self.act_undo.setToolTip(f"Undo {st.undoText()} (Ctrl+Z)".replace("  ", " "))
        self.act_redo.setToolTip(f"Redo {st.redoText()} (Ctrl+Shift+Z)".replace("  ", " "))
        for act in (self.act_save, self.act_segment, *self.act_ops.values()):
            act.setEnabled(has)
        self.segment_button.setEnabled(has)
        for b in self.op_buttons.values():
            b.setEnabled(has)

    # ============================================================================ saving
    def save(self) -> bool:
        """Save the working mask and its sidecar. Returns False (after a message) on failure."""
        if not self.doc.has_image:
            return False
        try:
            png, _js = self.doc.save(self.params())
        except DermviewError as exc:
            self.show_error("Label not saved", str(exc))
            return False
        self.recovery.discard(self.doc.path)
        self.worklist.refresh(self.doc.path)
        self.statusBar().showMessage(f"Saved {png}", 5000)
        self._update_title()
        return True

    def maybe_save(self) -> bool:
        """Ask about unsaved edits. True when it is fine to continue (saved or discarded)."""
        if not self.doc.dirty:
            return True
        answer = dialogs.ask(
            self, "Unsaved changes",
            f"The mask of {self.doc.path.name} has unsaved changes.\n\nSave them?",
            Btn.Save | Btn.Discard | Btn.Cancel, Btn.Save)
        if answer == Btn.Save:
            return self.save()
        if answer == Btn.Discard:
            self.recovery.discard(self.doc.path)
            self.doc.undo_stack.setClean()
            return True
        return False

    def autosave(self, force: bool = False) -> bool:
        """Write the working mask to the recovery folder if it changed since the last time
        (``force``: whenever there are unsaved edits)."""
        if not self.doc.has_image or not self.doc.dirty:
            return False
        if not force and not self.doc.needs_autosave():
            return False
        try:
            self.recovery.save(self.doc.path, self.doc.mask,
                               {"labels_dir": str(self.labels_dir or "")})
        except DermviewError as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 5000)
            return False
        self.doc.mark_autosaved()
        return True

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
        groups.append(("Tools", [self.act_finish_poly, self.act_cancel]))
        dlg = dialogs.ShortcutsDialog(groups, self)
        self.shortcuts_dialog = dlg
        dlg.show()
        return dlg

    def show_about(self) -> QtWidgets.QDialog:
        from dermview.model.weights import DEFAULT_WEIGHTS, read_metadata

        weights = Path(self.weights) if self.weights else DEFAULT_WEIGHTS
        try:
            meta = read_metadata(weights)
            metrics = meta.get("metrics")
            dice = f", validation Dice {metrics['dice']:.3f}" if isinstance(metrics, dict) and \
                isinstance(metrics.get("dice"), (int, float)) else ""
            line = (f"<b>{meta.get('name') or weights.stem}</b> ({meta['arch']}, input "
                    f"{meta['input_size']} px, threshold {meta.get('threshold', 0.5)}{dice})"
                    f"<br>{weights.name} · SHA-256 {meta['sha256'][:16]}…")
        except DermviewError as exc:
            line = f"not available: {exc}"
        dlg = dialogs.AboutDialog(line, self)
        self.about_dialog = dlg
        dlg.show()
        return dlg

    # ============================================================================ closing
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if not self.maybe_save():
            ev.ignore()
            return
        self.shutdown()
        ev.accept()

    def shutdown(self) -> None:
        """Stop timers and workers (waits for a running step), remember the session."""
        if self._closing:
            return
        self._closing = True
        for timer in (self.autosave_timer, self.metric_timer, self.threshold_timer,
                      self.full_preview_timer):
            timer.stop()
        self.settings.set("geometry", self.saveGeometry())
        self.settings.set("window_state", self.saveState())
        self.settings.set("brush_radius", self.edit.radius)
        self.settings.set_params(self.params())
        self.settings.set("device", self.device)
        if self.doc.path is not None and not self.doc.dirty:
            self.recovery.discard(self.doc.path)
        self.seg_host.shutdown()
        self.preview_host.shutdown()
        self.settings.store.sync()

    def threads_running(self) -> list[str]:
        """Names of worker threads still running (empty after :meth:`shutdown`)."""
        return [h.thread.objectName() for h in (self.seg_host, self.preview_host)
                if h.thread.isRunning()]
