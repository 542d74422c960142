"""Benchmark reading a JPEG-compressed DICOM against reading the same image as a JPEG file.

The source image (default: a bundled sample) is resized to ``--size`` (4000×3000), encoded
once as JPEG (Pillow, quality 90), and that same codestream is encapsulated in a Dermoscopic
Photography DICOM file (JPEG Baseline, YBR_FULL_422). Both files are read with
``dermview.io.load_image`` alternately in one process, ``--repeats`` times each (after one
warm-up read of each); the median times and their ratio are reported (target: DICOM ≤ 1.5×
JPEG). The same image stored JPEG-LS lossless and JPEG 2000 lossless is timed too, for
reference (no target: those codecs are slower than baseline JPEG by nature).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dicom.py \\
        --json docs/results/bench_dicom.json --table docs/results/bench_dicom.txt
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _dicom import dataset, to_bytes  # noqa: E402

from dermview.io import load_image  # noqa: E402

TARGET_RATIO = 1.5


def make_files(source: Path, size: tuple[int, int], folder: Path, extra: bool) -> dict[str, Path]:
    """The JPEG, the DICOM holding the same JPEG codestream, and (``extra``) lossless DICOMs."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless

    rgb = np.asarray(Image.open(source).convert("RGB").resize(size, Image.Resampling.BICUBIC))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    files = {"jpeg": folder / "image.jpg", "dicom_jpeg": folder / "image_jpeg.dcm"}
    files["jpeg"].write_bytes(buf.getvalue())
    ds = dataset(rgb, photometric="YBR_FULL_422")
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"
    files["dicom_jpeg"].write_bytes(to_bytes(ds))
    if extra:
        for name, uid in (("dicom_jpeg_ls", JPEGLSLossless), ("dicom_j2k", JPEG2000Lossless)):
            ds = dataset(rgb)
            ds.compress(uid)
            files[name] = folder / f"image_{name}.dcm"
            files[name].write_bytes(to_bytes(ds))
    return files


def time_reads(files: dict[str, Path], repeats: int) -> dict[str, list[float]]:
    """Seconds per ``load_image`` of each file, reads interleaved (one warm-up each)."""
    times: dict[str, list[float]] = {k: [] for k in files}
    for path in files.values():
        load_image(path)
    for _ in range(repeats):
        for name, path in files.items():
            t0 = time.perf_counter()
            load_image(path)
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "resources/samples/IMD009.jpg",
                        help="image to build the test files from (default: a bundled sample)")
    parser.add_argument("--size", default="4000x3000", help="W×H of the test image")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-extra", action="store_true", help="skip the JPEG-LS / J2K rows")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None)
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as d:
        files = make_files(args.source, (w, h), Path(d), not args.no_extra)
        sizes = {k: p.stat().st_size for k, p in files.items()}
        same = bool(np.array_equal(load_image(files["jpeg"]), load_image(files["dicom_jpeg"])))
        times = time_reads(files, args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["dicom_jpeg"] / med["jpeg"]
    result = {
        "image": f"{args.source.name} resized to {w}x{h}", "repeats": args.repeats,
        "median_s": med, "all_s": times, "file_bytes": sizes,
        "ratio_dicom_jpeg_vs_jpeg": ratio, "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO, "identical_pixels": same,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    lines = [f"read {result['image']}: median of {args.repeats} dermview.io.load_image calls",
             f"{'file':<34}{'MB':>8}{'median s':>10}{'vs JPEG':>9}"]
    labels = {"jpeg": "JPEG (.jpg)", "dicom_jpeg": "DICOM, same JPEG codestream",
              "dicom_jpeg_ls": "DICOM, JPEG-LS lossless", "dicom_j2k": "DICOM, JPEG 2000 lossless"}
    for k in files:
        lines.append(f"{labels[k]:<34}{sizes[k] / 1e6:>8.2f}{med[k]:>10.3f}{med[k] / med['jpeg']:>8.2f}x")
    lines.append(f"DICOM/JPEG ratio {ratio:.2f} (target <= {TARGET_RATIO}: "
                 f"{'met' if result['meets_target'] else 'NOT met'}); pixels identical: {same}")
    table = "\n".join(lines)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.table:
        args.table.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
