"""Where the time of one ``finetune()`` run goes: wall and CPU seconds per phase (preparing,
scoring the base model, augmenting, training, scoring the new model, writing).

    python benchmarks/profile_finetune.py --data /work/shared/data/derm --n 25 --time-limit 2 --json docs/results/profile_finetune.json

The labels: the first ``--n`` pool images of ``bench_finetune.split_target`` (ISIC 2017
validation, seed 0). ``--time-limit`` in CPU minutes (``clock="cpu"``), one torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=25)
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from bench_finetune import make_folder, split_target

    from dermview.finetune import FinetuneSettings, finetune

    pool, _, _, _ = split_target(args.data, "isic2017", 0, 40)
    marks: list[tuple[str, float, float]] = []

    def progress(done: int, total: int, phase: str) -> None:
        if not marks or marks[-1][0] != phase:
            marks.append((phase, time.perf_counter(), time.process_time()))

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(pool[:args.n], Path(tmp))
        w0, c0 = time.perf_counter(), time.process_time()
        marks.append(("start", w0, c0))
        rep = finetune(folder, Path(tmp) / "ft.pt", device="cpu", progress=progress,
                       settings=FinetuneSettings(time_limit_min=args.time_limit, clock="cpu"))
        marks.append(("written", time.perf_counter(), time.process_time()))
    phases = [{"phase": a[0], "wall_s": round(b[1] - a[1], 1), "cpu_s": round(b[2] - a[2], 1)}
              for a, b in zip(marks, marks[1:], strict=False)]
    steps = rep.meta["training"]["steps_per_run"]
    train = [p for p in phases if p["phase"].startswith("training")]
    res = {"command": "python benchmarks/profile_finetune.py " + " ".join(sys.argv[1:]),
           "n": args.n, "time_limit_cpu_min": args.time_limit, "steps_per_run": steps,
           "cpu_s_per_step": round(sum(p["cpu_s"] for p in train) / max(steps, 1), 2),
           "phases": phases, "verdict": rep.verdict,
           "load_avg_start": load0, "load_avg_end": os.getloadavg()}
    for p in phases:
        print(f"{p['phase']:40s} wall {p['wall_s']:7.1f} s  CPU {p['cpu_s']:7.1f} s")
    print(f"{steps} steps, {res['cpu_s_per_step']} CPU s per step; {rep.verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
