"""Small dialogs: keyboard shortcuts, About (with the model card), crash recovery."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from dermview import __version__, paths


@contextlib.contextmanager
def busy_cursor() -> Iterator[None]:
    """The wait cursor over the application while a step runs on the GUI thread (saving a
    label of a 24-MP image, whose sidecar's lesion measurement may take a second there, left
    the window still without a sign that it was working)."""
    QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QtWidgets.QApplication.restoreOverrideCursor()


def within_screen(widget: QtWidgets.QWidget, width: int, height: int,
                  share: float = 0.9) -> tuple[int, int]:
    """``(width, height)`` in px, each at most ``share`` of the widget's screen (a dialog
    sized for its text must still show its buttons at 150 %)."""
    screen = widget.screen() or QtGui.QGuiApplication.primaryScreen()
    if screen is None:
        return width, height
    room = screen.availableGeometry()
    return min(width, int(room.width() * share)), min(height, int(room.height() * share))


def show_in_front(dialog: QtWidgets.QDialog) -> QtWidgets.QDialog:
    """Show a modeless dialog raised and active, the keyboard in it: shown only, it could
    open without the keyboard (Esc did nothing until it was clicked, trial S17A)."""
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


class ShortcutsDialog(QtWidgets.QDialog):
    """Lists every action that has a shortcut, grouped by menu."""

    def __init__(self, groups: list[tuple[str, list[QtGui.QAction]]],
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        layout = QtWidgets.QVBoxLayout(self)
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setTabKeyNavigation(False)  # Tab goes on to Close (arrows move in it)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        for group, actions in groups:
            self._add_group(group, [
                (a.text().replace("&", ""), ", ".join(
                    s.toString(QtGui.QKeySequence.SequenceFormat.NativeText)
                    for s in a.shortcuts()))
                for a in actions if a.shortcuts()])
        self._add_group("Mouse", [
            ("zoom at the cursor", "Mouse wheel"),
            ("pan", "Middle drag / Space + drag / drag in Pan mode"),
            ("remove a refine click", "Ctrl + click (Refine)"),
            ("invert (erase / subtract)", "Shift + brush/lasso"),
            ("cancel the polygon in progress", "Right click"),
            ("previous / next image", "Arrow keys (view focused)")])
        layout.addWidget(self.table)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(*self._size_needed())

    def _size_needed(self) -> tuple[int, int]:
        """Wide enough for the longest row (the tools' texts say how to use them: "Refine
        (click: lesion, Shift+click: not, drag: box)" was cut to "Refine (click: lesion,
        Shift+click: no…" at 150 %), at least 480 px; 720 px high; at most 90 % of the
        screen either way (at 150 % on a 1000-px screen, Close was below its bottom)."""
        t = self.table
        need = (t.sizeHintForColumn(0) + t.sizeHintForColumn(1)
                + t.verticalScrollBar().sizeHint().width() + 2 * t.frameWidth() + 40)
        return within_screen(self, max(480, need), 720)

    def _add_group(self, title: str, rows: list[tuple[str, str]]) -> None:
        """A bold ``title`` row, then one indented ``(action, keys)`` row each; none if empty."""
        if not rows:
            return
        bold = QtGui.QFont()
        bold.setBold(True)
        head = QtWidgets.QTableWidgetItem(title)
        head.setFont(bold)
        self.table.insertRow(self.table.rowCount())
        self.table.setItem(self.table.rowCount() - 1, 0, head)
        for action, keys in rows:
            r = self.table.rowCount()
            self.table.insertRow(r)
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem("    " + action))
            self.table.setItem(r, 1, QtWidgets.QTableWidgetItem(keys))


def model_card_text(name: str = "MODEL_CARD.md") -> str:
    """A bundled model card's Markdown (``name`` in the models folder), without its HTML
    comments (Qt's Markdown reader showed the generator's note, '...json: edit the script,
    then run it. -->', as text)."""
    import re

    card = paths.models_dir() / name
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return f"*No model card found at {card}.*"
    return re.sub(r"<!--.*?-->[ \t]*\n?", "", text, flags=re.S)


def model_line(weights: Path | None) -> str:
    """One line about a weights file for the About box (name, input, threshold, checksum)."""
    from dermview.errors import DermviewError
    from dermview.model.weights import DEFAULT_WEIGHTS, read_metadata

    weights = Path(weights) if weights else DEFAULT_WEIGHTS
    try:
        meta = read_metadata(weights)
    except DermviewError as exc:
        return f"not available: {exc}"
    metrics = meta.get("metrics")
    dice = f", validation Dice {metrics['dice']:.3f}" if isinstance(metrics, dict) and \
        isinstance(metrics.get("dice"), (int, float)) else ""
    return (f"<b>{meta.get('name') or weights.stem}</b> ({meta['arch']}, input "
            f"{meta['input_size']} px, threshold {meta.get('threshold', 0.5)}{dice})"
            f"<br>{_file_line(weights, meta)}")


def _file_line(weights: Path, meta: dict) -> str:
    """The file that runs and its checksum: the ``.pt``, or, where only the ONNX export is
    installed (the packaged app), that export (About named a ``.pt`` the package lacks)."""
    onnx = meta.get("onnx")
    if not weights.is_file() and isinstance(onnx, dict) and onnx.get("file"):
        return f"{onnx['file']} (ONNX export) · SHA-256 {str(onnx.get('sha256', ''))[:16]}…"
    return f"{weights.name} · SHA-256 {str(meta.get('sha256', ''))[:16]}…"


def classifier_line() -> str:
    """One line about the bundled lesion classifier (the Diagnosis panel's) for the About
    box: name, input, calibration temperature, checksum."""
    from dermview.errors import DermviewError
    from dermview.model.classifier import DEFAULT_CLASSIFIER
    from dermview.model.weights import read_metadata

    try:
        meta = read_metadata(DEFAULT_CLASSIFIER)
    except DermviewError as exc:
        return f"not available: {exc}"
    temp = meta.get("temperature")
    t = f", calibration temperature {temp:.2f}" if isinstance(temp, (int, float)) else ""
    return (f"<b>{meta.get('name') or DEFAULT_CLASSIFIER.stem}</b> (melanoma / seborrheic "
            f"keratosis / naevus, input {meta.get('input_size', '?')} px{t})"
            f"<br>{_file_line(DEFAULT_CLASSIFIER, meta)}")


def wrapped_markdown(text: str) -> str:
    """HTML of the Markdown ``text`` whose code lines wrap and whose table cells are padded by
    2 px instead of Qt's 4: the cards' long command lines made the About box scroll sideways
    (1400 px at 150 %), and with DejaVu Sans the five-column levers table still needed one
    pixel more than a 600-px About box gives."""
    doc = QtGui.QTextDocument()
    doc.setMarkdown(text)
    return (doc.toHtml().replace("white-space:pre;", "white-space:pre-wrap;")
            .replace('cellpadding="4"', 'cellpadding="2"'))


class AboutDialog(QtWidgets.QDialog):
    """Version, licences and the bundled model card."""

    def __init__(self, model_line: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About dermview")
        layout = QtWidgets.QVBoxLayout(self)
        head = QtWidgets.QLabel(
            f"<h2>dermview {__version__}</h2>"
            "<p>Dermoscopy lesion review: frame and hair removal, lesion segmentation, "
            "mask correction and label saving; lesion measurements (ABCD) and diagnosis "
            "support.</p>"
            f"<p>Segmentation model: {model_line}</p>"
            f"<p>Diagnosis support: {classifier_line()}</p>"
            "<p><i>Research tool: not a medical device. Every mask must be reviewed by a "
            "qualified person; the diagnosis support is not a diagnosis.</i></p>")
        head.setWordWrap(True)
        layout.addWidget(head)
        self.card = QtWidgets.QTextBrowser()
        # the segmentation models' card, then the classifier's (the Diagnosis panel says "see
        # the model card": it was nowhere in the app)
        self.card.setHtml(wrapped_markdown(model_card_text() + "\n\n---\n\n"
                                           + model_card_text("CLASSIFIER_CARD.md")))
        self.card.setOpenExternalLinks(True)
        layout.addWidget(self.card, 1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # at most 90 % of the screen: at 150 % on 1280×800 (533 px high) its Close button was
        # below the screen's bottom
        self.resize(*within_screen(self, 640, 560))


#: File names longer than this get line-break chances after ``_ - .`` (:func:`breakable`).
LONG_WORD = 30


def breakable(text: str) -> str:
    """``text`` with a zero-width space after each ``_ - .`` of a file name (a word without
    ``/``) longer than :data:`LONG_WORD`: a message box wraps at spaces only, and a long file
    name ("IMD061_patient_back_left_shoulder_…jpg has unsaved changes") was cut off at its
    right edge. Paths are left as they are (copied from the box, they must stay paths)."""
    import re

    return re.sub(rf"(?<!\S)[^\s/]{{{LONG_WORD + 1},}}(?!\S)",
                  lambda m: re.sub(r"([_\-.])", "\\1\u200b", m.group(0)), text)


def ask(parent: QtWidgets.QWidget, title: str, text: str,
        buttons: QtWidgets.QMessageBox.StandardButton,
        default: QtWidgets.QMessageBox.StandardButton) -> QtWidgets.QMessageBox.StandardButton:
    """``QMessageBox.question`` (one place, so tests can patch it)."""
    return QtWidgets.QMessageBox.question(parent, title, breakable(text), buttons, default)


def choose(parent: QtWidgets.QWidget, title: str, text: str, options: list[str]) -> str | None:
    """A warning with one button per option plus Cancel; the option chosen, None = Cancel
    (one place, so tests can patch it)."""
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, breakable(text),
                                QtWidgets.QMessageBox.StandardButton.Cancel, parent)
    buttons = [box.addButton(o, QtWidgets.QMessageBox.ButtonRole.AcceptRole) for o in options]
    box.setDefaultButton(buttons[0] if buttons else None)
    box.exec()
    clicked = box.clickedButton()
    return options[buttons.index(clicked)] if clicked in buttons else None


def error(parent: QtWidgets.QWidget, title: str, text: str) -> None:
    """``QMessageBox.warning`` with a plain message (one place, so tests can patch it)."""
    QtWidgets.QMessageBox.warning(parent, title, breakable(text))


__all__ = ["AboutDialog", "ShortcutsDialog", "ask", "choose", "classifier_line", "error",
           "model_card_text", "model_line"]
