"""No lost work: the app killed with SIGKILL after an autosave offers the edit back, exactly.

The app runs in child processes (``tests/_crash_driver.py``, the real ``run_app`` start-up,
offscreen, ``DERMVIEW_HOME`` in a temporary folder): the first opens a copy of a sample image
that already has a saved label, paints a brush stroke with real mouse events and keeps running
until its autosave timer writes the recovery file; the test then kills it with SIGKILL. The
second starts with no image, answers "Yes" to the recovery question and dumps its working
mask, which must equal the edited mask pixel for pixel. The image and the label files must be
byte-identical throughout. No model is loaded (auto-segmentation is off by default).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dermview.io import load_image, load_mask
from dermview.labels import LabelMeta, image_sha256, label_paths, save_label
from dermview.recovery import RecoveryStore

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "resources" / "samples"
DRIVER = Path(__file__).resolve().parent / "_crash_driver.py"
STEM = "IMD002"
#: Bound for each wait (the autosave period is 5 s; start-up takes a few seconds).
WAIT_S = 25.0
#: The whole test (two app starts, one autosave period) must stay well below this.
TOTAL_S = 30.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", DERMVIEW_HOME=str(home), OMP_NUM_THREADS="1",
               PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
                   p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p))
    env.pop("DERMVIEW_RESOURCES", None)
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as f:  # the child inherits the descriptor
        return subprocess.Popen([sys.executable, str(DRIVER), *args], env=env, cwd=REPO_ROOT,
                                stdout=f, stderr=subprocess.STDOUT)


def _child_report(out: Path, log: Path) -> str:
    err = out / "error.json"
    text = json.loads(err.read_text())["error"] if err.is_file() else ""
    return f"{text}\n--- child output ---\n{log.read_text(errors='replace')[-3000:]}"


def _snapshot(files: list[Path]) -> dict[Path, bytes]:
    return {f: f.read_bytes() for f in files}


def test_sigkill_after_autosave_then_restart_restores_the_edit_exactly(tmp_path):
    t0 = time.monotonic()
    home, images = tmp_path / "home", tmp_path / "images"
    out1, out2 = tmp_path / "run1", tmp_path / "run2"
    for d in (images, out1, out2):
        d.mkdir()
    img = images / f"{STEM}.jpg"
    shutil.copy(SAMPLES / f"{STEM}.jpg", img)
    # An existing label (the sample's ground truth), saved the way the app saves labels.
    h, w = load_image(img).shape[:2]
    label = load_mask(SAMPLES / f"{STEM}_segmentation.png")
    assert label.shape == (h, w) and label.any() and not label.all()
    save_label(img, label, LabelMeta(image_sha256=image_sha256(img), image_size=(w, h)))
    label_png, label_json = label_paths(img)
    protected = _snapshot([img, label_png, label_json])
    env = _env(home)
    store = RecoveryStore(home / "data" / "autosave")  # recovery_dir() under DERMVIEW_HOME
    autosave = store.path_for(img)

    # -- run 1: open, brush stroke, wait for the autosave, SIGKILL ---------------------------
    log1 = tmp_path / "run1.log"
    proc = _start(["edit", str(img), str(out1)], env, log1)
    try:
        deadline = time.monotonic() + WAIT_S
        while not ((out1 / "edited.npy").is_file() and autosave.is_file()):
            assert proc.poll() is None, f"the app exited early ({proc.returncode}): " \
                                        f"{_child_report(out1, log1)}"
            assert time.monotonic() < deadline, \
                f"no autosave within {WAIT_S} s: {_child_report(out1, log1)}"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL  # killed, not a normal exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    edited = np.load(out1 / "edited.npy")
    info1 = json.loads((out1 / "edit.json").read_text())
    assert Path(info1["path"]).resolve() == img.resolve()
    assert info1["label_loaded"], "the existing label should be the starting mask"
    assert info1["dirty"] and info1["undo_count"] == 1
    assert edited.dtype == bool and edited.shape == (h, w)
    # The stroke added lesion pixels on top of the label (and the brush removes none).
    assert np.all(edited[label]) and int((edited & ~label).sum()) > 200
    # The autosave on disk is the edited mask, for this image only.
    entries = store.entries()
    assert [e.image_path for e in entries] == [img.resolve()]
    assert np.array_equal(store.load(entries[0]), edited)
    # The kill left the image and the label exactly as they were, and nothing else beside.
    assert _snapshot(list(protected)) == protected
    assert sorted(p.name for p in label_png.parent.iterdir()) == \
        sorted([label_png.name, label_json.name])
    assert sorted(p.name for p in images.iterdir()) == sorted([img.name, label_png.parent.name])

    # -- run 2: restart with no image; recovery must be offered and restore the edit ----------
    log2 = tmp_path / "run2.log"
    proc = _start(["restore", str(out2)], env, log2)
    try:
        rc = proc.wait(WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert rc == 0, f"restart failed ({rc}): {_child_report(out2, log2)}"
    info2 = json.loads((out2 / "restore.json").read_text())
    assert info2["warnings"] == [], info2["warnings"]
    assert len(info2["questions"]) == 1, info2["questions"]
    title, text = info2["questions"][0]
    assert title == "Recover unsaved edits?" and img.name in text and "Restore" in text
    assert Path(info2["path"]).resolve() == img.resolve()
    assert info2["label_loaded"] and info2["dirty"]
    assert info2["undo"] == ["Recovered autosave"]
    restored = np.load(out2 / "restored.npy")
    assert restored.dtype == bool and restored.shape == edited.shape
    assert np.array_equal(restored, edited), \
        f"{int((restored != edited).sum())} pixels differ from the edited mask"
    # Still unsaved: the autosave stays until the user saves; image and label untouched.
    assert autosave.is_file()
    assert _snapshot(list(protected)) == protected
    assert sorted(p.name for p in label_png.parent.iterdir()) == \
        sorted([label_png.name, label_json.name])

    elapsed = time.monotonic() - t0
    assert elapsed < TOTAL_S, f"crash-recovery round trip took {elapsed:.1f} s"
