"""Resource limits (issue 6): peak memory opening and segmenting a 6000×4000 image, and
whether memory stays flat over a 500-image folder run of ``dermview segment``.

    python benchmarks/bench_memory.py --json bench_memory.json
    python benchmarks/bench_memory.py --n-images 100 --checkpoint 20   # quicker

Each measurement runs in a fresh child process, so its peak RSS (``ru_maxrss`` from
``wait4``) is its own. The big image is a bundled sample upscaled to 6000×4000 (JPEG); the
folder holds copies of the four bundled samples (512×384). Weights: the bundled model, or
``--weights``. Targets: big image peak < 3 GB; folder run peak at N images ≤ 1.10 × peak at
the checkpoint (memory flat).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "resources" / "samples"
SAMPLE_STEMS = ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"]
MB = 1024 * 1024
TARGET_BIG_MB = 3 * 1024
FLAT_RATIO = 1.10


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MB


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_big(image: str, weights: str | None, device: str) -> None:
    """In a fresh process: load the model, open and segment ``image``; print JSON."""
    import numpy as np
    import torch

    from dermview.io import load_image
    from dermview.model.inference import Segmenter
    from dermview.preprocess import PreprocessParams
    from dermview.segmentation import segment_image

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out: dict = {"after_imports_mb": round(_rss_mb(), 1)}
    seg = Segmenter.load(weights, device=device)
    out["after_model_mb"] = round(_rss_mb(), 1)
    out["peak_before_image_mb"] = round(_peak_mb(), 1)
    t = time.perf_counter()
    rgb = load_image(image)
    out["open_s"] = round(time.perf_counter() - t, 2)
    out["peak_after_open_mb"] = round(_peak_mb(), 1)
    out["shape"] = list(rgb.shape)
    t = time.perf_counter()
    res = segment_image(rgb, seg)
    out["segment_s"] = round(time.perf_counter() - t, 2)
    out["peak_after_segment_mb"] = round(_peak_mb(), 1)
    out["mask_fraction"] = round(float(np.mean(res.mask)), 4)
    out["preprocessed"] = res.preprocessed is not None
    del res
    # The GUI may also remove frame and hair before segmenting: that path too.
    t = time.perf_counter()
    res = segment_image(rgb, seg, params=PreprocessParams())
    out["segment_with_preprocess_s"] = round(time.perf_counter() - t, 2)
    out["hair_count"] = int(res.preprocessed.hair_count)
    out["peak_after_segment_with_preprocess_mb"] = round(_peak_mb(), 1)
    out["model"] = seg.name
    print(json.dumps(out))


def child_open(image: str) -> None:
    """In a fresh process: only open ``image``; print JSON."""
    from dermview.io import load_image

    out: dict = {"after_imports_mb": round(_rss_mb(), 1)}
    t = time.perf_counter()
    rgb = load_image(image)
    out["open_s"] = round(time.perf_counter() - t, 2)
    out["peak_after_open_mb"] = round(_peak_mb(), 1)
    out["shape"] = list(rgb.shape)
    out["file_mb"] = round(Path(image).stat().st_size / MB, 1)
    print(json.dumps(out))


def _run_child(args: list[str]) -> tuple[dict, float]:
    """Run this script as a child; return its JSON and its own peak RSS (MB, from wait4)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                                stderr=err)
        stdout = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"child failed ({proc.returncode}):\n{err.read().decode()}")
    return json.loads(stdout.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def make_big_image(folder: Path, width: int, height: int) -> Path:
    import cv2
    import numpy as np

    from dermview.io import load_image, save_image

    src = load_image(SAMPLES / "IMD009.jpg")
    big = cv2.resize(src, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(-6, 7, big.shape, dtype=np.int16)
    big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    path = folder / f"big_{width}x{height}.jpg"
    save_image(path, big)
    # The same picture as 16-bit RGB TIFF (decoded through the 16-bit path of load_image).
    ok, buf = cv2.imencode(".tif", big[:, :, ::-1].astype(np.uint16) * 257)
    assert ok
    (folder / f"big_{width}x{height}_16bit.tif").write_bytes(buf.tobytes())
    return path


def make_folder(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = SAMPLES / f"{SAMPLE_STEMS[i % len(SAMPLE_STEMS)]}.jpg"
        dst = folder / f"img_{i:04d}.jpg"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return folder


def folder_run(folder: Path, out: Path, n: int, checkpoint: int, weights: str | None,
               device: str, poll_s: float = 0.05) -> dict:
    """Run ``dermview segment`` on ``folder``; RSS sampled while it runs."""
    import psutil

    cmd = [sys.executable, "-m", "dermview", "segment", str(folder), "--out", str(out),
           "--device", device]
    if weights:
        cmd += ["--weights", weights]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)
        ps = psutil.Process(proc.pid)
        samples: list[tuple[float, int, float]] = []  # (t, images done, rss MB)
        peak_at_checkpoint = None
        t_checkpoint = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:  # finished: usage holds its own peak RSS
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            try:
                rss = ps.memory_info().rss / MB
            except psutil.NoSuchProcess:  # pragma: no cover - exited between the two calls
                continue
            done = sum(1 for e in os.scandir(out) if e.name.endswith("_segmentation.png")) \
                if out.exists() else 0
            samples.append((time.perf_counter() - t0, done, rss))
            if peak_at_checkpoint is None and done >= checkpoint:
                peak_at_checkpoint = max(s[2] for s in samples)
                t_checkpoint = samples[-1][0]
            time.sleep(poll_s)
        elapsed = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    peak_wait4 = usage.ru_maxrss / 1024
    done = sum(1 for e in os.scandir(out) if e.name.endswith("_segmentation.png"))
    if proc.returncode != 0 or done != n:
        raise SystemExit(f"segment failed (rc {proc.returncode}, {done}/{n} masks):\n{stderr}")
    sampled_peak = max(s[2] for s in samples)
    # RSS when the last images were being written, vs around the checkpoint
    late = [s[2] for s in samples if s[1] >= n - checkpoint]
    near_cp = [s[2] for s in samples if checkpoint // 2 <= s[1] <= checkpoint]
    return {
        "n_images": n, "checkpoint": checkpoint,
        "peak_rss_at_checkpoint_mb": round(peak_at_checkpoint or sampled_peak, 1),
        "peak_rss_at_end_mb": round(sampled_peak, 1),
        "rss_near_checkpoint_median_mb": round(sorted(near_cp)[len(near_cp) // 2], 1) if near_cp else None,
        "rss_last_images_median_mb": round(sorted(late)[len(late) // 2], 1) if late else None,
        "ratio_end_over_checkpoint": round(sampled_peak / (peak_at_checkpoint or sampled_peak), 3),
        "peak_rss_wait4_mb": round(peak_wait4, 1),
        "seconds": round(elapsed, 1),
        "seconds_per_image_after_checkpoint": round((elapsed - (t_checkpoint or 0)) / max(1, n - checkpoint), 3),
        "rss_samples": len(samples),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=None, help="weights .pt (default: bundled model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="6000x4000", help="big image WIDTHxHEIGHT")
    ap.add_argument("--n-images", type=int, default=500)
    ap.add_argument("--checkpoint", type=int, default=50)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-folder", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--child-big", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--make-big", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-open", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_big:
        w, h = (int(v) for v in args.size.lower().split("x"))
        make_big_image(Path(args.make_big), w, h)
        return 0
    if args.child_big:
        child_big(args.child_big, args.weights, args.device)
        return 0
    if args.child_open:
        child_open(args.child_open)
        return 0

    import platform

    import psutil

    result: dict = {
        "machine": {"cpus": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version()},
        "weights": args.weights or "bundled default",
        "device": args.device,
    }
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        tmp_path = Path(tmp)
        if not args.skip_big:
            w, h = (int(v) for v in args.size.lower().split("x"))
            # Made in a child: a parent that grew to hold the image would hand its high-water
            # mark on to every later child (Linux copies it into ru_maxrss across fork/exec).
            subprocess.run([sys.executable, __file__, "--make-big", str(tmp_path), "--size",
                            args.size], check=True)
            big = tmp_path / f"big_{w}x{h}.jpg"
            child_args = ["--child-big", str(big), "--device", args.device]
            if args.weights:
                child_args += ["--weights", args.weights]
            info, peak = _run_child(child_args)
            info["peak_rss_wait4_mb"] = round(peak, 1)
            info["image_bytes_mb"] = round(w * h * 3 / MB, 1)
            info["target_mb"] = TARGET_BIG_MB
            info["pass"] = peak < TARGET_BIG_MB
            result["big_image"] = info
            info16, peak16 = _run_child(["--child-open", str(tmp_path / f"big_{w}x{h}_16bit.tif")])
            info16["peak_rss_wait4_mb"] = round(peak16, 1)
            result["big_16bit_tiff_open"] = info16
        if not args.skip_folder:
            folder = make_folder(tmp_path / "images", args.n_images)
            info = folder_run(folder, tmp_path / "masks", args.n_images, args.checkpoint,
                              args.weights, args.device)
            info["target_ratio"] = FLAT_RATIO
            info["pass"] = info["ratio_end_over_checkpoint"] <= FLAT_RATIO
            result["folder_run"] = info

    print(json.dumps(result, indent=2))
    print()
    print(f"{'measurement':<44}{'value':>12}{'target':>12}{'pass':>6}")
    if "big_image" in result:
        b = result["big_image"]
        print(f"{'big image ' + 'x'.join(map(str, b['shape'][1::-1])) + ': peak RSS (MB)':<44}"
              f"{b['peak_rss_wait4_mb']:>12.0f}{'< ' + str(TARGET_BIG_MB):>12}{str(b['pass']):>6}")
        print(f"{'  after imports + model (MB)':<44}{b['after_model_mb']:>12.0f}")
        print(f"{'  peak after open (MB)':<44}{b['peak_after_open_mb']:>12.0f}")
        print(f"{'  peak after segment (MB)':<44}{b['peak_after_segment_mb']:>12.0f}")
        print(f"{'  peak after segment + preprocess (MB)':<44}"
              f"{b['peak_after_segment_with_preprocess_mb']:>12.0f}")
        print(f"{'  open / segment / with preprocess (s)':<44}"
              f"{b['open_s']:>6} / {b['segment_s']} / {b['segment_with_preprocess_s']}")
    if "big_16bit_tiff_open" in result:
        b = result["big_16bit_tiff_open"]
        print(f"{'same image, 16-bit RGB TIFF: peak open (MB)':<44}{b['peak_rss_wait4_mb']:>12.0f}"
              f"{'< ' + str(TARGET_BIG_MB):>12}{str(b['peak_rss_wait4_mb'] < TARGET_BIG_MB):>6}")
        print(f"{'  after imports / open (s)':<44}{b['after_imports_mb']:>6.0f} MB / {b['open_s']} s")
    if "folder_run" in result:
        f = result["folder_run"]
        print(f"{'folder run: peak RSS at ' + str(f['checkpoint']) + ' images (MB)':<44}"
              f"{f['peak_rss_at_checkpoint_mb']:>12.0f}")
        print(f"{'folder run: peak RSS at ' + str(f['n_images']) + ' images (MB)':<44}"
              f"{f['peak_rss_at_end_mb']:>12.0f}")
        print(f"{'  ratio end / checkpoint':<44}{f['ratio_end_over_checkpoint']:>12.3f}"
              f"{'<= ' + str(FLAT_RATIO):>12}{str(f['pass']):>6}")
        print(f"{'  seconds per image':<44}{f['seconds_per_image_after_checkpoint']:>12.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
