"""Pipelined batch: prepare the next items while the current one is processed, and finish
(write) results behind it, with bounded queues so that memory stays flat.

```python
run_pipeline(paths, prepare=load_and_preprocess, process=run_network, finish=write_files,
             on_error=report, workers=1, depth=4)
```

``prepare`` runs in ``workers`` threads, ``process`` in the calling thread (the network:
ONNX Runtime and torch release the GIL while they compute), ``finish`` in one writer thread.
At most ``depth`` items are prepared ahead and at most ``depth`` results wait to be written.
Items are processed and finished in input order. An exception in any stage is passed to
``on_error(item, exc)`` and the batch goes on; ``KeyboardInterrupt`` stops it. With
``workers=0`` everything runs one item at a time in the calling thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_pipeline(items: Iterable[T], prepare: Callable[[T], Any], process: Callable[[Any], Any],
                 finish: Callable[[Any], Any], on_error: Callable[[T, BaseException], None],
                 on_done: Callable[[T, Any], None] | None = None, workers: int = 1,
                 depth: int = 4) -> None:
    """Run ``finish(process(prepare(item)))`` for every item (see the module docstring).

    Args:
        on_done: called in the calling thread with ``(item, finish's return value)`` after
            each item finished without error (progress bars, counters).
        workers: threads for ``prepare``; 0 = no pipeline.
        depth: items prepared ahead / results waiting to be written (≥ 1).
    """
    done = on_done or (lambda _item, _value: None)
    if workers <= 0:
        for item in items:
            try:
                value = finish(process(prepare(item)))
            except Exception as exc:  # one bad item must not stop a batch
                on_error(item, exc)
                continue
            done(item, value)
        return
    depth = max(1, int(depth))
    source = iter(items)
    with ThreadPoolExecutor(workers, thread_name_prefix="prepare") as pool, \
            ThreadPoolExecutor(1, thread_name_prefix="finish") as writer:
        ahead: deque[tuple[T, Future]] = deque()
        behind: deque[tuple[T, Future]] = deque()

        def top_up() -> None:
            while len(ahead) < depth:
                try:
                    item = next(source)
                except StopIteration:
                    return
                ahead.append((item, pool.submit(prepare, item)))

        def drain(limit: int) -> None:
            while behind and (len(behind) > limit or behind[0][1].done()):
                item, fut = behind.popleft()
                try:
                    value = fut.result()
                except Exception as exc:
                    on_error(item, exc)
                    continue
                done(item, value)

        try:
            top_up()
            while ahead:
                item, fut = ahead.popleft()
                top_up()
                try:
                    result = process(fut.result())
                except Exception as exc:
                    on_error(item, exc)
                    continue
                behind.append((item, writer.submit(finish, result)))
                drain(depth)
            drain(0)
        except BaseException:
            for _, fut in ahead:
                fut.cancel()
            raise
