"""Model → "Improve the model from my labels…" and Model → "Models…".

:class:`FinetuneProcess` runs ``dermview finetune … --progress-json`` in a separate process
(QProcess), so training never stalls the window and can be cancelled at any moment (Ctrl+C
semantics: nothing is written). :class:`ModelController` opens the dialogs, lists the models
(:mod:`dermview.gui.model_list`), switches the segmenter to the model the user picks,
remembers it, and marks labels segmented by a user-trained model in their sidecar
(``model_provenance``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from dermview import paths
from dermview.gui.model_list import ModelEntry, list_models, same_weights, user_models_dir

#: Where a run's progress and result are shown.
_SHOWN_IN = "Model → Improve the model from my labels…"


class FinetuneProcess(QtCore.QObject):
    """``dermview finetune`` in a child process, reporting through JSON lines on stdout."""

    progress = QtCore.Signal(int, int, str, float)  # done, total, phase, ETA s (-1: unknown)
    finished = QtCore.Signal(dict)  # the "done" event: out, improved, verdict, base, new, ...
    failed = QtCore.Signal(str)  # one line: the error, or that it was cancelled
    running_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.proc: QtCore.QProcess | None = None
        self._out = b""
        self._err = b""
        self._result: dict[str, Any] | None = None
        self._cancelled = False
        self._t0 = 0.0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QtCore.QProcess.ProcessState.NotRunning

    @staticmethod
    def command(image_dir: Path, out: Path, base: str | None, minutes: float,
                extra: list[str] | None = None) -> tuple[str, list[str]]:
        """Program and arguments (the frozen app is the ``dermview`` executable itself)."""
        args = ["finetune", str(image_dir), "--out", str(out), "--time-limit", f"{minutes:g}",
                "--device", "auto", "--progress-json", "--overwrite", *(extra or [])]
        if base:
            args += ["--base", str(base)]
        return sys.executable, (args if paths.is_frozen() else ["-m", "dermview", *args])

    def start(self, image_dir: Path, out: Path, base: str | None, minutes: float,
              extra: list[str] | None = None) -> None:
        if self.running:
            return
        program, args = self.command(image_dir, out, base, minutes, extra)
        self._out, self._err, self._result, self._cancelled = b"", b"", None, False
        self._t0 = time.monotonic()
        proc = QtCore.QProcess(self)
        proc.setProgram(program)
        proc.setArguments(args)
        proc.readyReadStandardOutput.connect(self._read)
        proc.readyReadStandardError.connect(self._read_err)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.proc = proc
        proc.start()
        self.running_changed.emit(True)

    #: Seconds a cancelled child may take to stop before it is killed.
    KILL_AFTER_S = 20.0

    def cancel(self) -> None:
        """Interrupt the run as Ctrl+C would (the child writes nothing); a child still running
        :data:`KILL_AFTER_S` later (stuck in a long native call) is killed."""
        if not self.running or self.proc is None:
            return
        self._cancelled = True
        pid = int(self.proc.processId())
        if os.name == "posix" and pid > 0:
            os.kill(pid, signal.SIGINT)
            proc = self.proc
            # ``proc`` as the context: the timer dies with the process object (no call into a
            # deleted QProcess after the window closed).
            QtCore.QTimer.singleShot(int(self.KILL_AFTER_S * 1000), proc,
                                     lambda: proc.kill() if proc is self.proc and self.running
                                     else None)
        else:
            self.proc.kill()

    def wait(self, ms: int = 10000) -> bool:
        return self.proc is None or self.proc.waitForFinished(ms)

    def _read_err(self) -> None:
        assert self.proc is not None
        self._err += bytes(self.proc.readAllStandardError().data())

    def _read(self) -> None:
        assert self.proc is not None
        self._out += bytes(self.proc.readAllStandardOutput().data())
        *lines, self._out = self._out.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "progress":
                done, total = int(event["done"]), int(event["total"])
                spent = time.monotonic() - self._t0
                eta = spent * (total - done) / done if done and total else -1.0
                self.progress.emit(done, total, str(event.get("phase", "")), eta)
            elif event.get("event") == "done":
                self._result = event

    def _on_error(self, err: QtCore.QProcess.ProcessError) -> None:
        if err == QtCore.QProcess.ProcessError.FailedToStart:
            self.proc = None
            self.running_changed.emit(False)
            self.failed.emit("The training process could not be started.")

    def _on_finished(self, code: int, _status: QtCore.QProcess.ExitStatus) -> None:
        self._read()
        self._read_err()
        self.running_changed.emit(False)
        if self._result is not None:
            self.finished.emit(self._result)
        elif self._cancelled:
            self.failed.emit("Cancelled: nothing was written.")
        else:
            lines = [ln for ln in self._err.decode("utf-8", "replace").splitlines() if ln.strip()]
            text = lines[-1] if lines else f"exit status {code}"
            self.failed.emit(text.removeprefix("dermview: error: "))


class ModelController(QtCore.QObject):
    """Opens the fine-tuning and model-list dialogs and switches the segmenter's model."""

    message = QtCore.Signal(str, int)

    def __init__(self, doc: Any, segmenter: Any, settings: Any,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.segmenter, self.settings = doc, segmenter, settings
        self.process = FinetuneProcess(self)
        self.dialog: Any = None
        self.models_dialog: Any = None  # Model → Models…, once shown
        self.last_result: dict[str, Any] | None = None
        #: extra ``dermview finetune`` arguments (tests shorten the run with ``--max-steps``)
        self.extra_args: list[str] = []
        doc.add_sidecar_field("model_provenance", self.sidecar)

    def _parent_widget(self) -> QtWidgets.QWidget | None:
        p = self.parent()
        return p if isinstance(p, QtWidgets.QWidget) else None

    # -- fine-tuning --------------------------------------------------------------------------
    def improve(self) -> None:
        """Show the "Improve the model from my labels" dialog (one per window)."""
        from dermview.gui.finetune_dialog import FinetuneDialog

        if self.dialog is None:
            self.dialog = FinetuneDialog(self._parent_widget())
            self.dialog.start_clicked.connect(self.start)
            self.dialog.cancel_clicked.connect(self.process.cancel)
            self.dialog.use_clicked.connect(self._use_result)
            self.dialog.discard_clicked.connect(self._discard_result)
            self.process.progress.connect(self.dialog.set_progress)
            self.process.finished.connect(self._on_finished)
            self.process.failed.connect(self.dialog.show_failure)
            self.process.failed.connect(self._on_failed)
            self.dialog.rejected.connect(self._on_dialog_closed)
            self.process.running_changed.connect(self.dialog.set_running)
            self.dialog.folder_changed.connect(self._summarise_labels)
            from dermview.finetune import unavailable

            why = unavailable()
            if why is not None:
                self.dialog.show_unavailable(why)
        folder = self.doc.path.parent if getattr(self.doc, "path", None) else None
        if folder is not None and not self.dialog.folder_edit.text():
            self.dialog.folder_edit.setText(str(folder))
        self.dialog.suggest_output(user_models_dir())
        self.dialog.show()
        self.dialog.raise_()

    def _summarise_labels(self, folder: str) -> None:
        from dermview.finetune.collect import summarise_labels

        self.dialog.show_label_summary(*(summarise_labels(folder) if folder.strip() else
                                         ("", False)))

    def start(self, folder: str, out: str, minutes: float) -> None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        self.process.start(Path(folder), Path(out), self.segmenter.weights, minutes,
                           extra=self.extra_args)

    def _on_finished(self, result: dict[str, Any]) -> None:
        self.last_result = result
        self._remember(result["out"])
        twin = same_weights(Path(result["out"]), list_models(self.known_models()))
        self.dialog.show_result(result, twin.label() if twin else "")
        if not self.dialog.isVisible():  # closed during the run: its end went unseen
            verdict = ("better: it can be used" if result.get("improved")
                       else "not better than the current model")
            self.message.emit(f"The new model is ready ({verdict}): {_SHOWN_IN} shows its "
                              "scores", 0)

    def _on_dialog_closed(self) -> None:
        """Closing the dialog (Close, Esc) does not stop a run, a separate process: say so
        (it went on unseen, and its end too)."""
        if self.process.running:
            self.message.emit("Improving the model goes on in the background: "
                              f"{_SHOWN_IN} shows its progress and can cancel it", 15000)

    def _on_failed(self, text: str) -> None:
        if self.dialog is not None and not self.dialog.isVisible():
            self.message.emit(f"Improving the model stopped: {text}", 0)

    def known_models(self) -> list[Path]:
        """Model files trained or used in this app (settings ``models``), wherever they are."""
        try:
            names = json.loads(str(self.settings.get("models", "[]") or "[]"))
        except ValueError:
            names = []
        return [Path(n) for n in names if isinstance(n, str) and Path(n).is_file()]

    def _remember(self, path: str | Path) -> None:
        known = [str(p) for p in self.known_models()]
        if str(path) not in known:
            self.settings.set("models", json.dumps([*known, str(path)]))

    def _use_result(self) -> None:
        if self.last_result is not None:
            self.use_model(self.last_result["out"])

    def _discard_result(self) -> None:
        if self.last_result is not None and self.delete_model(self.last_result["out"]):
            self.dialog.show_discarded("The new model was deleted.")

    def may_quit(self) -> bool:
        """Closing the window cancels a running "Improve the model" (its process): ask
        first (it was cancelled without a word, the dialog perhaps closed long before)."""
        if not self.process.running:
            return True
        from dermview.gui import dialogs

        btn = QtWidgets.QMessageBox.StandardButton
        return dialogs.ask(self._parent_widget(), "Quit while improving the model?",
                           "Improving the model from your labels is still running: quitting "
                           "cancels it (nothing of it is written).\n\nQuit anyway?",
                           btn.Yes | btn.Cancel, btn.Cancel) == btn.Yes

    def shutdown(self) -> None:
        """Cancel a running training (nothing is written) and wait for the process."""
        if self.process.running:
            self.process.cancel()
            if not self.process.wait(10000) and self.process.proc is not None:
                self.process.proc.kill()
                self.process.wait(3000)

    # -- the model list ---------------------------------------------------------------------
    def use_model(self, path: str | Path | None) -> None:
        """Segment with ``path`` from now on (None = the bundled default) and remember it."""
        self.segmenter.set_weights(str(path) if path else None)
        self.settings.set("weights", str(path) if path else "")
        if path:
            self._remember(path)
        info = ModelEntry.read(Path(path)) if path else None
        self.message.emit(f"Segmentation model: {info.name if info else 'bundled default'}", 5000)
        if self.models_dialog is not None:
            self.models_dialog.set_current(str(path) if path else None)

    def choose_model(self, path: str) -> bool:
        """Use ``path`` ("" = the bundled default) as chosen in Model → Models…, after a
        question when its own fine-tuning run found it not better than its base (the Improve
        dialog does not offer such a model; the list switched to it without a word)."""
        from dermview.gui import dialogs
        from dermview.model.weights import read_metadata

        try:
            ft = read_metadata(path).get("finetune") or {} if path else {}
        except Exception:  # noqa: BLE001 - use_model says what is wrong with the file
            ft = {}
        Btn = QtWidgets.QMessageBox.StandardButton
        if ft.get("improved") is False and dialogs.ask(
                self.models_dialog or self._parent_widget(), "Use model",
                f"{Path(path).name} was judged on its held-out labels when it was made: "
                f"{ft.get('verdict') or 'not better than the model it came from.'}\n\n"
                "Use it anyway?",
                Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
            return False
        self.use_model(path or None)
        return True

    def show_models(self) -> None:
        from dermview.gui.finetune_dialog import ModelsDialog

        current = self.segmenter.weights
        dlg = ModelsDialog(list_models(self.known_models()), current, self._parent_widget())
        dlg.use_requested.connect(self.choose_model)
        dlg.delete_requested.connect(self.delete_model)
        dlg.add_requested.connect(self.add_model_file)
        dlg.show()
        self.models_dialog = dlg

    def add_model_file(self, path: str | Path | None = None) -> bool:
        """List a segmentation model file trained elsewhere (asked for when None) among the
        models and remember it; refused, with the reason, when it cannot segment (tampered,
        its metadata missing, the lesion classifier). True when listed."""
        from dermview.gui import dialogs
        from dermview.model.weights import segmentation_weights_problem

        parent = self.models_dialog or self._parent_widget()
        if path is None:
            name, _ = QtWidgets.QFileDialog.getOpenFileName(
                parent, "Add model file", str(user_models_dir()),
                "dermview models (*.pt *.json)")
            if not name:
                return False
            path = name
        path = Path(path).with_suffix(".pt") if Path(path).suffix == ".json" else Path(path)
        problem = segmentation_weights_problem(path)
        info = ModelEntry.read(path) if problem is None else None
        if info is None:
            dialogs.error(parent, "Add model file", f"{path.name} was not added: "
                          f"{problem or 'it is not a segmentation model'}")
            return False
        self._remember(path)
        if self.models_dialog is not None:
            self.models_dialog.add_model(info)
        self.message.emit(f"Added model {info.name}: Use selected model to segment with it", 8000)
        return True

    def delete_model(self, path: str | Path) -> bool:
        """Delete a user-trained model's files after the user confirms; True when deleted.

        Refused for the model in use, and for the model that made the open image's unsaved
        mask (its sidecar names the model: save first)."""
        from dermview.gui import dialogs
        from dermview.model.weights import WeightsError, delete_user_model

        path = Path(path)
        info = ModelEntry.read(path)
        parent = self._parent_widget()
        why = ("it is the model in use: switch to another one first"
               if self.segmenter.weights and Path(self.segmenter.weights) == path else
               "the open image's unsaved mask was made with it: save or discard that first"
               if info is not None and self.doc.dirty
               and getattr(self.doc.model, "sha256", "") == info.sha256 else None)
        if why:
            dialogs.error(parent, "Delete model", f"{path.name} was not deleted: {why}.")
            return False
        Btn = QtWidgets.QMessageBox.StandardButton
        name = info.name if info else path.name
        if dialogs.ask(parent, "Delete model",
                       f"Delete the model “{name}” ({path}, its ONNX export and its "
                       "metadata)? Labels it made stay; their sidecars keep its name and "
                       "SHA-256.", Btn.Yes | Btn.Cancel, Btn.Cancel) != Btn.Yes:
            return False
        try:
            delete_user_model(path)
        except (WeightsError, OSError) as exc:
            dialogs.error(parent, "Delete model", f"{path.name} was not deleted: {exc}")
            return False
        known = [str(p) for p in self.known_models()]
        self.settings.set("models", json.dumps([p for p in known if Path(p) != path]))
        if self.models_dialog is not None:
            self.models_dialog.remove_model(path)
        self.message.emit(f"Deleted model {name}", 5000)
        return True

    def sidecar(self) -> dict[str, Any] | None:
        """``model_provenance`` of a label whose mask a user-trained model made, else None."""
        sha = getattr(self.doc.model, "sha256", "")
        if not sha:
            return None
        name = getattr(self.doc.model, "name", "")
        # two models can share weights (the no-training recipe is deterministic; before its
        # colour standardisation was saved with the weights, a new model even had its base's):
        # the one named as the label's model is the one, so that a label of the bundled model
        # is not marked as a user-trained one's and model_name and the mark agree
        same = sorted((i for i in list_models(self.known_models()) if i.sha256 == sha),
                      key=lambda i: i.name != name)
        if same and same[0].user_trained:
            info = same[0]  # its mark's parent, labels, trained: the case report's model line
            return {**(info.mark or {}), "user_trained": True, "name": info.name,
                    "file": info.path.name, "origin": info.origin}
        # the model was deleted since (or this is another machine): the label opened keeps
        # the mark it was saved with while its mask is still that model's
        saved = self.doc.label_meta or {}
        mark = saved.get("model_provenance")
        if isinstance(mark, dict) and mark.get("user_trained") and \
                saved.get("model_sha256") == sha:
            return mark
        return None
