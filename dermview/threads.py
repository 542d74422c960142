"""Thread policy: how many CPU threads a network and OpenCV may use, from the cores free now.

A thread pool sized to every core is fast only on an idle machine: when other programs hold
the cores, the pool's threads wait for each other at every layer and the forward pass gets
several times slower than on one thread. So the policy measures how busy the machine is
(CPU utilisation over a short window and the 1-minute load average, whichever is higher:
a machine counts as busy until both say otherwise) and gives the network only the cores
that are free, at least one.

```python
plan = plan_threads(jobs=None, pipelined=True)   # ThreadPlan(network=1, workers=1, opencv=1, ...)
plan.apply_opencv()                              # cap OpenCV's own pool
```

Nothing here imports torch or ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

#: Most intra-op threads given to one network: the bundled networks (0.5-1 GMAC at 256 px)
#: scale poorly past this; more cores go to preparing images in parallel instead.
MAX_NETWORK_THREADS = 4
#: Seconds of CPU-utilisation sampling behind :func:`busy_cores`.
SAMPLE_SECONDS = 0.05


def usable_cores() -> int:
    """CPU cores this process may run on (affinity mask and cgroup quota), at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def _cgroup_quota() -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` quota, or None when unlimited/unknown."""
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return float(quota) / float(period)
    except (ValueError, ZeroDivisionError):
        return None


def busy_cores(sample_s: float = SAMPLE_SECONDS) -> float:
    """Cores (0..usable) kept busy by other work: the higher of the CPU utilisation measured
    over ``sample_s`` seconds (while this thread sleeps) and the 1-minute load average."""
    cores = usable_cores()
    busy = 0.0
    try:
        import psutil

        busy = psutil.cpu_percent(interval=sample_s) / 100.0 * (os.cpu_count() or cores)
    except Exception:  # noqa: BLE001 - psutil missing or /proc unreadable: rely on loadavg
        pass
    with contextlib.suppress(AttributeError, OSError):  # no load average on Windows
        busy = max(busy, os.getloadavg()[0])
    return min(float(cores), max(0.0, busy))


def free_cores(sample_s: float = SAMPLE_SECONDS) -> int:
    """Whole cores free for this process now (at least 1: we run anyway)."""
    return max(1, int(usable_cores() - busy_cores(sample_s) + 0.5))


@dataclass(frozen=True)
class ThreadPlan:
    """How a job uses the CPU.

    Attributes:
        network: intra-op threads of the network (ONNX Runtime / torch), ≥ 1.
        workers: threads preparing images (decode, frame/hair removal) while the network
            runs; 0 = no pipeline, everything in the calling thread.
        opencv: threads of OpenCV's own pool (``cv2.setNumThreads``), ≥ 1.
        free: cores found free when the plan was made (or the ``jobs`` asked for).
        source: ``"auto"`` (measured) or ``"jobs"`` (the user said).
    """

    network: int
    workers: int
    opencv: int
    free: int
    source: str

    def apply_opencv(self) -> None:
        """Cap OpenCV's thread pool (process-wide) so it does not fight the network."""
        import cv2

        cv2.setNumThreads(self.opencv)


def split_threads(budget: int, pipelined: bool) -> tuple[int, int]:
    """``(network, workers)`` threads for a budget of cores.

    Pipelined: one preparing worker per two cores (at least one), the rest to the network
    (at most :data:`MAX_NETWORK_THREADS`); a budget of 1 is split 1 + 1, since preparing the
    next image while the network runs costs nothing extra. Not pipelined: all to the network.
    """
    budget = max(1, int(budget))
    if not pipelined:
        return min(budget, MAX_NETWORK_THREADS), 0
    workers = max(1, budget // 2)
    return max(1, min(budget - workers, MAX_NETWORK_THREADS)), workers


def plan_threads(jobs: int | None = None, pipelined: bool = False,
                 sample_s: float = SAMPLE_SECONDS) -> ThreadPlan:
    """The thread plan for a job.

    Args:
        jobs: cores the user allows (``--jobs``); ``None`` = the cores free now. ``jobs=1``
            with ``pipelined`` runs everything in one thread (no pipeline).
        pipelined: a batch that prepares images while the network runs.
        sample_s: seconds spent measuring the machine's load (when ``jobs`` is None).
    """
    if jobs is not None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        if pipelined and jobs == 1:
            return ThreadPlan(network=1, workers=0, opencv=1, free=1, source="jobs")
        network, workers = split_threads(jobs, pipelined)
        return ThreadPlan(network, workers, opencv=1 if pipelined else network, free=jobs,
                          source="jobs")
    free = free_cores(sample_s)
    network, workers = split_threads(free, pipelined)
    return ThreadPlan(network, workers, opencv=1 if pipelined else network, free=free,
                      source="auto")
