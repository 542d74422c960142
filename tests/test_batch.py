"""Pipelined batch: order, errors per item, bounded look-ahead, serial mode."""

from __future__ import annotations

import threading
import time

import pytest

from dermview.batch import run_pipeline


def _run(items, workers, fail_at=(), depth=3):
    log: dict[str, list] = {"done": [], "errors": [], "threads": set()}
    lock = threading.Lock()
    state = {"ahead": 0, "max_ahead": 0}

    def prepare(i):
        if ("prepare", i) in fail_at:
            raise ValueError(f"bad {i}")
        time.sleep(0.001)
        with lock:
            state["ahead"] += 1
            state["max_ahead"] = max(state["max_ahead"], state["ahead"])
        log["threads"].add(threading.current_thread().name)
        return i

    def process(i):
        with lock:
            state["ahead"] -= 1
        if ("process", i) in fail_at:
            raise MemoryError
        return i * 10

    def finish(v):
        if ("finish", v // 10) in fail_at:
            raise OSError("disk full")
        return v + 1

    run_pipeline(items, prepare, process, finish,
                 on_error=lambda item, exc: log["errors"].append((item, type(exc).__name__)),
                 on_done=lambda item, value: log["done"].append((item, value)),
                 workers=workers, depth=depth)
    return log, state


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_results_in_order_and_errors_reported(workers):
    fails = {("prepare", 2), ("process", 5), ("finish", 7)}
    log, _ = _run(range(20), workers, fails)
    assert log["done"] == [(i, i * 10 + 1) for i in range(20) if i not in (2, 5, 7)]
    assert sorted(log["errors"]) == [(2, "ValueError"), (5, "MemoryError"), (7, "OSError")]


def test_pipelined_stages_run_in_other_threads():
    log, state = _run(range(30), workers=2, depth=3)
    assert all(name.startswith("prepare") for name in log["threads"])
    assert state["max_ahead"] <= 3 + 1  # bounded: memory stays flat over any batch size
    serial, _ = _run(range(5), workers=0)
    assert serial["threads"] == {threading.current_thread().name}


def test_interrupt_stops_the_batch():
    seen = []

    def process(i):
        if i == 3:
            raise KeyboardInterrupt
        seen.append(i)
        return i

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(range(100), lambda i: i, process, lambda v: v,
                     on_error=lambda *_: None, workers=2, depth=2)
    assert seen == [0, 1, 2]
