"""Worker lifecycle (dermview.gui.workers) with small fake jobs: coalescing, cancel, errors,
shutdown leaves no thread running."""

from __future__ import annotations

import os
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from dermview.errors import ImageReadError  # noqa: E402
from dermview.gui.workers import Cancelled, WorkerHost, _Worker  # noqa: E402


class SlowWorker(_Worker):
    """Sleeps ``payload`` seconds in small steps (checking for cancellation), returns it; a
    payload of "bad"/"boom" raises a project / unexpected error."""

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[int] = []
        self.release = threading.Event()

    def work(self, job, payload):
        self.ran.append(job)
        if payload == "bad":
            raise ImageReadError("x.jpg is damaged")
        if payload == "boom":
            raise RuntimeError("kaputt")
        end = time.monotonic() + payload
        while time.monotonic() < end:
            self.check(job)
            time.sleep(0.005)
        return payload


@pytest.fixture
def host(qtbot):
    h = WorkerHost(SlowWorker(), "test-worker")
    yield h
    assert h.shutdown(10_000)
    assert not h.thread.isRunning()


def test_latest_job_wins_and_stale_jobs_are_skipped(host, qtbot):
    results = []
    host.finished.connect(results.append)
    for i in range(5):
        host.submit(0.05 + i / 100)
    qtbot.waitUntil(lambda: not host.busy, timeout=5000)
    qtbot.wait(100)
    assert results == [0.09]
    assert len(host.worker.ran) <= 2  # the first may have started; the middle ones never run


def test_cancel_drops_the_result_at_once(host, qtbot):
    results = []
    host.finished.connect(results.append)
    host.submit(0.3)
    qtbot.waitUntil(lambda: host.worker.running.is_set(), timeout=5000)
    host.cancel()
    assert not host.busy  # the GUI stops waiting immediately
    qtbot.waitUntil(lambda: not host.worker.running.is_set(), timeout=5000)
    qtbot.wait(50)
    assert results == []


def test_errors_become_messages_without_traceback(host, qtbot):
    messages = []
    host.failed.connect(messages.append)
    with qtbot.waitSignal(host.failed, timeout=5000):
        host.submit("bad")
    assert messages[-1] == "x.jpg is damaged"
    with qtbot.waitSignal(host.failed, timeout=5000):
        host.submit("boom")
    assert "RuntimeError: kaputt" in messages[-1] and "Traceback" not in messages[-1]
    # The worker thread survives both.
    with qtbot.waitSignal(host.finished, timeout=5000) as blocker:
        host.submit(0.01)
    assert blocker.args == [0.01]


def test_shutdown_while_running_waits_for_the_step(qtbot):
    h = WorkerHost(SlowWorker(), "test-worker")
    h.submit(0.2)
    qtbot.waitUntil(lambda: h.worker.running.is_set(), timeout=5000)
    t0 = time.monotonic()
    assert h.shutdown(10_000)
    assert not h.thread.isRunning()
    assert time.monotonic() - t0 < 2.0  # the cancelled job stopped at its next check
    assert h.submit(1.0) == 0  # a closed host takes no new work


def test_cancelled_exception_is_internal():
    w = SlowWorker()
    w.latest = 2
    with pytest.raises(Cancelled):
        w.check(1)
