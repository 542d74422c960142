"""Thread policy: the network gets the cores that are free, at least one; --jobs is obeyed."""

from __future__ import annotations

import pytest

from dermview import threads
from dermview.threads import ThreadPlan, plan_threads, split_threads


def test_split_threads():
    assert split_threads(1, pipelined=False) == (1, 0)
    assert split_threads(3, pipelined=False) == (3, 0)
    assert split_threads(64, pipelined=False) == (threads.MAX_NETWORK_THREADS, 0)
    assert split_threads(1, pipelined=True) == (1, 1)  # overlap costs nothing
    assert split_threads(2, pipelined=True) == (1, 1)
    assert split_threads(3, pipelined=True) == (2, 1)
    assert split_threads(8, pipelined=True) == (4, 4)
    assert split_threads(32, pipelined=True) == (threads.MAX_NETWORK_THREADS, 16)


def test_jobs_are_obeyed():
    assert plan_threads(1, pipelined=True) == ThreadPlan(1, 0, 1, 1, "jobs")  # serial
    assert plan_threads(2, pipelined=True) == ThreadPlan(1, 1, 1, 2, "jobs")
    assert plan_threads(4, pipelined=False) == ThreadPlan(4, 0, 4, 4, "jobs")
    with pytest.raises(ValueError):
        plan_threads(0)


@pytest.mark.parametrize("cores,busy,network", [
    (2, 0.0, 2), (2, 0.8, 1), (2, 2.0, 1), (2, 9.4, 1), (8, 1.0, 4), (8, 6.6, 1), (1, 0.0, 1),
])
def test_auto_plan_follows_the_free_cores(monkeypatch, cores, busy, network):
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0: min(float(cores), busy))
    plan = plan_threads(None, pipelined=False)
    assert plan.network == network and plan.source == "auto" and plan.opencv == network
    piped = plan_threads(None, pipelined=True)
    assert piped.network >= 1 and piped.workers >= 1 and piped.opencv == 1
    assert piped.network + piped.workers <= max(2, cores)


def test_busy_machine_means_one_network_thread(monkeypatch):
    """Whichever measure says busy wins: a high load average alone is enough."""
    import os

    import psutil

    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 0.0)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 3.0, 2.0))
    assert threads.busy_cores() == 2.0
    assert plan_threads().network == 1


def test_measurements_are_in_range():
    n = threads.usable_cores()
    assert n >= 1
    assert 0.0 <= threads.busy_cores(0.01) <= n
    assert 1 <= threads.free_cores(0.01) <= n


def test_opencv_cap():
    import cv2

    before = cv2.getNumThreads()
    try:
        ThreadPlan(1, 1, 1, 2, "jobs").apply_opencv()
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)
