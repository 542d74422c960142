"""Dialogs of the Model menu: improving the model from the user's labels, and the model list.

Widgets and signals only: :class:`dermview.gui.controllers.finetune.ModelController` runs the
training process and switches models.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from dermview.gui.dialogs import within_screen
from dermview.gui.style import FocusParking
from dermview.wording import counted

_EXPLAIN = (
    "Makes a new model for the images of a folder from the labels saved for them "
    "(<i>labels/</i> beside them: corrected or accepted labels, and masks brought from other "
    "tools). By default it is the current model with each image's colours standardised "
    "towards the images it was trained on (no training step: every training variant measured "
    "lost Dice on unseen images). Both models are scored on your corrected labels, and the "
    "new model is offered only when it scores better. It runs in a separate process, so you "
    "can keep working."
)
#: ``holdout.scheme`` of a run without training steps, as ``dermview finetune`` reports it
_NO_TRAINING = "no label trained the model"


def _eta(seconds: float) -> str:
    """' · about 40 s left' / ' · about 2.5 min left'; '' for an unknown ETA (< 0)."""
    if seconds < 0:
        return ""
    if seconds < 60:
        return f" · about {max(5, int(round(seconds / 5.0)) * 5)} s left"
    return f" · about {seconds / 60:.1f} min left"


def _free_name(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3``, … : the first whose .pt and .json are free."""
    k, cand = 1, path
    while cand.exists() or cand.with_suffix(".json").exists():
        k += 1
        cand = path.with_name(f"{path.stem}-{k}{path.suffix}")
    return cand


