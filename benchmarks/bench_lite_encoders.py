"""CPU time of one crop through each frozen EfficientNet-Lite encoder of the classifier levers
(``training.classifier_levers.TapEncoder`` exported to ONNX, ONNX Runtime, one thread, batch of
one): what a Lite1 / Lite2 lesion crop would add to ``Classifier.predict`` against the 40 ms
per-image target (the shipped model runs two Lite0 160-px crops).

    OMP_NUM_THREADS=1 flock /tmp/dermview-timing.lock nice -n 5 python \\
        benchmarks/bench_lite_encoders.py --json docs/results/bench_lite_encoders.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: (encoder, crop side in px) measured.
SETTINGS = (("lite0", 160), ("lite0", 224), ("lite1", 160), ("lite1", 192), ("lite1", 240),
            ("lite2", 160), ("lite2", 260))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default="")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    import torch

    from training.classifier_levers import onnx_runner

    torch.set_num_threads(1)
    rows = []
    load0 = os.getloadavg()
    for enc, size in SETTINGS:
        run = onnx_runner(size, threads=1, encoder=enc)
        x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
        for _ in range(5):
            run(x)
        cpu, wall = [], []
        for _ in range(args.repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            run(x)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        rows.append({"encoder": enc, "size": size,
                     "cpu_ms": 1000 * statistics.median(cpu),
                     "wall_ms": 1000 * statistics.median(wall)})
        print(f"{enc} {size}px: {rows[-1]['cpu_ms']:.1f} ms CPU, {rows[-1]['wall_ms']:.1f} ms wall",
              flush=True)
    out = {"what": "one crop through the encoder (all taps and the head), ONNX Runtime, "
           "1 thread, batch 1, median of repeats", "repeats": args.repeats, "results": rows,
           "loadavg_before": list(load0), "loadavg_after": list(os.getloadavg())}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
