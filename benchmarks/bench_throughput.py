"""``dermview segment`` throughput as a user runs it: images/s on a folder of mixed 256-512-px
images, idle and with two busy-loop processes running, for the default settings and for
fixed thread settings; and resident memory over a 500-image run.

    python benchmarks/bench_throughput.py --data ../shared/data/derm --json docs/results/bench_throughput.json

Images: the validation split of ``training.data`` (unseen by the model), each resized so
that its longer side is a seeded random 256-512 px, written as JPEG to a temporary folder.
Every configuration is a fresh ``python -m dermview segment FOLDER --out DIR [flags]``
process (``OMP_NUM_THREADS`` and friends removed from its environment, as a user's shell
has them); time = wall time of the whole command (start-up and model load included) and the
command's own images/s line. The busy condition starts two ``while True: pass`` processes
before its runs and stops them after. Configurations run interleaved within a condition,
``--repeats`` times; ratios compare runs of the same process of this script. The machine's
load average is recorded before each condition: it is shared, so compare ratios, not
absolute numbers, across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: name -> extra arguments of ``dermview segment``.
CONFIGS: dict[str, list[str]] = {
    "default": [],
    "jobs_1": ["--jobs", "1"],  # one thread, one image at a time
    "jobs_2": ["--jobs", "2"],  # network 1 thread + 1 preparing thread
    "jobs_3": ["--jobs", "3"],  # network 2 threads + 1 preparing thread
    "torch_jobs_1": ["--engine", "torch", "--jobs", "1"],  # before: torch eager, 1 thread
}
THREAD_CONFIGS = ("jobs_1", "jobs_2", "jobs_3")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def make_images(data: Path, folder: Path, count: int, seed: int = 0) -> list[str]:
    """Write ``count`` validation images (cycled if the split is smaller) with the longer
    side drawn from 256-512 px; returns their names."""
    import cv2

    from dermview.io import load_image
    from training.data import read_pairs, split_pairs

    _, val = split_pairs(read_pairs(data))
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        pair = val[i % len(val)]
        rgb = load_image(pair.image)
        side = rng.randint(256, 512)
        h, w = rgb.shape[:2]
        scale = side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(rgb, size, interpolation=interp)
        name = f"{i:04d}_{pair.id}.jpg"
        cv2.imwrite(str(folder / name), small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        names.append(name)
    return names


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _THREAD_VARS}


def run_segment(images: Path, out: Path, extra: list[str],
                sample_rss: bool = False) -> dict:
    """One ``dermview segment`` process; wall seconds, its own images/s, and (optionally)
    resident memory samples ``(images written, MB)``."""
    import psutil

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "dermview", "segment", str(images), "--out", str(out), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=_env(), cwd=ROOT)
    samples: list[tuple[int, float]] = []
    try:
        if sample_rss:
            ps = psutil.Process(proc.pid)
            while proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    rss = ps.memory_info().rss / 1e6
                    done = sum(1 for _ in out.glob("*_segmentation.png")) if out.is_dir() else 0
                    samples.append((done, round(rss, 1)))
                time.sleep(0.25)
        stdout, _ = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stdout[-500:]}")
    line = next((ln for ln in stdout.splitlines() if ln.startswith("Segmented ")), "")
    rate = float(line.rsplit(", ", 1)[-1].split(" images/s")[0]) if "images/s" in line else None
    return {"wall_s": round(wall, 2), "loop_images_per_s": rate, "line": line,
            "rss": samples}


@contextlib.contextmanager
def busy_loops(n: int):
    """Start ``n`` busy-loop processes; stop them on exit (also on SIGTERM)."""
    import signal

    def stop(_sig, _frame):
        raise SystemExit(143)

    old = signal.signal(signal.SIGTERM, stop)
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(1.0)
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        signal.signal(signal.SIGTERM, old)


def bench_condition(images: Path, tmp: Path, count: int, repeats: int) -> dict:
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for r in range(repeats):
        order = list(CONFIGS) if r % 2 == 0 else list(reversed(CONFIGS))
        for name in order:
            runs[name].append(run_segment(images, tmp / f"out_{name}", CONFIGS[name]))
            print(f"  {name}: {runs[name][-1]['wall_s']} s  {runs[name][-1]['line']}",
                  file=sys.stderr, flush=True)
    out = {}
    for name, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        loop = [r["loop_images_per_s"] for r in rs if r["loop_images_per_s"]]
        out[name] = {"args": CONFIGS[name], "wall_s": round(wall, 2),
                     "images_per_s": round(count / wall, 2),
                     "loop_images_per_s": round(statistics.median(loop), 2) if loop else None,
                     "line": rs[-1]["line"], "runs_wall_s": [r["wall_s"] for r in rs]}
    best = max(THREAD_CONFIGS + ("default",), key=lambda n: out[n]["images_per_s"])
    out["summary"] = {
        "best_thread_setting": best,
        "default_vs_best": round(out[best]["images_per_s"] / out["default"]["images_per_s"], 3),
        "default_vs_jobs_1": round(out["default"]["images_per_s"] / out["jobs_1"]["images_per_s"], 3),
        "default_vs_torch_jobs_1": round(out["default"]["images_per_s"]
                                         / out["torch_jobs_1"]["images_per_s"], 3),
    }
    return out


def bench_memory(images: Path, names: list[str], tmp: Path, count: int) -> dict:
    """Resident memory of one default run over ``count`` images (the set repeated)."""
    big = tmp / "many"
    big.mkdir()
    for i in range(count):
        src = images / names[i % len(names)]
        os.link(src, big / f"r{i:04d}_{src.name}")
    r = run_segment(big, tmp / "out_many", [], sample_rss=True)
    rss = [mb for done, mb in r["rss"] if done >= 1]
    at = {}
    for mark in (50, count // 2, count):
        after = [mb for done, mb in r["rss"] if done >= mark]
        at[str(mark)] = after[0] if after else None
    return {"images": count, "wall_s": r["wall_s"], "images_per_s": round(count / r["wall_s"], 2),
            "peak_rss_mb": max(rss) if rss else None,
            "rss_mb_when_images_written": at,
            "peak_first_10pct_mb": max([mb for d, mb in r["rss"] if 1 <= d <= count // 10] or [0]),
            "peak_last_50pct_mb": max([mb for d, mb in r["rss"] if d >= count // 2] or [0]),
            "last_sample": ({"images_written": r["rss"][-1][0], "rss_mb": r["rss"][-1][1]}
                            if r["rss"] else None),
            "samples": len(r["rss"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="data folder (manifest.csv)")
    ap.add_argument("--images", type=int, default=199, help="images in the folder (≥ 150)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--busy", type=int, default=2, help="busy-loop processes (busy condition)")
    ap.add_argument("--memory-images", type=int, default=500, help="0 = skip the memory run")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    result: dict = {"command": "python benchmarks/bench_throughput.py " + " ".join(
                        sys.argv[1:] if argv is None else argv),
                    "cpu_count": os.cpu_count(), "images": args.images,
                    "repeats": args.repeats, "busy_loops": args.busy}
    with tempfile.TemporaryDirectory(prefix="dermview-bench-") as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "images"
        names = make_images(args.data, folder, args.images)
        if args.memory_images:  # first: the run the others' numbers do not depend on
            result["memory"] = bench_memory(folder, names, tmp, args.memory_images)
            _save(args.json, result)
        result["load_average_before_idle"] = [round(x, 2) for x in os.getloadavg()]
        result["idle"] = bench_condition(folder, tmp, args.images, args.repeats)
        _save(args.json, result)
        with busy_loops(args.busy):
            result["load_average_before_busy"] = [round(x, 2) for x in os.getloadavg()]
            result["busy"] = bench_condition(folder, tmp, args.images, args.repeats)
        result["load_average_after_busy"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    print(f"\n{args.images} images, 256-512 px, {os.cpu_count()} CPUs; load average before: "
          f"idle {result['load_average_before_idle'][0]}, busy "
          f"{result['load_average_before_busy'][0]} (incl. the {args.busy} busy loops)")
    print(f"{'config':<14}{'idle img/s':>12}{'busy img/s':>12}   args")
    for name in CONFIGS:
        i, b = result["idle"][name], result["busy"][name]
        print(f"{name:<14}{i['images_per_s']:>12.2f}{b['images_per_s']:>12.2f}   "
              f"{' '.join(CONFIGS[name]) or '(none)'}")
    for cond in ("idle", "busy"):
        s = result[cond]["summary"]
        print(f"{cond}: best thread setting {s['best_thread_setting']} "
              f"({s['default_vs_best']:.3f}× the default; target ≤ 1.1), default "
              f"{s['default_vs_torch_jobs_1']:.2f}× torch on 1 thread")
    if "memory" in result:
        m = result["memory"]
        print(f"memory: {m['images']} images, peak RSS {m['peak_rss_mb']} MB; first 10 % "
              f"{m['peak_first_10pct_mb']} MB, last half {m['peak_last_50pct_mb']} MB")
    _save(args.json, result)
    return 0


def _save(path: Path | None, result: dict) -> None:
    """Write the results so far (a long run keeps what it measured)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
