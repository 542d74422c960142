"""CPU time of one crop through each frozen EfficientNet-Lite encoder of the classifier levers
(``training.classifier_levers.TapEncoder`` exported to ONNX, ONNX Runtime, one thread, batch of
one): what a Lite1 / Lite2 lesion crop would add to ``Classifier.predict`` against the 40 ms
per-image target (the shipped model runs two Lite0 160-px crops). With ``--data`` and
``--labels``, also the CPU time per validation image of the hand-crafted lesion cues
(``training.classifier_lesion_features.lesion_cues``) and of ``analyze_lesion`` alone.

    OMP_NUM_THREADS=1 flock /tmp/dermview-timing.lock nice -n 5 python \\
        benchmarks/bench_lite_encoders.py --json docs/results/bench_lite_encoders.json \\
        --data ../shared/data/derm --labels ../shared/data/labels/diagnosis.csv
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


def time_cues(data: str, labels: str, n: int) -> dict[str, float]:
    """Median CPU ms per image of ``lesion_cues`` and ``analyze_lesion`` on the first ``n``
    validation images (expert masks; ISIC 256-px and PH2 512-px copies)."""
    from dermview.analysis import analyze_lesion
    from dermview.io import load_image, load_mask
    from training.classifier_data import labelled_split
    from training.classifier_lesion_features import lesion_cues

    _, _, val, _ = labelled_split(data, labels)
    ims = []
    for p in val[:n]:
        rgb = load_image(p.image)
        ims.append((rgb, load_mask(p.mask, shape=rgb.shape[:2]).astype(bool)))
    lesion_cues(*ims[0])  # warm-up
    out: dict[str, float] = {"images": len(ims)}
    for name, fn in (("lesion_cues_cpu_ms", lesion_cues), ("analyze_lesion_cpu_ms",
                                                           analyze_lesion)):
        ts = []
        for rgb, m in ims:
            c0 = time.process_time()
            fn(rgb, m)
            ts.append(time.process_time() - c0)
        out[name] = 1000 * statistics.median(ts)
        out[name.replace("_cpu_ms", "_mean_cpu_ms")] = 1000 * statistics.fmean(ts)
        print(f"{name}: median {out[name]:.1f} ms, mean "
              f"{out[name.replace('_cpu_ms', '_mean_cpu_ms')]:.1f} ms", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default="")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--data", default="")
    ap.add_argument("--labels", default="")
    ap.add_argument("--images", type=int, default=60, help="validation images for the cues")
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
    cues = time_cues(args.data, args.labels, args.images) if args.data else None
    out = {"what": "one crop through the encoder (all taps and the head), ONNX Runtime, "
           "1 thread, batch 1, median of repeats", "repeats": args.repeats, "results": rows,
           "lesion_cues": cues,
           "loadavg_before": list(load0), "loadavg_after": list(os.getloadavg())}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
