"""``segment --dicom-seg`` and DICOM inputs: pydicom / highdicom are imported before the
batch's threads start (trial S17B: one run in six skipped every image with 'unexpected error
(ImportError: cannot import name 'Dataset' from partially initialized module
'pydicom.dataset' ...)', a DICOM being read in one thread while a SEG was written in
another, both importing pydicom for the first time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("highdicom")

from dermview.dicom_preload import needs_dicom  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"

# A fresh interpreter (pydicom not imported yet): what is imported when the pipeline starts?
_PROBE = """
import sys
import dermview.batch as batch
from dermview.cli import main

def probe(*a, **k):
    print("LOADED", "pydicom" in sys.modules, "highdicom" in sys.modules)
batch.run_pipeline = probe
main(sys.argv[1:])
"""


def _loaded_at_start(args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    return next(line for line in out.stdout.splitlines() if line.startswith("LOADED"))


def test_segment_dicom_seg_imports_the_dicom_libraries_before_its_threads(tmp_path):
    line = _loaded_at_start(["segment", str(SAMPLES / "IMD002.jpg"), "--out",
                             str(tmp_path / "o"), "--device", "cpu", "--dicom-seg"])
    assert line == "LOADED True True"


def test_a_dicom_input_imports_pydicom_before_the_threads(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np
    from _dicom import dicom_bytes

    dcm = tmp_path / "case.dcm"
    dcm.write_bytes(dicom_bytes(np.full((32, 48, 3), 120, np.uint8)))
    line = _loaded_at_start(["segment", str(dcm), "--out", str(tmp_path / "o"),
                             "--device", "cpu"])
    assert line.startswith("LOADED True")


def test_needs_dicom_by_content_not_only_by_name(tmp_path):
    plain = tmp_path / "a.jpg"
    plain.write_bytes(b"\xff\xd8" + b"\0" * 200)
    disguised = tmp_path / "b.jpg"  # a DICOM file with a .jpg name
    disguised.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 20)
    assert not needs_dicom([plain])
    assert needs_dicom([plain], writes_seg=True)
    assert needs_dicom([plain, disguised])
