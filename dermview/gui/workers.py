"""Background work: preprocessing previews and segmentation, each on its own ``QThread``.

Both workers follow one pattern: the GUI thread calls :meth:`WorkerHost.submit`, which gives
the job a number and queues it to the worker's thread; the worker skips any job that is no
longer the latest (so fast slider moves and double clicks coalesce), checks for cancellation
between steps, and reports ``finished(job, result)`` or ``failed(job, message)``. The GUI
ignores reports of jobs that are not its current one, so Cancel takes effect at once even
though a running model step finishes in the background. :meth:`WorkerHost.shutdown` cancels,
stops the thread and waits for it: no thread outlives the window.

Torch is imported only inside :class:`SegmentWorker`, on the worker thread, so the window
appears without waiting for it. The loaded model stays cached (per device and weights file).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore

from dermview.errors import DermviewError

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a worker when its job was cancelled or superseded."""


class _Worker(QtCore.QObject):
    """Base worker living in a thread. Subclasses implement :meth:`work`."""

    finished = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, str)
    progress = QtCore.Signal(int, int, str)  # job, percent (-1 = busy), text

    def __init__(self) -> None:
        super().__init__()
        self.latest = 0  # highest job number submitted (written by the GUI thread)
        self.cancelled = 0  # jobs <= this are cancelled
        self.running = threading.Event()

    def check(self, job: int) -> None:
        """Raise :class:`Cancelled` if ``job`` is cancelled or no longer the latest."""
        if job <= self.cancelled or job != self.latest:
            raise Cancelled

    @QtCore.Slot(int, object)
    def run(self, job: int, payload: Any) -> None:
        if job <= self.cancelled or job != self.latest:
            return
        self.running.set()
        try:
            result = self.work(job, payload)
            self.check(job)
        except Cancelled:
            return
        except DermviewError as exc:
            self.failed.emit(job, str(exc))
            return
        except MemoryError:
            self.failed.emit(job, "Not enough memory for this image. Close other programs or "
                                  "use a smaller image.")
            return
        except Exception as exc:  # report, never kill the thread or the app
            log.exception("%s job %d failed", type(self).__name__, job)
            self.failed.emit(job, f"Unexpected error: {exc.__class__.__name__}: {exc}\n\n"
                                  "The details were written to the dermview log file.")
            return
        finally:
            self.running.clear()
        self.finished.emit(job, result)

    def work(self, job: int, payload: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


def preprocessed_display(pre: Any) -> dict[str, Any]:
    """Display material of a preprocessing result, coloured off the GUI thread: the image
    (downscaled above :data:`render.DISPLAY_SIDE`) and the frame and hair overlays."""
    from dermview.gui import render

    return {"image": render.downscale(pre.image, render.DISPLAY_SIDE),
            "frame": render.map_overlay(pre.frame_mask, render.FRAME, 120),
            "hair": render.map_overlay(pre.hair_mask, render.HAIR, 200)}


class PreviewWorker(_Worker):
    """Preprocesses an image (usually a ≤1024 px copy) with given parameters.

    Payload: ``(rgb, params)``. Result: ``(Preprocessed, params, seconds, display)`` with
    ``display`` from :func:`preprocessed_display`.
    """

    def work(self, job: int, payload: Any) -> Any:
        from dermview.preprocess import preprocess

        rgb, params = payload
        t0 = time.perf_counter()
        result = preprocess(rgb, params)
        seconds = time.perf_counter() - t0
        self.check(job)
        return result, params, seconds, preprocessed_display(result)


@dataclass(frozen=True)
class SegmentJob:
    """What to segment and how (built on the GUI thread, read on the worker's).

    Attributes:
        path: the image file (results for another image are dropped).
        rgb: ``uint8 (H, W, 3)`` image.
        params: preprocessing; ``FROM_MODEL`` = as the model was trained; ``None`` = none.
        device: ``auto``, ``cpu`` or ``cuda``.
        engine: ``auto``, ``onnx`` or ``torch`` (:mod:`dermview.model.engines`).
        weights: weights file, ``None`` = the bundled default.
        threshold: probability threshold in [0, 1]; ``None`` = the model's default.
        base_mask: the working mask when the job started (the undo patch is made against it).
        base_version: :attr:`Document.mask_version` at the start (stale-patch check).
        fill: opacity 0-255 of the filled mask overlay pre-rendered here.
        preprocessed: the full-size preview of this image when its parameters are ``params``.
        automatic: started by "Segment automatically on open", not by the user.
    """

    path: Path
    rgb: np.ndarray
    params: Any
    device: str = "auto"
    engine: str = "auto"
    weights: str | None = None
    threshold: float | None = None
    base_mask: np.ndarray | None = None
    base_version: int = -1
    fill: int = 110
    preprocessed: Any = None
    automatic: bool = False


@dataclass
class SegmentResult:
    """A finished :class:`SegmentJob`.

    Attributes:
        job: the job.
        result: :class:`dermview.segmentation.SegmentationResult` (prob, mask, threshold, ...).
        name, sha256, device, engine, default_threshold: the model that ran.
        patch: compact :class:`~dermview.editing.MaskPatch` ``base_mask`` → mask, or None.
        mask_alpha, heat: overlay buffers made off the GUI thread (see :mod:`render`).
        display: :func:`preprocessed_display` of the preprocessing, or None.
        confidence: estimated Jaccard of the mask with an expert's outline, in [0, 1].
        seconds: wall time of the job.
    """

    job: SegmentJob
    result: Any
    name: str
    sha256: str
    device: str
    engine: str
    default_threshold: float
    patch: Any
    mask_alpha: np.ndarray
    heat: np.ndarray
    display: dict[str, Any] | None
    confidence: float | None = None
    seconds: float = 0.0


class SegmentWorker(_Worker):
    """Loads the model once per device and segments full-resolution images.

    Payload: :class:`SegmentJob`; result: :class:`SegmentResult`.
    """

    cuda_checked = QtCore.Signal(bool, str)  # available, reason when not

    @QtCore.Slot()
    def probe(self) -> None:
        """Import torch in the background and report whether CUDA can be used."""
        try:
            from dermview.model.inference import cuda_available

            ok = cuda_available()
            reason = "" if ok else ("No CUDA GPU is available on this computer (or this PyTorch "
                                    "build has no CUDA support).")
        except Exception as exc:  # a broken torch install: CPU path will report it too
            ok, reason = False, f"PyTorch could not be loaded: {exc}"
        self.cuda_checked.emit(ok, reason)

    def work(self, job_id: int, job: SegmentJob) -> SegmentResult:
        t0 = time.perf_counter()
        self.progress.emit(job_id, 5, "Loading the model…")
        from dermview import editing
        from dermview.confidence import estimate_jaccard
        from dermview.gui import render
        from dermview.model.inference import Segmenter
        from dermview.segmentation import segment_image

        self.check(job_id)
        seg = Segmenter.load(job.weights, job.device or "auto", engine=job.engine or "auto")
        self.check(job_id)
        self.progress.emit(job_id, 30, "Removing frame and hair…" if job.params is not None
                           else "Segmenting…")
        result = segment_image(job.rgb, seg, job.params, job.threshold,
                               preprocessed=job.preprocessed)
        self.check(job_id)
        self.progress.emit(job_id, 85, "Preparing the overlay…")
        patch = None
        if job.base_mask is not None and job.base_mask.shape == result.mask.shape:
            patch = editing.diff_patch(job.base_mask, result.mask)
            patch = patch.compact() if patch is not None else None
        out = SegmentResult(
            job=job, result=result, name=seg.name, sha256=seg.weights_sha256, device=seg.device,
            engine=seg.engine_name, default_threshold=seg.threshold, patch=patch,
            mask_alpha=render.mask_alpha(result.mask, job.fill),
            heat=render.heatmap(result.prob),
            display=(preprocessed_display(result.preprocessed)
                     if result.preprocessed is not None else None),
            confidence=round(estimate_jaccard(result.prob, result.mask), 4))
        self.check(job_id)
        self.progress.emit(job_id, 100, "Done")
        out.seconds = time.perf_counter() - t0
        return out


class WorkerHost(QtCore.QObject):
    """Owns a worker and its thread; the GUI-side handle.

    Signals mirror the worker's but only for the current job:
        finished(result), failed(message), progress(percent, text), busy_changed(bool).
    """

    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    progress = QtCore.Signal(int, str)
    busy_changed = QtCore.Signal(bool)
    _submit = QtCore.Signal(int, object)

    def __init__(self, worker: _Worker, name: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.thread = QtCore.QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self._submit.connect(worker.run, QtCore.Qt.ConnectionType.QueuedConnection)
        worker.finished.connect(self._on_finished, QtCore.Qt.ConnectionType.QueuedConnection)
        worker.failed.connect(self._on_failed, QtCore.Qt.ConnectionType.QueuedConnection)
        worker.progress.connect(self._on_progress, QtCore.Qt.ConnectionType.QueuedConnection)
        self.job = 0
        self.active = False
        self._closed = False

    def start(self) -> None:
        if not self.thread.isRunning() and not self._closed:
            self.thread.start()

    @property
    def busy(self) -> bool:
        """A job is pending or running that the GUI still waits for."""
        return self.active

    def submit(self, payload: Any) -> int:
        """Queue a job (supersedes any earlier one); returns its number."""
        if self._closed:
            return 0
        self.start()
        self.job += 1
        self.worker.latest = self.job
        self._set_active(True)
        self._submit.emit(self.job, payload)
        return self.job

    def cancel(self) -> None:
        """Cancel the current job: the GUI stops waiting at once; the worker stops at its next
        check and its result is dropped."""
        self.worker.cancelled = self.job
        self._set_active(False)

    def _set_active(self, value: bool) -> None:
        if value != self.active:
            self.active = value
            self.busy_changed.emit(value)

    def _on_finished(self, job: int, result: Any) -> None:
        if job == self.job and self.active:
            self._set_active(False)
            self.finished.emit(result)

    def _on_failed(self, job: int, message: str) -> None:
        if job == self.job and self.active:
            self._set_active(False)
            self.failed.emit(message)

    def _on_progress(self, job: int, percent: int, text: str) -> None:
        if job == self.job and self.active:
            self.progress.emit(percent, text)

    def invoke(self, slot: str) -> None:
        """Run a no-argument slot of the worker on its thread (e.g. ``"probe"``)."""
        self.start()
        QtCore.QMetaObject.invokeMethod(self.worker, slot, QtCore.Qt.ConnectionType.QueuedConnection)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel, stop the thread's event loop and wait for it (the running step, if any,
        finishes first). Returns True when the thread has ended."""
        self._closed = True
        self.cancel()
        if not self.thread.isRunning():
            return True
        self.thread.quit()
        return self.thread.wait(timeout_ms)