def _duration(seconds: float) -> str:
    """'12 s' / '2.5 min'."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _scored_on(n: int, scheme: str, labels: int) -> str:
    """Which labels scored the models, in words."""
    if scheme == _NO_TRAINING:
        return (f"Scored on {counted(n, 'corrected label')} of the {labels} labels found; none "
                "was used to make the new model")
    return f"Scored on {n} corrected labels ({html.escape(scheme)}) of the {labels} labels found"


class FinetuneDialog(QtWidgets.QDialog):
    """Folder, output file and time limit; progress with ETA; before / after scores."""

    start_clicked = QtCore.Signal(str, str, float)  # image folder, output .pt, minutes
    folder_changed = QtCore.Signal(str)  # the image folder typed or chosen
    cancel_clicked = QtCore.Signal()
    use_clicked = QtCore.Signal()
    discard_clicked = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Improve the model from my labels")
        self.setMinimumWidth(560)
        self.intro = intro = QtWidgets.QLabel(_EXPLAIN)
        intro.setWordWrap(True)
        self.folder_edit = QtWidgets.QLineEdit()
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        #: what labels the folder has, before anything is started
        self.labels_label = QtWidgets.QLabel("")
        self.labels_label.setWordWrap(True)
        self._folder_timer = QtCore.QTimer(self, singleShot=True, interval=300)
        self._folder_timer.timeout.connect(
            lambda: self.folder_changed.emit(self.folder_edit.text()))
        self.folder_edit.textChanged.connect(lambda _t: self._folder_timer.start())
        self.out_edit = QtWidgets.QLineEdit()
        self.minutes = QtWidgets.QDoubleSpinBox()
        self.minutes.setRange(1.0, 120.0)
        self.minutes.setDecimals(1)  # "10.0 min", not "10.00 min"
        self.minutes.setValue(10.0)
        self.minutes.setSuffix(" min")
        form = QtWidgets.QFormLayout()
        form.addRow("Image folder", row)
        form.addRow("", self.labels_label)
        form.addRow("New model file", self.out_edit)
        form.addRow("Time limit", self.minutes)
        self.start_btn = QtWidgets.QPushButton("Start")
        self.cancel_btn = QtWidgets.QPushButton("Cancel training")
        self._start_focus = FocusParking(self.start_btn)
        self.start_btn.clicked.connect(self._start)
        self.cancel_btn.clicked.connect(self.cancel_clicked)
        self.bar = QtWidgets.QProgressBar()
        self.phase_label = QtWidgets.QLabel("")
        self.result_label = QtWidgets.QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.use_btn = QtWidgets.QPushButton("Use the new model")
        # "Keep the current model" only once there is a new one to decide on (it read so
        # before any run, when closing kept nothing but the dialog)
        self.keep_btn = QtWidgets.QPushButton("Close")
        # a model that is not better stayed on disk and in Model → Models… for good
        self.discard_btn = QtWidgets.QPushButton("Delete the new model")
        self.discard_btn.setToolTip("Delete the new model's files (keep the current model)")
        self.discard_btn.clicked.connect(self.discard_clicked)
        self.use_btn.clicked.connect(self.use_clicked)
        self.use_btn.clicked.connect(self.accept)
        self.keep_btn.clicked.connect(self.reject)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.start_btn, self.cancel_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.use_btn, self.discard_btn, self.keep_btn):
            buttons.addWidget(b)
        lay = QtWidgets.QVBoxLayout(self)
        for w in (intro,):
            lay.addWidget(w)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.phase_label)
        lay.addWidget(self.result_label)
        lay.addLayout(buttons)
        self._enough = True  # until a label summary says otherwise
        self._unavailable = ""  # why this installation cannot fine-tune at all
        self.set_running(False)
        self.use_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)

    def suggest_output(self, folder: Path) -> None:
        """Propose ``folder/<image folder name>-<date>.pt`` unless a name was typed."""
        if self.out_edit.isModified() and self.out_edit.text():
            return
        name = Path(self.folder_edit.text()).name or "model"
        self.out_edit.setText(str(_free_name(folder / f"{name}-{time.strftime('%Y%m%d-%H%M')}.pt")))

    def show_label_summary(self, text: str, enough: bool) -> None:
        """The line of :func:`dermview.finetune.collect.label_summary` for the folder; Start
        only when there are ``enough`` labels (it started a process only to say there were
        not); the dialog grows when the line wraps (a summary of several states took two
        lines, and the open dialog cut both)."""
        self.labels_label.setText(text)
        self._enough = enough
        self.start_btn.setEnabled(self._can_start() and not self.cancel_btn.isEnabled())
        self.start_btn.setToolTip(self._unavailable or ("" if enough else text))
        self._fit()

    def _browse(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of labelled images",
                                                            self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _start(self) -> None:
        out = Path(self.out_edit.text())
        if self.out_edit.text() and not self.out_edit.isModified() and out.exists():
            # our own suggestion, taken by an earlier run (a second Start in the same minute):
            # the run would replace that model, which may be the one in use
            self.out_edit.setText(str(_free_name(out)))
        self.result_label.setText("")
        self.use_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)
        self.keep_btn.setText("Close")
        self.bar.setRange(0, 0)
        self.phase_label.setText("Starting…")
        self.start_clicked.emit(self.folder_edit.text(), self.out_edit.text(),
                                float(self.minutes.value()))

    def show_unavailable(self, why: str) -> None:
        """This installation cannot fine-tune (no PyTorch: the packaged app): say so where
        the result goes and keep Start off (it started a process that died with
        "Failed to execute script 'launcher'")."""
        self._unavailable = why
        self.result_label.setText(
            f"<b>Not available here:</b> {html.escape(why[0].upper() + why[1:])}.")
        self.start_btn.setEnabled(False)
        self.start_btn.setToolTip(why)

    def _can_start(self) -> bool:
        return self._enough and not self._unavailable

    def set_running(self, running: bool) -> None:
        # the focus stays put (FocusParking): Start's went on to "Close", whose Space then
        # closed the dialog of the run just started
        # (not for Cancel: given its focus back at the next Start, a Space would stop that run)
        self._start_focus.set_enabled(not running and self._can_start())
        self.cancel_btn.setEnabled(running)
        for w in (self.folder_edit, self.out_edit, self.minutes):
            w.setEnabled(not running)

    def set_progress(self, done: int, total: int, phase: str, eta_s: float) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        eta = _eta(eta_s)
        self.phase_label.setText(f"{phase[:1].upper()}{phase[1:]}{eta}")

    def show_result(self, r: dict[str, Any], same_as: str = "") -> None:
        """The run's verdict and scores; ``same_as``: the listed model whose weights the new
        one has (a run without a training step makes the same model every time), or ""."""
        b, n = r["base"], r["new"]
        rows = "".join(
            f"<tr><td>{label}</td><td align='right'>{b[k]:.3f}</td>"
            f"<td align='right'>{n[k]:.3f}</td></tr>"
            for label, k in (("Dice", "dice"), ("Jaccard", "jaccard"),
                             ("Thresholded Jaccard", "thresholded_jaccard")))
        rows += (f"<tr><td>Failures (Jaccard &lt; 0.65)</td><td align='right'>{b['failures']}"
                 f"</td><td align='right'>{n['failures']}</td></tr>")
        self.result_label.setText(
            f"<p>{html.escape(r['verdict'])}</p><table cellspacing='6'><tr><th></th>"
            f"<th>current</th><th>new</th></tr>{rows}</table>"
            f"<p>{_scored_on(n['n'], r['scheme'], r['labels'])}; {_duration(r['seconds'])}. Saved as {html.escape(Path(r['out']).name)}.</p>"
            + (f"<p>Its weights are those of {html.escape(same_as)}, already in Model → Models… "
               "(without a training step every run makes the same model): the two segment alike; "
               "deleting the new model removes only this copy.</p>" if same_as else ""))
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.phase_label.setText("Finished")
        self.use_btn.setEnabled(bool(r["improved"]))
        self.use_btn.setToolTip("" if r["improved"] else
                                "The held-out labels do not show the new model is better")
        self.discard_btn.setEnabled(True)
        self.keep_btn.setText("Keep the current model")
        # Enter decides on the new model: it was Start's again, a second run and model file
        choice = self.use_btn if r["improved"] else self.keep_btn
        for b in (self.use_btn, self.keep_btn):
            b.setDefault(b is choice)
        choice.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)
        self._fit()

    def _fit(self) -> None:
        """Grow to what the contents need, within 90 % of the screen (``adjustSize`` stops at
        two thirds of it: at 150 % the result's buttons read "elete the new mode" and "ep the
        current mod", and the result table lost its last row)."""
        lay = self.layout()
        lay.invalidate()  # a label's new text: measured again
        lay.activate()
        width = max(self.width(), lay.sizeHint().width())
        height = lay.totalHeightForWidth(width) if lay.hasHeightForWidth() else lay.sizeHint().height()
        self.resize(*within_screen(self, width, max(self.height(), height)))

    def show_discarded(self, text: str) -> None:
        """The new model's files were deleted (``text`` says so): nothing left to use."""
        self.use_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)
        self.keep_btn.setText("Close")
        self.phase_label.setText(text)

    def show_failure(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.phase_label.setText("Stopped")
        self.result_label.setText(f"<p>{html.escape(text)}</p>")
        self._fit()  # the message's lines must not squeeze the explanation above


IN_USE = "  (in use)"


def _name_text(m: Any, in_use: bool) -> str:
    """A model's name cell: the name, "(in use)", and the listed model with the same weights
    (at the end of "Where it came from" the note was cut off in the middle)."""
    return m.name + (IN_USE if in_use else "") + (f"  (same weights as {m.same_as})" if m.same_as else "")


#: Column of the Models list with each model's held-out Dice.
DICE_COLUMN = 1


class ModelsDialog(QtWidgets.QDialog):
    """The models available, where each came from; switch to one or back to the bundled one."""

    use_requested = QtCore.Signal(str)  # path of the model to use ("" = bundled default)
    delete_requested = QtCore.Signal(str)  # path of a user-trained model to delete
    add_requested = QtCore.Signal()  # "Add model file…": a model trained elsewhere

    def __init__(self, models: list[Any], current: str | None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setMinimumWidth(720)
        self.models = models
        self.table = QtWidgets.QTableWidget(len(models), 4)
        # the scores beside the names: at 150 % a user model's long origin pushed them behind
        # the horizontal scroll bar
        self.table.setHorizontalHeaderLabels(["Model", "Held-out Dice", "Where it came from",
                                              "File"])
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)  # row numbers say nothing here
        self.table.cellDoubleClicked.connect(lambda _r, _c: self._use())  # as "Use selected"
        # the column was blank for the bundled models, with nothing to say why
        why = ("Models fine-tuned here: Dice of the base model → the new one on your labels "
               "held out from training. Bundled models: Dice on the validation split they "
               "were chosen on (more in the model card, Help → About). The two are measured "
               "on different images: they do not rank a bundled model against yours.")
        self.table.horizontalHeaderItem(DICE_COLUMN).setToolTip(why)
        self._why = why
        for i, m in enumerate(models):
            self._fill_row(i, m)
        self.table.resizeColumnsToContents()  # room for "(in use)" on any row
        self._cap_long_columns()
        self.use_btn = QtWidgets.QPushButton("Use selected model")
        self.revert_btn = QtWidgets.QPushButton("Use the bundled model")
        # models trained here (the ones not better among them) piled up with no way to remove them
        self.delete_btn = QtWidgets.QPushButton("Delete selected model…")
        # a model made by `dermview finetune --out` elsewhere (or by a colleague) was listed
        # only once started with --weights
        self.add_btn = QtWidgets.QPushButton("Add model file…")
        self.add_btn.setToolTip("List a model file (.pt with its .json) trained elsewhere, "
                                "e.g. by dermview finetune --out")
        self.add_btn.clicked.connect(self.add_requested)
        close = QtWidgets.QPushButton("Close")
        self.use_btn.clicked.connect(self._use)
        self.revert_btn.clicked.connect(lambda: self.use_requested.emit(""))
        self.delete_btn.clicked.connect(self._delete)
        close.clicked.connect(self.accept)
        self.table.itemSelectionChanged.connect(self._update_delete)
        self._in_use: Path | None = None
        self.set_current(current)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.use_btn)
        row.addWidget(self.revert_btn)
        row.addWidget(self.delete_btn)
        row.addWidget(self.add_btn)
        row.addStretch(1)
        row.addWidget(close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addLayout(row)
        # as wide as the columns (the held-out Dice and the file were behind a scroll bar),
        # at most 90 % of the screen
        t = self.table
        need = (sum(t.columnWidth(c) for c in range(t.columnCount()))
                + t.verticalScrollBar().sizeHint().width()
                + 2 * t.frameWidth() + lay.contentsMargins().left()
                + lay.contentsMargins().right() + 8)
        self.resize(*within_screen(self, max(720, need), self.sizeHint().height()))

    def _fill_row(self, i: int, m: Any) -> None:
        for j, text in enumerate([_name_text(m, True), m.heldout or "—", m.origin, str(m.path)]):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(self._why if j == DICE_COLUMN else text)  # whole where it is elided
            self.table.setItem(i, j, item)

    def _cap_long_columns(self) -> None:
        """Where a model came from and its file at most a third of the screen each (cut in
        the middle, whole in the tooltip), so that the columns fit beside each other."""
        screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
        if screen is None:
            return
        cap = screen.availableGeometry().width() // 3
        for c in (2, 3):
            if self.table.columnWidth(c) > cap:
                self.table.setColumnWidth(c, cap)

    def add_model(self, model: Any) -> None:
        """List ``model`` (an entry of ``list_models``) last, or select it when listed."""
        for i, m in enumerate(self.models):
            if m.path.resolve() == model.path.resolve():
                self.table.selectRow(i)
                return
        self.models = [*self.models, model]
        i = self.table.rowCount()
        self.table.insertRow(i)
        self._fill_row(i, model)
        self.table.item(i, 0).setText(_name_text(model, False))  # not in use: just added
        self.table.selectRow(i)

    def set_current(self, current: str | None) -> None:
        """Mark (and select) the model in use: ``current`` path, None = the bundled default."""
        cur = Path(current).resolve() if current else None
        self._in_use = None
        for i, m in enumerate(self.models):
            in_use = (m.path.resolve() == cur) if cur else (not m.user_trained
                                                            and m.path.stem == "dermview_default")
            self.table.item(i, 0).setText(_name_text(m, in_use))
            if in_use:
                self._in_use = m.path
                self.table.selectRow(i)
        self._update_delete()

    def _selected(self) -> Any | None:
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows else None

    def _update_delete(self) -> None:
        """Delete only a model trained here that is not in use (with the reason otherwise)."""
        m = self._selected()
        ok = m is not None and m.user_trained and m.path != self._in_use
        self.delete_btn.setEnabled(ok)
        self.delete_btn.setToolTip(
            "Delete this model's files" if ok else
            "The model in use cannot be deleted: use another one first" if m is not None
            and m.path == self._in_use else "Only models trained here can be deleted")

    def _delete(self) -> None:
        m = self._selected()
        if m is not None:
            self.delete_requested.emit(str(m.path))

    def remove_model(self, path: str | Path) -> None:
        """Take a deleted model's row out of the list."""
        for i, m in enumerate(self.models):
            if m.path == Path(path):
                self.table.removeRow(i)
                self.models = self.models[:i] + self.models[i + 1:]
                break
        self._update_delete()

    def _use(self) -> None:
        m = self._selected()
        if m is not None:
            self.use_requested.emit(str(m.path))
