"""Segmentation → "Segment all unlabelled images…": the model on every worklist image that
has no label yet, in a worker thread, each mask saved as an unreviewed model label (with its
confidence and probability map, as ``dermview segment --sidecar --save-prob`` writes them:
:func:`dermview.model_labels.segment_to_label`).

A label that exists is never replaced, nor the open image's unsaved work: the batch is for
the images nobody has looked at. The worklist shows each new mask as it is written; Cancel
(or Esc) stops after the image being segmented, and the masks written so far stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from dermview.errors import DermviewError, ImageReadError, WriteError
from dermview.gui.dialogs import ask
from dermview.gui.document import Document
from dermview.gui.workers import WorkerHost, _Worker
from dermview.gui.worklist import Worklist
from dermview.wording import counted

Btn = QtWidgets.QMessageBox.StandardButton


@dataclass(frozen=True)
class BatchJob:
    """What to segment and with what (the settings Segment uses now).

    Attributes:
        items: ``(image, labels folder or None = labels/ beside it)`` per image.
        weights, device, engine: the model (None / "auto" = the bundled default, any device).
        params: preprocessing (PreprocessParams, None = none, ``"model"`` = the model's own).
        threshold: probability threshold in [0, 1] (None: the model's).
    """

    items: tuple[tuple[Path, Path | None], ...]
    weights: str | None = None
    device: str = "auto"
    engine: str = "auto"
    params: Any = "model"
    threshold: float | None = None


@dataclass
class BatchOutcome:
    """Images written and skipped (with a one-line reason), and the wall time in s."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    #: why a labels folder could not be written (its images were skipped, not segmented)
    unwritable: dict[Path, str] = field(default_factory=dict)
    seconds: float = 0.0


def time_left(seconds: float) -> str:
    """``"about 40 s left"`` / ``"about 3 min left"`` for an estimate in seconds."""
    if seconds < 7.5:  # "about 5 s left" at 0.4 s from the end read as a stall
        return "a few seconds left"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5:.0f} s left"
    return f"about {round(seconds / 60):.0f} min left"


class Unreadable(str):
    """The reason an image was skipped because it cannot be read (the worklist marks it)."""


class BatchSegmentWorker(_Worker):
    """Runs a :class:`BatchJob` image by image (cancellable between images).

    Signals (besides the base worker's):
        item_done(job, image, WrittenLabel or reason str): one image written or skipped.
    """

    item_done = QtCore.Signal(int, object, object)

    def work(self, job_id: int, job: BatchJob) -> BatchOutcome:
        from dermview.labels import label_paths
        from dermview.model.inference import Segmenter
        from dermview.model_labels import segment_to_label

        t0 = time.perf_counter()
        self.progress.emit(job_id, 0, "Loading the model…")
        seg = Segmenter.load(job.weights, job.device or "auto", engine=job.engine or "auto")
        out = BatchOutcome()
        n = len(job.items)
        t_first = time.perf_counter()  # the model is loaded: the images' pace starts here
        for i, (image, folder) in enumerate(job.items):
            self.check(job_id)
            left = (time.perf_counter() - t_first) / i * (n - i) if i else None
            self.progress.emit(job_id, int(100 * i / n), f"Segmenting {image.name} ({i + 1} of "
                               f"{n}{'' if left is None else ', ' + time_left(left)})")
            target = label_paths(image, folder)[0].parent
            if target in out.unwritable:  # read-only: each image took its whole run to fail
                out.skipped.append((image, out.unwritable[target]))
                self.item_done.emit(job_id, image, out.unwritable[target])
                continue
            try:
                written = segment_to_label(image, seg, job.params, job.threshold, folder)
            except WriteError as exc:
                reason = out.unwritable.setdefault(target, str(exc))
            except ImageReadError as exc:
                reason = Unreadable(exc)
            except DermviewError as exc:
                reason = str(exc)
            except MemoryError:
                reason = "not enough memory for this image"
            else:
                out.written.append(image)
                self.item_done.emit(job_id, image, written)
                continue
            out.skipped.append((image, reason))
            self.item_done.emit(job_id, image, reason)
        self.progress.emit(job_id, 100, "Done")
        out.seconds = time.perf_counter() - t0
        return out


class BatchController(QtCore.QObject):
    """Starts, follows and cancels "Segment all unlabelled images".

    Signals:
        progress(int, str): percent and what is being done (for the status bar).
        busy_changed(bool): a batch is running.
        message(str, int): a status-bar message and its duration in ms.
        error(str, str): a message box (title, text).
        reopen_requested(object): the open image got a label while it had no unsaved
            changes: open it again to show the label.
    """

    progress = QtCore.Signal(int, str)
    busy_changed = QtCore.Signal(bool)
    message = QtCore.Signal(str, int)
    error = QtCore.Signal(str, str)
    reopen_requested = QtCore.Signal(object)

    def __init__(self, doc: Document, worklist: Worklist,
                 labels_dir_for: Callable[[Path], Path | None],
                 settings: Callable[[], dict[str, Any]], window: QtWidgets.QWidget) -> None:
        """``settings()`` gives the model settings of :class:`BatchJob` (weights, device,
        engine, params, threshold) Segment uses now."""
        super().__init__(window)
        self.doc, self.worklist, self.window = doc, worklist, window
        self.labels_dir_for, self.settings = labels_dir_for, settings
        self.host = WorkerHost(BatchSegmentWorker(), "dermview-batch", self)
        self.host.worker.item_done.connect(self._on_item, QtCore.Qt.ConnectionType.QueuedConnection)
        self.host.finished.connect(self._on_finished)
        self.host.failed.connect(lambda text: self.error.emit("Segment all failed", text))
        self.host.progress.connect(self.progress)
        self.host.busy_changed.connect(self.busy_changed)
        self._total = 0
        self._done = 0
        self._job = 0  # the batch that :attr:`_done` counts
        self._stopping = False  # cancelled: its image in progress may still be written

    @property
    def busy(self) -> bool:
        return self.host.busy

    def todo(self) -> list[Path]:
        """The worklist images without a label, but not the open image while it has unsaved
        changes (its work is the user's)."""
        wl = self.worklist
        return [p for i, p in enumerate(wl.paths) if wl.status(i) == "new"
                and not (self.doc.dirty and p == self.doc.path)]

    def start(self) -> bool:
        """Ask, then segment :meth:`todo` in the background. False when nothing started."""
        if self.busy:
            self.message.emit("Segment all is running already (Esc cancels it)", 5000)
            return False
        images = self.todo()
        if not self.worklist.paths:
            self.message.emit("Open a folder first (File → Open folder…): Segment all works "
                              "on the worklist", 6000)
            return False
        if not images:
            self.message.emit("Every image of the worklist has a label already: nothing to "
                              "segment", 6000)
            return False
        items = tuple((p, self.labels_dir_for(p)) for p in images)
        folders = {folder for _p, folder in items}
        one = len(images) == 1
        where = (f"labels/ beside {'it' if one else 'each image'}" if folders == {None} else
                 str(next(iter(folders))) if len(folders) == 1 else "their labels folders")
        masks = ("its mask as an unreviewed model mask" if one else
                 "their masks as unreviewed model masks")
        text = (f"Segment {counted(len(images), 'image')} without a label and save {masks} "
                f"in {where}?\n\nLabels that exist are never replaced. The worklist "
                "shows each mask as it is written (View → Sort worklist puts the least "
                "confident first); Esc cancels and keeps the masks written so far.")
        if ask(self.window, "Segment all unlabelled images", text,
               Btn.Ok | Btn.Cancel, Btn.Ok) != Btn.Ok:
            return False
        job = BatchJob(items=items, **self.settings())
        self._total, self._done, self._stopping = len(images), 0, False
        self._job = self.host.submit(job)
        return True

    def start_or_stop(self) -> None:
        """The Segment panel's button: start a batch, or stop the one running."""
        if self.busy:
            self.cancel()
        else:
            self.start()

    def cancel(self) -> None:
        if self.busy:
            self.host.cancel()
            self._stopping = True
            self._say_cancelled()

    def _say_cancelled(self) -> None:
        self.message.emit(f"Segment all cancelled: {counted(self._done, 'mask')} written "
                          "are kept", 8000)

    def shutdown(self) -> None:
        self.host.shutdown()

    def _on_item(self, job: int, image: Path, written: Any) -> None:
        # Written files are real whatever happened to the job since: always show them.
        if isinstance(written, Unreadable):
            # Segment all said "skipped (corrupt.jpg is truncated)" and the worklist "new"
            self.worklist.mark(image, "unreadable")
        if isinstance(written, str):
            return
        if job == self._job:
            self._done += 1
            if self._stopping:  # the image in progress at Esc was finished and kept
                self._say_cancelled()
        self.worklist.set_confidence(image, written.confidence)
        if image == self.doc.path and not self.doc.dirty and not self.doc.mask.any():
            self.reopen_requested.emit(image)

    def _on_finished(self, out: BatchOutcome) -> None:
        self.worklist.resort()  # least confident first, if so sorted: now there are masks
        n = len(out.written)
        each = out.seconds / n if n else 0.0
        per = (f" in {out.seconds:.0f} s ({each:.{1 if each >= 0.095 else 2}f} s per image)"
               if n else "")
        text = f"Segmented {counted(n, 'image')}{per}"
        if out.skipped:
            first, reason = out.skipped[0]
            text += f"; {len(out.skipped)} skipped ({first.name}: {reason.rstrip('.')})"
        self.message.emit(text + (". The worklist's 'Unreviewed model masks' lists them."
                                  if n else "."), 15000)
        if out.unwritable:
            # a status-bar line, gone in 15 s, said "Segmented 0 images; 7 skipped (…)"
            self.error.emit("Masks not saved", "\n".join(out.unwritable.values()) +
                            "\n\nChoose a folder you can write to (File → Labels folder…), "
                            "then run Segment all again.")
