"""Validate the DICOM files dermview writes with dicom3tools' ``dciodvfy``.

Writes, from the bundled samples and their expert masks: the SEG of a Dermoscopic
Photography source (JPEG baseline, made with pydicom), the SEG + Secondary Capture of a JPEG
source, a SEG of an empty mask, and a MANUAL (no model) SEG. Runs ``dciodvfy`` on each and
records its errors and warnings (target: 0 errors), and checks that highdicom reads each SEG
back to the mask written.

    .venv/bin/python benchmarks/validate_dicom_seg.py \\
        --json docs/results/dciodvfy_seg.json --table docs/results/dciodvfy_seg.txt
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _dicom import dicom_bytes  # noqa: E402

from dermview.exchange.dicom_seg import read_dicom_seg, write_dicom_seg  # noqa: E402
from dermview.io import load_image, load_mask  # noqa: E402


def dciodvfy(tool: str, path: Path) -> dict[str, list[str]]:
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    lines = (proc.stdout + proc.stderr).splitlines()
    return {"errors": [ln for ln in lines if ln.startswith("Error")],
            "warnings": [ln for ln in lines if ln.startswith("Warning")]}


def write_cases(samples: Path, folder: Path) -> list[tuple[str, Path, np.ndarray | None]]:
    """``(case, file, mask or None for a secondary capture)`` of every file written."""
    dms = folder / "IMD009_dms.dcm"
    dms.write_bytes(dicom_bytes(load_image(samples / "IMD009.jpg"), "jpeg"))
    jpg = folder / "IMD002.jpg"
    shutil.copy(samples / "IMD002.jpg", jpg)
    m009, m002 = (load_mask(samples / f"{s}_segmentation.png") for s in ("IMD009", "IMD002"))
    for sub in ("a", "b", "c"):
        (folder / sub).mkdir()
    model = {"model_name": "litesegnet-lite0-pre", "model_sha256": "0" * 64}
    seg = write_dicom_seg(dms, m009, folder / "a", reviewer="Ana Ruíz",
                          comment="Excise\nnew since March", comment_by="Bo Li", **model)
    seg_sc = write_dicom_seg(jpg, m002, folder / "b", edited=True, **model)
    empty = np.zeros_like(m009)
    return [("DMS source, model mask (AUTOMATIC), comment", seg[0], m009),
            ("JPEG source, edited mask (SEMIAUTOMATIC)", seg_sc[0], m002),
            ("JPEG source: its Secondary Capture", seg_sc[1], None),
            ("DMS source, empty mask (MANUAL)", write_dicom_seg(dms, empty, folder / "c")[0], empty)]


def segread_identical(path: Path, mask: np.ndarray) -> bool | str:
    """Whether highdicom's own reader, ``hd.seg.segread`` (no workaround), gives back
    ``mask``; its exception's name when it refuses the file."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
        uids = [u[2] for u in seg.get_source_image_uids()]
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids)
    except Exception as exc:  # noqa: BLE001 - a refusal is the finding
        return type(exc).__name__
    return bool(np.array_equal(pixels[0, :, :, 0] != 0, mask != 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "resources/samples")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None)
    args = parser.parse_args(argv)
    tool = shutil.which("dciodvfy")
    if tool is None:
        print("dciodvfy not found: apt-get install dicom3tools", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for case, path, mask in write_cases(args.samples, Path(d)):
            check = dciodvfy(tool, path)
            same = None if mask is None else bool(np.array_equal(read_dicom_seg(path)[0], mask))
            plain = None if mask is None else segread_identical(path, mask)
            rows.append({"case": case, "file": path.name, **check, "reads_back_identical": same,
                         "segread_identical": plain})
    errors = sum(len(r["errors"]) for r in rows)
    warnings = sorted({w for r in rows for w in r["warnings"]})
    lines = ["dciodvfy (dicom3tools) on the DICOM files dermview writes",
             f"{'case':<48}{'errors':>7}{'warnings':>9}  {'read_dicom_seg':<15}hd.seg.segread"]

    def word(value: bool | str | None) -> str:
        return "-" if value is None else value if isinstance(value, str) else (
            "identical" if value else "DIFFERENT")

    for r in rows:
        lines.append(f"{r['case']:<48}{len(r['errors']):>7}{len(r['warnings']):>9}  "
                     f"{word(r['reads_back_identical']):<15}{word(r['segread_identical'])}")
    lines.append(f"total errors: {errors}; distinct warnings:")
    lines += [f"  {w}" for w in warnings]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"files": rows, "total_errors": errors,
                                         "distinct_warnings": warnings}, indent=2) + "\n")
    if args.table:
        args.table.write_text("\n".join(lines) + "\n")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
